package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

var (
	wsCaps     = []fw.Capability{fw.CapWebSocket}
	wsPublish  = []fw.Capability{fw.CapWebSocket, fw.CapPublish}
	wsEcho     = []fw.Capability{fw.CapWebSocket, fw.CapEcho}
	wsIdleCaps = []fw.Capability{fw.CapWebSocket, fw.CapPublish, fw.CapHeartbeat}
	wsResume   = []fw.Capability{fw.CapWebSocket, fw.CapPublish, fw.CapResume}
)

// wsEndpoint is the WebSocket URL of path on base for the check's topic, with the resume
// token in the declared query parameter.
func (e *env) wsEndpoint(base, path, token string) string {
	u := base + fw.Path(path, e.t.Topic())
	if q := e.t.Target().WebSocket.Resume.Query; token != "" && q != "" {
		u = fw.WithQuery(u, q, token)
	}
	return u
}

// dialWS opens a WebSocket on base (the topic's path, or path when given). A refused
// handshake through the proxy is a violation (websocket-upgrade); directly from the origin
// it is a harness error. A resume token goes in the query or as the declared first message.
func (e *env) dialWS(base, path, token string) (*wsclient.Conn, *wsclient.Handshake, time.Duration) {
	t := e.t
	fields := t.ResumeState().Fields(t.Topic())
	if path == "" {
		p, err := t.Target().WebSocketPath(t.Topic(), token, fields)
		if err != nil {
			t.Harness("%v", err)
		}
		path = p
	}
	u := e.wsEndpoint(base, path, token)
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	start := time.Now()
	c, hs, err := wsclient.Dial(ctx, u, wsclient.DialOptions{})
	took := time.Since(start)
	if err != nil {
		obs := err.Error()
		if hs != nil && hs.StatusLine != "" {
			obs = fmt.Sprintf("%q after %s", hs.StatusLine, ms(took))
		}
		if base != e.base {
			t.Harness("the origin refused the WebSocket handshake at %s: %s", u, obs)
		}
		t.Measure("handshake", "%s", obs)
		e.fail("GET "+u+" upgrades to a WebSocket (101)", obs, proxyrun.ProblemWebSocketUpgrade)
	}
	t.Cleanup(func() { _ = c.Close() })
	e.sendFirst(c, token, fields, proxyrun.ProblemWebSocketUpgrade)
	return c, hs, took
}

// sendFirst sends the target's first messages on c (websocket.open, then the resume message
// for token); a refused write fails the check with problem.
func (e *env) sendFirst(c *wsclient.Conn, token string, fields map[string]string, problem string) {
	first, err := e.t.Target().WebSocketFirst(e.t.Topic(), token, fields)
	if err != nil {
		e.t.Harness("%v", err)
	}
	for _, m := range first {
		if err := c.WriteMessage(ws.OpText, []byte(m)); err != nil {
			e.fail("the first messages (websocket.open, websocket.resume.message) are accepted", err.Error(), problem)
		}
	}
}

// wsEvent is one event message of the topic.
type wsEvent struct {
	seq  int
	id   string
	data string
	at   time.Time
}

// wsTap reads a connection in the background (answering pings) and keeps the topic's events
// with their arrival times, so delivery is timed from the publish.
type wsTap struct {
	c      *wsclient.Conn
	opened time.Time
	done   chan struct{}
	notify chan struct{}
	cancel context.CancelFunc

	mu      sync.Mutex
	events  []wsEvent
	endedAt time.Time
	endErr  error
}

