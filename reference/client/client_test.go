package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtconform/rtconform/proxies/front"
	"github.com/rtconform/rtconform/reference"
	"github.com/rtconform/rtconform/reference/client"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// target is the reference's description with short heartbeats (1 s) and hold (3 s), as the
// test's reference runs.
func target() *fw.Target {
	p := fw.Defaults()
	tg := p.Target
	tg.SSE.Heartbeat = fw.Duration(time.Second)
	tg.WebSocket.Keepalive = fw.Duration(time.Second)
	tg.HTTPStream.Heartbeat = fw.Duration(time.Second)
	tg.LongPoll.Timeout = fw.Duration(3 * time.Second)
	tg.LongPoll.Events, tg.LongPoll.Next = "/events", "/cursor" // what the loader fills in
	return &tg
}

func ref(t *testing.T) string {
	return fwtest.Reference(t, reference.Config{Heartbeat: time.Second, PingInterval: time.Second, PollTimeout: 3 * time.Second})
}

func frontOf(t *testing.T, upstream string, m front.Mode) *front.Front {
	f, err := front.Start(upstream, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func seq(data string) (int, bool) {
	var p struct {
		Seq *int `json:"seq"`
	}
	if json.Unmarshal([]byte(data), &p) != nil || p.Seq == nil {
		return 0, false
	}
	return *p.Seq, true
}

// publisher publishes seqs 1, 2, … every interval to the reference directly, recording them.
type publisher struct {
	t     *testing.T
	base  string
	topic string
	rec   *history.Recorder

	mu   sync.Mutex
	next int64
}

func (p *publisher) publish() (int, bool) {
	p.mu.Lock()
	p.next++
	n := p.next
	p.mu.Unlock()
	p.rec.PublishInvoke("pub", p.topic, n)
	resp, err := http.Post(p.base+"/publish/"+p.topic, "application/json", bytes.NewReader(fmt.Appendf(nil, `{"seq":%d}`, n)))
	if err != nil {
		p.rec.PublishUnknown("pub", p.topic, n, err)
		return 0, false
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		p.rec.PublishFail("pub", p.topic, n, fmt.Errorf("status %d", resp.StatusCode))
		return 0, false
	}
	p.rec.PublishOK("pub", p.topic, n)
	return int(n), true
}

// run publishes every interval until the returned stop is called; stop returns the seqs
// this run got acknowledged.
func (p *publisher) run(interval time.Duration) (stop func() []int) {
	done, finished := make(chan struct{}), make(chan struct{})
	var ok []int
	go func() {
		defer close(finished)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			if n, acked := p.publish(); acked {
				ok = append(ok, n)
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() []int {
		close(done)
		<-finished
		return ok
	}
}

type setup struct {
	ref, base string
	topic     string
	rec       *history.Recorder
	pub       *publisher
}

func newSetup(t *testing.T, m front.Mode) (*setup, *front.Front) {
	s := &setup{ref: ref(t), topic: strings.ReplaceAll(t.Name(), "/", "-")}
	s.base = s.ref
	var f *front.Front
	if m != front.Pass {
		f = frontOf(t, s.ref, m)
		s.base = f.URL()
	}
	s.rec = history.NewRecorder(0, nil, history.SafetyRules())
	s.pub = &publisher{t: t, base: s.ref, topic: s.topic, rec: s.rec}
	return s, f
}

func (s *setup) start(t *testing.T, mod func(*client.Options)) *client.Client {
	o := client.Options{Base: s.base, Topic: s.topic, Target: target(), Rec: s.rec, Seq: seq, Delay: 100 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	c, err := client.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// lands publishes until the client has an event on want (bounded), and fails otherwise.
func lands(t *testing.T, s *setup, c *client.Client, want fw.Transport, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	stop := s.pub.run(200 * time.Millisecond)
	ok := c.WaitTransport(ctx, want)
	stop()
	if !ok {
		t.Fatalf("the client did not land on %s within %s; attempts: %v", want, within, c.Attempts())
	}
	return time.Since(start)
}

// judged stops the client after every acknowledged seq arrived and requires a clean history.
func judged(t *testing.T, s *setup, c *client.Client, seqs []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if m := c.WaitFor(ctx, seqs); len(m) > 0 {
		t.Errorf("%d of %d events never arrived (first %d); attempts: %v", len(m), len(seqs), m[0], c.Attempts())
	}
	c.Stop()
	if vs := history.Check(s.rec.History()); len(vs) > 0 {
		t.Errorf("the history breaks the rules: %v", vs)
	}
}

func TestDirectLandsOnWebSocket(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.Pass)
	c := s.start(t, nil)
	lands(t, s, c, fw.WebSocket, 10*time.Second)
	if a := c.Attempts(); a[0].Transport != fw.WebSocket || a[0].Connected <= 0 {
		t.Errorf("attempts %v: want a first WebSocket attempt that connected", a)
	}
}

// A client ordered onto the HTTP stream (NDJSON) alone follows it: it gets every event
// published and reports its attempts as httpstream, probed within the stream's window.
func TestHTTPStreamOnly(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.Pass)
	c := s.start(t, func(o *client.Options) { o.Order = []fw.Transport{fw.HTTPStream} })
	if got := c.Order(); len(got) != 1 || got[0] != fw.HTTPStream {
		t.Fatalf("order %v: want [httpstream]", got)
	}
	if w := c.Window(fw.HTTPStream); w != 3*time.Second {
		t.Errorf("window %s: want 3s (2 × the declared 1 s heartbeat + 1 s)", w)
	}
	lands(t, s, c, fw.HTTPStream, 10*time.Second)
	judged(t, s, c, s.pub.run(50*time.Millisecond)())
	a := c.Attempts()
	if len(a) == 0 {
		t.Fatal("no attempts")
	}
	for _, x := range a {
		if x.Transport != fw.HTTPStream || x.Outcome != client.OK {
			t.Errorf("attempt %v: want httpstream: ok", x)
		}
	}
	if a[0].Connected <= 0 || a[0].Events == 0 {
		t.Errorf("first attempt %+v: want one that connected and delivered", a[0])
	}
}

// Without the httpstream capability the transport is not declared: a client ordered onto it
// alone does not start.
func TestHTTPStreamUndeclared(t *testing.T) {
	tg := target()
	tg.Capabilities = slices.DeleteFunc(slices.Clone(tg.Capabilities), func(c fw.Capability) bool { return c == fw.CapHTTPStream })
	if _, err := client.Start(context.Background(), client.Options{Base: "http://127.0.0.1:1", Topic: "t", Target: tg,
		Order: []fw.Transport{fw.HTTPStream}}); err == nil {
		t.Error("a client ordered onto an undeclared httpstream started")
	}
}

func TestUpgradeStrippedFallsBackToSSE(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.StripUpgrade)
	c := s.start(t, nil)
	lands(t, s, c, fw.SSE, 10*time.Second)
	a := c.Attempts()
	if a[0].Transport != fw.WebSocket || a[0].Outcome != client.Refused || !strings.Contains(a[0].Detail, "426") {
		t.Errorf("first attempt %v: want websocket refused with 426", a[0])
	}
	judged(t, s, c, s.pub.run(50*time.Millisecond)())
}

func TestUpgradeResetFallsBackToSSE(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.ResetUpgrade)
	c := s.start(t, nil)
	lands(t, s, c, fw.SSE, 10*time.Second)
	if a := c.Attempts(); a[0].Outcome != client.Refused {
		t.Errorf("first attempt %v: want refused", a[0])
	}
}

// With the upgrade stripped and event streams buffered, the client notices the silent SSE
// stream within its window and lands on long-poll; while it tries the better transports
// again (a refused upgrade, another buffered stream), nothing published is lost.
func TestBufferedSSEFallsBackToLongPoll(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.StripUpgrade|front.BufferAlways)
	c := s.start(t, func(o *client.Options) { o.Upgrade = client.Backoff{Initial: time.Second, Max: time.Second} })
	lands(t, s, c, fw.LongPoll, 20*time.Second)
	var buffered bool
	for _, a := range c.Attempts() {
		buffered = buffered || (a.Transport == fw.SSE && a.Outcome == client.Buffered)
	}
	if !buffered {
		t.Errorf("no buffered SSE attempt in %v", c.Attempts())
	}
	stop := s.pub.run(100 * time.Millisecond)
	time.Sleep(6 * time.Second) // at least one more round of trials
	seqs := stop()
	trials := 0
	for _, a := range c.Attempts() {
		if a.Transport == fw.SSE {
			trials++
		}
	}
	if trials < 2 {
		t.Errorf("attempts %v: want a second SSE trial while publishing", c.Attempts())
	}
	judged(t, s, c, seqs)
}

// Once the fault is gone, the client returns to WebSocket on its backoff, with no gap and no
// duplicate.
func TestUpgradeBackToWebSocket(t *testing.T) {
	t.Parallel()
	s, f := newSetup(t, front.StripUpgrade)
	c := s.start(t, func(o *client.Options) { o.Upgrade = client.Backoff{Initial: time.Second, Max: 2 * time.Second} })
	lands(t, s, c, fw.SSE, 10*time.Second)
	stop := s.pub.run(50 * time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // at least one failed upgrade in between
	f.SetMode(front.Pass)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ok := c.WaitTransport(ctx, fw.WebSocket)
	time.Sleep(500 * time.Millisecond)
	seqs := stop()
	if !ok {
		t.Fatalf("the client did not return to WebSocket; attempts %v", c.Attempts())
	}
	judged(t, s, c, seqs)
}

// Polling first, upgrading later (Engine.IO's strategy): the first event comes over
// long-poll, then the client moves to WebSocket.
func TestUpgradeLater(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.Pass)
	c := s.start(t, func(o *client.Options) {
		o.UpgradeLater = true
		o.Upgrade = client.Backoff{Initial: time.Second}
	})
	lands(t, s, c, fw.WebSocket, 15*time.Second)
	if a := c.Attempts(); a[0].Transport != fw.LongPoll {
		t.Errorf("attempts %v: want long-poll first", a)
	}
}

// A stream that delivers, then goes silent without closing (a black hole), is given up
// after the window and reconnected; two in a row make the client fall back.
func TestSilentStreamIsDetected(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/sse/") {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		n++
		id := n
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "id: %d\ndata: {\"seq\":%d}\n\n", id, id)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c, err := client.Start(context.Background(), client.Options{Base: srv.URL, Topic: "t", Target: target(), Seq: seq,
		Order: []fw.Transport{fw.SSE, fw.LongPoll}, Window: 700 * time.Millisecond, Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := c.Attempts(); len(a) >= 3 && a[2].Transport == fw.LongPoll {
			if a[0].Outcome != client.Silent || a[1].Outcome != client.Silent {
				t.Errorf("attempts %v: want two silent SSE attempts", a)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no fallback after two silent streams; attempts %v", c.Attempts())
}

// A long-poll held past its declared hold plus the grace is "held".
func TestHeldPollIsDetected(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	tg := target()
	tg.LongPoll.Timeout = fw.Duration(300 * time.Millisecond)
	c, err := client.Start(context.Background(), client.Options{Base: srv.URL, Topic: "t", Target: tg, Seq: seq,
		Order: []fw.Transport{fw.LongPoll}, PollGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	time.Sleep(1500 * time.Millisecond)
	a := c.Attempts()
	if len(a) == 0 || a[0].Outcome != client.Held {
		t.Fatalf("attempts %v: want a held long-poll", a)
	}
}

func TestOptionsErrors(t *testing.T) {
	if _, err := client.Start(context.Background(), client.Options{Base: "http://127.0.0.1:1"}); err == nil {
		t.Error("no error without a target")
	}
	tg := target()
	tg.Capabilities = []fw.Capability{fw.CapPublish}
	if _, err := client.Start(context.Background(), client.Options{Base: "http://127.0.0.1:1", Target: tg}); err == nil {
		t.Error("no error for a target that declares no transport")
	}
}

// The client waits the reconnection time the stream asked for (retry:) before reconnecting.
func TestRetryIsHonoured(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1500\nid: 1\ndata: {\"seq\":1}\n\n") // then the stream ends
	}))
	t.Cleanup(srv.Close)
	c, err := client.Start(context.Background(), client.Options{Base: srv.URL, Topic: "t", Target: target(), Seq: seq,
		Order: []fw.Transport{fw.SSE}, Delay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	time.Sleep(2500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(at) < 2 {
		t.Fatalf("%d connections, want a reconnect", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 1400*time.Millisecond {
		t.Errorf("reconnected after %s, want the 1.5 s retry: honoured", gap)
	}
}

// While WebSocket stays blocked, the client retries it on an exponential schedule: the waits
// grow from Initial and never exceed Max (plus the jitter and the time to land again).
func TestUpgradeRetriesBackOff(t *testing.T) {
	t.Parallel()
	s, _ := newSetup(t, front.StripUpgrade)
	c := s.start(t, func(o *client.Options) {
		o.Upgrade = client.Backoff{Initial: 300 * time.Millisecond, Max: 1200 * time.Millisecond, Jitter: 0.05}
	})
	stop := s.pub.run(50 * time.Millisecond)
	time.Sleep(8 * time.Second) // 0.3 + 0.6 + 1.2 + 1.2 s of waits, and landing again each time
	stop()
	var starts []time.Duration
	for _, a := range c.Attempts() {
		if a.Transport == fw.WebSocket {
			starts = append(starts, a.Start)
		}
	}
	if len(starts) < 4 {
		t.Fatalf("%d WebSocket attempts in 8 s, want >= 4: %v", len(starts), c.Attempts())
	}
	first, third := starts[1]-starts[0], starts[3]-starts[2]
	if first < 250*time.Millisecond || third < 2*first-200*time.Millisecond {
		t.Errorf("waits between WebSocket attempts %s then %s: want at least 0.3 s, growing", first, third)
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i] - starts[i-1]; gap > 3*time.Second {
			t.Errorf("wait %d was %s, beyond Max (1.2 s) and the time to land", i, gap)
		}
	}
}
