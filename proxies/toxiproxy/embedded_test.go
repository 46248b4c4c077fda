package toxiproxy

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedOpenCloseTwice opens and closes two embedded servers in a row in
// one process (a shared prometheus registry would panic on the second) and
// checks that Close leaves no listener and no goroutine behind, even with a
// toxic installed and a stream open through the proxy.
func TestEmbeddedOpenCloseTwice(t *testing.T) {
	up := newUpstream(t)
	ctx := testCtx(t, 60*time.Second)
	// Warm up what lives for the whole process (HTTP transport, upstream) so
	// that the goroutine baseline is stable.
	warm, err := Open(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	wp, err := warm.NewProxy(ctx, "warm", upstreamAddr(up))
	if err != nil {
		t.Fatal(err)
	}
	flows(t, wp)
	if err := warm.Close(ctx); err != nil {
		t.Fatal(err)
	}
	base := settledGoroutines(0)

	for i := 0; i < 2; i++ {
		b, err := Open(ctx, Config{})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		p, err := b.NewProxy(ctx, "p", upstreamAddr(up))
		if err != nil {
			t.Fatal(err)
		}
		flows(t, p)
		a, err := Apply(ctx, p, fault(t, "latency"))
		if err != nil {
			t.Fatal(err)
		}
		stream := request(t, p.Listen(), "/stream")
		if r := readUntil(stream, 1, 5*time.Second); r.reads == 0 {
			t.Fatalf("stream: %v", r.err)
		}
		api, listen := strings.TrimPrefix(b.API(), "http://"), p.Listen()
		if err := b.Close(ctx); err != nil {
			t.Fatalf("close #%d: %v", i+1, err)
		}
		if r := readUntil(stream, 1<<20, 5*time.Second); !isClosed(r.err) {
			t.Errorf("stream through the proxy survived Close: %v", r.err)
		}
		_ = stream.Close()
		if dialable(api) {
			t.Errorf("API %s still listening after Close", api)
		}
		if dialable(listen) {
			t.Errorf("proxy %s still listening after Close", listen)
		}
		if err := a.Stop(ctx); err == nil {
			t.Error("Stop on a closed backend reported success")
		}
		if _, err := b.NewProxy(ctx, "q", upstreamAddr(up)); err == nil {
			t.Error("NewProxy after Close succeeded")
		}
		if err := b.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	if n := settledGoroutines(base); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after two open/close cycles\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits (up to 10 s) for the goroutine count to drop to
// target, or to stop changing when target is 0, and returns it.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (target > 0 && m <= target) || (target == 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}

func TestEmbeddedCloseWithCanceledContext(t *testing.T) {
	b, err := Open(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	api := strings.TrimPrefix(b.API(), "http://")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Close(ctx)
	if dialable(api) {
		t.Errorf("API %s still listening after Close with a canceled context", api)
	}
}
