package sse

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

var sseCaps = []fw.Capability{fw.CapSSE}

// "if res's status is not 200, or if res's `Content-Type` is not `text/event-stream`, then
// fail the connection."  (WHATWG HTML §9.2.3, processing model)
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-001", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream request is answered with status 200 OK.",
	Quote:       "if res's status is not 200, or if res's Content-Type is not text/event-stream, then fail the connection",
	Spec:        "WHATWG HTML §9.2.3",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		// Nothing is published: a server that holds its headers until the first event leaves a
		// client (an EventSource stays CONNECTING) and every proxy's first-byte timer waiting.
		ctx := bounded(t)
		s := open(t, ctx, nil, nil)
		if err := s.WaitHeaders(ctx); err != nil {
			if s.HeadersErr() == nil {
				t.Diagnose("headers-delayed", "the stream's response headers are sent only with the first event: while the topic is quiet a client gets no answer (an EventSource stays CONNECTING) and proxies' first-byte timeouts cut the request")
				t.Remedy("send the status and headers (and a retry: field or a comment) as soon as the stream is accepted: flush after writing them")
				t.Violation("status 200 within 10s, with nothing published", fmt.Sprintf("no response head after %s", time.Since(s.Start).Round(time.Millisecond)))
			}
			t.Violation("status 200", fmt.Sprintf("request failed: %v", err))
		}
		t.Measure("status", "%d after %s", s.Resp.StatusCode, s.Headers.Sub(s.Start).Round(time.Millisecond))
		if s.Resp.StatusCode != http.StatusOK {
			t.Violation("200", fmt.Sprintf("%d %s (a browser's EventSource fails for good and never reconnects)", s.Resp.StatusCode, http.StatusText(s.Resp.StatusCode)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-002", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream's Content-Type essence is text/event-stream.",
	Quote:       "if res's status is not 200, or if res's Content-Type is not text/event-stream, then fail the connection",
	Spec:        "WHATWG HTML §9.2.3",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := head(t, bounded(t), nil, nil)
		ct := s.Resp.Header.Get("Content-Type")
		t.Measure("Content-Type", "%q", ct)
		essence, _, err := mime.ParseMediaType(ct)
		if err != nil || essence != "text/event-stream" {
			t.Violation("Content-Type: text/event-stream (parameters allowed)", fmt.Sprintf("Content-Type: %q", ct))
		}
	},
})

// An unbounded stream cannot declare its length: with Content-Length the message ends after
// that many bytes (RFC 9112 §6.3), so intermediaries cut the stream or wait for the whole body.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-003", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The open-ended stream carries no Content-Length (it is chunked in HTTP/1.1, or a stream in HTTP/2).",
	Spec:        "RFC 9112 §6.3 (message body length); operational",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		cl := s.Resp.Header.Get("Content-Length")
		t.Measure("Content-Length", "%q", cl)
		t.Measure("Transfer-Encoding", "%v", s.Resp.TransferEncoding)
		if cl != "" || s.Resp.ContentLength >= 0 {
			t.Violation("no Content-Length on the stream", fmt.Sprintf("Content-Length: %q (length %d)", cl, s.Resp.ContentLength))
		}
	},
})

// A cached or revalidated event stream replays stale events or stalls (RFC 9111 §5.2.2).
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-004", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream is sent with Cache-Control: no-cache or no-store, so no cache stores or replays it.",
	Spec:        "RFC 9111 §5.2.2.4, §5.2.2.5; operational (CDNs cache text/event-stream without it)",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		cc := strings.Join(s.Resp.Header.Values("Cache-Control"), ", ")
		t.Measure("Cache-Control", "%q", cc)
		if !hasDirective(cc, "no-cache") && !hasDirective(cc, "no-store") {
			if why := cacheable(s.Resp.Header, time.Now()); why != "" {
				diagnoseCacheable(t, why) // SSE-RESP-013 fails it too: one finding
			}
			t.Remedy("send Cache-Control: no-cache (or no-store) on the stream response")
			t.Violation("Cache-Control containing no-cache or no-store", fmt.Sprintf("Cache-Control: %q", cc))
		}
	},
})

