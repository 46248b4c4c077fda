package history

import (
	"fmt"
	"testing"
	"time"
)

// big is a correct chaos history: one publisher, n seqs, clients that resume every 100 events,
// and a dropped event on one client when lose is set.
func big(clients, n int, lose bool) History {
	var ops []Op
	t := time.Duration(0)
	tick := func() time.Duration { t += time.Microsecond; return t }
	for c := range clients {
		ops = append(ops, Op{T: tick(), Kind: KindConnect, Client: fmt.Sprint("c", c), Topic: "t"})
	}
	for s := range n {
		seq := int64(s)
		ops = append(ops, Op{T: tick(), Kind: KindPublishInvoke, Publisher: "p", Topic: "t", Seq: seq},
			Op{T: tick(), Kind: KindPublishOK, Publisher: "p", Topic: "t", Seq: seq})
		for c := range clients {
			name := fmt.Sprint("c", c)
			if lose && c == 0 && s == n/2 {
				continue
			}
			ops = append(ops, Op{T: tick(), Kind: KindEvent, Client: name, ID: fmt.Sprint(s), Seq: seq})
			if s%100 == 99 {
				ops = append(ops, Op{T: tick(), Kind: KindDisconnect, Client: name, Cause: CauseEOF},
					Op{T: tick(), Kind: KindConnect, Client: name, Topic: "t", Token: fmt.Sprint(s)})
			}
		}
	}
	r := SafetyRules()
	r.MaxLag = time.Second
	return History{Rules: r, Ops: ops}
}

func TestBigHistory(t *testing.T) {
	start := time.Now()
	wantNone(t, Check(big(10, 3000, false)))
	vs := Check(big(10, 3000, true))
	wantOne(t, vs, RuleNoLoss, "c0 missed 1 of 3000 seqs", ": 1500 (ok")
	t.Logf("two analyses of %d-op histories took %s", len(big(10, 3000, false).Ops), time.Since(start))
}

func BenchmarkAnalyze(b *testing.B) {
	h := big(20, 5000, false)
	events := 0
	for _, op := range h.Ops {
		if op.Kind == KindEvent {
			events++
		}
	}
	b.ResetTimer()
	for b.Loop() {
		Analyze(h)
	}
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/event")
}
