package history

import (
	"fmt"
	"strings"
	"testing"
)

// base: publisher p publishes 1..5 at t=100..104 ms (ok 0.5 ms later); s1 subscribed before.
func base() *hb {
	return (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2, 3, 4, 5)
}

func TestEmptyHistory(t *testing.T) {
	r := all()
	r.RetryHonoured, r.ReconnectWithin, r.DetectWithin, r.MaxLag = true, at(1), at(1), at(1)
	rep := Analyze(History{Rules: r})
	wantNone(t, rep.Violations)
	if rep.Truncated || len(rep.Clients) != 0 || !strings.Contains(rep.Summary(), "0 violations") {
		t.Errorf("report of an empty history: %+v\n%s", rep, rep.Summary())
	}
}

func TestAllGood(t *testing.T) {
	b := base().conn(11, "s2", "t", "").evs(200, "s1", 1, 2, 3, 4, 5).evs(300, "s2", 1, 2, 3, 4, 5).
		disc(400, "s1", CauseClientClose).disc(400, "s2", CauseClientClose)
	rep := Analyze(b.h(all()))
	wantNone(t, rep.Violations)
	m := rep.Clients["s1"]
	if m.Events != 5 || m.Distinct != 5 || m.Accountable != 5 || m.Missing != 0 || m.Connects != 1 {
		t.Errorf("s1 measures %+v", m)
	}
	if tm := rep.Topics["t"]; tm.OK != 5 || tm.Observed != 5 || !tm.Consistent {
		t.Errorf("topic measures %+v", tm)
	}
}

func TestOrderedSinglePublisherPairwise(t *testing.T) {
	b := base().conn(11, "s2", "t", "").evs(200, "s1", 1, 3, 2, 4, 5).evs(300, "s2", 1, 2, 3, 4, 5)
	v := wantOne(t, Check(b.h(Rules{Ordered: true})), RuleOrdered,
		"s1 saw seq 3 (t=0.201s) before seq 2 (t=0.202s)", "but s2 saw seq 2 (t=0.301s) before seq 3 (t=0.302s)")
	if v.Client != "s1" {
		t.Errorf("client %q", v.Client)
	}
}

func TestOrderedSingleSubscriberAgainstRealTime(t *testing.T) {
	b := base().evs(200, "s1", 1, 3, 2)
	wantOne(t, Check(b.h(Rules{Ordered: true})), RuleOrdered,
		"s1 saw seq 3 (t=0.201s) before seq 2 (t=0.202s)",
		"seq 2 was published (ok at t=0.1015s) before seq 3 was invoked (t=0.102s)")
}

// Two publishers whose publishes of 1 and 2 overlap: either order is fine if all agree.
func concurrent() *hb {
	b := &hb{}
	b.conn(10, "s1", "t", "").conn(11, "s2", "t", "")
	b.pubOp(100, KindPublishInvoke, "pa", "t", 1).pubOp(100, KindPublishInvoke, "pb", "t", 2)
	b.pubOp(110, KindPublishOK, "pa", "t", 1).pubOp(110, KindPublishOK, "pb", "t", 2)
	return b
}

func TestOrderedConcurrentPublishers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s1, s2 []int64
		bad    bool
	}{
		{"both 1,2", []int64{1, 2}, []int64{1, 2}, false},
		{"both 2,1", []int64{2, 1}, []int64{2, 1}, false},
		{"one saw only 2", []int64{1, 2}, []int64{2}, false},
		{"disagree", []int64{1, 2}, []int64{2, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := concurrent().evs(200, "s1", tc.s1...).evs(300, "s2", tc.s2...)
			vs := Check(b.h(Rules{Ordered: true, Unique: true, Resumable: true}))
			if !tc.bad {
				wantNone(t, vs)
				return
			}
			wantOne(t, vs, RuleOrdered, "s1 saw seq 1 (t=0.200s) before seq 2 (t=0.201s)",
				"but s2 saw seq 2 (t=0.300s) before seq 1 (t=0.301s)")
		})
	}
}

