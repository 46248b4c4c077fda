package proxyrun

import (
	"github.com/rtconform/rtconform/proxies/cdn"
)

// Edge is a CDN-like edge: a stock proxy configured to reproduce a CDN's or load
// balancer's documented defaults (naive) and the settings that fix realtime traffic behind
// it (recommended). Its templates are in proxies/cdn; Start, Available, Facts, Remedy and
// NaiveBreaks take its Name like a proxy's.
type Edge struct {
	Name  string // proxyrun name, e.g. "cloudflare-like"
	Label string // the matrix label, e.g. "cdn:cloudflare-like"
	Kind  string // "cdn", "lb" or "router"
	Stock string // the proxy that runs it: one of Names()
	// Emulated lists the documented behaviours the stock proxy reproduces; NotEmulated
	// those it cannot (reported as NOT_EMULATED in proxies/README.md and by the suite).
	Emulated, NotEmulated []string
}

var edges = []Edge{
	{Name: "cloudflare-like", Label: "cdn:cloudflare-like", Kind: "cdn", Stock: "nginx",
		Emulated: []string{"Proxy Read Timeout 100 s answered 524 (scaled to proxies.idle)", "compression of text types",
			"no response buffering", "WebSockets passed", "no caching of HTML/JSON/streams"},
		NotEmulated: []string{"TLS and HTTP/2 to the client (issue 18 part 2)", "Proxy Write Timeout 30 s", "Proxy Idle Timeout 900 s"}},
	{Name: "fastly-like", Label: "cdn:fastly-like", Kind: "cdn", Stock: "varnish",
		Emulated: []string{"first-byte timeout 15 s (503)", "between-bytes timeout 10 s (both scaled to proxies.idle)",
			"no streaming miss (whole response buffered)", "fallback TTL 3600 s; no-cache/no-store ignored, private passed",
			"request collapsing", "no WebSocket"},
		NotEmulated: []string{"the 10 s / 15 s ratio (both timeouts are proxies.idle)", "shielding / clustering 60 s cap",
			"TLS and HTTP/2 to the client (issue 18 part 2)"}},
}

// Edges returns the CDN-like edges this package can run, in matrix order.
func Edges() []Edge { return append([]Edge(nil), edges...) }

// EdgeOf returns the edge named name (ok false for a stock proxy or an unknown name).
func EdgeOf(name string) (Edge, bool) {
	for _, e := range edges {
		if e.Name == name {
			return e, true
		}
	}
	return Edge{}, false
}

// EdgeNames returns the names of Edges().
func EdgeNames() []string {
	var out []string
	for _, e := range edges {
		out = append(out, e.Name)
	}
	return out
}

func init() {
	tmpl := map[string]map[string]string{
		"cloudflare-like": {Naive: cdn.CloudflareNaive, Recommended: cdn.CloudflareRecommended},
		"fastly-like":     {Naive: cdn.FastlyNaive, Recommended: cdn.FastlyRecommended},
	}
	for _, e := range edges {
		s := *specs[e.Stock]
		s.name = e.Name
		s.templates = tmpl[e.Name]
		specs[e.Name] = &s
	}
	for k, v := range edgeFacts {
		facts[k] = v
	}
	for k, v := range edgeRemedies {
		remedies[k] = v
	}
	for k, v := range edgeBreaks {
		naiveBreaks[k] = v
	}
}

// Sources of the edge facts (vendor documentation; see shared/notes/proxy-facts.md).
const (
	srcCFTimeouts = "Cloudflare docs, Connection limits (developers.cloudflare.com/fundamentals/reference/connection-limits/) and Error 524 (developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-524/)"
	srcCFAPI      = "Cloudflare API zone settings proxy_read_timeout (\"Maximum time between two read operations from origin\") and response_buffering (\"By default, the proxied server streams directly and is not buffered by Cloudflare\")"
	srcCFCompress = "Cloudflare docs, Content compression (developers.cloudflare.com/speed/optimization/content/compression/)"
	srcCFWS       = "Cloudflare docs, WebSockets (developers.cloudflare.com/network/websockets/)"
	srcFastlyStr  = "Fastly docs, beresp.do_stream (fastly.com/documentation/reference/vcl/variables/backend-response/beresp-do-stream) and Streaming Miss (docs.fastly.com/en/guides/streaming-miss)"
	srcFastlyTTL  = "Fastly docs, Controlling caching (docs.fastly.com/en/guides/controlling-caching: \"the TTL is 3600 seconds\") and About cache control headers (fastly.com/documentation/guides/full-site-delivery/caching/about-cache-control-headers: no-cache \"is ignored by Fastly\")"
	srcFastlyTO   = "Fastly docs, bereq.first_byte_timeout (15 s default) and bereq.between_bytes_timeout (10 s default)"
)

