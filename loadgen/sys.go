package loadgen

import (
	"context"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

// raiseNoFile raises RLIMIT_NOFILE's soft limit to the hard limit and returns the new soft
// limit: every subscriber holds a socket.
func raiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// cpuTime is the process's user and system CPU time so far (getrusage).
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// maxRSS is the process's peak resident set size in bytes (getrusage ru_maxrss, KiB on Linux).
func maxRSS() uint64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Maxrss) << 10
}

// memSampler samples the Go runtime's memory (runtime/metrics) and keeps the peaks.
type memSampler struct {
	mu       sync.Mutex
	peakHeap uint64 // live and not yet swept heap objects
	peakGo   uint64 // all memory mapped by the Go runtime minus what it returned to the OS
	samples  []metrics.Sample
}

func newMemSampler() *memSampler {
	return &memSampler{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
}

func (m *memSampler) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	metrics.Read(m.samples)
	val := func(i int) uint64 {
		if m.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return m.samples[i].Value.Uint64()
	}
	m.peakHeap = max(m.peakHeap, val(0))
	m.peakGo = max(m.peakGo, val(1)-min(val(2), val(1)))
}

// run samples every interval until ctx ends.
func (m *memSampler) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *memSampler) peaks() (heap, goMem uint64) {
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peakHeap, m.peakGo
}
