// Package httpstream holds the conformance checks of HTTP streams of JSON lines (NDJSON 1.0,
// JSON Lines; capability httpstream): a long-lived response, GET- or POST-initiated, with one
// JSON value per line, events found through the envelope pointers (target.httpstream.envelope,
// default target.envelope), resume, heartbeat and the headers that stop buffering. Every
// check is a framework.Check value; importing the package registers them.
//
// Lines whose data pointer does not resolve (a connect reply, a {} ping, {"type":"heartbeat"})
// are keep-alives, not events. A line that is not one JSON value in UTF-8 is HS-WIRE-001's
// finding; the other checks skip it, so one bug reads as one finding.
//
// Every check opens the stream with the declared method (a POST sends the body template, and
// the resume token in it when resume.body is declared), so there is no POST check of its own:
// the fixture ok-hs-post proves the whole set against a POST-initiated stream.
package httpstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/ndjsonclient"
)

var (
	streamCaps  = []fw.Capability{fw.CapHTTPStream}
	publishCaps = []fw.Capability{fw.CapHTTPStream, fw.CapPublish}
	resumeCaps  = []fw.Capability{fw.CapHTTPStream, fw.CapPublish, fw.CapResume}
	hbCaps      = []fw.Capability{fw.CapHTTPStream, fw.CapHeartbeat}
)

// config returns target.httpstream (the loader requires it with the capability).
func config(t *fw.T) *fw.HTTPStreamConfig {
	c := t.Target().HTTPStream
	if c == nil {
		t.NotSupported("the profile declares capability httpstream but no target.httpstream")
	}
	return c
}

// envelope returns the pointers to the id and payload inside a line.
func envelope(t *fw.T) fw.Envelope {
	config(t)
	return t.Target().HTTPStreamEnvelope()
}

// stream is an open HTTP stream with the check's view of its lines.
type stream struct {
	*ndjsonclient.Stream
	t   *fw.T
	env fw.Envelope
	url string
	// bad are the lines that were not one JSON value in UTF-8 (HS-WIRE-001 judges them).
	bad []ndjsonclient.Line
	// keepalives counts the valid lines that were neither events nor resets.
	keepalives int
	// topic and token are what the stream was opened for ("" token: a fresh connect).
	topic, token string
	// pending are events of a connect reply (target.connect) not yet returned by next.
	pending []event
}

// event is one line of the stream the check looks at: an event (its id and payload through
// the envelope) or the declared reset signal.
type event struct {
	ID, Data string
	Reset    bool
	At       time.Time
	Line     ndjsonclient.Line
}

// request builds the stream request for the check's topic (fw.T.HTTPStreamRequest at the
// target's base URL).
func request(t *fw.T, ctx context.Context, topic, token string) (*http.Request, string) {
	return t.HTTPStreamRequest(ctx, t.Run.BaseURL, topic, token)
}

// open starts a stream on the check's topic (resumed from token when not empty). It returns
// once the request was sent; the head is awaited by head, or by next after a publish (a
// server that sends its head with the first line is judged on that by HS-RESP-001 alone).
func open(t *fw.T, ctx context.Context, token string) *stream {
	req, what := request(t, ctx, t.Topic(), token)
	s, err := ndjsonclient.Start(ctx, t.HTTP(), req, ndjsonclient.Limits{MaxLine: t.Target().FrameBound(0)})
	if err != nil {
		t.Violation(what+" opens a stream", fmt.Sprintf("request failed: %v", err))
	}
	t.Cleanup(func() { _ = s.Close() })
	return &stream{Stream: s, t: t, env: envelope(t), url: what, topic: t.Topic(), token: token}
}

// nudgeAfter is how long head waits for the response head before it publishes one event, for
// a server that sends its head only with the first line.
const nudgeAfter = 500 * time.Millisecond

// head waits for the response head (publishing one event after nudgeAfter when the target
// can publish) and requires status 200.
func (s *stream) head(ctx context.Context) {
	t := s.t
	if t.Target().Has(fw.CapPublish) {
		c, cancel := context.WithTimeout(ctx, nudgeAfter)
		err := s.WaitHeaders(c)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			t.Measure("response head", "none within %s: one event published to get it", nudgeAfter)
			_ = t.TryPublish(ctx, t.Topic(), t.Payload(0))
		}
	}
	s.requireOK(ctx)
}

