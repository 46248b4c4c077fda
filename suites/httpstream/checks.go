package httpstream

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

const (
	ndjsonSerialization = "Each JSON text MUST conform to the [RFC8259] standard and MUST be written to the stream followed by the newline character \\n (0x0A). The newline character MAY be preceded by a carriage return \\r (0x0D). The JSON texts MUST NOT contain newlines or carriage returns."
	ndjsonSpec          = "NDJSON 1.0 §3.1 (github.com/ndjson/ndjson-spec); JSON Lines (jsonlines.org) §1-3; RFC 8259"
	chunkedQuote        = "Chunked enables content streams of unknown size to be transferred as a sequence of length-delimited buffers"
)

// A stream must begin: the response head is what tells a client (and a proxy) the request
// was accepted; without it fetch() and every HTTP client are still waiting.
var _ = fw.Register(fw.Check{
	ID: "HS-RESP-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream request is answered 200 with its response head within 2 s (after at most one published event, for a server that sends its head with the first line).",
	Spec:        "RFC 9110 §15.3.1; operational: fetch() resolves on the response head",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		hctx, hcancel := bounded(t, 2*time.Second)
		defer hcancel()
		s.head(hctx)
		t.Measure("response head", "after %s", s.Headers.Sub(s.Start).Round(time.Millisecond))
	},
})

// An open-ended stream has no length: a Content-Length makes clients and proxies wait for
// that many bytes (a buffering proxy holds the whole "body") or treat the end as a cut.
var _ = fw.Register(fw.Check{
	ID: "HS-RESP-002", Level: fw.MUST, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream response has no Content-Length: its length is unknown (chunked on HTTP/1.1, or ended by closing the connection).",
	Quote:       chunkedQuote,
	Spec:        "RFC 9112 §6.3, §7.1; RFC 9110 §8.6",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.head(ctx)
		cl := s.Resp.Header.Get("Content-Length")
		t.Measure("Content-Length", "%q (parsed length %d, Transfer-Encoding %v)", cl, s.Resp.ContentLength, s.Resp.TransferEncoding)
		if cl != "" || s.Resp.ContentLength >= 0 {
			t.Violation("no Content-Length on the stream", fmt.Sprintf("Content-Length: %q", cl))
		}
	},
})

// The NDJSON media type tells clients and intermediaries what the body is; an unlabelled or
// text/html body is sniffed, compressed or transformed.
var _ = fw.Register(fw.Check{
	ID: "HS-RESP-003", Level: fw.SHOULD, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream is labelled application/x-ndjson (application/ndjson, application/jsonl, application/x-jsonlines and application/json are accepted).",
	Quote:       "The MediaType [RFC6838] for Newline Delimited JSON SHOULD be application/x-ndjson.",
	Spec:        "NDJSON 1.0 §3.3; JSON Lines (jsonlines.org) §4",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.head(ctx)
		ct := s.Resp.Header.Get("Content-Type")
		t.Measure("Content-Type", "%q", ct)
		mt, _, err := mime.ParseMediaType(ct)
		ok := []string{"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonl",
			"application/x-jsonlines", "application/jsonlines", "application/json"}
		if err != nil || !slices.Contains(ok, mt) {
			t.Violation("Content-Type: application/x-ndjson", fmt.Sprintf("Content-Type: %q", ct))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "HS-RESP-004", Level: fw.SHOULD, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream is sent with X-Accel-Buffering: no, so an nginx in front does not buffer it.",
	Quote:       "Buffering can also be enabled or disabled by passing “yes” or “no” in the “X-Accel-Buffering” response header field.",
	Spec:        "operational: nginx ngx_http_proxy_module, proxy_buffering",
	Timeout:     20 * time.Second,
	Intermediary: "consumes X-Accel-Buffering (nginx acts on the header and removes it from the response it forwards, " +
		"so a client behind nginx never sees it)",
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.head(ctx)
		v := s.Resp.Header.Get("X-Accel-Buffering")
		t.Measure("X-Accel-Buffering", "%q", v)
		if !strings.EqualFold(strings.TrimSpace(v), "no") {
			t.Remedy("send X-Accel-Buffering: no on the stream response")
			t.Violation("X-Accel-Buffering: no", fmt.Sprintf("X-Accel-Buffering: %q", v))
		}
	},
})

