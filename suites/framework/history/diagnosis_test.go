package history

import (
	"testing"
	"time"
)

// TestDiagnosis: the whole history's diagnosis is the most specific cause its evidence
// names (an inclusive resume is also a duplicate; a resume gap is also a loss).
func TestDiagnosis(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(b *hb)
		want  string
	}{
		{"successor", func(b *hb) { b.evs(301, "s1", 3, 4, 5) }, ""},
		{"inclusive", func(b *hb) { b.evs(301, "s1", 2, 3, 4, 5) }, DiagResumeInclusive},
		{"gap", func(b *hb) { b.evs(301, "s1", 4, 5) }, DiagResumeGap},
		{"rewound", func(b *hb) { b.evs(301, "s1", 1, 2, 3, 4, 5) }, DiagResumeDuplicate},
		{"silent loss", func(b *hb) { b.evs(301, "s1", 3, 4) }, DiagSilentLoss},
		{"reset excuses", func(b *hb) { b.reset(301, "s1").evs(302, "s1", 5) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := resume()
			tc.after(b)
			rep := Analyze(b.h(all()))
			key, text := rep.Diagnosis()
			if key != tc.want {
				t.Fatalf("diagnosis %q, want %q (violations %v)", key, tc.want, rep.Violations)
			}
			if key != "" && text == "" {
				t.Errorf("no text for %q", key)
			}
		})
	}
}

// TestDiagnosisReordered: two subscribers that disagree on the order are diagnosed
// "reordered".
func TestDiagnosisReordered(t *testing.T) {
	b := (&hb{}).pubOp(10, KindPublishInvoke, "p", "t", 1).pubOp(10, KindPublishInvoke, "q", "t", 2).
		pubOp(20, KindPublishOK, "p", "t", 1).pubOp(20, KindPublishOK, "q", "t", 2).
		conn(0, "a", "t", "").conn(0, "b", "t", "").evs(30, "a", 1, 2).evs(30, "b", 2, 1)
	if key, _ := Analyze(b.h(all())).Diagnosis(); key != DiagReordered {
		t.Errorf("diagnosis %q, want %q", key, DiagReordered)
	}
}

// TestPublishWithin: a publish answered late, or given up on after longer than the limit, is
// a violation diagnosed slow-consumer-blocks; a prompt one is not.
func TestPublishWithin(t *testing.T) {
	b := (&hb{}).pub(0, 1).
		pubOp(100, KindPublishInvoke, "p", "t", 2).pubOp(5100, KindPublishUnknown, "p", "t", 2).
		pubOp(5200, KindPublishInvoke, "p", "t", 3).pubOp(5300, KindPublishOK, "p", "t", 3).
		pubOp(5400, KindPublishInvoke, "p", "t", 4).pubOp(7400, KindPublishOK, "p", "t", 4)
	rep := Analyze(b.h(Rules{PublishWithin: 1500 * ms}))
	v := wantOne(t, rep.Violations, RulePublishWithin, "2 of 4 publishes took longer than 1.5s",
		"seq 2 by p no answer: 503 after 5.000s", "seq 4 by p answered after 2.000s")
	if v.Diagnosis != DiagSlowConsumerBlocks {
		t.Errorf("diagnosis %q", v.Diagnosis)
	}
	if m := rep.Topics["t"]; m.MaxPublish != 5*time.Second || m.MaxPublishSeq != 2 {
		t.Errorf("slowest publish %s (seq %d)", m.MaxPublish, m.MaxPublishSeq)
	}
	wantNone(t, Check(b.h(Rules{PublishWithin: 5 * time.Second})))
}

// TestDiagnosisBlockingOverLoss: a publisher held back behind a slow reader also leaves the
// events it was blocked on undelivered when the history ends; the cause is the blocking
// (go-sse's single writer was reported as a silent loss).
func TestDiagnosisBlockingOverLoss(t *testing.T) {
	rep := Report{Violations: []Violation{{Rule: RuleNoLoss, Diagnosis: DiagSilentLoss}, {Rule: RulePublishWithin, Diagnosis: DiagSlowConsumerBlocks}}}
	if key, _ := rep.Diagnosis(); key != DiagSlowConsumerBlocks {
		t.Errorf("diagnosis %q, want %q", key, DiagSlowConsumerBlocks)
	}
}
