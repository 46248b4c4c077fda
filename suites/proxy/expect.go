package proxy

import "github.com/rtconform/rtconform/proxies/proxyrun"

// NaiveBreaks lists, per proxy, the checks its naive config fails (FAIL, or WARN for the
// SHOULD check PX-SSE-003) against the reference with proxies/matrix.yaml (idle 4 s;
// heartbeat, HTTP stream keep-alive, WebSocket keepalive and long-poll hold 6 s), as observed with Debian 12's
// packages (nginx 1.22.1, HAProxy 2.6.12, Varnish 7.1.1, Apache 2.4.71, Caddy 2.6.2). The
// recommended configs fail none. TestProxyMatrix (cmd/rtconform) requires exactly this.
//
//	nginx    PX-SSE-004, PX-HS-003 stream cut 4.0 s after its last byte; PX-LP-001 504 after
//	         4.0 s; PX-WS-001…005 handshake answered 426 by the origin (Upgrade not passed)
//	haproxy  PX-SSE-003, PX-HS-002 every event ~200 ms late (headers too); PX-SSE-004,
//	         PX-HS-003 cut after 4.0 s; PX-WS-004 tunnel cut after 4.0 s (no timeout tunnel);
//	         PX-LP-001 504 after 4.0 s
//	varnish  PX-SSE-004, PX-HS-003 cut after ~4.1 s; PX-LP-001 503 after 4.0 s;
//	         PX-WS-001…005 426 (no pipe)
//	apache   PX-SSE-004, PX-HS-003 cut after 4.0 s; PX-LP-001 502 after 4.0 s; PX-WS-001…005 426
//	caddy    nothing (it flushes a response of unknown length as it arrives: the NDJSON
//	         stream is not buffered either)
var NaiveBreaks = map[string][]string{
	"nginx":   {"PX-SSE-004", "PX-HS-003", "PX-LP-001", "PX-WS-001", "PX-WS-002", "PX-WS-003", "PX-WS-004", "PX-WS-005"},
	"haproxy": {"PX-SSE-003", "PX-SSE-004", "PX-HS-002", "PX-HS-003", "PX-LP-001", "PX-WS-004"},
	"varnish": {"PX-SSE-004", "PX-HS-003", "PX-LP-001", "PX-WS-001", "PX-WS-002", "PX-WS-003", "PX-WS-004", "PX-WS-005"},
	"apache":  {"PX-SSE-004", "PX-HS-003", "PX-LP-001", "PX-WS-001", "PX-WS-002", "PX-WS-003", "PX-WS-004", "PX-WS-005"},
	"caddy":   nil,
}

// NaiveCauses is the cause key ("<problem>:<transport>", see CauseKey) each check of
// NaiveBreaks reports for the proxy's naive config: the key its failure groups under in the
// report, and the key the wire suites' probes use for the same fault.
var NaiveCauses = map[string]map[string]string{
	"nginx": {"PX-SSE-004": "idle-timeout:sse", "PX-HS-003": hsIdle, "PX-LP-001": "idle-timeout:longpoll", "PX-WS-001": wsRefused,
		"PX-WS-002": wsRefused, "PX-WS-003": wsRefused, "PX-WS-004": wsRefused, "PX-WS-005": wsRefused},
	"haproxy": {"PX-SSE-003": "write-delay:sse", "PX-SSE-004": "idle-timeout:sse", "PX-LP-001": "idle-timeout:longpoll",
		"PX-HS-002": "write-delay:httpstream", "PX-HS-003": hsIdle,
		"PX-WS-004": "idle-timeout:websocket"},
	"varnish": {"PX-SSE-004": "idle-timeout:sse", "PX-HS-003": hsIdle, "PX-LP-001": "idle-timeout:longpoll", "PX-WS-001": wsRefused,
		"PX-WS-002": wsRefused, "PX-WS-003": wsRefused, "PX-WS-004": wsRefused, "PX-WS-005": wsRefused},
	"apache": {"PX-SSE-004": "idle-timeout:sse", "PX-HS-003": hsIdle, "PX-LP-001": "idle-timeout:longpoll", "PX-WS-001": wsRefused,
		"PX-WS-002": wsRefused, "PX-WS-003": wsRefused, "PX-WS-004": wsRefused, "PX-WS-005": wsRefused},
	"caddy": {},
}

