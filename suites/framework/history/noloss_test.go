package history

import (
	"strings"
	"testing"
)

func TestNoLossOKPublishMissing(t *testing.T) {
	b := base().evs(200, "s1", 1, 2, 4, 5).disc(300, "s1", CauseClientClose)
	v := wantOne(t, Check(b.h(Rules{NoLoss: true})), RuleNoLoss,
		"s1 missed 1 of 5 seqs published ok while it was subscribed (t=0.010s–0.300s): 3 (ok t=0.1025s)")
	if v.T != at(102)+ms/2 || v.Client != "s1" {
		t.Errorf("violation %+v", v)
	}
}

func TestNoLossUnknownPublish(t *testing.T) {
	mk := func(deliver bool) *hb {
		b := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2)
		b.pubOp(102, KindPublishInvoke, "p", "t", 3).pubOp(103, KindPublishUnknown, "p", "t", 3)
		b.pubs(104, 4)
		if deliver {
			return b.evs(200, "s1", 1, 2, 3, 4)
		}
		return b.evs(200, "s1", 1, 2, 4)
	}
	wantNone(t, Check(mk(false).h(all()))) // may be missing
	wantNone(t, Check(mk(true).h(all())))  // or delivered
	// Delivered, it counts: twice is a duplicate.
	b := mk(true).ev(300, "s1", 3)
	wantOne(t, Check(b.h(all())), RuleUnique, "s1 got seq 3 twice")
	// A publish with no outcome at all is unknown too.
	b = (&hb{}).conn(10, "s1", "t", "").pubs(100, 1).pubOp(101, KindPublishInvoke, "p", "t", 2).ev(200, "s1", 1)
	rep := Analyze(b.h(all()))
	wantNone(t, rep.Violations)
	if m := rep.Topics["t"]; m.Unknown != 1 || m.OK != 1 || m.Publishes != 2 {
		t.Errorf("topic measures %+v", m)
	}
}

func TestNoLossFailedPublishDelivered(t *testing.T) {
	b := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1)
	b.pubOp(101, KindPublishInvoke, "p", "t", 2).pubOp(102, KindPublishFail, "p", "t", 2)
	b.evs(200, "s1", 1, 2)
	wantOne(t, Check(b.h(Rules{NoLoss: true})), RuleNoLoss, "s1 received seq 2 (t=0.201s) whose publish failed (t=0.102s: 503)")
	// Not delivered: fine.
	b = (&hb{}).conn(10, "s1", "t", "").pubs(100, 1)
	b.pubOp(101, KindPublishInvoke, "p", "t", 2).pubOp(102, KindPublishFail, "p", "t", 2).ev(200, "s1", 1)
	wantNone(t, Check(b.h(all())))
}

func TestNoLossNeverPublished(t *testing.T) {
	b := base().evs(200, "s1", 1, 2, 3, 4, 5, 99)
	wantOne(t, Check(b.h(Rules{NoLoss: true})), RuleNoLoss, "s1 received seq 99 (t=0.205s) that was never published on topic \"t\"")
	// Without any publish op (an observation-only history) nothing is known about seqs.
	b = (&hb{}).conn(10, "s1", "t", "").evs(200, "s1", 1, 2, 99)
	wantNone(t, Check(b.h(all())))
}

func TestNoLossLateJoinerNotBlamed(t *testing.T) {
	b := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2).conn(150, "s2", "t", "").pubs(200, 3, 4).
		evs(300, "s1", 1, 2, 3, 4).evs(300, "s2", 3, 4)
	rep := Analyze(b.h(all()))
	wantNone(t, rep.Violations)
	if rep.Clients["s2"].Accountable != 2 || rep.Clients["s1"].Accountable != 4 {
		t.Errorf("accountable s1 %d s2 %d", rep.Clients["s1"].Accountable, rep.Clients["s2"].Accountable)
	}
	// A publish invoked before the subscription was established, acknowledged after: not required.
	b = (&hb{}).pubOp(100, KindPublishInvoke, "p", "t", 1).conn(101, "s1", "t", "").
		pubOp(102, KindPublishOK, "p", "t", 1).pubs(110, 2).ev(200, "s1", 2)
	wantNone(t, Check(b.h(all())))
}