func TestOrderedThreeWayCycle(t *testing.T) {
	// No pair of subscribers disagrees, yet no single order fits: 1<2, 2<3, 3<1.
	b := &hb{}
	b.conn(10, "a", "t", "").conn(10, "b", "t", "").conn(10, "c", "t", "")
	for _, s := range []int64{1, 2, 3} {
		b.pubOp(100, KindPublishInvoke, "p"+fmt.Sprint(s), "t", s)
	}
	for _, s := range []int64{1, 2, 3} {
		b.pubOp(110, KindPublishOK, "p"+fmt.Sprint(s), "t", s)
	}
	b.evs(200, "a", 1, 2).evs(300, "b", 2, 3).evs(400, "c", 3, 1)
	wantOne(t, Check(b.h(Rules{Ordered: true})), RuleOrdered, "no single order fits", "closes a cycle",
		"a (connection 1) saw seq 1", "b (connection 1) saw seq 2", "c (connection 1) saw seq 3")
}

func TestOrderedIgnoresReplayAcrossConnections(t *testing.T) {
	// A fresh connect that replays the backlog repeats old seqs (Unique's business), but
	// the order across two connections is not an ordering violation.
	b := base().evs(200, "s1", 4, 5).disc(210, "s1", CauseEOF).conn(220, "s1", "t", "").
		evs(230, "s1", 1, 2, 3, 4, 5)
	vs := Check(b.h(Rules{Ordered: true, Unique: true}))
	wantNone(t, only(vs, RuleOrdered))
	if got := len(only(vs, RuleUnique)); got != 2 {
		t.Errorf("want 2 duplicates, got %d: %v", got, vs)
	}
}

func TestUniqueAcrossReconnect(t *testing.T) {
	b := (&hb{}).conn(10, "sse-3", "t", "").pubs(100, 40, 41, 42).
		evs(200, "sse-3", 40, 41).disc(250, "sse-3", CauseEOF).
		conn(300, "sse-3", "t", "40").evs(301, "sse-3", 41, 42)
	vs := Check(b.h(all()))
	v := wantOne(t, vs, RuleUnique, "sse-3 got seq 41 twice (t=0.201s and t=0.301s, the second after resume from id 40)")
	if v.Client != "sse-3" || v.T != at(301) {
		t.Errorf("violation %+v", v)
	}
	wantNone(t, only(vs, RuleResumable)) // 41 is the successor of the token 40
}

func TestUniqueSameConnection(t *testing.T) {
	b := base().evs(200, "s1", 1, 2, 2, 3, 2)
	vs := only(Check(b.h(Rules{Unique: true})), RuleUnique)
	if len(vs) != 2 || !strings.Contains(vs[0].Msg, "the second on the same connection as the first") ||
		!strings.Contains(vs[1].Msg, "got seq 2 3 times") {
		t.Errorf("violations %v", vs)
	}
}

// resume: s1 received 1 and 2, was cut, and resumed from id 2 at t=300.
func resume() *hb {
	return base().evs(200, "s1", 1, 2).disc(250, "s1", CauseEOF).conn(300, "s1", "t", "2")
}

func TestResumable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(b *hb)
		rule  string // "" = no violation at all
		parts []string
	}{
		{"successor", func(b *hb) { b.evs(301, "s1", 3, 4, 5) }, "", nil},
		{"gap", func(b *hb) { b.evs(301, "s1", 4, 5) }, RuleResumable,
			[]string{"s1 resumed from id 2 (seq 2) at t=0.300s and the first event was seq 4 (t=0.301s): it skipped 1 seqs: 3"}},
		{"inclusive", func(b *hb) { b.evs(301, "s1", 2, 3, 4, 5) }, RuleResumable,
			[]string{"first event was seq 2", "the token's own event again (the resume was inclusive)"}},
		{"rewound", func(b *hb) { b.evs(301, "s1", 1, 2, 3, 4, 5) }, RuleResumable,
			[]string{"first event was seq 1", "comes before the token's event (rewound)"}},
		{"foreign first", func(b *hb) { b.foreign(301, "s1", "hb").evs(302, "s1", 3, 4, 5) }, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := resume()
			tc.after(b)
			vs := Check(b.h(Rules{Resumable: true}))
			if tc.rule == "" {
				wantNone(t, vs)
				return
			}
			wantOne(t, vs, tc.rule, tc.parts...)
		})
	}
}

