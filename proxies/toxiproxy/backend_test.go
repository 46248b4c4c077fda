package toxiproxy

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/freeport"
)

// behaviour is one row of the table every backend runs: it gets a fresh proxy
// to the upstream test server.
type behaviour struct {
	name string
	run  func(t *testing.T, ctx context.Context, p *Proxy)
}

func fault(t *testing.T, name string) Fault {
	t.Helper()
	f, ok := FaultNamed(name)
	if !ok {
		t.Fatalf("no fault %q", name)
	}
	return f
}

func apply(t *testing.T, ctx context.Context, p *Proxy, f Fault) *Active {
	t.Helper()
	a, err := Apply(ctx, p, f)
	if err != nil {
		t.Fatalf("apply %s: %v", f.Name, err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a
}

func stop(t *testing.T, ctx context.Context, a *Active) {
	t.Helper()
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop %s: %v", a.Fault.Name, err)
	}
}

// flows checks that a request through p gets its full response.
func flows(t *testing.T, p *Proxy) {
	t.Helper()
	r := readUntil(request(t, p.Listen(), "/bytes?n=1000"), 1<<20, 10*time.Second)
	if r.err != io.EOF || len(body(r.data)) != 1000 {
		t.Fatalf("through %s: got %d body bytes, end %v; want 1000 bytes then EOF", p.Listen(), len(body(r.data)), r.err)
	}
}

var behaviours = []behaviour{
	{"data flows", func(t *testing.T, ctx context.Context, p *Proxy) {
		flows(t, p)
	}},
	{"toxics are listed, removed and cleared", func(t *testing.T, ctx context.Context, p *Proxy) {
		for _, tx := range []Toxic{
			{Name: "a", Type: "latency", Attributes: map[string]any{"latency": 1}},
			{Name: "b", Type: "latency", Stream: Upstream, Attributes: map[string]any{"latency": 1}},
		} {
			if err := p.AddToxic(ctx, tx); err != nil {
				t.Fatal(err)
			}
		}
		list, err := p.Toxics(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("toxics = %v, %v; want 2", list, err)
		}
		for _, tx := range list {
			if tx.Toxicity != 1 {
				t.Errorf("toxic %s toxicity %v; want 1 (0 means always)", tx.Name, tx.Toxicity)
			}
		}
		if err := p.AddToxic(ctx, Toxic{Name: "a", Type: "latency"}); err == nil {
			t.Error("a second toxic named a was accepted")
		}
		if err := p.RemoveToxic(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := p.ClearToxics(ctx); err != nil {
			t.Fatal(err)
		}
		if list, err := p.Toxics(ctx); err != nil || len(list) != 0 {
			t.Fatalf("after clear: %v, %v", list, err)
		}
		flows(t, p)
	}},
	{"latency adds at least its delay", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "latency")
		f.Latency, f.Jitter = 300*time.Millisecond, 0
		a := apply(t, ctx, p, f)
		start := time.Now()
		r := readUntil(request(t, p.Listen(), "/bytes?n=10"), 1<<20, 10*time.Second)
		if r.reads == 0 {
			t.Fatalf("no data: %v", r.err)
		}
		if d := r.first.Sub(start); d < f.Latency {
			t.Errorf("first byte after %v; want at least %v", d, f.Latency)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"bandwidth slows a large transfer", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "bandwidth")
		f.RateKBps = 100
		a := apply(t, ctx, p, f)
		start := time.Now()
		r := readUntil(request(t, p.Listen(), "/bytes?n=60000"), 1<<20, 30*time.Second)
		if len(body(r.data)) != 60000 {
			t.Fatalf("got %d body bytes (%v)", len(body(r.data)), r.err)
		}
		// 60 000 bytes at 100 KB/s take 600 ms; allow for the timer's rounding.
		if d := r.end.Sub(start); d < 400*time.Millisecond {
			t.Errorf("60 KB at 100 KB/s took %v; want at least 400ms", d)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"slicer delivers in small reads", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "slicer")
		f.SliceBytes, f.SliceDelay = 1, time.Millisecond
		a := apply(t, ctx, p, f)
		r := readUntil(request(t, p.Listen(), "/bytes?n=200"), 1<<20, 30*time.Second)
		if r.err != io.EOF || len(body(r.data)) != 200 {
			t.Fatalf("got %d body bytes (%v)", len(body(r.data)), r.err)
		}
		// Unsliced, the response arrives in one or two reads; 1-byte segments 1 ms
		// apart arrive mostly one by one, even on a loaded machine.
		if r.reads < len(r.data)/8 {
			t.Errorf("%d bytes came in %d reads; want at least %d", len(r.data), r.reads, len(r.data)/8)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"limit-data cuts each connection after N bytes", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "limit-data")
		f.Bytes = 100
		a := apply(t, ctx, p, f)
		for i := 0; i < 2; i++ { // the count is per connection
			r := readUntil(request(t, p.Listen(), "/bytes?n=1000"), 1<<20, 10*time.Second)
			if len(r.data) != 100 || r.err == nil || isTimeout(r.err) {
				t.Fatalf("connection %d: got %d bytes, end %v; want exactly 100 then a close", i, len(r.data), r.err)
			}
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"reset sends RST to connections opened after it, not before", func(t *testing.T, ctx context.Context, p *Proxy) {
		old := request(t, p.Listen(), "/stream")
		if r := readUntil(old, 1, 5*time.Second); r.reads == 0 {
			t.Fatalf("stream before the fault: %v", r.err)
		}
		a := apply(t, ctx, p, fault(t, "reset"))
		r := readUntil(request(t, p.Listen(), "/bytes?n=10"), 1<<20, 10*time.Second)
		if !errors.Is(r.err, syscall.ECONNRESET) {
			t.Errorf("new connection: got %d bytes, end %v; want ECONNRESET", len(r.data), r.err)
		}
		// The older connection's client sends nothing more, so it is untouched.
		if err := drain(old, 50*time.Millisecond); err != nil {
			t.Fatalf("older stream during reset: %v", err)
		}
		if r := readUntil(old, 1, 5*time.Second); r.reads == 0 {
			t.Errorf("older stream stopped: %v", r.err)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"reset closes older connections with a FIN, not an RST", func(t *testing.T, ctx context.Context, p *Proxy) {
		old := request(t, p.Listen(), "/stream")
		if r := readUntil(old, 1, 5*time.Second); r.reads == 0 {
			t.Fatalf("stream before the fault: %v", r.err)
		}
		f := fault(t, "reset")
		f.Stream = Downstream // fires on the stream's next tick
		a := apply(t, ctx, p, f)
		r := readUntil(old, 1<<20, 5*time.Second)
		if r.err != io.EOF {
			t.Errorf("older stream: end %v; want EOF (Toxiproxy sets SO_LINGER=0 only on new connections)", r.err)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"blackhole swallows data, keeps connections open, and Stop recovers", func(t *testing.T, ctx context.Context, p *Proxy) {
		old := request(t, p.Listen(), "/stream")
		if r := readUntil(old, 1, 5*time.Second); r.reads == 0 {
			t.Fatalf("stream before the fault: %v", r.err)
		}
		a := apply(t, ctx, p, fault(t, "blackhole"))
		if err := drain(old, 300*time.Millisecond); err != nil { // chunks in flight at Apply
			t.Fatalf("stream closed at Apply: %v", err)
		}
		r := readUntil(old, 1, time.Second)
		if r.reads != 0 || !isTimeout(r.err) {
			t.Fatalf("black-holed stream: got %q, end %v; want no data and still open", r.data, r.err)
		}
		fresh := request(t, p.Listen(), "/bytes?n=10")
		if r := readUntil(fresh, 1, 500*time.Millisecond); r.reads != 0 || !isTimeout(r.err) {
			t.Fatalf("new connection in the black hole: got %q, end %v; want no data and still open", r.data, r.err)
		}
		stop(t, ctx, a)
		// Removing a timeout toxic closes the connections it held (Toxiproxy's
		// TimeoutToxic.Cleanup); new connections flow.
		if r := readUntil(old, 1<<20, 5*time.Second); !isClosed(r.err) {
			t.Errorf("held stream after Stop: end %v; want closed", r.err)
		}
		flows(t, p)
	}},
	{"slow-close holds the close back", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "slow-close")
		f.Delay = time.Second
		a := apply(t, ctx, p, f)
		start := time.Now()
		r := readUntil(request(t, p.Listen(), "/bytes?n=10"), 1<<20, 10*time.Second)
		if r.err != io.EOF || len(body(r.data)) != 10 {
			t.Fatalf("got %d body bytes, end %v", len(body(r.data)), r.err)
		}
		if d := r.end.Sub(start); d < f.Delay {
			t.Errorf("close came after %v; want at least %v", d, f.Delay)
		}
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"outage cuts and refuses, then ends by itself", func(t *testing.T, ctx context.Context, p *Proxy) {
		old := request(t, p.Listen(), "/stream")
		if r := readUntil(old, 1, 5*time.Second); r.reads == 0 {
			t.Fatalf("stream before the fault: %v", r.err)
		}
		f := fault(t, "outage")
		f.Down = time.Second
		a := apply(t, ctx, p, f)
		if r := readUntil(old, 1<<20, 5*time.Second); !isClosed(r.err) {
			t.Errorf("stream during the outage: end %v; want closed", r.err)
		}
		if dialable(p.Listen()) {
			t.Errorf("connect to %s succeeded during the outage", p.Listen())
		}
		select {
		case <-a.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("outage did not end by itself")
		}
		if d := time.Since(a.Started); d < f.Down {
			t.Errorf("outage ended after %v; want at least %v", d, f.Down)
		}
		flows(t, p)
		stop(t, ctx, a)
		flows(t, p)
	}},
	{"outage ends at Stop", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "outage")
		f.Down = time.Minute
		a := apply(t, ctx, p, f)
		if dialable(p.Listen()) {
			t.Errorf("connect succeeded during the outage")
		}
		stop(t, ctx, a)
		select {
		case <-a.Done():
		default:
			t.Error("Done not closed after Stop")
		}
		flows(t, p)
	}},
	{"flap toggles until Stop", func(t *testing.T, ctx context.Context, p *Proxy) {
		f := fault(t, "flap")
		f.Down, f.Up = 300*time.Millisecond, 300*time.Millisecond
		a := apply(t, ctx, p, f)
		var states []bool
		for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			states = append(states, dialable(p.Listen()))
		}
		changes := 0
		for i := 1; i < len(states); i++ {
			if states[i] != states[i-1] {
				changes++
			}
		}
		if changes < 3 {
			t.Errorf("proxy state changed %d times in 2.5 s of 300 ms down / 300 ms up; want at least 3 (%v)", changes, states)
		}
		stop(t, ctx, a)
		flows(t, p)
		time.Sleep(700 * time.Millisecond) // longer than a cycle: it must stay up
		flows(t, p)
	}},
	{"Delete closes the listener", func(t *testing.T, ctx context.Context, p *Proxy) {
		flows(t, p)
		if err := p.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if dialable(p.Listen()) {
			t.Errorf("connect to %s succeeded after Delete", p.Listen())
		}
		if err := p.Delete(ctx); err != nil {
			t.Errorf("second Delete: %v", err)
		}
		if err := p.Enable(ctx); err == nil {
			t.Error("Enable of a deleted proxy succeeded")
		}
	}},
}

// runBehaviours runs the table against b, one proxy per row, rows in parallel.
func runBehaviours(t *testing.T, b Backend, upstream string) {
	for i, bh := range behaviours {
		t.Run(bh.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 60*time.Second)
			name := b.Name() + "-" + strings.NewReplacer(" ", "-", ",", "").Replace(bh.name)
			if len(name) > 60 {
				name = name[:60]
			}
			p, err := b.NewProxy(ctx, name+"-"+string(rune('a'+i)), upstream)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Delete(context.Background()) })
			if !strings.HasPrefix(p.Listen(), "127.0.0.1:") {
				t.Errorf("Listen() = %q; want 127.0.0.1:port", p.Listen())
			}
			bh.run(t, ctx, p)
		})
	}
}