func TestNoLossSettleBoundary(t *testing.T) {
	// 5 is acknowledged at 104.5 ms; s1's window ends at 200 ms.
	b := base().evs(150, "s1", 1, 2, 3, 4).disc(200, "s1", CauseClientClose)
	wantOne(t, Check(b.h(Rules{NoLoss: true})), RuleNoLoss, ": 5 (ok t=0.1045s)")
	r := Rules{NoLoss: true, Settle: at(200) - at(104) - ms/2} // ok == end - settle: still required
	wantOne(t, Check(b.h(r)), RuleNoLoss, ": 5 (ok")
	r.Settle++ // ok > end - settle: exempt
	wantNone(t, Check(b.h(r)))
}

func TestNoLossFreshReconnectStartsNewWindow(t *testing.T) {
	mk := func(token string) *hb {
		return (&hb{}).conn(10, "s1", "t", "").pubs(100, 1).ev(110, "s1", 1).disc(150, "s1", CauseEOF).
			pubs(160, 2).conn(200, "s1", "t", token).pubs(300, 3).ev(310, "s1", 3).disc(400, "s1", CauseClientClose)
	}
	wantNone(t, Check(mk("").h(Rules{NoLoss: true})))
	// Resuming keeps the window open across the outage: 2 is owed.
	wantOne(t, Check(mk("1").h(Rules{NoLoss: true})), RuleNoLoss, "s1 missed 1 of 3", ": 2 (ok")
}

func TestForeignEventsCountedNotJudged(t *testing.T) {
	b := base().foreign(150, "s1", "x").evs(200, "s1", 1, 2, 3, 4, 5).foreign(210, "s1", "x").
		disc(300, "s1", CauseClientClose)
	rep := Analyze(b.h(all()))
	wantNone(t, rep.Violations)
	if m := rep.Clients["s1"]; m.Foreign != 2 || m.Events != 7 || m.Distinct != 5 || m.Duplicates != 0 {
		t.Errorf("measures %+v", m)
	}
}

func TestWellFormed(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"event outside a connection", []Op{{T: 1, Kind: KindEvent, Client: "s1", ID: "1", Seq: 1}},
			"s1 received an event (id \"1\", seq 1) outside a connection"},
		{"time order", []Op{{T: 5, Kind: KindFaultStart, Name: "f"}, {T: 4, Kind: KindFaultStop, Name: "f"}},
			"op 1 (fault-stop) is earlier than an op before it"},
		{"two topics", []Op{{T: 1, Kind: KindConnect, Client: "s1", Topic: "a"},
			{T: 2, Kind: KindDisconnect, Client: "s1", Cause: CauseEOF},
			{T: 3, Kind: KindConnect, Client: "s1", Topic: "b"}}, "one client, one topic"},
		{"ok without invoke", []Op{{T: 1, Kind: KindPublishOK, Publisher: "p", Topic: "t", Seq: 1}},
			"publish-ok of seq 1 on topic \"t\" without a publish-invoke"},
		{"seq reused", []Op{{T: 1, Kind: KindPublishInvoke, Publisher: "p", Topic: "t", Seq: 1},
			{T: 2, Kind: KindPublishInvoke, Publisher: "q", Topic: "t", Seq: 1}}, "seq 1 published twice"},
		{"stop without start", []Op{{T: 1, Kind: KindFaultStop, Name: "f"}}, "fault \"f\" stopped without a fault-start"},
		{"reset outside a connection", []Op{{T: 1, Kind: KindReset, Client: "s1"}}, "reset outside a connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOne(t, Check(History{Ops: tc.ops}), RuleWellFormed, tc.want)
		})
	}
}

func TestViolationsCappedPerRule(t *testing.T) {
	b := (&hb{}).conn(10, "s1", "t", "")
	for i := range 60 {
		b.ev(100+i, "s1", 7)
	}
	vs := Check(b.h(Rules{Unique: true}))
	if len(vs) != MaxPerRule+1 || !strings.Contains(vs[MaxPerRule].Msg, "… and 9 more Unique violations") {
		t.Errorf("got %d violations, last %v", len(vs), vs[len(vs)-1])
	}
}
