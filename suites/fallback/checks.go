package fallback

import (
	"fmt"
	"time"

	"github.com/rtconform/rtconform/proxies/front"
	"github.com/rtconform/rtconform/reference/client"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/chaos"
)

// settle is how long each check publishes once the client landed.
const settle = 1500 * time.Millisecond

var _ = register()

func register() bool {
	reg := func(id string, level fw.Level, tr fw.Transport, requirement, sp string, caps []fw.Capability, fault string, run func(*fw.T)) {
		fw.Register(fw.Check{ID: id, Level: level, Transport: tr, Requirement: requirement, Spec: spec + "; " + sp,
			Requires: caps, Timeout: 90 * time.Second, Labels: []string{Label, "fault:" + fault}, Run: run})
	}
	wsSSE := []fw.Capability{fw.CapWebSocket, fw.CapSSE, fw.CapPublish}

	// "a proxy strips Upgrade (the WebSocket handshake gets 400)" — the common naive proxy.
	reg("FB-WS-001", fw.MUST, fw.WebSocket,
		"when an intermediary strips the WebSocket upgrade, the same topic is served over SSE: a client that tries WebSocket first lands on SSE within its probe window and receives every event published from then on, in order, once",
		"an nginx without `proxy_set_header Upgrade`/`Connection` (proxies/front StripUpgrade)", wsSSE, "strip-upgrade",
		blocked(front.StripUpgrade, nil, fw.SSE))
	reg("FB-WS-002", fw.MUST, fw.WebSocket,
		"when an intermediary resets WebSocket upgrade requests, a client that tries WebSocket first lands on SSE within its probe window and receives every event published from then on, in order, once",
		"a middlebox that kills the upgrade (proxies/front ResetUpgrade)", wsSSE, "reset-upgrade",
		blocked(front.ResetUpgrade, nil, fw.SSE))
	reg("FB-WS-003", fw.MUST, fw.WebSocket,
		"when an intermediary strips the WebSocket upgrade, the same topic is served over long-poll: a client that tries WebSocket, then long-poll, lands on long-poll and receives every event published from then on, in order, once",
		"proxies/front StripUpgrade; client order websocket, longpoll", []fw.Capability{fw.CapWebSocket, fw.CapLongPoll, fw.CapPublish}, "strip-upgrade",
		blocked(front.StripUpgrade, []fw.Transport{fw.WebSocket, fw.LongPoll}, fw.LongPoll))
	reg("FB-SSE-001", fw.MUST, fw.SSE,
		"when the event stream starts being buffered by an intermediary (the connection is cut, and the new stream delivers nothing), a client on SSE notices within its probe window and resumes on long-poll with its SSE token: no event published meanwhile is lost or repeated",
		"nginx's proxy_buffering, not switchable by the origin (proxies/front BufferAlways after a Cut); a token from one transport resumes on another",
		[]fw.Capability{fw.CapSSE, fw.CapLongPoll, fw.CapPublish, fw.CapResume, fw.CapFallback}, "buffer-streams", buffered)
	reg("FB-SSE-002", fw.SHOULD, fw.SSE,
		"behind an intermediary that buffers event streams unless the response says `X-Accel-Buffering: no` (nginx's default), the first event of an SSE stream reaches the client within its probe window",
		"nginx proxy_buffering and X-Accel-Buffering (nginx.org, ngx_http_proxy_module; shared/notes/proxy-facts.md)",
		[]fw.Capability{fw.CapSSE, fw.CapPublish}, "buffer-streams", throughBufferingProxy)
	reg("FB-UP-001", fw.MUST, fw.WebSocket,
		"once the intermediary stops blocking the WebSocket upgrade, a client that fell back to SSE returns to WebSocket with its SSE token, with no gap and no duplicate",
		"proxies/front StripUpgrade, then Pass; the client retries WebSocket with backoff (1 s, 2 s)",
		[]fw.Capability{fw.CapWebSocket, fw.CapSSE, fw.CapPublish, fw.CapResume, fw.CapFallback}, "strip-upgrade", upgradeBack)
	reg("FB-TIME-001", fw.INFO, fw.WebSocket,
		"time to the first event, and to the first event after every connection is cut, for each client strategy (websocket-first, sse-first, longpoll-first, polling first then upgrade)",
		"measured; no verdict", []fw.Capability{fw.CapWebSocket, fw.CapSSE, fw.CapLongPoll, fw.CapPublish}, "cut", timings)
	return true
}