func (e *env) readWS(c *wsclient.Conn) *wsTap {
	t := e.t
	ctx, cancel := context.WithCancel(t.Context())
	w := &wsTap{c: c, opened: time.Now(), done: make(chan struct{}), notify: make(chan struct{}, 1), cancel: cancel}
	env := t.Target().Envelope
	go func() {
		defer close(w.done)
		for {
			op, payload, frames, err := c.ReadMessage(ctx, true)
			if err != nil {
				w.mu.Lock()
				w.endedAt, w.endErr = time.Now(), err
				w.mu.Unlock()
				w.signal()
				return
			}
			if op != ws.OpText && op != ws.OpBinary {
				continue
			}
			var doc any
			if json.Unmarshal(payload, &doc) != nil {
				continue
			}
			data, ok := jsonptr.GetText(doc, env.Data)
			if !ok {
				continue
			}
			id, _ := jsonptr.GetText(doc, env.ID)
			ev := wsEvent{seq: -1, id: id, data: data, at: time.Now()}
			if len(frames) > 0 {
				ev.at = frames[len(frames)-1].At
			}
			if s, ok := t.Seq(data); ok {
				ev.seq = s
			}
			w.mu.Lock()
			if len(w.events) < maxTapEvents {
				w.events = append(w.events, ev)
			}
			w.mu.Unlock()
			w.signal()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *wsTap) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *wsTap) close() {
	w.cancel()
	_ = w.c.Close()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

// waitSeqs waits until every seq in want arrived, the connection ended, or the deadline.
func (w *wsTap) waitSeqs(want []int, deadline time.Time) bool {
	for {
		w.mu.Lock()
		got := map[int]bool{}
		for _, ev := range w.events {
			got[ev.seq] = true
		}
		ended := !w.endedAt.IsZero()
		w.mu.Unlock()
		all := true
		for _, s := range want {
			all = all && got[s]
		}
		if all {
			return true
		}
		if ended || time.Until(deadline) <= 0 {
			return false
		}
		select {
		case <-w.notify:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// waitEnd waits until the connection ends or the deadline passes.
func (w *wsTap) waitEnd(deadline time.Time) {
	select {
	case <-w.done:
	case <-time.After(time.Until(deadline)):
	}
}

// seqs returns the check's payload seqs in arrival order.
func (w *wsTap) seqs() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, ev := range w.events {
		if ev.seq >= 0 {
			out = append(out, ev.seq)
		}
	}
	return out
}

// delivery is how the connection received the publishes.
func (w *wsTap) delivery(pubs []published) delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	var d delivery
	for _, p := range pubs {
		i := slices.IndexFunc(w.events, func(ev wsEvent) bool { return ev.seq == p.seq })
		if i < 0 {
			d.missing = append(d.missing, p.seq)
			continue
		}
		d.lat = append(d.lat, w.events[i].at.Sub(p.at))
	}
	return d
}

// ended describes how the connection ended ("" while open).
func (w *wsTap) ended() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.endedAt.IsZero() {
		return ""
	}
	after := ms(w.endedAt.Sub(w.opened))
	var ce *wsclient.CloseError
	switch {
	case errors.As(w.endErr, &ce):
		return fmt.Sprintf("closed with %d %q after %s", ce.Code, ce.Reason, after)
	case errors.Is(w.endErr, io.EOF), errors.Is(w.endErr, io.ErrUnexpectedEOF):
		return fmt.Sprintf("closed without a close frame (EOF) after %s", after)
	}
	return fmt.Sprintf("ended after %s: %v", after, w.endErr)
}

// frameStats counts the server's pings and the longest silence between frames since opened.
func frameStats(c *wsclient.Conn, opened time.Time) (pings int, longest time.Duration) {
	last := opened
	for _, f := range c.Frames() {
		if f.Op == ws.OpPing {
			pings++
		}
		longest = max(longest, f.At.Sub(last))
		last = f.At
	}
	return pings, max(longest, time.Since(last))
}

// "since the Upgrade is a hop-by-hop header, it is not passed from a client to proxied
// server" (nginx.org websocket.html); Varnish's built-in VCL has no return (pipe) and
// Apache needs upgrade=websocket (shared/notes/proxy-facts.md).
var _ = register(check{
	id: "PX-WS-001", level: fw.MUST, transport: fw.WebSocket, requires: wsCaps,
	requirement: "A WebSocket handshake through the proxy is answered 101 with the Sec-WebSocket-Accept the key calls for.",
	quote:       "since the Upgrade is a hop-by-hop header, it is not passed from a client to proxied server",
	spec:        "RFC 6455 §4.2.2; operational: nginx.org websocket.html, varnish-cache vcl-example-websockets.rst, httpd mod_proxy.xml upgrade= (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWebSocketUpgrade},
	run: func(e *env) {
		t := e.t
		if e.direct != "" {
			_, _, took := e.dialWS(e.direct, "", "")
			t.Measure("handshake direct", "%s", ms(took))
		}
		_, hs, took := e.dialWS(e.base, "", "")
		t.Measure("handshake", "%q after %s", hs.StatusLine, ms(took))
		if got, want := hs.Header.Get("Sec-WebSocket-Accept"), wsclient.AcceptKey(hs.Key); got != want {
			e.fail("Sec-WebSocket-Accept: "+want, fmt.Sprintf("Sec-WebSocket-Accept: %q", got))
		}
	},
})

// "WebSocket: `vcl_recv { if (req.http.upgrade ~ "(?i)websocket") { return (pipe); } }` and in
// vcl_pipe copy bereq.http.upgrade and bereq.http.connection" (Varnish); a tunnel that does
// not flush holds the server's frames (shared/notes/proxy-facts.md).
var _ = register(check{
	id: "PX-WS-002", level: fw.MUST, transport: fw.WebSocket, requires: wsPublish,
	requirement: "Through the proxy, each event of the topic arrives on the WebSocket within 1 s of its publish.",
	quote:       "WebSocket: vcl_recv { if (req.http.upgrade ~ \"(?i)websocket\") { return (pipe); } } and in vcl_pipe copy bereq.http.upgrade and bereq.http.connection.",
	spec:        "operational: varnish-cache vcl-example-websockets.rst; nginx.org websocket.html (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWebSocketUpgrade, proxyrun.ProblemBuffering},
	run: func(e *env) {
		c, _, _ := e.dialWS(e.base, "", "")
		e.wsOnTime(c, "connection", "", proxyrun.ProblemBuffering)
	},
})

// wsOnTime publishes events 1-3 and requires each on c within 1 s (what names c in the
// observation, on in the expectation; problem is the failure's).
func (e *env) wsOnTime(c *wsclient.Conn, what, on, problem string) {
	t := e.t
	w := e.readWS(c)
	time.Sleep(300 * time.Millisecond) // let the subscription reach the origin
	pubs := publishSpaced(t, []int{1, 2, 3}, 200*time.Millisecond, 0)
	w.waitSeqs(seqsOf(pubs), pubs[len(pubs)-1].at.Add(e.window()))
	d := w.delivery(pubs)
	t.Measure("latency via proxy", "%s", d)
	if d.held() {
		obs := d.String()
		if end := w.ended(); end != "" {
			obs += "; the " + what + " " + end
		}
		e.fail(fmt.Sprintf("events 1-3 each within %s%s", ms(late), on), obs, problem)
	}
}

// Frames flow client → server too: an echo round trip through the tunnel (RFC 6455 §5;
// nginx's proxy_send_timeout, HAProxy's timeout tunnel apply to that direction).
var _ = register(check{
	id: "PX-WS-003", level: fw.MUST, transport: fw.WebSocket, requires: wsEcho,
	requirement: "Through the proxy, a message sent to the echo endpoint comes back unchanged within 1 s (frames flow both ways).",
	spec:        "RFC 6455 §5.6; operational: nginx proxy_send_timeout, HAProxy timeout tunnel (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWebSocketUpgrade, proxyrun.ProblemBuffering},
	run: func(e *env) {
		t := e.t
		echo := t.Target().WebSocket.Echo
		if echo == "" {
			t.NotSupported("the profile declares no websocket.echo path")
		}
		roundTrips := func(base string) latency {
			c, _, _ := e.dialWS(base, echo, "")
			var rtt latency
			for i := 1; i <= 3; i++ {
				msg := t.Payload(i)
				start := time.Now()
				if err := c.WriteMessage(ws.OpText, msg); err != nil {
					e.fail("the message is sent", err.Error())
				}
				ctx, cancel := t.Within(e.window())
				op, got, _, err := c.ReadMessage(ctx, true)
				cancel()
				if err != nil || op != ws.OpText || !bytes.Equal(got, msg) {
					obs := fmt.Sprintf("%v %.100q", op, got)
					if err != nil {
						obs = err.Error()
					}
					if base != e.base {
						t.Harness("the origin's echo failed: %s", obs)
					}
					e.fail(fmt.Sprintf("the echo of %q", msg), obs, proxyrun.ProblemBuffering)
				}
				rtt = append(rtt, time.Since(start))
			}
			_ = c.Close()
			return rtt
		}
		if e.direct != "" {
			t.Measure("round trip direct", "%s", roundTrips(e.direct))
		}
		rtt := roundTrips(e.base)
		t.Measure("round trip via proxy", "%s", rtt)
		if rtt.max() > late {
			e.fail("each echo within "+ms(late), rtt.String(), proxyrun.ProblemBuffering)
		}
	},
})

// "By default, the connection will be closed if the proxied server does not transmit any
// data within 60 seconds" (nginx.org websocket.html); HAProxy's "timeout tunnel ...
// supersedes both the client and server timeouts" once upgraded (doc/configuration.txt).
var _ = register(check{
	id: "PX-WS-004", level: fw.MUST, transport: fw.WebSocket, requires: wsIdleCaps, timeout: 4 * time.Minute,
	requirement: "A WebSocket with no events stays open through the proxy and then still delivers: it survives twice the path's idle limit, or, when waiting that out is not shorter than deploy.maxIdleWait, its longest silence through the path (server pings) is shorter than the limit.",
	quote:       "By default, the connection will be closed if the proxied server does not transmit any data within 60 seconds.",
	spec:        "operational: nginx.org websocket.html proxy_read_timeout; HAProxy timeout tunnel; Varnish pipe_timeout; Apache ProxyTimeout (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemIdleTimeout, proxyrun.ProblemWebSocketUpgrade},
	run: func(e *env) {
		t := e.t
		ka := t.Target().WebSocket.Keepalive.D()
		c, hs, _ := e.dialWS(e.base, "", "")
		w := e.readWS(c)
		l := e.idleLimit(hs.Header)
		limitMeasure(t, l)
		if !e.waitOut(l) {
			s := e.watchGaps(l, ka, func() gapStat {
				_, longest := frameStats(c, w.opened)
				return gapStat{gaps: c.FrameCount(), longest: longest, ended: w.ended()}
			})
			e.judgeMargin(l, "keepalive", ka, s)
			e.wsDeliversAfterIdle(w)
			return
		}
		wait := 2 * l.d
		t.Measure("idle wait", "%s (2× the limit; keepalive %s)", ms(wait), ms(ka))
		w.waitEnd(time.Now().Add(wait))
		pings, longest := frameStats(c, w.opened)
		t.Measure("server pings", "%d (longest silence %s)", pings, ms(longest))
		if end := w.ended(); end != "" {
			t.Measure("cut", "%s", end)
			e.fail(fmt.Sprintf("the WebSocket open for %s without events", ms(wait)), fmt.Sprintf("the connection %s; %d pings seen", end, pings))
		}
		t.Measure("survived", "%s", ms(time.Since(w.opened)))
		e.wsDeliversAfterIdle(w)
	},
})

// wsDeliversAfterIdle publishes an event to a WebSocket that stayed idle and requires it.
func (e *env) wsDeliversAfterIdle(w *wsTap) {
	t := e.t
	pubs := publishSpaced(t, []int{1}, 0, 0)
	if !w.waitSeqs([]int{1}, time.Now().Add(e.window())) {
		e.fail("an event after the idle period", fmt.Sprintf("none within %s (%s)", ms(e.window()), w.ended()), proxyrun.ProblemBuffering)
	}
	t.Measure("event after idle", "%s", w.delivery(pubs).lat)
}

// The resume token travels in the handshake's query (or a first message): a proxy must
// forward the request URI unchanged and must not answer from a cache.
var _ = register(check{
	id: "PX-WS-005", level: fw.MUST, transport: fw.WebSocket, requires: wsResume,
	requirement: "A WebSocket resumed through the proxy with the declared token receives exactly the events after it (the token reaches the origin).",
	spec:        "RFC 6455 §4.1 (the Request-URI of the handshake); operational: the target's declared resume token (websocket.resume)",
	problems:    []string{problemResumeHeader},
	run: func(e *env) {
		t := e.t
		e.resumeByHeaderOrQuery(fw.WebSocket)
		origin := e.direct
		if origin == "" {
			origin = e.base
		}
		oc, _, _ := e.dialWS(origin, "", "")
		o := e.readWS(oc)
		time.Sleep(300 * time.Millisecond)
		publishSpaced(t, []int{1, 2, 3}, 0, 0)
		if !o.waitSeqs([]int{1, 2, 3}, time.Now().Add(e.window())) {
			msg := fmt.Sprintf("events 1..3 on a live WebSocket of %s: got %v (%s)", origin, o.seqs(), o.ended())
			if origin == e.base {
				e.fail("events on a live WebSocket", msg, proxyrun.ProblemBuffering)
			}
			t.Harness("the origin did not deliver %s", msg)
		}
		o.mu.Lock()
		token := o.events[slices.IndexFunc(o.events, func(ev wsEvent) bool { return ev.seq == 1 })].id
		o.mu.Unlock()
		o.close()
		if token == "" {
			t.NotSupported("the origin's WebSocket events carry no id at envelope.id to resume from")
		}
		t.Measure("resumed from", "%q", token)
		c, _, _ := e.dialWS(e.base, "", token)
		w := e.readWS(c)
		w.waitSeqs([]int{2, 3}, time.Now().Add(e.window()))
		time.Sleep(200 * time.Millisecond)
		got := w.seqs()
		t.Measure("seqs after resume", "%v", got)
		if !slices.Equal(got, []int{2, 3}) {
			diag := "a gap or a duplicate"
			if len(got) == 0 {
				diag = "nothing was replayed: the token did not reach the origin"
			}
			e.fail("payload seqs [2 3] after resuming from event 1's token", fmt.Sprintf("%v: %s", got, diag))
		}
	},
})
