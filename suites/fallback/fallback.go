// Package fallback holds the fallback checks (FB-…): a transport is blocked between the
// client and the target the way real intermediaries block it, and the reference client
// (package reference/client) must still get every event from the target over the next
// transport, notice the block within its probe window, and come back when the block is gone.
// What is judged is the target: that it serves the same topic over every transport it
// declares, and that a resume token from one transport resumes on another with no gap and no
// duplicate (capability fallback).
//
// The block is a small HTTP front (package proxies/front) between the client and the check's
// Toxiproxy proxy: it strips the WebSocket upgrade (the origin sees a plain GET, as behind an
// nginx without `proxy_set_header Upgrade`), resets upgrade requests, or holds event streams
// until 4 KiB accumulate (nginx's proxy_buffering). A Toxiproxy toxic cannot do this: it sees
// TCP bytes, not requests, and would break every transport on the link alike. The front can
// also lift the block in the middle of a check (SetMode) and cut the open connections (Cut).
//
// Like the chaos suites, a check records a history (the client's connects with their
// transport and token, its events, the publishes) and the pure checker judges it: Ordered,
// Unique, NoLoss across the switch. The probe window is the client's: 2 × the declared
// heartbeat + 1 s (10 s when the target declares none).
//
// IDs: FB-WS-001 upgrade stripped → SSE, 002 upgrade reset → SSE, 003 upgrade stripped →
// long-poll; FB-SSE-001 SSE buffered → long-poll with the SSE token, 002 the stream gets
// through an nginx-like buffering front (X-Accel-Buffering: no); FB-UP-001 back to WebSocket
// when the block is lifted; FB-TIME-001 time to the first event and to recover, per
// strategy. The lossless switch of every directed pair of transports is ORD-SWITCH-001…006
// (suites/ordering), also labelled fallback. Label "fallback" (opt-in).
package fallback

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/front"
	"github.com/rtconform/rtconform/reference/client"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/chaos"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// Label marks every fallback check (opt-in: see framework.OptIn).
const Label = "fallback"

const spec = "rtconform fallback rule (DESIGN.md: fallback — the target still serves the stream over the next transport, and a token from one transport resumes on another with no gap and no duplicate)"

// scenario is one check's front, history and client.
type scenario struct {
	t *fw.T
	e *chaos.Env
	f *front.Front
}

// setup starts the check's front in mode in front of the check's Toxiproxy proxy.
func setup(t *fw.T, tr fw.Transport, mode front.Mode) *scenario {
	e := chaos.New(t, tr, history.SafetyRules())
	f, err := front.Start(e.Base, mode)
	if err != nil {
		t.Harness("starting the front: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if mode != front.Pass {
		e.Rec.FaultStart("front:"+mode.String(), "an intermediary that "+describe(mode))
	}
	return &scenario{t: t, e: e, f: f}
}

// describe says what a front mode does, for the history and the messages.
func describe(m front.Mode) string {
	var parts []string
	if m&front.StripUpgrade != 0 {
		parts = append(parts, "strips the WebSocket upgrade (the origin sees a plain GET)")
	}
	if m&front.ResetUpgrade != 0 {
		parts = append(parts, "resets every upgrade request")
	}
	if m&front.BufferStreams != 0 {
		parts = append(parts, "holds event streams until 4 KiB accumulate unless the response says X-Accel-Buffering: no")
	}
	if m&front.BufferAlways != 0 {
		parts = append(parts, "holds event streams until 4 KiB accumulate")
	}
	if len(parts) == 0 {
		return "passes everything"
	}
	return strings.Join(parts, " and ")
}

// setMode changes the front's mode, recording the change as fault start/stop.
func (s *scenario) setMode(m front.Mode) {
	old := s.f.Mode()
	if old != front.Pass {
		s.e.Rec.FaultStop("front:"+old.String(), "")
	}
	s.f.SetMode(m)
	if m != front.Pass {
		s.e.Rec.FaultStart("front:"+m.String(), "an intermediary that "+describe(m))
	}
}

// client starts the reference client through the front with order (nil: the default).
func (s *scenario) client(order []fw.Transport, mod func(*client.Options)) *client.Client {
	t := s.t
	o := client.Options{Base: s.f.URL(), Topic: t.Topic(), Target: t.Target(), Order: order, Name: "client",
		Rec: s.e.Rec, Seq: t.Seq, Delay: chaos.ReconnectDelay}
	if mod != nil {
		mod(&o)
	}
	c, err := client.Start(t.Context(), o)
	if err != nil {
		t.Harness("starting the reference client: %v", err)
	}
	s.e.Track(c.Stop)
	return c
}

// bound is how long the client may take to land on want: every transport before it in the
// order may cost its window, plus 5 s.
func bound(c *client.Client, want fw.Transport) time.Duration {
	d := 5 * time.Second
	for _, tr := range c.Order() {
		if tr == want {
			break
		}
		d += c.Window(tr)
	}
	return d
}

// land publishes a priming event every 250 ms until the client has an event over want, and
// returns how long that took and the next free seq. Not landing within bound is a violation
// that lists what the client tried.
func (s *scenario) land(c *client.Client, want fw.Transport, seq int64, why string) (time.Duration, int64) {
	t := s.t
	start := time.Now()
	d := bound(c, want)
	ctx, cancel := t.Within(d)
	defer cancel()
	landed := make(chan bool, 1)
	go func() { landed <- c.WaitTransport(ctx, want) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = s.e.Publish("prime", seq, 0)
		seq++
		select {
		case ok := <-landed:
			if !ok {
				t.Violation(fmt.Sprintf("the client %s gets events over %s within %s", why, want, d), attempts(c))
			}
			return time.Since(start), seq
		case <-tick.C:
		}
	}
}

// attempts renders the client's attempts for a message.
func attempts(c *client.Client) string {
	var b strings.Builder
	b.WriteString("the client's attempts: ")
	for i, a := range c.Attempts() {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 12 {
			fmt.Fprintf(&b, "… %d more", len(c.Attempts())-i)
			break
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// stream publishes from seq every 50 ms for d from one publisher, then waits until the
// client has them all and judges the history.
func (s *scenario) stream(c *client.Client, seq int64, d time.Duration) {
	stop := make(chan struct{})
	gen := s.e.Generate("pub", seq, 1, 50*time.Millisecond, 0, stop)
	chaos.Sleep(s.t, d)
	close(stop)
	s.e.SettleFollowers([]chaos.Follower{c}, <-gen, 20*time.Second)
	s.e.Judge()
}

// measureAttempts reports the client's attempts and its time to the first event.
func measureAttempts(t *fw.T, c *client.Client) {
	t.Measure("attempts", "%s", attempts(c))
	if fe := c.FirstEvent(); fe > 0 {
		t.Measure("time-to-first-event", "%s from the client's start", fe.Round(time.Millisecond))
	}
}

// recovered waits until an event arrives over want after since (the client's clock), and
// returns how long after since it came.
func recovered(ctx context.Context, c *client.Client, want fw.Transport, since time.Duration) (time.Duration, bool) {
	for {
		if last, tr := c.LastEvent(); tr == want && last > since {
			return last - since, true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