func TestEmbeddedBackend(t *testing.T) {
	up := newUpstream(t)
	b, err := Open(testCtx(t, 10*time.Second), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	if b.Name() != Embedded {
		t.Errorf("Name() = %q", b.Name())
	}
	runBehaviours(t, b, upstreamAddr(up))
}

func TestExternalBackend(t *testing.T) {
	up := newUpstream(t)
	ctx := testCtx(t, 10*time.Second)
	sidecar, err := Open(ctx, Config{Backend: Embedded})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sidecar.Close(context.Background()) })
	// A proxy someone else made on the sidecar: Close must leave it alone.
	foreign, err := sidecar.NewProxy(ctx, "foreign", upstreamAddr(up))
	if err != nil {
		t.Fatal(err)
	}

	b, err := Open(ctx, Config{Backend: External, API: sidecar.API()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != External {
		t.Errorf("Name() = %q", b.Name())
	}
	t.Run("behaviours", func(t *testing.T) { runBehaviours(t, b, upstreamAddr(up)) })

	mine, err := b.NewProxy(ctx, "mine", upstreamAddr(up))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if dialable(mine.Listen()) {
		t.Error("the external backend's own proxy survived Close")
	}
	flows(t, foreign)
	if _, err := b.NewProxy(ctx, "late", upstreamAddr(up)); err == nil {
		t.Error("NewProxy after Close succeeded")
	}

	if _, err := Open(ctx, Config{Backend: External}); err == nil {
		t.Error("external without API opened")
	}
	if _, err := Open(ctx, Config{Backend: External, API: "http://127.0.0.1:1"}); err == nil {
		t.Error("external with a dead API opened")
	}
}

func TestExternalBackendPortRange(t *testing.T) {
	up := newUpstream(t)
	ctx := testCtx(t, 10*time.Second)
	sidecar, err := Open(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sidecar.Close(context.Background()) })
	reserved, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reserved.Release)
	port := reserved.N
	b, err := Open(ctx, Config{Backend: External, API: sidecar.API(), Ports: strconv.Itoa(port)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	p, err := b.NewProxy(ctx, "ranged", upstreamAddr(up))
	if err != nil {
		t.Fatal(err)
	}
	if want := "127.0.0.1:" + strconv.Itoa(port); p.Listen() != want {
		t.Errorf("Listen() = %s; want %s", p.Listen(), want)
	}
	flows(t, p)
	if _, err := b.NewProxy(ctx, "ranged2", upstreamAddr(up)); err == nil {
		t.Error("a second proxy got a port from a one-port range")
	}
	if err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewProxy(ctx, "ranged3", upstreamAddr(up)); err != nil {
		t.Errorf("the port was not returned to the range on Delete: %v", err)
	}
}

func TestNewProxyErrors(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	b, err := Open(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	if _, err := b.NewProxy(ctx, "x", "no-port"); err == nil {
		t.Error("upstream without a port accepted")
	}
	if _, err := b.NewProxy(ctx, "a/b", "127.0.0.1:1"); err == nil {
		t.Error("name with a slash accepted")
	}
	if _, err := b.NewProxy(ctx, "dup", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewProxy(ctx, "dup", "127.0.0.1:1"); err == nil {
		t.Error("duplicate proxy name accepted")
	}
	if _, err := Open(ctx, Config{Backend: "nope"}); err == nil {
		t.Error("unknown backend accepted")
	}
}
