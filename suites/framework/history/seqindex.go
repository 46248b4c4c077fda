package history

// seqIndex maps seqs to slice indexes without a map operation per event: seqs are small
// non-negative integers in every real run, so most live in a dense slice; the others (a
// hostile or sparse history's huge seqs) in a map. The dense part grows only while it stays
// proportional to the entries (at most 4 × (entries + 1024) slots), so memory is bounded by
// the history's size whatever its seqs.
type seqIndex struct {
	dense  []int32 // seq -> index + 1; 0: absent
	sparse map[int64]int
	n      int
}

// get returns the index stored for seq.
func (s *seqIndex) get(seq int64) (int, bool) {
	if seq >= 0 && seq < int64(len(s.dense)) {
		v := s.dense[seq]
		return int(v) - 1, v != 0
	}
	v, ok := s.sparse[seq]
	return v, ok
}

// set stores v (≥ 0) for seq, which must not be stored yet.
func (s *seqIndex) set(seq int64, v int) {
	s.n++
	if seq >= 0 && seq < int64(len(s.dense)) {
		s.dense[seq] = int32(v + 1)
		return
	}
	if limit := 4 * int64(s.n+1024); seq >= 0 && seq < limit && v < 1<<31-1 {
		size := min(max(2*int64(len(s.dense)), seq+1, 64), limit)
		s.dense = append(s.dense, make([]int32, size-int64(len(s.dense)))...)
		s.dense[seq] = int32(v + 1)
		return
	}
	if s.sparse == nil {
		s.sparse = map[int64]int{}
	}
	s.sparse[seq] = v
}

// len is the number of seqs stored.
func (s *seqIndex) len() int { return s.n }
