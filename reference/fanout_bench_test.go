package reference

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fanoutSubscribers is how many subscribers BenchmarkFanout delivers every event to.
const fanoutSubscribers = 1000

// fanoutPayload is the payload of every event of BenchmarkFanout: plain ASCII, so it appears
// unchanged exactly once per event in every transport's bytes.
var fanoutPayload = bytes.Repeat([]byte("fan-out-payload-"), 4)

// patternCounter counts the occurrences of a pattern in a stream that arrives in pieces.
type patternCounter struct {
	pattern []byte
	tail    []byte // the last len(pattern)-1 bytes seen
	window  []byte
}

func (p *patternCounter) count(b []byte) int {
	p.window = append(append(p.window[:0], p.tail...), b...)
	n := bytes.Count(p.window, p.pattern)
	k := min(len(p.window), len(p.pattern)-1)
	p.tail = append(p.tail[:0], p.window[len(p.window)-k:]...)
	return n
}

// BenchmarkFanout publishes one event (Server.Publish, in process) per iteration and waits
// until each of 1000 subscribers of the topic has read it from its socket: ns/op is the time
// to deliver one event to 1000 subscribers, allocs/op what the server (and the raw-socket
// readers, which allocate nothing per read) allocated for it.
//
//	go test -run '^$' -bench Fanout -benchmem ./reference/
func BenchmarkFanout(b *testing.B) {
	for _, tr := range idleTransports {
		if tr.name == "poll" { // a long-poll answers once: it is not a subscription
			continue
		}
		b.Run(tr.name, func(b *testing.B) { benchmarkFanout(b, tr) })
	}
}

func benchmarkFanout(b *testing.B, tr idleTransport) {
	s := startBenchServer(b)
	var remaining atomic.Int64
	delivered := make(chan struct{}, 1)
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, fanoutSubscribers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range fanoutSubscribers {
		c := dialIdle(b, s, tr)
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := patternCounter{pattern: fanoutPayload}
			buf := make([]byte, 32<<10)
			for {
				k, err := c.Read(buf)
				for range pc.count(buf[:k]) {
					if remaining.Add(-1) == 0 {
						delivered <- struct{}{}
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	waitGauge(b, tr.gauge(s), fanoutSubscribers)
	b.ReportAllocs()
	b.SetBytes(int64(fanoutSubscribers * len(fanoutPayload)))
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	for b.Loop() {
		remaining.Store(fanoutSubscribers)
		if _, err := s.Publish("idle", fanoutPayload); err != nil {
			b.Fatal(err)
		}
		timer.Reset(time.Minute)
		select {
		case <-delivered:
		case <-timer.C:
			b.Fatalf("%d of %d subscribers did not get the event within a minute", remaining.Load(), fanoutSubscribers)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fanoutSubscribers), "ns/delivery")
}