// A stream response that a shared cache may store and reuse breaks behind every CDN and
// caching proxy: clients get a stored copy (old events replayed, or a body that never grows)
// instead of a live stream. SSE-RESP-004 asks for no-cache; this check fails a stream that
// explicitly invites caching. The rule, from RFC 9111: a shared cache may store the response
// unless it carries no-store (§5.2.2.5), an unqualified no-cache (§5.2.2.4; then every reuse
// is revalidated) or private (§5.2.2.7); a stored response is reused without revalidation
// while fresh — for a freshness lifetime from s-maxage (§5.2.2.10), else max-age (§5.2.2.1),
// else Expires minus Date (§5.3, §4.2.1), or, with no explicit lifetime, a heuristic one that
// public permits (§5.2.2.9, §4.2.2) — and after it with stale-while-revalidate (RFC 5861 §3).
// So a storable stream fails when its lifetime is positive, or it is public without an
// explicit lifetime, or it allows stale-while-revalidate. A stream that merely lacks
// Cache-Control (heuristic caching needs Last-Modified or public; §4.2.2) is SSE-RESP-004's
// warning only.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-013", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream response does not explicitly allow shared caching: no public, max-age, s-maxage or stale-while-revalidate above 0, and no future Expires, unless no-store, no-cache or private forbids storing or reusing it.",
	Quote:       "The no-store response directive indicates that any caching recipient MUST NOT store any part of either the immediate request or the response",
	Spec:        "RFC 9111 §4.2.1, §4.2.2, §5.2.2, §5.3; RFC 5861 §3",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		h := s.Resp.Header
		cc := strings.Join(h.Values("Cache-Control"), ", ")
		t.Measure("Cache-Control", "%q", cc)
		if e := h.Get("Expires"); e != "" {
			t.Measure("Expires", "%q (Date %q)", e, h.Get("Date"))
		}
		if why := cacheable(h, time.Now()); why != "" {
			diagnoseCacheable(t, why)
			t.Remedy("send Cache-Control: no-cache (or no-store) on the stream response, and no Expires")
			t.Violation("a stream response no shared cache may store and reuse (Cache-Control: no-cache or no-store)", fmt.Sprintf("Cache-Control %q: %s", cc, why))
		}
	},
})

func diagnoseCacheable(t *fw.T, why string) {
	t.Diagnose("stream-cacheable", "the event stream's response invites caching (%s): behind a CDN or a caching proxy clients get a stored copy (old events replayed, or a stream that never updates) instead of the live stream", why)
}

// cacheable says why a shared cache may store and reuse a response with headers h without
// revalidation (see SSE-RESP-013), or "" when it may not.
func cacheable(h http.Header, now time.Time) string {
	dirs := map[string]string{}
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			val = strings.Trim(strings.TrimSpace(val), `"`)
			if name == "no-cache" && val != "" {
				continue // qualified no-cache restricts only the named fields
			}
			if _, dup := dirs[name]; !dup {
				dirs[name] = val
			}
		}
	}
	for _, forbid := range []string{"no-store", "no-cache", "private"} {
		if _, ok := dirs[forbid]; ok {
			return ""
		}
	}
	seconds := func(name string) (int64, bool) {
		v, ok := dirs[name]
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, true // an invalid lifetime is treated as stale (RFC 9111 §4.2.1)
		}
		return n, true
	}
	if n, ok := seconds("stale-while-revalidate"); ok && n > 0 {
		return fmt.Sprintf("stale-while-revalidate=%d lets a cache serve a stored copy", n)
	}
	for _, name := range []string{"s-maxage", "max-age"} {
		if n, ok := seconds(name); ok {
			if n > 0 {
				return fmt.Sprintf("%s=%d makes a stored copy fresh for %d s", name, n, n)
			}
			return ""
		}
	}
	if e := h.Get("Expires"); e != "" {
		exp, err := http.ParseTime(e)
		if err != nil {
			return "" // an invalid Expires means already expired (RFC 9111 §5.3)
		}
		date := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			date = d
		}
		if exp.After(date) {
			return fmt.Sprintf("Expires is %s after Date: a stored copy is fresh until then", exp.Sub(date).Round(time.Second))
		}
		return ""
	}
	if _, ok := dirs["public"]; ok {
		return "public without a lifetime lets a cache store it and reuse it for a heuristic lifetime"
	}
	return ""
}