func TestResumableGapAlsoLoss(t *testing.T) {
	b := resume().evs(301, "s1", 4, 5)
	vs := Check(b.h(all()))
	wantOne(t, vs, RuleResumable, "skipped 1 seqs: 3")
	wantOne(t, vs, RuleNoLoss, "s1 missed 1 of 5 seqs", "3 (ok t=0.1025s)")
}

func TestResumableInclusiveIsAlsoDuplicate(t *testing.T) {
	b := resume().evs(301, "s1", 2, 3, 4, 5)
	vs := Check(b.h(all()))
	wantOne(t, vs, RuleResumable, "inclusive")
	wantOne(t, vs, RuleUnique, "s1 got seq 2 twice", "after resume from id 2")
}

func TestResumableUnknownToken(t *testing.T) {
	b := base().evs(200, "s1", 1).disc(250, "s1", CauseEOF).conn(300, "s1", "t", "zzz").evs(301, "s1", 5)
	rep := Analyze(b.h(Rules{Resumable: true}))
	wantNone(t, rep.Violations)
	wantNote(t, rep.Notes, "resume from id zzz at t=0.300s not judged")
}

func TestResumableTokenFromAnotherClient(t *testing.T) {
	// s1 resumes from an id only s2 saw; the token's seq is looked up topic-wide.
	b := base().conn(11, "s2", "t", "").evs(200, "s2", 1, 2, 3, 4, 5).disc(250, "s1", CauseEOF).
		conn(300, "s1", "t", "3").evs(301, "s1", 5)
	wantOne(t, Check(b.h(Rules{Resumable: true})), RuleResumable, "resumed from id 3 (seq 3)", "skipped 1 seqs: 4")
}

func TestResumableConcurrentOrderFromObservations(t *testing.T) {
	// 1 first; then 2 and 3 published concurrently. s1 resumes from 1 and first gets 3.
	mk := func(s2 ...int64) *hb {
		b := &hb{}
		b.conn(10, "s1", "t", "").conn(11, "s2", "t", "")
		b.pubOp(100, KindPublishInvoke, "pa", "t", 1).pubOp(101, KindPublishOK, "pa", "t", 1)
		b.pubOp(110, KindPublishInvoke, "pa", "t", 2).pubOp(110, KindPublishInvoke, "pb", "t", 3)
		b.pubOp(120, KindPublishOK, "pa", "t", 2).pubOp(120, KindPublishOK, "pb", "t", 3)
		b.evs(105, "s1", 1).disc(106, "s1", CauseEOF).conn(200, "s1", "t", "1").evs(201, "s1", 3, 2)
		return b.evs(300, "s2", s2...)
	}
	// s2 saw 1,3,2 as s1 did: 3 is a valid successor of 1.
	wantNone(t, Check(mk(1, 3, 2).h(Rules{Resumable: true})))
	// s2 saw 1,2,3: the order is 1,2,3, so s1 skipped 2 (and then saw 2 late: Ordered).
	vs := Check(mk(1, 2, 3).h(Rules{Resumable: true, Ordered: true}))
	wantOne(t, vs, RuleOrdered, "s1 saw seq 3", "s2 saw seq 2")
	wantNone(t, only(vs, RuleResumable)) // not judged for gaps on an inconsistent topic
}

func TestResetExplainsGap(t *testing.T) {
	// s1 got 1,2; while it was away 3,4 were published and expired; it resumed from 2, got a
	// reset, then 5.
	b := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2).evs(110, "s1", 1, 2).disc(150, "s1", CauseEOF).
		pubs(200, 3, 4).conn(300, "s1", "t", "2").reset(301, "s1").pub(400, 5).ev(410, "s1", 5).
		disc(500, "s1", CauseClientClose)
	rep := Analyze(b.h(all()))
	wantNone(t, rep.Violations)
	wantNote(t, rep.Notes, "s1: a reset excused 2 missing seqs: 3, 4")
	wantNote(t, rep.Notes, "answered with a reset")
	if m := rep.Clients["s1"]; m.Excused != 2 || m.Missing != 0 || m.Resets != 1 {
		t.Errorf("measures %+v", m)
	}
	// Without the reset, 3 and 4 are lost and the resume skipped them.
	b2 := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2).evs(110, "s1", 1, 2).disc(150, "s1", CauseEOF).
		pubs(200, 3, 4).conn(300, "s1", "t", "2").pub(400, 5).ev(410, "s1", 5).disc(500, "s1", CauseClientClose)
	vs := Check(b2.h(all()))
	wantOne(t, vs, RuleNoLoss, "s1 missed 2 of 5", "3 (ok t=0.2005s), 4 (ok t=0.2015s)")
	wantOne(t, vs, RuleResumable, "skipped 2 seqs: 3, 4")
}

