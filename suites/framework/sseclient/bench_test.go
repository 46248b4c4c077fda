package sseclient

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchStream is a realistic SSE stream: events with ids, an event type,
// two-line data, and a keep-alive comment every tenth event.
func benchStream(n int) []byte {
	var sb strings.Builder
	for i := range n {
		if i%10 == 0 {
			sb.WriteString(": keep-alive\n\n")
		}
		fmt.Fprintf(&sb, "id: %d\nevent: update\ndata: {\"seq\":%d,\"topic\":\"t\",\ndata: \"body\":\"%s\"}\n\n", i, i, strings.Repeat("x", 64))
	}
	return []byte(sb.String())
}

func BenchmarkParser(b *testing.B) {
	const n = 1000
	stream := benchStream(n)
	at := time.Unix(0, 0)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewParser(Limits{})
		got := 0
		// Feed in 4 KiB reads, as a network read loop would.
		for off := 0; off < len(stream); off += 4096 {
			end := min(off+4096, len(stream))
			evs, err := p.Feed(stream[off:end], at)
			if err != nil {
				b.Fatal(err)
			}
			got += len(evs)
		}
		if got != n {
			b.Fatalf("parsed %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