// cacheDirectives returns the lower-cased directive names of Cache-Control.
func cacheDirectives(h http.Header) (string, []string) {
	cc := strings.Join(h.Values("Cache-Control"), ", ")
	var out []string
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "no-cache" && strings.TrimSpace(val) != "" {
			continue // a qualified no-cache restricts only the named fields
		}
		if name != "" {
			out = append(out, name)
		}
	}
	return cc, out
}

var _ = fw.Register(fw.Check{
	ID: "HS-RESP-005", Level: fw.SHOULD, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream response carries Cache-Control: no-cache or no-store, so no cache stores and replays it.",
	Quote:       "The no-store response directive indicates that any caching recipient MUST NOT store any part of either the immediate request or the response",
	Spec:        "RFC 9111 §5.2.2.4, §5.2.2.5",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.head(ctx)
		cc, dirs := cacheDirectives(s.Resp.Header)
		t.Measure("Cache-Control", "%q", cc)
		if !slices.Contains(dirs, "no-cache") && !slices.Contains(dirs, "no-store") {
			t.Remedy("send Cache-Control: no-cache, no-transform on the stream response")
			t.Violation("Cache-Control: no-cache (or no-store)", fmt.Sprintf("Cache-Control: %q", cc))
		}
	},
})

// A transforming intermediary (compression, minification, a "web accelerator") buffers to
// transform; no-transform forbids it.
var _ = fw.Register(fw.Check{
	ID: "HS-RESP-006", Level: fw.SHOULD, Transport: fw.HTTPStream, Requires: streamCaps,
	Requirement: "The stream response carries Cache-Control: no-transform, so no intermediary buffers it to transform (compress, rewrite) the content.",
	Quote:       "The no-transform response directive indicates that an intermediary (regardless of whether it implements a cache) MUST NOT transform the content",
	Spec:        "RFC 9111 §5.2.2.6; RFC 9110 §7.7",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 15*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.head(ctx)
		cc, dirs := cacheDirectives(s.Resp.Header)
		t.Measure("Cache-Control", "%q", cc)
		if !slices.Contains(dirs, "no-transform") {
			t.Remedy("send Cache-Control: no-cache, no-transform on the stream response")
			t.Violation("Cache-Control with no-transform", fmt.Sprintf("Cache-Control: %q", cc))
		}
	},
})

// A streaming response is useful only if each line leaves the server when it is written: a
// server (or middleware) that buffers holds events until a buffer fills.
var _ = fw.Register(fw.Check{
	ID: "HS-TIME-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: publishCaps,
	Requirement: "An event published while the stream is open arrives as a complete line within 1 s of its publish (the line is flushed when written).",
	Quote:       ndjsonSerialization,
	Spec:        "NDJSON 1.0 §1.1, §3.1; operational: a stream flushed per line",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 20*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.settle()
		sent := time.Now()
		t.Publish(t.Payload(1))
		wctx, wcancel := bounded(t, 5*time.Second)
		defer wcancel()
		ev := s.next(wctx, "event 1 as a line within 1 s")
		s.requireOK(ctx)
		lat := ev.At.Sub(sent)
		t.Measure("latency", "%s", lat.Round(time.Millisecond))
		if fb := s.FirstByte(); !fb.IsZero() {
			t.Measure("first byte", "%s after the request", fb.Sub(s.Start).Round(time.Millisecond))
		}
		if seqOf(t, ev.Data) != 1 {
			t.Violation("event 1", fmt.Sprintf("%q", ev.Line.Raw))
		}
		if lat > time.Second {
			t.Violation("the line within 1 s of the publish", fmt.Sprintf("after %s", lat.Round(time.Millisecond)))
		}
	},
})

