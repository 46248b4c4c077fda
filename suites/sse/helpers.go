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
func open(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	u := streamURL(t, query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Harness("building the request for %s: %v", u, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	s, err := sseclient.Open(ctx, t.HTTP(), req, sseclient.Limits{})
	if err != nil {
		t.Violation("GET "+u+" opens an event stream", fmt.Sprintf("request failed: %v", err))
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openOK is open plus the minimum every stream check needs: status 200 and a
// text/event-stream body; anything else is reported by the response checks, so here it is a
// violation with a pointer to them.
func openOK(t *fw.T, ctx context.Context, header http.Header, query url.Values) *sseclient.Stream {
	s := open(t, ctx, header, query)
	if s.Resp.StatusCode != http.StatusOK {
		t.Violation("status 200 on the stream request", fmt.Sprintf("status %d", s.Resp.StatusCode))
	}
	return s
}

// settle waits until the stream has sent its first byte or a short while passed, so that a
// target that subscribes the client just after sending headers does not miss the first publish.
func settle(s *sseclient.Stream) {
	deadline := time.Now().Add(300 * time.Millisecond)
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

// nextData waits for the next event that carries data, failing the check with what was
// expected when it does not come within d.
func nextEvent(t *fw.T, s *sseclient.Stream, d time.Duration, want string) sseclient.Event {
	ctx, cancel := t.Within(d)
	defer cancel()
	ev, err := s.Next(ctx)
	if err != nil {
		t.Violation(want, describeErr(err, d))
	}
	return ev
}

// collect reads n events, failing the check when they do not all arrive within d.
func collect(t *fw.T, s *sseclient.Stream, n int, d time.Duration, want string) []sseclient.Event {
	ctx, cancel := t.Within(d)
	defer cancel()
	var out []sseclient.Event
	for len(out) < n {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Violation(want, fmt.Sprintf("%d of %d events, then %s; received data: %q", len(out), n, describeErr(err, d), datas(out)))
		}
		if ev.Type != "" && ev.Type != "message" {
			continue // a named control event (e.g. a reset signal) is not one of ours
		}
		out = append(out, ev)
	}
	return out
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
		t.Publish(t.Payload(i))
	}
}

// bounded is a context for a check that only needs the response head: it ends after 10 s
// or with the check.
func bounded(t *fw.T) context.Context {
	ctx, cancel := t.Within(10 * time.Second)
	t.Cleanup(cancel)
	return ctx
}