// hsIdle is the cause of an HTTP stream cut at the idle limit.
const hsIdle = "idle-timeout:httpstream"

// wsRefused is the cause of every WebSocket check behind a config that does not pass the
// upgrade: the handshake itself is refused (426 from the origin).
const wsRefused = "websocket-upgrade:websocket"

// Budgets are the latency budget checks: NOT_SUPPORTED unless deploy.latency (--latency)
// declares the latency the path may add.
var Budgets = []string{"PX-SSE-010", "PX-WS-006", "PX-LP-004", "PX-HS-008"}

// NotObserved names the problems proxyrun.NaiveBreaks reports for a naive config that the
// reference does not run into, and why; every other reported problem is caught by a check
// in NaiveBreaks.
var NotObserved = map[string]map[string]string{
	"nginx": {
		proxyrun.ProblemBuffering: "the reference sends X-Accel-Buffering: no, which nginx honours even with its HTTP/1.0 upstream; " +
			"behind an origin without it PX-SSE-001 and PX-SSE-002 fail (TestProxyMatrix/deployment-nginx)",
		proxyrun.ProblemHTTP10: "HTTP/1.0 to the upstream shows only as the buffering above (and the lost Upgrade, PX-WS-001)",
	},
	"varnish": {
		proxyrun.ProblemCaching: "the reference's streams and polls are Cache-Control: no-cache / no-store, so the built-in VCL does not cache them; " +
			"behind an origin without Cache-Control PX-SSE-007 and PX-LP-002 fail (TestProxyMatrix/deployment-varnish)",
		proxyrun.ProblemCoalescing: "the reference's answers are uncacheable, so concurrent identical polls are not serialised (PX-LP-001: both 503 at 4.0 s)",
	},
	"cloudfront-like": {
		proxyrun.ProblemCaching: "CloudFront honours no-store with a minimum TTL of 0, and the reference's polls and streams are no-store / no-cache; " +
			"behind an origin without Cache-Control a poll answer is cached for the 24 h default TTL (TestProxyMatrix/cloudfront-like-ttl)",
	},
}

