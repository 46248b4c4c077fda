// Package sse holds the Server-Sent Events conformance checks (WHATWG HTML §9.2, server
// side). Every check is a framework.Check value; importing the package registers them.
package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// open starts a stream on the check's topic with the extra request headers and query
// parameters (added with net/url: sse.path may carry a query of its own, such as Mercure's
// /.well-known/mercure?topic={topic}). A transport error is a violation: preflight proved the
// target reachable, so an SSE endpoint that cannot be opened is the target's failure.
//
// It returns once the request was sent, not once the response head arrived: some servers
// send their headers only with the first event (tmaxmax/go-sse's defaults), and a check that
// waited for them before publishing would wait for itself. The head is awaited by head and
// headOK (checks that judge only the response head; they publish one event when nothing
// arrives) and by nextEvent and collect (after the check published); the delay itself is
// the finding of SSE-RESP-001 and SSE-TIME-001 alone.
func open(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	resumed := header.Get("Last-Event-ID") != ""
	if q := t.Target().SSE.Resume.Query; q != "" && query.Get(q) != "" {
		resumed = true
	}
	return openURL(t, ctx, streamURL(t, query), header, resumed)
}

// openFrom opens a stream resumed from id by the target's declared mechanism: its own resume
// request (sse.resume.path) when it declares one, else the Last-Event-ID header.
func openFrom(t *fw.T, ctx context.Context, id string) *sseclient.Stream {
	if p := t.Target().SSE.Resume.Path; p != "" {
		return openURL(t, ctx, t.ResumeURL("target.sse.resume.path", p, id), nil, true)
	}
	return open(t, ctx, header("Last-Event-ID", id), nil)
}

// byLastEventID ends a check of the Last-Event-ID mechanism itself as NOT_SUPPORTED when the
// target resumes through a request of its own (sse.resume.path) instead.
func byLastEventID(t *fw.T) {
	if p := t.Target().SSE.Resume.Path; p != "" {
		t.NotSupported("the target resumes through its own request (sse.resume.path %q), not Last-Event-ID: the checks of that mechanism do not apply (the other resume checks use the declared request)", p)
	}
}