// requireOK waits for the response head (bounded by ctx) and requires status 200.
func (s *stream) requireOK(ctx context.Context) {
	if err := s.WaitHeaders(ctx); err != nil {
		s.t.Violation("a response head to "+s.url, fmt.Sprintf("none after %s (%v)", time.Since(s.Start).Round(time.Millisecond), err))
	}
	if s.Resp.StatusCode != http.StatusOK {
		s.t.Violation("status 200 on "+s.url, fmt.Sprintf("status %d", s.Resp.StatusCode))
	}
}

// settle waits until the target had time to subscribe the stream: its head arrived (plus
// 300 ms, or its first byte), or a second passed without a head.
func (s *stream) settle() {
	select {
	case <-s.HeadersArrived():
	case <-time.After(time.Second):
		return
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for s.FirstByte().IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// next returns the next event or reset line, skipping keep-alives and recording invalid
// lines. The end of the stream or of ctx is a violation naming what was wanted.
func (s *stream) next(ctx context.Context, want string) event {
	t := s.t
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			return ev
		}
		ln, err := s.Next(ctx)
		if err != nil {
			select {
			case <-s.HeadersArrived():
				if s.Resp != nil && s.Resp.StatusCode != http.StatusOK {
					t.Violation("status 200 on "+s.url, fmt.Sprintf("status %d", s.Resp.StatusCode))
				}
			default:
			}
			obs := err.Error()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				obs = fmt.Sprintf("nothing within %s", time.Since(s.Start).Round(time.Millisecond))
				if p := s.Pending(); len(p) > 0 {
					obs += fmt.Sprintf(" (%d bytes of a line without its \"\\n\": %q)", len(p), p)
				}
			}
			t.Violation(want, obs)
		}
		if ln.Err != nil {
			if len(s.bad) < 16 {
				s.bad = append(s.bad, ln)
			}
			continue
		}
		if r, ok := t.Target().Connect.Open(ln.Raw, s.topic); ok {
			s.reply(r, ln)
			continue
		}
		if ev, ok := s.classify(ln); ok {
			return ev
		}
		s.keepalives++
	}
}

// reply handles the connect reply (target.connect): its fields are kept for later resumes,
// its loss signal on a resume is the stream's reset, its replayed events come next.
func (s *stream) reply(r fw.Reply, ln ndjsonclient.Line) {
	s.t.ResumeState().Learn(s.topic, r.Fields)
	if s.token != "" && s.t.Target().Connect.Lost(r) {
		s.pending = append(s.pending, event{Reset: true, At: ln.At, Line: ln})
	}
	for _, e := range r.Events {
		s.pending = append(s.pending, event{ID: e.ID, Data: e.Data, At: ln.At, Line: ln})
	}
}

// classify says what a valid line is: the declared reset signal, an event (its data pointer
// resolves), or a keep-alive (false).
func (s *stream) classify(ln ndjsonclient.Line) (event, bool) {
	if r := config(s.t).Reset; r.Pointer != "" {
		if _, v, ok := (&fw.SSEEnvelope{Data: r.Pointer}).Open(string(ln.Raw)); ok && (r.Value == "" || v == r.Value) {
			return event{Reset: true, At: ln.At, Line: ln}, true
		}
	}
	id, data, ok := (&fw.SSEEnvelope{ID: s.env.ID, Data: s.env.Data}).Open(string(ln.Raw))
	if !ok {
		return event{}, false
	}
	return event{ID: id, Data: data, At: ln.At, Line: ln}, true
}

// collect reads n events (resets are returned too, each counting as one).
func (s *stream) collect(ctx context.Context, n int, want string) []event {
	var out []event
	for len(out) < n {
		out = append(out, s.next(ctx, fmt.Sprintf("%s (got %d of %d)", want, len(out), n)))
	}
	return out
}

// seqOf reads the suite's sequence number out of a payload (-1: not one of the check's).
func seqOf(t *fw.T, data string) int {
	if n, ok := t.Seq(data); ok {
		return n
	}
	return -1
}

// seqs lists the sequence numbers of events (resets as -2).
func seqs(t *fw.T, evs []event) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		if e.Reset {
			out[i] = -2
			continue
		}
		out[i] = seqOf(t, e.Data)
	}
	return out
}

func upto(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

// bounded is a context for a check's stream: the check's context less a margin.
func bounded(t *fw.T, d time.Duration) (context.Context, context.CancelFunc) {
	return t.Within(d)
}
