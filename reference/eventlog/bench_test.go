package eventlog

import (
	"strconv"
	"testing"
)

var benchPayload = make([]byte, 64)

// BenchmarkAppend appends 64-byte events to a log at its retention limit (every append
// drops the oldest event).
//
//	go test -run '^$' -bench . -benchmem ./reference/eventlog/
func BenchmarkAppend(b *testing.B) {
	l, _ := NewTopics(Options{MaxEvents: 1000}).Get("t")
	for range 1000 {
		l.Append(benchPayload)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		l.Append(benchPayload)
	}
}

// BenchmarkSince reads the newest n events of a log of 1000, as a stream that follows the
// log does after a wake-up (n=1) or after falling behind (n=100).
func BenchmarkSince(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			l, _ := NewTopics(Options{}).Get("t")
			var cursor string
			for i := range 1000 {
				if ev := l.Append(benchPayload); i == 999-n {
					cursor = ev.ID
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if evs, gap := l.Since(cursor, 256); len(evs) != n || gap != nil {
					b.Fatalf("%d events, gap %v", len(evs), gap)
				}
			}
		})
	}
	b.Run("n=1/recycled", func(b *testing.B) { // Read into a recycled buffer, as the streams do
		l, _ := NewTopics(Options{}).Get("t")
		var cursor string
		for range 1000 {
			cursor = l.Append(benchPayload).ID
		}
		l.Append(benchPayload)
		var evs []Event
		b.ReportAllocs()
		for b.Loop() {
			evs, _, _ = l.Read(Recycle(evs), cursor, 256)
		}
	})
}

// BenchmarkEncodingOf is one subscriber's share of a fan-out: the event is already encoded
// by an earlier reader, Of returns the shared bytes.
func BenchmarkEncodingOf(b *testing.B) {
	l, _ := NewTopics(Options{}).Get("t")
	ev := l.Append(benchPayload)
	testEncoding.Of(ev)
	b.ReportAllocs()
	for b.Loop() {
		if len(testEncoding.Of(ev)) == 0 {
			b.Fatal("empty")
		}
	}
}
