package proxy

import (
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// The PX-HS checks are the stream checks of PX-SSE run over the target's HTTP stream of JSON
// lines (target.httpstream: Centrifugo's uni_http_stream, fetch-streaming APIs): the same
// run functions, the same problems and remedies, with the stream opened by its declared
// request (GET or a POST with its body) and its events read through the envelope. An
// intermediary treats such a stream as an ordinary response — nothing marks it as a stream
// the way text/event-stream does (Varnish, Caddy and cloudflared special-case that type) —
// so buffering, idle cuts and caching hit it at least as hard.
//
// Not carried over: PX-SSE-001 (an HTTP stream need not send a byte before its first event
// or keep-alive: HS-RESP-001 judges its head on the origin), PX-SSE-009 (the restart check
// is about an EventSource ending for good on a 5xx; a fetch-streaming client's retry is its
// own) and the INFO check PX-SSE-011.

var (
	hsCaps     = []fw.Capability{fw.CapHTTPStream, fw.CapPublish}
	hsResume   = []fw.Capability{fw.CapHTTPStream, fw.CapPublish, fw.CapResume}
	hsIdleCaps = []fw.Capability{fw.CapHTTPStream, fw.CapPublish, fw.CapHeartbeat}
)

// hsIDs maps each PX-SSE check run over HTTP streams to its PX-HS ID.
var hsIDs = map[string]string{
	"PX-SSE-002": "PX-HS-001", "PX-SSE-003": "PX-HS-002", "PX-SSE-004": "PX-HS-003", "PX-SSE-005": "PX-HS-004",
	"PX-SSE-006": "PX-HS-005", "PX-SSE-007": "PX-HS-006", "PX-SSE-008": "PX-HS-007", "PX-SSE-010": "PX-HS-008",
}

// see names the check of this check's transport that covers what the SSE check sseID does.
func (e *env) see(sseID string) string {
	if e.t.Check.Transport == fw.HTTPStream {
		return hsIDs[sseID]
	}
	return sseID
}

// heartbeat is the declared longest silence of the check's stream (0: not declared).
func (e *env) heartbeat() time.Duration {
	tg := e.t.Target()
	if e.t.Check.Transport == fw.HTTPStream {
		return tg.HTTPStream.Heartbeat.D()
	}
	return tg.SSE.Heartbeat.D()
}

// tokenName says how the check's stream carries the resume token.
func (e *env) tokenName() string {
	if e.t.Check.Transport != fw.HTTPStream {
		return "the Last-Event-ID header"
	}
	if q := e.t.Target().HTTPStream.Resume.Query; q != "" {
		return "the resume query ?" + q + "="
	}
	return "the resume body (target.httpstream.resume.body)"
}

const hsBufferingQuote = "When buffering is enabled, nginx receives a response from the proxied server as soon as possible, saving it into the buffers set by the proxy_buffer_size and proxy_buffers directives."

var _ = register(check{
	id: "PX-HS-001", level: fw.MUST, transport: fw.HTTPStream, requires: hsCaps,
	requirement: "Through the proxy, each line of an HTTP stream arrives within 1 s of its publish, as it does directly from the origin (the proxy does not buffer the stream).",
	quote:       hsBufferingQuote,
	spec:        "operational: nginx.org ngx_http_proxy_module proxy_buffering, X-Accel-Buffering; HAProxy http-no-delay (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemBuffering},
	run:         runDelivery,
})

var _ = register(check{
	id: "PX-HS-002", serial: true, level: fw.SHOULD, transport: fw.HTTPStream, requires: hsCaps,
	requirement: "The proxy adds at most 100 ms to a stream line's delivery (median over 5 events, compared with the origin directly; a deployment needs proxies.direct).",
	quote:       "HAProxy without option http-no-delay delays every SSE write (the first byte included) by about 200 ms.",
	spec:        "operational: HAProxy option http-no-delay, measured with Debian 12's HAProxy 2.6 (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWriteDelay},
	run:         runAdded,
})

var _ = register(check{
	id: "PX-HS-003", level: fw.MUST, transport: fw.HTTPStream, requires: hsIdleCaps, timeout: 4 * time.Minute,
	requirement: "An HTTP stream with no events stays open through the proxy and then still delivers: it survives twice the path's idle limit, or, when waiting that out is not shorter than deploy.maxIdleWait, its longest silence through the path (the keep-alive lines) is shorter than the limit.",
	quote:       "Defines a timeout for reading a response from the proxied server. The timeout is set only between two successive read operations, not for the transmission of the whole response. If the proxied server does not transmit anything within this time, the connection is closed.",
	spec:        "operational: nginx proxy_read_timeout, HAProxy timeout server/client, Varnish between_bytes_timeout, Apache ProxyTimeout (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemIdleTimeout},
	run:         runIdle,
})

var _ = register(check{
	id: "PX-HS-004", level: fw.MUST, transport: fw.HTTPStream, requires: hsResume,
	requirement: "A resumed HTTP stream through the proxy (the resume query or body of target.httpstream.resume) receives exactly the events after the token (it reaches the origin: no gap, no duplicate).",
	quote:       "The cache key is the information a cache uses to choose a response and is composed from, at a minimum, the request method and target URI used to retrieve the stored response",
	spec:        "RFC 9111 §2; operational: request URLs and bodies pass proxies unless rewritten or served from a cache keyed without them (shared/notes/proxy-facts.md)",
	problems:    []string{problemResumeHeader, proxyrun.ProblemCaching},
	run:         runResume,
})

var _ = register(check{
	id: "PX-HS-005", level: fw.MUST, transport: fw.HTTPStream, requires: hsCaps,
	requirement: "Two clients opening the same HTTP stream at the same time through the proxy both get a live stream and every event (no request coalescing).",
	quote:       "Unless the response is uncacheable or passed, request coalescing (the waiting list) and caching apply to SSE too.",
	spec:        "operational: varnish-cache builtin.vcl waiting list; Bunny CDN request coalescing (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCoalescing},
	run:         runConcurrent,
})

var _ = register(check{
	id: "PX-HS-006", level: fw.MUST, transport: fw.HTTPStream, requires: hsResume,
	requirement: "Through the proxy, HTTP streams resumed from different tokens get different data, and a new live stream replays nothing (no stream is served from a cache).",
	quote:       "an SSE response with no Cache-Control gets cached for 1 month. A cached stream replays in a loop, and request coalescing breaks per-user streams.",
	spec:        "operational: Bunny CDN; varnish-cache builtin.vcl default_ttl (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCaching, problemResumeHeader},
	run:         runUncached,
})

var _ = register(check{
	id: "PX-HS-007", level: fw.SHOULD, transport: fw.HTTPStream, requires: hsCaps,
	requirement: "A client asking for gzip (Accept-Encoding: gzip) gets each line of an HTTP stream through the proxy as soon as a client that does not (compression adds no buffering).",
	quote:       "Compression layers hold data until a flush",
	spec:        "operational: nginx gzip_types; expressjs/compression#61, tower-rs/tower-http#420 (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCompression},
	run:         runCompressed,
})

var _ = register(check{
	id: "PX-HS-008", serial: true, level: fw.MUST, transport: fw.HTTPStream, requires: hsCaps,
	requirement: "The path adds at most the declared latency budget (deploy.latency, --latency) to an HTTP stream's events (median over 5 events, compared with the origin when it is given, else publish to delivery).",
	quote:       budgetQuote, spec: budgetSpec, problems: budgetProblems,
	run: runBudget,
})