// nginx buffers proxied responses unless told otherwise; the response header
// "X-Accel-Buffering: no" turns buffering off per response (nginx proxy_buffering docs).
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-005", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream is sent with X-Accel-Buffering: no, so an nginx in front does not buffer it.",
	Quote:       "Buffering can also be enabled or disabled by passing “yes” or “no” in the “X-Accel-Buffering” response header field.",
	Spec:        "operational: nginx ngx_http_proxy_module, proxy_buffering",
	Timeout:     15 * time.Second,
	// The header is an instruction to nginx, which acts on it and does not forward it.
	Intermediary: "consumes X-Accel-Buffering (nginx acts on the header and removes it from the response it forwards, " +
		"so a client behind nginx never sees it)",
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		v := s.Resp.Header.Get("X-Accel-Buffering")
		t.Measure("X-Accel-Buffering", "%q", v)
		if !strings.EqualFold(strings.TrimSpace(v), "no") {
			t.Violation("X-Accel-Buffering: no", fmt.Sprintf("X-Accel-Buffering: %q", v))
		}
	},
})

// Proxies and CDNs cut responses whose first byte is slow (Heroku: 30 s to first byte); a
// client cannot tell a slow stream from a dead one until a byte arrives.
var _ = fw.Register(fw.Check{
	ID: "SSE-TIME-001", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The first body byte (a retry: field, a comment or an event) is sent within 1 s of the request, with nothing published.",
	Spec:        "operational: proxy first-byte timeouts (Heroku router 30 s; CDNs); WHATWG HTML §9.2.7",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := t.Within(15 * time.Second)
		defer cancel()
		s := open(t, ctx, nil, nil)
		deadline := time.Now().Add(5 * time.Second)
		for s.FirstByte().IsZero() && time.Now().Before(deadline) {
			select {
			case <-s.Done():
				deadline = time.Now()
			case <-time.After(5 * time.Millisecond):
			}
		}
		fb := s.FirstByte()
		if fb.IsZero() {
			select {
			case <-s.HeadersArrived():
				if err := s.HeadersErr(); err != nil {
					t.Violation("first byte within 1s", fmt.Sprintf("request failed: %v", err))
				}
				t.Measure("response head", "after %s (status %d)", s.Headers.Sub(s.Start).Round(time.Millisecond), s.Resp.StatusCode)
			default:
				t.Measure("response head", "none within 5s")
				t.Diagnose("headers-delayed", "the stream's response headers are sent only with the first event: while the topic is quiet a client gets no answer (an EventSource stays CONNECTING) and proxies' first-byte timeouts cut the request")
				t.Remedy("send the status and headers and a first line (a retry: field or a comment) as soon as the stream is accepted, and flush")
			}
			t.Violation("first byte within 1s", "no body byte within 5s")
		}
		requireOK(t, s, ctx, 15*time.Second, "status 200")
		d := fb.Sub(s.Start)
		t.Measure("time to first byte", "%s", d.Round(time.Millisecond))
		if d > time.Second {
			if h := s.Headers.Sub(s.Start); h > time.Second {
				// The head came as late as the first byte: the whole response was held.
				t.Measure("response head", "after %s", h.Round(time.Millisecond))
				diagnoseBuffered(t, d.Round(time.Millisecond))
			}
			t.Violation("first byte within 1s", fmt.Sprintf("first byte after %s", d.Round(time.Millisecond)))
		}
	},
})

func hasDirective(cc, name string) bool {
	for _, d := range strings.Split(cc, ",") {
		d, _, _ = strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// Compression middleware buffers a stream until its block fills (expressjs/compression#61,
// tower-http#420, starlette#2753), so an event stream is best left uncompressed.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-006", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "The stream is not compressed even when the client accepts gzip, deflate and br (compressors buffer events).",
	Spec:        "operational: compression middleware buffering (expressjs/compression#61, tower-http#420); WHATWG HTML §9.2.7",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), header("Accept-Encoding", "gzip, deflate, br"), nil)
		ce := s.Resp.Header.Get("Content-Encoding")
		t.Measure("Content-Encoding", "%q", ce)
		if ce != "" && !strings.EqualFold(ce, "identity") {
			t.Violation("no Content-Encoding", fmt.Sprintf("Content-Encoding: %q", ce))
		}
	},
})