// blocked: the front blocks the WebSocket upgrade from the start; the client (order, nil:
// the default) must land on want and then receive every event.
func blocked(mode front.Mode, order []fw.Transport, want fw.Transport) func(*fw.T) {
	return func(t *fw.T) {
		s := setup(t, want, mode)
		c := s.client(order, nil)
		took, next := s.land(c, want, 0, "blocked from WebSocket by an intermediary that "+describe(mode))
		t.Measure("landed", "on %s after %s", want, took.Round(time.Millisecond))
		measureAttempts(t, c)
		s.stream(c, next, settle)
	}
}

// buffered: the client follows over SSE (order sse, longpoll); a publisher runs; the front
// starts buffering event streams and cuts the open connections. The client's new stream
// delivers nothing, it gives it up within its window and resumes on long-poll with the last
// SSE id.
func buffered(t *fw.T) {
	s := setup(t, fw.LongPoll, front.Pass)
	c := s.client([]fw.Transport{fw.SSE, fw.LongPoll}, func(o *client.Options) {
		o.Upgrade = client.Backoff{Initial: time.Hour} // stay on long-poll: this check is about the way down
	})
	_, next := s.land(c, fw.SSE, 0, "with nothing in the way")
	// One small event every 250 ms: a 4 KiB buffer fills in about 10 s, well beyond the
	// window, so the buffered stream delivers nothing in it (at a high rate a buffer that
	// fills within the window delivers bursts instead: latency, which `rtconform probe`
	// reports, not silence).
	s.across(c, next, 250*time.Millisecond, fw.LongPoll,
		t.Target().SSE.Retry.D()+c.Window(fw.SSE)+5*time.Second, // the retry: wait, then a window of silence
		"of its SSE stream being buffered", "time-to-recover", fmt.Sprintf("from the cut to the first event over long-poll (probe window %s)", c.Window(fw.SSE)),
		func() {
			s.setMode(front.BufferAlways)
			s.f.Cut()
		})
}

// across publishes from next every interval, makes change (after half a second) and
// requires the client to get events over want within d of it, measuring how long that took
// (name, what); it goes on publishing for settle, then judges the history.
func (s *scenario) across(c *client.Client, next int64, interval time.Duration, want fw.Transport, d time.Duration, after, name, what string, change func()) {
	t := s.t
	stop := make(chan struct{})
	gen := s.e.Generate("pub", next, 1, interval, 0, stop)
	chaos.Sleep(t, 500*time.Millisecond)
	since := c.Elapsed()
	change()
	ctx, cancel := t.Within(d)
	took, ok := recovered(ctx, c, want, since)
	cancel()
	if !ok {
		close(stop)
		<-gen
		t.Violation(fmt.Sprintf("the client gets events over %s within %s %s", want, d, after), attempts(c))
	}
	t.Measure(name, "%s %s", took.Round(time.Millisecond), what)
	measureAttempts(t, c)
	chaos.Sleep(t, settle)
	close(stop)
	s.e.SettleFollowers([]chaos.Follower{c}, <-gen, 20*time.Second)
	s.e.Judge()
}