// openURL starts a stream at u (see open); resumed says whether the request resumes from a
// position (a connect reply's loss signal counts only then).
func openURL(t *fw.T, ctx context.Context, u string, header http.Header, resumed bool) *sseclient.Stream {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Harness("building the request for %s: %v", u, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	s, err := sseclient.Start(ctx, t.HTTP(), req, streamLimits(t))
	if err != nil {
		t.Violation("GET "+u+" opens an event stream", fmt.Sprintf("request failed: %v", err))
	}
	t.Cleanup(func() { _ = s.Close() })
	unwrap(t, s, resumed)
	return s
}

// streamLimits are the client's bounds for a check's stream: the defaults, except that with
// an SSE envelope one data: line carries a whole JSON-escaped payload (the 1 MiB payloads of
// the payload checks grow past the default 1 MiB line), so a line may be as long as an event.
func streamLimits(t *fw.T) sseclient.Limits {
	if b := t.Target().FrameBound(0); b > 0 { // a connect reply carries a whole replay in one event
		return sseclient.Limits{MaxLine: b, MaxEvent: b}
	}
	if t.Target().SSE.Envelope != nil {
		return sseclient.Limits{MaxLine: sseclient.DefaultMaxEvent}
	}
	return sseclient.Limits{}
}

// unwrap applies the target's SSE envelope (sse.envelope) and connect reply (target.connect)
// to the events s returns from Next:
//   - a message event's data becomes the payload at the envelope's data pointer, and an event
//     whose data pointer does not resolve (a {} ping) is skipped. With sse.resume.path, the
//     resume token is the envelope's id: it becomes the event's LastEventID when the event
//     has no id: field.
//   - the connect reply is replaced by the events it replays; its fields are kept for later
//     resumes; on a resume (resumed), a reply that does not say recovered comes first as an
//     event of type lostEvent, the loss signal (resetEvent).
//
// Named events (a reset signal) and the SSE id: field are left as sent; the wire checks read
// the raw stream (Stats, Chunks), which this does not touch. Without an envelope or a connect
// reply nothing changes. Every stream a check reads events from goes through here.
func unwrap(t *fw.T, s *sseclient.Stream, resumed bool) {
	tg := t.Target()
	env, conn := tg.SSE.Envelope, tg.Connect
	if (env == nil && conn == nil) || s == nil {
		return
	}
	byPath := tg.SSE.Resume.Path != ""
	topic := t.Topic()
	s.SetUnwrap(func(ev sseclient.Event) []sseclient.Event {
		if ev.Type != "" && ev.Type != "message" {
			return []sseclient.Event{ev}
		}
		if r, ok := conn.Open([]byte(ev.Data), topic); ok {
			t.ResumeState().Learn(topic, r.Fields)
			var out []sseclient.Event
			if resumed && conn.Lost(r) {
				out = append(out, sseclient.Event{Type: lostEvent, Data: ev.Data, At: ev.At})
			}
			for _, e := range r.Events {
				out = append(out, sseclient.Event{Data: e.Data, LastEventID: e.ID, At: ev.At})
			}
			return out
		}
		id, payload, ok := env.Open(ev.Data)
		if !ok {
			return nil
		}
		ev.Data = payload
		if byPath && !ev.IDSeen && id != "" {
			ev.LastEventID = id
		}
		return []sseclient.Event{ev}
	})
}

// lostEvent is the type of the event unwrap puts first when a connect reply to a resume does
// not say recovered (target.connect.recovered): the target's loss signal.
const lostEvent = "(connect reply: not recovered)"

// resetEvent is the event type of the target's loss signal: the declared sse.reset.event, or
// lostEvent when the target signals loss in its connect reply; "" when neither is declared.
func resetEvent(t *fw.T) string {
	if e := t.Target().SSE.Reset.Event; e != "" {
		return e
	}
	if c := t.Target().Connect; c != nil && c.Recovered != "" {
		return lostEvent
	}
	return ""
}

// openOK opens a stream to read events from: status 200 is required once the response head
// arrived, which nextEvent and collect wait for (see open), so the check can publish first.
func openOK(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	return open(t, ctx, header, query)
}

// nudgeAfter is how long head waits for a response head before it publishes one event to
// make a server that sends its headers only with the first event answer.
const nudgeAfter = 500 * time.Millisecond

// head opens a stream for a check that judges only the response head, and waits for the head
// (bounded by ctx). When nothing arrived within nudgeAfter and the target can publish, one
// event is published on the check's topic, so that a server that sends its headers only with
// the first event answers: its delay is SSE-RESP-001's and SSE-TIME-001's finding, not every
// header check's.
func head(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	s := open(t, ctx, header, query)
	if t.Target().Has(fw.CapPublish) {
		c, cancel := context.WithTimeout(ctx, nudgeAfter)
		err := s.WaitHeaders(c)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			t.Measure("response head", "none within %s: one event published to get it", nudgeAfter)
			_ = t.TryPublish(ctx, t.Topic(), t.Payload(0))
		}
	}
	if err := s.WaitHeaders(ctx); err != nil {
		d := "the check's bound"
		if dl, ok := ctx.Deadline(); ok {
			d = dl.Sub(s.Start).Round(time.Second).String()
		}
		t.Violation("a response head to GET "+streamURL(t, query), fmt.Sprintf("none within %s (%v)", d, err))
	}
	return s
}

// nudge publishes one event on the check's topic when the stream has sent no byte at all
// for nudgeAfter and the target can publish, once per stream (*done): checks that wait for a
// preamble (retry:) use it, so that a server that sends nothing before the first event is
// judged on what it sends then, not on its delay (SSE-TIME-001's finding).
func nudge(t *fw.T, s *sseclient.Stream, done *bool) {
	if *done || !s.FirstByte().IsZero() || time.Since(s.Start) < nudgeAfter || !t.Target().Has(fw.CapPublish) {
		return
	}
	*done = true
	t.Measure("first byte", "none within %s: one event published to get the stream going", nudgeAfter)
	_ = t.TryPublish(t.Context(), t.Topic(), t.Payload(0))
}

// headOK is head plus status 200 (anything else is SSE-RESP-001's finding, so here it is a
// violation with the status).
func headOK(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	s := head(t, ctx, header, query)
	if s.Resp.StatusCode != http.StatusOK {
		t.Violation("status 200 on the stream request", fmt.Sprintf("status %d", s.Resp.StatusCode))
	}
	return s
}

// requireOK waits (bounded by ctx, d for the message) for the response head of a stream the
// check reads events from and requires status 200.
func requireOK(t *fw.T, s *sseclient.Stream, ctx context.Context, d time.Duration, want string) {
	if err := s.WaitHeaders(ctx); err != nil {
		t.Violation(want, "no response head: "+describeErr(err, d))
	}
	if s.Resp.StatusCode != http.StatusOK {
		t.Violation("status 200 on the stream request", fmt.Sprintf("status %d", s.Resp.StatusCode))
	}
}

// headWait bounds how long settle waits for a stream's response head before the check
// publishes anyway (a server that sends its head only with the first event has had that long
// to subscribe the client).
const headWait = time.Second

