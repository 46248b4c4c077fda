package history

import "testing"

// A seqIndex answers like a map for dense, sparse, huge and negative seqs, and its dense part
// stays proportional to the entries: a few huge seqs do not allocate up to them.
func TestSeqIndex(t *testing.T) {
	var s seqIndex
	want := map[int64]int{}
	seqs := []int64{0, 1, 2, 5, 63, 64, 1000, 4095, 1 << 20, 1 << 40, -7, 3, 5000, 4096, 70000}
	for i, seq := range seqs {
		s.set(seq, i)
		want[seq] = i
	}
	for seq, v := range want {
		if got, ok := s.get(seq); !ok || got != v {
			t.Errorf("get(%d) = %d, %v; want %d", seq, got, ok, v)
		}
	}
	for _, seq := range []int64{4, 6, 62, 999, 1<<20 + 1, 1<<40 - 1, -1, 69999} {
		if _, ok := s.get(seq); ok {
			t.Errorf("get(%d) found a seq never stored", seq)
		}
	}
	if s.len() != len(seqs) {
		t.Errorf("len %d, want %d", s.len(), len(seqs))
	}
	if len(s.dense) > 4*(len(seqs)+1024) {
		t.Errorf("dense part of %d slots for %d entries", len(s.dense), len(seqs))
	}
}
