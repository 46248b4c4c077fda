package history

import (
	"slices"
	"testing"
	"time"
)

// retryHist: s1 was sent retry 1000 ms, its connection ended at 2000 ms with cause, and its next
// attempt started at start ms.
func retryHist(cause string, start int) *hb {
	return (&hb{}).conn(10, "s1", "t", "").evRetry(20, "s1", 1, 1000).disc(2000, "s1", cause).
		connS(start+10, start, "s1", "t", "1")
}

func TestRetryHonoured(t *testing.T) {
	r := Rules{RetryHonoured: true, RetryTolerance: 50 * ms}
	wantNone(t, Check(retryHist(CauseEOF, 2950).h(r))) // exactly retry - tolerance
	wantOne(t, Check(retryHist(CauseEOF, 2949).h(r)), RuleRetryHonoured,
		"s1 started its next connect 0.949s after its connection ended at t=2.000s (eof), but the target had set retry: 1s (at least 950ms with tolerance 50ms)")
	// A client-close ends the connection on purpose: no wait required.
	wantNone(t, Check(retryHist(CauseClientClose, 2001).h(r)))
	// Off: measured only.
	rep := Analyze(retryHist(CauseEOF, 2100).h(Rules{}))
	wantNone(t, rep.Violations)
	if len(rep.Retries) != 1 || rep.Retries[0].Waited != 100*ms || rep.Retries[0].Retry != time.Second {
		t.Errorf("retries %+v", rep.Retries)
	}
	// No retry value seen: nothing to honour.
	b := (&hb{}).conn(10, "s1", "t", "").ev(20, "s1", 1).disc(2000, "s1", CauseEOF).conn(2001, "s1", "t", "1")
	wantNone(t, Check(b.h(r)))
}

func TestRetryHonouredAfterFailedAttempt(t *testing.T) {
	r := Rules{RetryHonoured: true}
	// A retry-only message sets the value; the second attempt follows a failed one too soon.
	b := (&hb{}).conn(10, "s1", "t", "").add(20, Op{Kind: KindRetry, Client: "s1", Retry: 500 * ms, HasRetry: true}).
		disc(1000, "s1", ErrorCause(errBoom)).connFail(1600, 1500, "s1", "t", "").connS(1800, 1700, "s1", "t", "")
	wantOne(t, Check(b.h(r)), RuleRetryHonoured, "0.100s after its connection ended at t=1.600s (connect failed: dial tcp: connection refused)")
}

// faultHist: fault "reset_peer" from 1000 to 2000 ms.
func faultHist() *hb {
	b := &hb{}
	for _, c := range []string{"s1", "s2", "s3", "s4", "s5"} {
		b.conn(10, c, "t", "")
	}
	b.fstart(1000, "reset_peer")
	for _, c := range []string{"s1", "s2", "s4", "s5"} {
		b.disc(1001, c, "error: connection reset by peer")
	}
	b.connFail(1500, 1400, "s1", "t", "").conn(1500, "s5", "t", "")
	b.fstop(2000, "reset_peer")
	b.conn(2500, "s1", "t", "").ev(2600, "s1", 1)             // exactly at the limit
	b.conn(2501, "s2", "t", "")                               // 1 ms late
	return b.fstart(3000, "other").disc(3001, "s3", CauseEOF) // s3 is hit only by a fault that never stops
}

func TestReconnectWithin(t *testing.T) {
	rep := Analyze(faultHist().h(Rules{ReconnectWithin: 500 * ms}))
	vs := only(rep.Violations, RuleReconnectWithin)
	if len(vs) != 2 {
		t.Fatalf("want 2 violations, got %v", rep.Violations)
	}
	want := []string{
		`s2 connected again 0.501s after fault "reset_peer" stopped (t=2.000s), limit 500ms (disconnected at t=1.001s: error: connection reset by peer)`,
		`s4, disconnected at t=1.001s (error: connection reset by peer) during fault "reset_peer" (t=1.000s–2.000s), did not connect again before the history ended at t=3.001s (1.001s after the stop; limit 500ms)`,
	}
	for i, v := range vs {
		if v.Msg != want[i] {
			t.Errorf("violation %d:\n got %s\nwant %s", i, v.Msg, want[i])
		}
	}
	f := rep.Faults[0]
	wantRec := map[string]time.Duration{"s1": 500 * ms, "s2": 501 * ms, "s5": -500 * ms}
	if len(f.Reconnect) != 3 || f.Reconnect["s1"] != wantRec["s1"] || f.Reconnect["s2"] != wantRec["s2"] ||
		f.Reconnect["s5"] != wantRec["s5"] || !slices.Equal(f.NotReconnected, []string{"s4"}) ||
		f.FirstEvent["s1"] != 600*ms {
		t.Errorf("fault measures %+v", f)
	}
	if len(rep.Faults) != 2 || rep.Faults[1].Stopped {
		t.Errorf("faults %+v", rep.Faults)
	}
}

