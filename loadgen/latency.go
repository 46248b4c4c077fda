package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits is the number of mantissa bits a latency bucket keeps: 2^subBits buckets per power of
// two, so a bucket is at most 1/2^subBits (about 1.6 %) wide relative to its values.
const subBits = 6

// maxExp bounds the recorded values to 2^maxExp ns (about 18 minutes); longer latencies land
// in the last bucket (the exact maximum is kept separately).
const maxExp = 40

// Histogram is a fixed-size, HDR-like latency histogram safe for concurrent use: log-linear
// buckets (64 per power of two, ≤ 1.6 % relative error) from 1 ns to ~18 min, one atomic counter
// each. Its memory (~20 KiB) does not grow with the number of values.
type Histogram struct {
	counts [(maxExp + 1) << subBits]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
	sum    atomic.Int64
}

// bucket maps a value in ns to its bucket index.
func bucket(v int64) int {
	if v < 1<<subBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - subBits // ≥ 1
	if exp > maxExp {
		return len(Histogram{}.counts) - 1
	}
	return exp<<subBits | int(uint64(v)>>(exp-1))&(1<<subBits-1)
}

// lowest is the smallest value of bucket i (the inverse of bucket).
func lowest(i int) int64 {
	exp := i >> subBits
	if exp == 0 {
		return int64(i)
	}
	return int64(1<<subBits|i&(1<<subBits-1)) << (exp - 1)
}

// Record adds one latency (negative values count as 0).
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average of the recorded values (0 when none).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the upper edge of the bucket holding
// the ceil(q·n)-th smallest value, never above Max. 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			hi := lowest(i+1) - 1
			if i == len(h.counts)-1 {
				hi = math.MaxInt64
			}
			return time.Duration(min(hi, h.max.Load()))
		}
	}
	return h.Max()
}