var edgeFacts = map[string][]Fact{
	"cloudflare-like": {
		{"Proxy Read Timeout", "100s (Enterprise: up to 6000s)", "a request with no response yet is answered 524; a stream or WebSocket silent that long is cut", srcCFTimeouts + "; " + srcCFAPI, "Idle (nginx proxy_read_timeout + error_page 504 → 524)", "StreamIdle"},
		{"Response Buffering", "off (streams directly)", "responses are streamed to the client as they arrive", srcCFAPI, "proxy_buffering off", "proxy_buffering off"},
		{"Compression", "gzip/brotli of text types", "text/event-stream is compressed; harmless only if flushed per event", srcCFCompress, "gzip on text types", "gzip on text types"},
		{"WebSockets", "on", "upgrades are passed to the origin", srcCFWS, "Upgrade passed", "Upgrade passed"},
	},
	"fastly-like": {
		{"bereq.first_byte_timeout", "15s", "a long-poll held longer gets 503", srcFastlyTO, "Idle", "StreamIdle"},
		{"bereq.between_bytes_timeout", "10s", "a stream silent that long ends", srcFastlyTO, "Idle", "StreamIdle"},
		{"beresp.do_stream (streaming miss)", "false", "the whole response is buffered before delivery: an event stream is held until it ends", srcFastlyStr, "false", "true"},
		{"fallback TTL", "3600s", "a cacheable answer without max-age is cached for an hour; Cache-Control no-cache and no-store do not prevent it, private does", srcFastlyTTL, "3600s", "return(pass)"},
		{"WebSockets", "off (needs the WebSockets feature and return(upgrade))", "the upgrade is not passed", "Fastly docs, WebSockets", "no pipe", "pipe (stands for return(upgrade))"},
	},
}

var edgeBreaks = map[string][]string{
	"cloudflare-like": {ProblemIdleTimeout},
	"fastly-like":     {ProblemBuffering, ProblemCaching, ProblemCoalescing, ProblemIdleTimeout, ProblemWebSocketUpgrade},
}

var edgeRemedies = map[string]map[string]string{
	"cloudflare-like": {
		ProblemIdleTimeout: "Cloudflare cuts a response silent for its Proxy Read Timeout (100 s) and answers a request still waiting with 524: " +
			"at the origin, send the first byte at once, a heartbeat/ping every 15-30 s and hold long-polls well under 100 s (e.g. 25 s); " +
			"at the CDN, raise the zone setting `proxy_read_timeout` (Enterprise, up to 6000 s)",
		ProblemCompression: "Cloudflare compresses text types: flush after each event (it then passes per event), or send `Cache-Control: no-transform` " +
			"at the origin, or a Compression Rule that disables compression for the realtime paths",
		ProblemBuffering: "Cloudflare streams by default: check that the zone's `response_buffering` setting (Enterprise) is off and no Worker or " +
			"cloudflared tunnel buffers the content type (cloudflared streams text/event-stream only)",
		ProblemWebSocketUpgrade: "enable WebSockets in the zone's Network settings (on by default)",
		ProblemCaching:          "a Cache Rule caches the realtime path: at the origin `Cache-Control: no-store`; at the CDN a Cache Rule with `Bypass cache` for it",
		ProblemBadGateway:       "Cloudflare answered 5xx for the origin (520-526): check the origin is reachable and answers within the Proxy Read Timeout",
	},
	"fastly-like": {
		ProblemBuffering: "Fastly buffers the whole response unless streaming miss is on: at the CDN `set beresp.do_stream = true;` in vcl_fetch " +
			"(Streaming Miss) and `return(pass)` for the realtime paths; at the origin nothing turns it off",
		ProblemCaching: "Fastly cached the answer for its fallback TTL (3600 s): no-cache and no-store do not stop it; at the origin send " +
			"`Cache-Control: private` (or `Surrogate-Control: max-age=0`); at the CDN `return(pass)` in vcl_recv for the realtime paths",
		ProblemCoalescing: "Fastly collapses identical concurrent requests: at the CDN `return(pass)` in vcl_recv for the realtime paths; at the origin `Cache-Control: private` (hit-for-pass)",
		ProblemIdleTimeout: "Fastly ends a fetch at its first-byte (15 s, 503) and between-bytes (10 s) timeouts: at the origin hold long-polls under 15 s " +
			"and send a heartbeat under 10 s; at the CDN raise `bereq.first_byte_timeout` / `bereq.between_bytes_timeout` (backend settings, up to 600 s)",
		ProblemWebSocketUpgrade: "Fastly passes no WebSocket by default: at the CDN enable WebSockets for the service and `return(upgrade)` in vcl_recv " +
			"for `Upgrade: websocket`; at the origin offer SSE or long-poll as a fallback",
		ProblemBadGateway: "Fastly answered 503 (backend fetch failed or a timeout hit): check the origin and the backend timeouts",
	},
}