// bhHist: black hole from 1000 ms; s1..s4 were connected, s5 connected after the start.
func bhHist(name string) *hb {
	b := &hb{}
	for _, c := range []string{"s1", "s2", "s3", "s4"} {
		b.conn(10, c, "t", "")
	}
	b.fstart(1000, name).conn(1500, "s5", "t", "")
	b.disc(3000, "s1", CauseHeartbeatTimeout) // exactly at the limit
	b.disc(3001, "s2", CauseHeartbeatTimeout) // detected late
	b.disc(1500, "s3", CauseEOF)              // not detected by heartbeat
	return b.fstop(4000, name).add(5000, Op{Kind: KindFaultStart, Name: "end-marker"})
}

func TestDetectWithin(t *testing.T) {
	rep := Analyze(bhHist("blackhole").h(Rules{DetectWithin: 2 * time.Second}))
	vs := only(rep.Violations, RuleDetectWithin)
	want := []string{
		`s3 (connection 1) ended 0.500s after black hole "blackhole" started (t=1.000s) with cause "eof", not heartbeat-timeout`,
		`s2 (connection 1) detected black hole "blackhole" 2.001s after it started (t=1.000s; heartbeat-timeout at t=3.001s), limit 2s`,
		`s4 (connection 1) was still connected when the history ended at t=5.000s, 4.000s after black hole "blackhole" started (t=1.000s); limit 2s`,
	}
	if len(vs) != len(want) {
		t.Fatalf("got %v", rep.Violations)
	}
	for i, v := range vs {
		if v.Msg != want[i] {
			t.Errorf("violation %d:\n got %s\nwant %s", i, v.Msg, want[i])
		}
	}
	if d := rep.Faults[0].Detect; len(d) != 3 || d["s1"] != 2*time.Second || d["s2"] != 2001*ms {
		t.Errorf("detect measures %v", d)
	}
	// Another fault name is not a black hole unless Rules.BlackHole says so.
	wantNone(t, Check(bhHist("timeout").h(Rules{DetectWithin: 2 * time.Second})))
	got := Check(bhHist("timeout").h(Rules{DetectWithin: 2 * time.Second, BlackHole: "timeout"}))
	if len(got) != 3 {
		t.Errorf("BlackHole=timeout: %v", got)
	}
}

func TestMaxLag(t *testing.T) {
	b := (&hb{}).conn(10, "fast", "t", "").conn(10, "slow", "t", "").conn(10, "stuck", "t", "").
		pubs(100, 1, 2, 3)
	ev := func(d time.Duration, c string, seq int64) {
		b.ops = append(b.ops, Op{T: d, Kind: KindEvent, Client: c, ID: "x", Seq: seq})
	}
	ev(at(200)+ms/2, "fast", 1)                  // ok 100.5 ms: lag exactly 100 ms
	ev(at(201)+ms/2+time.Microsecond, "fast", 2) // lag 100.001 ms
	ev(at(202)+ms/2, "fast", 3)
	for i, s := range []int64{1, 2, 3} {
		ev(at(900+i), "slow", s)
	}
	ev(at(150), "stuck", 1)
	ev(at(151), "stuck", 2)
	b.disc(1000, "stuck", CauseClientClose)
	rep := Analyze(b.h(Rules{MaxLag: 100 * ms, Slow: []string{"slow"}}))
	vs := only(rep.Violations, RuleMaxLag)
	want := []string{
		"fast: 1 events arrived more than 100ms after their publish-ok; the worst, seq 2, took 0.100001s (ok t=0.1015s, received t=0.201501s)",
		"stuck: 1 never arrived: 3 (ok t=0.1025s)",
	}
	if len(vs) != 2 {
		t.Fatalf("got %v", rep.Violations)
	}
	for i, v := range vs {
		if v.Msg != want[i] {
			t.Errorf("violation %d:\n got %s\nwant %s", i, v.Msg, want[i])
		}
	}
	if m := rep.Clients["slow"]; m.MaxLagSeq != 1 || m.MaxLag != 800*ms-ms/2 {
		t.Errorf("slow measures %+v", m)
	}
	// A subscription that ends exactly at ok + D had no time to miss it.
	b2 := (&hb{}).conn(10, "s", "t", "").pubs(100, 1)
	b2.disc(200, "s", CauseClientClose)
	b2.ops[len(b2.ops)-1].T = at(200) + ms/2
	wantNone(t, Check(b2.h(Rules{MaxLag: 100 * ms})))
}