// throughBufferingProxy: an SSE-only client behind a front that buffers event streams the
// way nginx does by default; the target's own headers decide whether events get through.
func throughBufferingProxy(t *fw.T) {
	s := setup(t, fw.SSE, front.BufferStreams)
	c := s.client([]fw.Transport{fw.SSE}, nil)
	w := c.Window(fw.SSE)
	start := time.Now()
	ctx, cancel := t.Within(w + time.Second)
	defer cancel()
	landed := make(chan bool, 1)
	go func() { landed <- c.WaitTransport(ctx, fw.SSE) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		_ = s.e.Publish("prime", seq, 0)
		select {
		case ok := <-landed:
			measureAttempts(t, c)
			if !ok {
				t.Remedy("send `X-Accel-Buffering: no` on the event stream (nginx honours it per response), or have the proxy stop buffering it (`proxy_buffering off`)")
				t.Violation(fmt.Sprintf("the first event within the probe window (%s) through a front that holds event streams unless the response says X-Accel-Buffering: no", w), attempts(c))
			}
			t.Measure("first-event", "%s through the buffering front", time.Since(start).Round(time.Millisecond))
			return
		case <-tick.C:
		}
	}
}

// upgradeBack: the client lands on SSE behind a front that strips the upgrade; with a
// publisher running the block is lifted, and the client must return to WebSocket, resuming
// with its SSE token.
func upgradeBack(t *fw.T) {
	s := setup(t, fw.WebSocket, front.StripUpgrade)
	c := s.client(nil, func(o *client.Options) { o.Upgrade = client.Backoff{Initial: time.Second, Max: 2 * time.Second} })
	_, next := s.land(c, fw.SSE, 0, "blocked from WebSocket by an intermediary that "+describe(front.StripUpgrade))
	s.across(c, next, 50*time.Millisecond, fw.WebSocket, 10*time.Second, "of the block being lifted",
		"time-to-upgrade", "from lifting the block to the first event over WebSocket (retry backoff 1 s, 2 s)",
		func() { s.setMode(front.Pass) })
}

// strategies are the client strategies FB-TIME-001 measures.
var strategies = []struct {
	name  string
	order []fw.Transport
	later bool
	want  fw.Transport
}{
	{"websocket-first", []fw.Transport{fw.WebSocket, fw.SSE, fw.LongPoll}, false, fw.WebSocket},
	{"sse-first", []fw.Transport{fw.SSE, fw.WebSocket, fw.LongPoll}, false, fw.SSE},
	{"longpoll-first", []fw.Transport{fw.LongPoll, fw.SSE, fw.WebSocket}, false, fw.LongPoll},
	{"poll-then-upgrade", []fw.Transport{fw.WebSocket, fw.SSE, fw.LongPoll}, true, fw.LongPoll},
}

// timings: for each strategy, a client starts through an open front while events are
// published every 100 ms; the time to its first event is measured, then every connection is
// cut and the time to the next event measured.
func timings(t *fw.T) {
	s := setup(t, fw.WebSocket, front.Pass)
	stop := make(chan struct{})
	gen := s.e.Generate("pub", 0, 1, 100*time.Millisecond, 0, stop)
	defer func() { close(stop); <-gen }()
	for _, st := range strategies {
		c := s.client(st.order, func(o *client.Options) {
			o.Name, o.UpgradeLater = st.name, st.later
			o.Upgrade = client.Backoff{Initial: 2 * time.Second, Max: 2 * time.Second}
		})
		d := bound(c, st.want) + 5*time.Second
		ctx, cancel := t.Within(d)
		first, ok := recovered(ctx, c, st.want, 0)
		if !ok {
			cancel()
			t.Measure(st.name, "no event over %s within %s; %s", st.want, d, attempts(c))
			c.Stop()
			continue
		}
		since := c.Elapsed()
		s.f.Cut()
		again, ok := recovered(ctx, c, st.want, since)
		cancel()
		if ok {
			t.Measure(st.name, "first event after %s over %s; after every connection was cut, the next event after %s",
				first.Round(time.Millisecond), st.want, again.Round(time.Millisecond))
		} else {
			t.Measure(st.name, "first event after %s over %s; no event within %s of the cut; %s", first.Round(time.Millisecond), st.want, d, attempts(c))
		}
		c.Stop()
	}
}