// Edge naive cells (CDN-like edges, proxyrun.Edges()), measured with proxies/matrix.yaml
// (idle 4 s standing for the CDN's timeout; the recommended edges fail nothing):
//
//	cloudflare-like  PX-SSE-004, PX-HS-003, PX-WS-004 cut after 4 s (Proxy Read Timeout);
//	                 PX-LP-001 a held poll answered 524
//	fastly-like      no streaming miss: SSE and the HTTP stream are held until the fetch ends,
//	                 and it ends at the between-bytes timeout as a 503 (bad-gateway); the
//	                 reference's no-store poll answer is cached (Fastly ignores no-store:
//	                 PX-LP-002); request collapsing (PX-SSE-006, PX-HS-005); no WebSocket
//	cloudfront-like  PX-SSE-004, PX-HS-003 cut at 4.0 s and PX-LP-001 504 (origin response
//	                 timeout); no query string and no viewer header reach the origin: a resumed
//	                 SSE stream gets nothing (PX-SSE-005, PX-SSE-007), a resumed HTTP stream gets
//	                 no byte while a live one through the edge delivers (PX-HS-004, PX-HS-006),
//	                 the poll from a cursor is a cursor-less poll held until the 504 while the
//	                 origin answers that cursor at once (PX-LP-002): all resume-header; the
//	                 WebSocket handshake reaches the origin without Sec-WebSocket-Key (426:
//	                 PX-WS-001…005). The reference's no-store answers are not cached (CloudFront
//	                 honours no-store); the caching of an answer without Cache-Control is judged
//	                 by TestProxyMatrix/cloudfront-like-ttl
//	alb-like         PX-SSE-004, PX-HS-003, PX-WS-004 closed 4.0 s after the last byte (idle
//	                 timeout, WebSocket tunnel included); PX-LP-001 a held poll answered 504
//	heroku-like      PX-SSE-004, PX-HS-003, PX-WS-004 closed ~4.2 s after the last byte (the
//	                 rolling window; pipe_timeout for the WebSocket); PX-LP-001 a held poll
//	                 answered 503 (H12) after 2.2 s (the first-byte window, 30/55 of idle)
func init() {
	NaiveBreaks["cloudflare-like"] = []string{"PX-SSE-004", "PX-HS-003", "PX-LP-001", "PX-WS-004"}
	NaiveCauses["cloudflare-like"] = map[string]string{"PX-SSE-004": "idle-timeout:sse", "PX-HS-003": hsIdle,
		"PX-LP-001": "idle-timeout:longpoll", "PX-WS-004": "idle-timeout:websocket"}
	NaiveBreaks["fastly-like"] = []string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-004", "PX-SSE-005", "PX-SSE-006", "PX-SSE-007", "PX-SSE-008",
		"PX-HS-001", "PX-HS-003", "PX-HS-004", "PX-HS-005", "PX-HS-006", "PX-HS-007", "PX-LP-001", "PX-LP-002",
		"PX-WS-001", "PX-WS-002", "PX-WS-003", "PX-WS-004", "PX-WS-005"}
	NaiveCauses["fastly-like"] = map[string]string{
		"PX-SSE-001": "bad-gateway:sse", "PX-SSE-002": "buffering:sse", "PX-SSE-004": "bad-gateway:sse", "PX-SSE-005": "bad-gateway:sse",
		"PX-SSE-006": "coalescing:sse", "PX-SSE-007": "resume-header:sse", "PX-SSE-008": "bad-gateway:sse",
		"PX-HS-001": "buffering:httpstream", "PX-HS-003": "bad-gateway:httpstream", "PX-HS-004": "bad-gateway:httpstream",
		"PX-HS-005": "coalescing:httpstream", "PX-HS-006": "resume-header:httpstream", "PX-HS-007": "bad-gateway:httpstream",
		"PX-LP-001": "idle-timeout:longpoll", "PX-LP-002": "caching:longpoll",
		"PX-WS-001": wsRefused, "PX-WS-002": wsRefused, "PX-WS-003": wsRefused, "PX-WS-004": wsRefused, "PX-WS-005": wsRefused,
		"PX-H2-001": "buffering:sse"} // its h2 cell: the 8 streams hold their events too
	NaiveBreaks["cloudfront-like"] = []string{"PX-SSE-004", "PX-SSE-005", "PX-SSE-007", "PX-HS-003", "PX-HS-004", "PX-HS-006",
		"PX-LP-001", "PX-LP-002", "PX-WS-001", "PX-WS-002", "PX-WS-003", "PX-WS-004", "PX-WS-005"}
	NaiveCauses["cloudfront-like"] = map[string]string{
		"PX-SSE-004": "idle-timeout:sse", "PX-SSE-005": "resume-header:sse", "PX-SSE-007": "resume-header:sse",
		"PX-HS-003": hsIdle, "PX-HS-004": "resume-header:httpstream", "PX-HS-006": "resume-header:httpstream",
		"PX-LP-001": "idle-timeout:longpoll", "PX-LP-002": "resume-header:longpoll",
		"PX-WS-001": wsRefused, "PX-WS-002": wsRefused, "PX-WS-003": wsRefused, "PX-WS-004": wsRefused, "PX-WS-005": wsRefused}
	for _, edge := range []string{"alb-like", "heroku-like"} {
		NaiveBreaks[edge] = []string{"PX-SSE-004", "PX-HS-003", "PX-LP-001", "PX-WS-004"}
		NaiveCauses[edge] = map[string]string{"PX-SSE-004": "idle-timeout:sse", "PX-HS-003": hsIdle,
			"PX-LP-001": "idle-timeout:longpoll", "PX-WS-004": "idle-timeout:websocket"}
	}
}