// settle waits until the stream has sent its first byte, or 300 ms after its response head
// arrived, or headWait without a head, so that a target that subscribes the client just
// after sending headers does not miss the first publish.
func settle(s *sseclient.Stream) {
	select {
	case <-s.HeadersArrived():
	case <-time.After(headWait):
		return
	}
	if s.HeadersErr() != nil {
		return
	}
	deadline := s.Headers.Add(300 * time.Millisecond)
	for time.Now().Before(deadline) && s.FirstByte().IsZero() {
		time.Sleep(10 * time.Millisecond)
	}
}

// streamURL is the check's stream URL with the query parameters added (sorted by key).
func streamURL(t *fw.T, query url.Values) string {
	u := t.URL(t.Target().SSE.Path)
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range query[k] {
			u = fw.WithQuery(u, k, v)
		}
	}
	return u
}

// nextEvent waits for the next event that carries data, failing the check with what was
// expected when it does not come within d.
func nextEvent(t *fw.T, s *sseclient.Stream, d time.Duration, want string) sseclient.Event {
	ctx, cancel := t.Within(d)
	defer cancel()
	requireOK(t, s, ctx, d, want)
	ev, err := s.Next(ctx)
	if err != nil {
		diagnoseCut(t, s)
		t.Violation(want, describeErr(err, d))
	}
	return ev
}

// collect reads n events, failing the check when they do not all arrive within d.
func collect(t *fw.T, s *sseclient.Stream, n int, d time.Duration, want string) []sseclient.Event {
	out, err := gather(t, s, n, d, want)
	if err != nil {
		diagnoseCut(t, s)
		t.Violation(want, fmt.Sprintf("%d of %d events, then %s; received data: %q", len(out), n, describeErr(err, d), datas(out)))
	}
	return out
}

// gather is collect that returns what arrived, and why it stopped before n events (nil when
// all n came), so the check can diagnose a shortfall.
func gather(t *fw.T, s *sseclient.Stream, n int, d time.Duration, want string) ([]sseclient.Event, error) {
	ctx, cancel := t.Within(d)
	defer cancel()
	requireOK(t, s, ctx, d, want)
	var out []sseclient.Event
	for len(out) < n {
		ev, err := s.Next(ctx)
		if err != nil {
			return out, err
		}
		if ev.Type != "" && ev.Type != "message" {
			continue // a named control event (e.g. a reset signal) is not one of ours
		}
		out = append(out, ev)
	}
	return out, nil
}

func datas(evs []sseclient.Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Data)
	}
	return s
}

func describeErr(err error, d time.Duration) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("nothing within %s", d)
	case errors.Is(err, io.EOF):
		return "the stream ended (EOF)"
	}
	return err.Error()
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// live opens a stream on the check's topic (no resume) and lets it settle.
func live(t *fw.T) *sseclient.Stream {
	s := openOK(t, t.Context(), nil, nil)
	settle(s)
	return s
}

// publishSeqs publishes the check's payloads from..to.
func publishSeqs(t *fw.T, from, to int) {
	for i := from; i <= to; i++ {
		if !t.Run.ViaIntermediary() {
			t.Publish(t.Payload(i))
			continue
		}
		err := t.TryPublish(t.Context(), t.Topic(), t.Payload(i))
		var refused *fw.PublishRefused
		if err != nil && !errors.As(err, &refused) && t.Context().Err() == nil {
			// A keep-alive connection the path closed as it was reused (Apache's
			// KeepAliveTimeout) fails a POST too: once more on a fresh connection.
			t.Run.HTTP.CloseIdleConnections()
			err = t.TryPublish(t.Context(), t.Topic(), t.Payload(i))
		}
		if err != nil {
			dropped(t, i, err)
		}
	}
}

// dropped judges a publish that failed through a deployment's intermediaries. A refusal
// (an HTTP status) or the check's own end is the harness's, as always; a connection the path
// closed without an answer twice, the second time on a fresh connection, while the check held
// streams open, is the path's capacity: the client's request was dropped (Apache's naive event
// MPM does so with its 32 threads busy).
func dropped(t *fw.T, seq int, err error) {
	var refused *fw.PublishRefused
	if errors.As(err, &refused) || t.Context().Err() != nil {
		t.Harness("publish hook: %v", err)
	}
	t.Diagnose("connection-limit:sse", "through %s, a request was dropped without an answer, twice (%v), while SSE streams were open: "+
		"something in front of the server runs out of connections or workers; raise its limit above the streams it must hold "+
		"(Apache: ThreadsPerChild/MaxRequestWorkers; nginx: worker_connections; HAProxy: maxconn)", t.Run.PublicURL(), err)
	t.Violation(fmt.Sprintf("the publish of event %d answered through the path", seq), err.Error())
}

// bounded is a context for a check that only needs the response head: it ends after 10 s
// or with the check.
func bounded(t *fw.T) context.Context {
	ctx, cancel := t.Within(10 * time.Second)
	t.Cleanup(cancel)
	return ctx
}