func TestResetDoesNotExcuseSeqsBeforeToken(t *testing.T) {
	// s1 lost 2 on its first connection; a later reset after resuming from 3 does not excuse it.
	b := (&hb{}).conn(10, "s1", "t", "").pubs(100, 1, 2, 3).evs(110, "s1", 1, 3).disc(150, "s1", CauseEOF).
		pub(200, 4).conn(300, "s1", "t", "3").reset(301, "s1").disc(500, "s1", CauseClientClose)
	vs := Check(b.h(Rules{NoLoss: true}))
	wantOne(t, vs, RuleNoLoss, "s1 missed 1 of 4", ": 2 (ok")
}

func TestOrderedCycleThroughRealTime(t *testing.T) {
	// 1 is acknowledged before 2 is sent; 3 overlaps both. a saw 2,3 and b saw 3,1: no pair of
	// subscribers disagrees and neither contradicts real time alone, yet 1 < 2 < 3 < 1.
	b := (&hb{}).conn(10, "a", "t", "").conn(10, "b", "t", "")
	b.pubOp(100, KindPublishInvoke, "p", "t", 1).pubOp(100, KindPublishInvoke, "q", "t", 3)
	b.pubOp(101, KindPublishOK, "p", "t", 1).pubOp(102, KindPublishInvoke, "p", "t", 2)
	b.pubOp(103, KindPublishOK, "p", "t", 2).pubOp(200, KindPublishOK, "q", "t", 3)
	b.evs(300, "a", 2, 3).evs(400, "b", 3, 1)
	wantOne(t, Check(b.h(Rules{Ordered: true})), RuleOrdered,
		"seq 1 was published (ok at t=0.101s) before seq 2 was invoked (t=0.102s)",
		"a (connection 1) saw seq 2 (t=0.300s) before seq 3 (t=0.301s)",
		"b (connection 1) saw seq 3 (t=0.400s) before seq 1 (t=0.401s)")
}

func TestOrderedTwoConnectionsOfOneClient(t *testing.T) {
	b := concurrent().evs(200, "s1", 1, 2).disc(210, "s1", CauseEOF).conn(220, "s1", "t", "").evs(230, "s1", 2, 1)
	wantOne(t, Check(b.h(Rules{Ordered: true})), RuleOrdered,
		"s1 (connection 1) saw seq 1 (t=0.200s) before seq 2 (t=0.201s), but s1 (connection 2) saw seq 2 (t=0.230s) before seq 1 (t=0.231s)")
}

func TestSummaryAndStrings(t *testing.T) {
	b := faultHist().evRetry(2700, "s1", 2, 1000).disc(2800, "s1", CauseEOF).connS(3900, 3800, "s1", "t", "2")
	r := Rules{ReconnectWithin: 500 * ms, RetryHonoured: true}
	rep := Analyze(b.h(r))
	s := rep.Summary()
	for _, want := range []string{
		"fault reset_peer () t=1.000s, stopped t=2.000s: reconnect s1 0.500s s2 0.501s s5 -0.500s; never reconnected: s4; first event s1 0.600s;",
		"client s1 (topic \"t\"): 3 connects (+1 failed), 2 disconnects",
		"retry: 1 reconnects after a retry value; the shortest wait against its retry: s1 waited 1.000s for retry 1s",
		"2 violations\n  ReconnectWithin s2 t=2.501s: s2 connected again",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	op := Op{T: 1500 * ms, Kind: KindEvent, Client: "s1", ID: "7", Seq: 7, HasRetry: true, Retry: ms}
	if got := op.String(); got != `1.500s event s1 id="7" seq=7 retry=1ms` {
		t.Errorf("Op.String %q", got)
	}
}