// The payloads a line must carry intact: JSON escapes every one of them, and a hand-written
// encoder gets some wrong (raw line breaks split the line, Go's %q writes \x00 and \v, which
// JSON does not have).
var corners = []struct{ what, payload string }{
	{"a line feed", "a\nb"},
	{"a CRLF", "a\r\nb"},
	{"a bare CR", "a\rb"},
	{"quotes and backslashes", `q"\\"z`},
	{"U+2028 and U+2029", "a\u2028b\u2029c"},
	{"non-ASCII text and an emoji", "héllo wörld 😀"},
	{"a NUL", "a\x00b"},
	{"a vertical tab and an escape", "a\vb\x1bc"},
	{"a DEL", "a\x7fb"},
	{"an empty payload", ""},
}

// Every line is one JSON value in UTF-8, terminated by "\n": what an NDJSON parser needs to
// split the stream without understanding it.
var _ = fw.Register(fw.Check{
	ID: "HS-WIRE-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: publishCaps,
	Requirement: "Every line of the stream (events, keep-alives, control lines) is exactly one JSON value in UTF-8, terminated by \"\\n\" (a \"\\r\" before it tolerated); payloads with line breaks, quotes, control characters and non-ASCII text included.",
	Quote:       ndjsonSerialization,
	Spec:        ndjsonSpec,
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 80*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.settle()
		for _, c := range corners {
			t.PublishCorner([]byte(c.payload), c.what)
		}
		t.Publish(t.Payload(1))
		wctx, wcancel := bounded(t, 10*time.Second)
		for {
			ev := s.next(wctx, fmt.Sprintf("the %d corner payloads and event 1", len(corners)))
			if seqOf(t, ev.Data) == 1 {
				break
			}
		}
		wcancel()
		s.requireOK(ctx)
		// With a declared heartbeat, a keep-alive line is judged too.
		if hb := config(t).Heartbeat.D(); hb > 0 && t.Target().Has(fw.CapHeartbeat) && s.keepalives == 0 {
			hctx, hcancel := bounded(t, hb+hb/2+2*time.Second)
			for {
				ln, err := s.Next(hctx)
				if err != nil {
					break
				}
				if ln.Err != nil {
					s.bad = append(s.bad, ln)
					break
				}
				if _, ev := s.classify(ln); !ev {
					s.keepalives++
					break
				}
			}
			hcancel()
		}
		t.Measure("lines", "%d bad, %d keep-alives seen", len(s.bad), s.keepalives)
		if len(s.bad) > 0 {
			var msgs []string
			for _, b := range s.bad {
				msgs = append(msgs, b.Err.Error())
			}
			t.Diagnose("ndjson-invalid-line", "the stream sends lines that are not one JSON value in UTF-8: an NDJSON parser fails on them")
			t.Violation("every line one JSON value in UTF-8", strings.Join(msgs, "; "))
		}
	},
})