// "HTTP chunking can have unexpected negative effects on the reliability of this protocol"
// (WHATWG HTML §9.2.7) — but a close-delimited HTTP/1.x body is worse: intermediaries cannot
// tell a finished response from a cut one, and many buffer it whole.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-007", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "Over HTTP/1.1 the stream uses chunked transfer coding (or the connection is HTTP/2), not a close-delimited body.",
	Spec:        "RFC 9112 §6.3, §7.1; WHATWG HTML §9.2.7",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		t.Measure("protocol", "%s", s.Resp.Proto)
		t.Measure("Transfer-Encoding", "%v", s.Resp.TransferEncoding)
		if s.Resp.ProtoMajor < 2 && !slices.Contains(s.Resp.TransferEncoding, "chunked") {
			t.Violation("Transfer-Encoding: chunked (or HTTP/2)", fmt.Sprintf("%s with Transfer-Encoding %v", s.Resp.Proto, s.Resp.TransferEncoding))
		}
	},
})

// Fetch-based clients and proxies' health probes send Accept: */*; a server that serves the
// stream only on an exact Accept: text/event-stream breaks them.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-008", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "A request with Accept: */* also gets the event stream (200, text/event-stream).",
	Spec:        "RFC 9110 §12.5.1 (Accept); operational",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := head(t, bounded(t), header("Accept", "*/*"), nil)
		ct := s.Resp.Header.Get("Content-Type")
		t.Measure("status", "%d", s.Resp.StatusCode)
		t.Measure("Content-Type", "%q", ct)
		essence, _, _ := mime.ParseMediaType(ct)
		if s.Resp.StatusCode != http.StatusOK || essence != "text/event-stream" {
			t.Violation("200 text/event-stream", fmt.Sprintf("%d %q", s.Resp.StatusCode, ct))
		}
	},
})

// "The server MUST NOT send content in the response" to HEAD (RFC 9110 §9.3.2); a HEAD that
// is held open like a stream ties up health checkers and link previewers.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-009", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "A HEAD request of the stream is answered promptly (within 5 s) with headers only.",
	Quote:       "The HEAD method is identical to GET except that the server MUST NOT send content in the response.",
	Spec:        "RFC 9110 §9.3.2",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := t.Within(5 * time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, t.URL(t.Target().SSE.Path), nil)
		start := time.Now()
		// A connection of its own, closed after the answer: many servers (r3labs/sse, Mercure,
		// go-sse) keep their stream handler running after answering a HEAD, so the connection
		// never reads another request (SSE-RESP-012 measures that).
		resp, err := oneShot(t).Do(req)
		if err != nil {
			t.Violation("an answer to HEAD within 5s", err.Error())
		}
		resp.Body.Close()
		t.Measure("status", "%d after %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	},
})

// "The origin server MUST generate an Allow header field in a 405 response containing a list
// of the target resource's currently supported methods."  (RFC 9110 §15.5.6)
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-010", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "A DELETE of the stream path is not answered with a stream, and a 405 answer carries an Allow header.",
	Quote:       "The origin server MUST generate an Allow header field in a 405 response containing a list of the target resource's currently supported methods.",
	Spec:        "RFC 9110 §15.5.6",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := t.Within(10 * time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, t.URL(t.Target().SSE.Path), nil)
		resp, err := t.HTTP().Do(req)
		if err != nil {
			t.Violation("an HTTP answer to DELETE", err.Error())
		}
		resp.Body.Close()
		allow := resp.Header.Get("Allow")
		t.Measure("status", "%d", resp.StatusCode)
		t.Measure("Allow", "%q", allow)
		essence, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode == http.StatusOK && essence == "text/event-stream" {
			t.Violation("DELETE refused", "DELETE opened an event stream")
		}
		if resp.StatusCode == http.StatusMethodNotAllowed && allow == "" {
			t.Violation("405 with an Allow header", "405 without Allow")
		}
	},
})

// "Event streams in this format must always be encoded as UTF-8" (WHATWG HTML §9.2.5);
// browsers ignore any other charset parameter (WPT format-utf-8), so declaring one misleads
// every other client.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-011", Level: fw.SHOULD, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "A charset parameter on the stream's Content-Type, if present, is utf-8.",
	Quote:       "Event streams in this format must always be encoded as UTF-8.",
	Spec:        "WHATWG HTML §9.2.5",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		s := headOK(t, bounded(t), nil, nil)
		ct := s.Resp.Header.Get("Content-Type")
		_, params, _ := mime.ParseMediaType(ct)
		t.Measure("Content-Type", "%q", ct)
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			t.Violation("charset=utf-8 or none", fmt.Sprintf("charset=%s", cs))
		}
	},
})
