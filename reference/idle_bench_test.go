package reference

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"
)

// idleConns is how many idle connections BenchmarkIdleConn opens per transport.
const idleConns = 2000

// idleTransport describes how to open one idle connection of a transport with a raw
// net.Conn: the request to write, the bytes that end what the server sends at once (empty:
// nothing is sent before the first event), and the server's gauge of its connections.
type idleTransport struct {
	name    string
	request string
	until   string
	gauge   func(s *Server) *atomic.Int64
}

var idleTransports = []idleTransport{
	{"sse", "GET /sse/idle HTTP/1.1\r\nHost: x\r\n\r\n", "retry: ", func(s *Server) *atomic.Int64 { return &s.m.sseClients }},
	{"ws", "GET /ws/idle HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		"\r\n\r\n", func(s *Server) *atomic.Int64 { return &s.m.wsClients }},
	{"poll", "GET /poll/idle HTTP/1.1\r\nHost: x\r\n\r\n", "", func(s *Server) *atomic.Int64 { return &s.m.pollClients }},
	{"stream", "GET /stream/idle HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\n", func(s *Server) *atomic.Int64 { return &s.m.streamClients }},
}

// idleUsage is what one idle connection costs the process, averaged over many.
type idleUsage struct {
	heap, stack, goroutines float64 // bytes of live heap objects and of stacks, goroutines
}

// processUsage reads live heap bytes, stack bytes and goroutines after two GCs (the second
// empties sync.Pool's victim cache, so pooled buffers of closed connections do not count).
func processUsage() (heap, stack, goroutines uint64) {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	rtmetrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// measureIdle opens n idle connections of tr to a fresh reference server in this process,
// waits until the server holds them all, and returns the growth of the process's heap,
// stacks and goroutines divided by n. The client side is raw net.Conns without goroutines,
// so it adds only its socket structures (a few hundred bytes per connection) to the heap.
func measureIdle(tb testing.TB, tr idleTransport, n int) idleUsage {
	tb.Helper()
	s := startBenchServer(tb)
	if _, err := s.Publish("idle", []byte("x")); err != nil { // the topic exists before the baseline
		tb.Fatal(err)
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Warm up: one connection of the kind, so that one-time allocations are in the baseline.
	warm := dialIdle(tb, s, tr)
	conns = append(conns, warm)
	waitGauge(tb, tr.gauge(s), 1)

	heap0, stack0, g0 := processUsage()
	for range n {
		conns = append(conns, dialIdle(tb, s, tr))
	}
	waitGauge(tb, tr.gauge(s), int64(n+1))
	heap1, stack1, g1 := processUsage()
	if f := os.Getenv("IDLE_HEAPPROF"); f != "" {
		out, _ := os.Create(f + "." + tr.name)
		pprof.WriteHeapProfile(out)
		out.Close()
	}
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	return idleUsage{heap: per(heap0, heap1), stack: per(stack0, stack1), goroutines: per(g0, g1)}
}

// startBenchServer starts a reference server on a free loopback port that sends nothing
// unasked for an hour (heartbeats, pings, long-poll timeouts), and shuts it down at the end.
func startBenchServer(tb testing.TB) *Server {
	tb.Helper()
	s := New(Config{Addr: "127.0.0.1:0", Heartbeat: time.Hour, PingInterval: time.Hour, PollTimeout: time.Hour})
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// dialIdle opens one connection of tr and reads what the server sends at once.
func dialIdle(tb testing.TB, s *Server, tr idleTransport) net.Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(tr.request)); err != nil {
		tb.Fatal(err)
	}
	if tr.until != "" {
		var got []byte
		buf := make([]byte, 512)
		for !bytes.Contains(got, []byte(tr.until)) {
			k, err := c.Read(buf)
			if err != nil {
				tb.Fatalf("%s: reading the response start (got %q): %v", tr.name, got, err)
			}
			got = append(got, buf[:k]...)
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// waitGauge waits (at most a minute) until g reaches want.
func waitGauge(tb testing.TB, g *atomic.Int64, want int64) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); g.Load() < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d connections reached the handler", g.Load(), want)
		}
	}
}

// BenchmarkIdleConn measures the memory of one idle connection per transport: 2000 idle
// connections from raw net.Conns in this process, the growth of live heap (after GC), of
// stack memory and of goroutines divided by 2000. Run it once per transport:
//
//	go test -run '^$' -bench IdleConn -benchtime 1x ./reference/
//
// With IDLE_HEAPPROF=<path> it also writes the heap profile with the connections open to
// <path>.<transport> (go tool pprof -sample_index=inuse_space -top <file>).
func BenchmarkIdleConn(b *testing.B) {
	for _, tr := range idleTransports {
		b.Run(tr.name, func(b *testing.B) {
			var u idleUsage
			for b.Loop() {
				u = measureIdle(b, tr, idleConns)
			}
			b.ReportMetric(u.heap, "heapB/conn")
			b.ReportMetric(u.stack, "stackB/conn")
			b.ReportMetric(u.heap+u.stack, "B/conn")
			b.ReportMetric(u.goroutines, "goroutines/conn")
		})
	}
}

// TestIdleConnMeasurement keeps the measurement of BenchmarkIdleConn working: a few idle
// connections per transport are held by the server and cost it something.
func TestIdleConnMeasurement(t *testing.T) {
	for _, tr := range idleTransports {
		u := measureIdle(t, tr, 20)
		t.Logf("%s: %.0f B heap + %.0f B stack, %.1f goroutines per idle connection", tr.name, u.heap, u.stack, u.goroutines)
		if u.goroutines < 1 {
			t.Errorf("%s: %.1f goroutines per connection: the connections did not reach the server", tr.name, u.goroutines)
		}
	}
}
