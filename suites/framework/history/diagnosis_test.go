package history

import "testing"

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