// A line is complete only with its "\n": a server that writes the separator before each
// value (or joins values) leaves the last one unterminated until the next is written.
var _ = fw.Register(fw.Check{
	ID: "HS-WIRE-002", Level: fw.MUST, Transport: fw.HTTPStream, Requires: publishCaps,
	Requirement: "Each line is terminated by \"\\n\" when it is written: after an event arrives, no bytes of an unterminated line are left waiting for the next write.",
	Quote:       ndjsonSerialization,
	Spec:        ndjsonSpec,
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 30*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.settle()
		sent := time.Now()
		t.Publish(t.Payload(1))
		// Wait until bytes came after the publish, then 1 s for the line to be complete.
		deadline := time.Now().Add(5 * time.Second)
		for s.LastRead().Before(sent) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		wctx, wcancel := bounded(t, time.Second)
		defer wcancel()
		for {
			ln, err := s.Next(wctx)
			if err != nil {
				p := s.Pending()
				if len(p) > 0 {
					t.Diagnose("ndjson-unterminated", "the stream leaves its last line without \"\\n\" until the next write: an NDJSON client cannot use an event until something else is sent")
					t.Violation("the event's line terminated by \"\\n\"", fmt.Sprintf("%d bytes without \"\\n\" %s after the publish: %q", len(p), time.Since(sent).Round(time.Millisecond), p))
				}
				t.Violation("the event's line within 1 s of its first bytes", fmt.Sprintf("%v (no bytes pending)", err))
			}
			if ln.Err != nil {
				continue // HS-WIRE-001's finding
			}
			if ev, ok := s.classify(ln); ok && seqOf(t, ev.Data) == 1 {
				break
			}
		}
		if p := s.Pending(); len(p) > 0 {
			t.Violation("nothing pending after the event's line", fmt.Sprintf("%q", p))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "HS-DELIVER-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: publishCaps,
	Requirement: "Events published while the stream is open arrive in publish order, each exactly once, with the payload intact.",
	Spec:        "operational: the delivery contract shared by the stream transports (SSE, WebSocket, long-poll)",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 30*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.settle()
		const n = 20
		for i := 1; i <= n; i++ {
			t.Publish(t.Payload(i))
		}
		evs := s.collect(ctx, n, fmt.Sprintf("events 1..%d", n))
		s.requireOK(ctx)
		got := seqs(t, evs)
		t.Measure("seqs", "%v", got)
		if !slices.Equal(got, upto(1, n)) {
			t.Violation(fmt.Sprintf("seqs %v", upto(1, n)), fmt.Sprintf("%v", got))
		}
		for i, e := range evs {
			if want := string(t.Payload(i + 1)); e.Data != want {
				t.Violation(fmt.Sprintf("payload %q", want), fmt.Sprintf("%q", e.Data))
			}
		}
		// Nothing else arrives (a duplicate would come right after).
		wctx, wcancel := bounded(t, 500*time.Millisecond)
		defer wcancel()
		for {
			ln, err := s.Next(wctx)
			if err != nil {
				break
			}
			if ev, ok := s.classify(ln); ok && ln.Err == nil {
				t.Violation("nothing after the last event", fmt.Sprintf("%q", ev.Line.Raw))
			}
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "HS-DELIVER-002", Level: fw.MUST, Transport: fw.HTTPStream, Requires: publishCaps,
	Requirement: "Payloads with line breaks (LF, CRLF, CR), quotes, backslashes, U+2028/2029, control characters, non-ASCII text and the empty payload arrive byte for byte.",
	Quote:       "The JSON texts MUST NOT contain newlines or carriage returns.",
	Spec:        ndjsonSpec + "; RFC 8259 §7",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		ctx, cancel := bounded(t, 30*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.settle()
		for _, c := range corners {
			t.PublishCorner([]byte(c.payload), c.what)
		}
		evs := s.collect(ctx, len(corners), "the corner payloads")
		for i, c := range corners {
			if evs[i].Data != c.payload {
				t.Violation(fmt.Sprintf("%s: %q", c.what, c.payload), fmt.Sprintf("%q (line %q)", evs[i].Data, evs[i].Line.Raw))
			}
		}
	},
})

// publishIDs publishes seqs from..to on a stream opened first and returns their ids.
func publishIDs(t *fw.T, from, to int) []string {
	ctx, cancel := bounded(t, 20*time.Second)
	defer cancel()
	s := open(t, ctx, "")
	s.settle()
	for i := from; i <= to; i++ {
		t.Publish(t.Payload(i))
	}
	evs := s.collect(ctx, to-from+1, fmt.Sprintf("events %d..%d", from, to))
	// Indexed by seq: the order they arrived in is HS-DELIVER-001's finding.
	ids := make([]string, to-from+1)
	for _, e := range evs {
		if n := seqOf(t, e.Data); n >= from && n <= to && e.ID != "" {
			ids[n-from] = e.ID
		}
	}
	for i, id := range ids {
		if id == "" {
			t.Harness("the stream that records the ids did not deliver event %d with an id (got %v): HS-DELIVER-001 judges delivery", from+i, seqs(t, evs))
		}
	}
	_ = s.Close()
	return ids
}

var _ = fw.Register(fw.Check{
	ID: "HS-RESUME-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: resumeCaps,
	Requirement: "A stream resumed from the id of an event delivers exactly the events after it, in order, then live events: not the event itself, none lost.",
	Spec:        "operational: exclusive resume, as SSE's Last-Event-ID (WHATWG HTML §9.2.4) and the other transports",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		ids := publishIDs(t, 1, 5)
		ctx, cancel := bounded(t, 30*time.Second)
		defer cancel()
		s := open(t, ctx, ids[1])
		evs := s.collect(ctx, 3, "events 3, 4, 5 after the resume from event 2")
		s.requireOK(ctx)
		t.Publish(t.Payload(6))
		evs = append(evs, s.next(ctx, "live event 6 after the replay"))
		got := seqs(t, evs)
		t.Measure("seqs", "%v (resumed from %s)", got, ids[1])
		if !slices.Equal(got, []int{3, 4, 5, 6}) {
			switch {
			case len(got) > 0 && got[0] == 2:
				t.Diagnose("resume-inclusive", "the resume replays the event named by the token (>= instead of >): every reconnect duplicates an event")
			case len(got) > 0 && got[0] == -2:
				t.Diagnose("resume-spurious-reset", "the resume signals a reset for an id the target still holds")
			}
			t.Violation("seqs [3 4 5 6]", fmt.Sprintf("%v", got))
		}
	},
})

// expectReset opens a stream resumed from token, publishes seq after it settled, and requires
// the declared reset line before any event: a stream that goes on without it is a silent gap.
func expectReset(t *fw.T, token string, seq int, why string) {
	ctx, cancel := bounded(t, 20*time.Second)
	defer cancel()
	s := open(t, ctx, token)
	s.settle()
	t.Publish(t.Payload(seq))
	ev := s.next(ctx, fmt.Sprintf("the reset signal for %s, then event %d", why, seq))
	s.requireOK(ctx)
	_ = s.Close()
	t.Measure("first line after "+why, "%q", ev.Line.Raw)
	reset := config(t).Reset
	lossSignal := fmt.Sprintf("a line with %s = %q", reset.Pointer, reset.Value)
	if c := t.Target().Connect; c != nil && c.Recovered != "" {
		lossSignal = fmt.Sprintf("a connect reply without true at %s", c.Recovered)
	} else if reset.Pointer == "" {
		t.Diagnose("silent-loss", "the target declares resume but no reset signal: a client resuming from an id it cannot resume is not told it missed events")
		t.Remedy("send an explicit line (e.g. {\"type\":\"reset\"}) and declare it as target.httpstream.reset")
		t.Violation("a declared reset signal for "+why, fmt.Sprintf("no reset signal declared; the stream went on with %q", ev.Line.Raw))
	}
	if !ev.Reset {
		t.Diagnose("silent-loss", "a resume from an id the target cannot resume goes on without the reset signal: the client never learns it missed events")
		t.Violation(fmt.Sprintf("for %s, %s before any event", why, lossSignal), fmt.Sprintf("%q first: a silent gap", ev.Line.Raw))
	}
}

var _ = fw.Register(fw.Check{
	ID: "HS-RESUME-002", Level: fw.MUST, Transport: fw.HTTPStream, Requires: resumeCaps,
	Requirement: "A stream resumed from an id the target never issued (a foreign one, and one of its own shape beyond its head) first gets the declared reset signal (target.httpstream.reset), never a silent restart from now.",
	Spec:        "operational: an explicit loss signal, as the SSE reset event and the WebSocket reset message",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		ids := publishIDs(t, 1, 1)
		probes := fw.UnknownIDs(t.Run.ID[:8], ids[0], t.Target().ResumeTemplated(fw.HTTPStream))
		for i, id := range probes {
			expectReset(t, id, 2+i, fmt.Sprintf("the unknown id %q", id))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "HS-RESUME-003", Level: fw.MUST, Transport: fw.HTTPStream, Requires: resumeCaps,
	Requirement: "A stream resumed from an id older than the declared retention first gets the declared reset signal, then the events the target still has: never a silent gap.",
	Spec:        "operational: the target's declared httpstream.reset and retention",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		keep := t.Target().Retention
		if keep <= 0 {
			t.NotSupported("the profile declares no target.retention (events kept per topic)")
		}
		if keep > 5000 {
			t.NotSupported("target.retention %d is too large to overrun in a check (at most 5000)", keep)
		}
		ids := publishIDs(t, 1, 1)
		for i := 2; i <= keep+10; i++ {
			t.Publish(t.Payload(i))
		}
		t.Measure("published after the resume id", "%d (retention %d)", keep+9, keep)
		expectReset(t, ids[0], keep+11, "an id older than retention")
	},
})

// A keep-alive is judged by the bytes that arrive: what keeps a proxy's idle timer and a
// client's liveness timer from expiring. Whether those bytes form valid, terminated lines is
// HS-WIRE-001's and HS-WIRE-002's finding.
var _ = fw.Register(fw.Check{
	ID: "HS-HB-001", Level: fw.MUST, Transport: fw.HTTPStream, Requires: hbCaps, Timed: true,
	Requirement: "While idle, the stream sends something (a keep-alive line) at least every declared heartbeat interval (target.httpstream.heartbeat, 25% or 500 ms of slack), so clients and proxies do not take it for dead.",
	Spec:        "the profile's target.httpstream.heartbeat; operational: proxy idle timeouts (nginx proxy_read_timeout 60 s, AWS ALB 60 s)",
	Timeout:     5 * time.Minute,
	Run: func(t *fw.T) {
		hb := config(t).Heartbeat.D()
		if hb <= 0 {
			t.NotSupported("target.httpstream.heartbeat is not declared")
		}
		bound := hb + max(hb/4, 500*time.Millisecond)
		watch := 2*hb + bound
		ctx, cancel := bounded(t, watch+10*time.Second)
		defer cancel()
		s := open(t, ctx, "")
		s.requireOK(ctx)
		// Lines are drained so the reader never waits; arrivals are read from LastRead.
		go func() {
			for {
				if _, err := s.Next(ctx); err != nil {
					return
				}
			}
		}()
		last := s.Headers
		end := time.Now().Add(watch)
		n, maxGap := 0, time.Duration(0)
		for time.Now().Before(end) {
			if lr := s.LastRead(); lr.After(last) {
				n++
				maxGap = max(maxGap, lr.Sub(last))
				last = lr
			}
			if gap := time.Since(last); gap > bound {
				t.Measure("keep-alives", "%d reads, the longest gap %s before this one", n, maxGap.Round(time.Millisecond))
				t.Diagnose("no-heartbeat", "the idle stream sends nothing within its declared heartbeat interval: proxies and clients cut it as dead")
				t.TimingOnly() // a gap past the bound: judged again alone (fw.Check.Timed)
				t.Violation(fmt.Sprintf("bytes within %s of the previous ones (declared heartbeat %s)", bound, hb),
					fmt.Sprintf("nothing for %s (after the response head and %d reads)", gap.Round(time.Millisecond), n))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Measure("keep-alives", "%d reads in %s, the longest gap %s (declared heartbeat %s)", n, watch.Round(time.Millisecond), maxGap.Round(time.Millisecond), hb)
		if maxGap > bound+50*time.Millisecond {
			t.TimingOnly()
			t.Violation(fmt.Sprintf("gaps of at most %s", bound), fmt.Sprintf("a gap of %s", maxGap.Round(time.Millisecond)))
		}
	},
})
