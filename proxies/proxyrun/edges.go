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
			"no response buffering", "WebSockets passed", "no caching of HTML/JSON/streams",
			"TLS and HTTP/2 to the client with Options.TLS (a CA and certificate made for the run)"},
		NotEmulated: []string{"RFC 8441 WebSocket over HTTP/2 as Cloudflare offers it (undocumented in the pages cited; this cell's nginx does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, so its h2 cell's PX-WS-008 shows browsers falling back to HTTP/1.1)", "Proxy Write Timeout 30 s", "Proxy Idle Timeout 900 s"}},
	{Name: "fastly-like", Label: "cdn:fastly-like", Kind: "cdn", Stock: "varnish",
		Emulated: []string{"first-byte timeout 15 s (503)", "between-bytes timeout 10 s (both scaled to proxies.idle)",
			"no streaming miss (whole response buffered)", "fallback TTL 3600 s; no-cache/no-store ignored, private passed",
			"request collapsing", "no WebSocket"},
		NotEmulated: []string{"the 10 s / 15 s ratio (both timeouts are proxies.idle)", "shielding / clustering 60 s cap",
			"TLS and HTTP/2 to the client (issue 18 part 2)"}},
	{Name: "cloudfront-like", Label: "cdn:cloudfront-like", Kind: "cdn", Stock: "nginx",
		Emulated: []string{"origin response timeout 30 s (first byte and between packets; 504; scaled to proxies.idle)",
			"origin keep-alive timeout 5 s (scaled)", "default TTL 86400 s for a response without Cache-Control/Expires; no-store, no-cache, private honoured",
			"query strings neither forwarded nor in the cache key", "viewer headers not forwarded (no origin request policy): Last-Event-ID, Sec-WebSocket-Key/-Version",
			"WebSocket enabled, but the handshake headers are not forwarded", "allowed methods GET, HEAD"},
		NotEmulated: []string{"HTTP/3 to the viewer (the h2 cells speak HTTP/2 over TLS)", "compression at the edge", "request collapsing",
			"a minimum TTL above 0 (no-store cached too; a minimum TTL of 0 is emulated)", "origin connection attempts (3) and retries",
			"response completion timeout"}},
	{Name: "alb-like", Label: "lb:alb-like", Kind: "lb", Stock: "haproxy",
		Emulated: []string{"idle timeout 60 s in both directions, WebSockets included (scaled to proxies.idle)",
			"504 for a target that does not respond within the idle timeout", "target connection timeout 10 s",
			"WebSockets passed", "no caching, no compression, no write delay",
			"HTTPS listener (h2 cells): HTTP/2 to the client, 128 concurrent streams per connection, WebSockets over HTTP/1.1 only"},
		NotEmulated: []string{"HTTP/2 PING frames do not reset the idle timeout (the h2 cells' HAProxy answers PINGs without touching its timeouts either, but nothing here sends them)",
			"client keep-alive duration 3600 s", "desync mitigation mode"}},
	{Name: "heroku-like", Label: "router:heroku-like", Kind: "router", Stock: "varnish",
		Emulated: []string{"30 s to the first response byte, else 503 (H12) (scaled to 30/55 of proxies.idle)",
			"55 s rolling window without a byte, then the connection is closed (H15) (scaled to proxies.idle)",
			"the same window for WebSockets, bytes in either direction (pipe_timeout)", "WebSockets passed", "no caching, no request collapsing"},
		NotEmulated: []string{"TLS and HTTP/2 to the client (issue 18 part 2)",
			"the router's queue/connect time counted in the 30 s window (here only the origin's time counts)",
			"the router's response buffering and request-body limits"}},
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
	edgeDefaults()
	tmpl := map[string]map[string]string{
		"cloudflare-like": {Naive: cdn.CloudflareNaive, Recommended: cdn.CloudflareRecommended},
		"fastly-like":     {Naive: cdn.FastlyNaive, Recommended: cdn.FastlyRecommended},
		"cloudfront-like": {Naive: cdn.CloudFrontNaive, Recommended: cdn.CloudFrontRecommended},
		"alb-like":        {Naive: cdn.ALBNaive, Recommended: cdn.ALBRecommended},
		"heroku-like":     {Naive: cdn.HerokuNaive, Recommended: cdn.HerokuRecommended},
	}
	for _, e := range edges {
		s := *specs[e.Stock]
		s.name = e.Name
		s.templates = tmpl[e.Name]
		if e.Name == "heroku-like" {
			// Heroku's rolling window applies to WebSockets too: pipe_timeout (a varnishd
			// parameter, not VCL) is the naive router's Idle as well (the stock Varnish
			// spec sets StreamIdle for recommended configs only).
			run := s.run
			s.run = func(d *data, variant string) []string {
				args := run(d, variant)
				if variant == Naive {
					args = append(args, "-p", "pipe_timeout="+itoa(d.Idle))
				}
				return args
			}
		}
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
	srcCFrTO      = "Amazon CloudFront API Reference, CustomOriginConfig/VpcOriginConfig OriginReadTimeout (\"also known as the origin response timeout ... the default ... is 30 seconds\") and OriginKeepaliveTimeout (\"the default ... is 5 seconds\"); CloudFront Developer Guide, HTTP 504 status code (Gateway Timeout): \"The origin didn't respond before the request expired\"; AWS What's New 2025-07 (the response timeout covers the first packet and each subsequent packet)"
	srcCFrTTL     = "Amazon CloudFront API Reference, CacheBehavior DefaultTTL (\"applies only when your origin does not add HTTP headers such as Cache-Control max-age, Cache-Control s-maxage, and Expires\") and CachePolicyConfig (\"If your minimum TTL is greater than 0, CloudFront will cache content ... even if the Cache-Control: no-cache, no-store, or private directives are present\"); default TTL 86400 s (repost.aws knowledge-center cloudfront-cache-files-time)"
	srcCFrFwd     = "Amazon CloudFront API Reference, ForwardedValues QueryString (\"If you specify false for QueryString, CloudFront doesn't forward any query string parameters to the origin, and doesn't cache based on query string parameters\") and CachePolicyQueryStringsConfig (none: \"No query strings in viewer requests are included in the cache key or in requests that CloudFront sends to the origin\")"
	srcCFrWS      = "CloudFront Developer Guide, Use WebSockets with CloudFront distributions (\"WebSocket functionality is automatically enabled ... To use WebSockets, configure ... Forward all viewer request headers ... AllViewer ... Or specifically forward the Sec-WebSocket-Key and Sec-WebSocket-Version request headers\")"
	srcALB        = "AWS ELB docs, Edit attributes for your Application Load Balancer (connection idle timeout: \"the period of time an existing client or target connection can remain inactive, with no data sent or received, before the load balancer closes the connection\"; \"By default, ELB sets the idle timeout value for your load balancer to 60 seconds\"; \"send at least 1 byte of data before each idle timeout period elapses\"), Listeners for your Application Load Balancers (\"Application Load Balancers provide native support for WebSockets\") and repost.aws knowledge-center eks-http-504-errors (504: \"the target didn't respond before the idle timeout period elapsed\")"
	srcHeroku     = "Heroku Dev Center, HTTP Routing (\"an initial 30 second window in which the app process must return at least some response data ... each byte sent ... resets a rolling 55 second window\"), Request Timeout (\"The timeout value is not configurable\"; H12 is answered 503) and WebSockets on Heroku (\"The normal Heroku HTTP routing timeout rules apply to WebSocket connections. Either client or server can prevent the connection from idling by sending an occasional ping packet\")"
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

// edgeDefaults adds the facts and remedies of cloudfront-like, alb-like and heroku-like (run
// by init before edgeFacts and edgeRemedies are merged).
func edgeDefaults() {
	edgeFacts["cloudfront-like"] = []Fact{
		{"origin response timeout (OriginReadTimeout)", "30s (1-180 s, more by quota)", "a request with no response yet is answered 504; a stream or WebSocket silent that long is cut", srcCFrTO, "Idle (nginx proxy_read_timeout)", "StreamIdle"},
		{"origin keep-alive timeout", "5s", "an idle connection to the origin is closed after 5 s (reuse only; streams are not affected)", srcCFrTO, "5 s scaled (upstream keepalive_timeout)", "the same"},
		{"default TTL", "86400s (a minimum TTL of 0 assumed)", "a 200 without Cache-Control max-age/s-maxage or Expires is cached for a day: a poll answer is replayed to later polls; no-store/no-cache/private are honoured when the minimum TTL is 0", srcCFrTTL, "proxy_cache_valid 24h", "no cache (CachingDisabled)"},
		{"query string forwarding and caching", "none", "cursor, resume and since queries never reach the origin, and are not in the cache key", srcCFrFwd, "stripped (rewrite ... ?)", "forwarded (AllViewer)"},
		{"WebSockets / origin request policy", "enabled, no origin request policy", "the origin gets the upgrade without Sec-WebSocket-Key and refuses it; Last-Event-ID is not forwarded either", srcCFrWS, "viewer headers dropped", "all viewer headers (AllViewer)"},
	}
	edgeFacts["alb-like"] = []Fact{
		{"idle_timeout.timeout_seconds", "60s (1-4000 s)", "a stream or WebSocket with no byte for that long is closed; a target that has not answered gets 504", srcALB, "Idle (HAProxy timeout client/server/tunnel)", "StreamIdle"},
		{"WebSockets", "supported", "upgrades are passed; the idle timeout applies to them", srcALB, "passed", "passed"},
	}
	edgeFacts["heroku-like"] = []Fact{
		{"initial response window", "30s (not configurable)", "a request with no response data yet is answered 503 (H12): a long-poll must be answered within it", srcHeroku, "30/55 of Idle (Varnish first_byte_timeout)", "30/55 of StreamIdle (stands for the origin's fix)"},
		{"rolling window", "55s (not configurable)", "a response or WebSocket with no byte for 55 s is closed (H15)", srcHeroku, "Idle (between_bytes_timeout, pipe_timeout)", "StreamIdle (stands for the origin's fix)"},
		{"WebSockets", "supported", "upgrades are passed, with the same windows", srcHeroku, "pipe", "pipe"},
	}
	edgeRemedies["cloudfront-like"] = map[string]string{
		ProblemIdleTimeout: "CloudFront waits at most its origin response timeout (30 s) for the first byte and between packets, then answers 504 or cuts the stream: " +
			"at the origin, send the headers at once, a heartbeat/ping every 10-20 s and hold long-polls under 30 s (e.g. 20 s); " +
			"at the CDN, raise the origin's `Response timeout` (OriginReadTimeout, up to 180 s; more by quota). " +
			"A poll that should have been answered at once but was held until the 504 lost its cursor: CloudFront forwards no query string by default " +
			"(attach the origin request policy `AllViewer`, or one that forwards the cursor query)",
		ProblemCaching: "CloudFront caches a 200 without Cache-Control for its default TTL (86400 s): at the origin send `Cache-Control: no-store` " +
			"(or no-cache/private; honoured with a minimum TTL of 0) on streams and polls; at the CDN use the managed cache policy `CachingDisabled` for the realtime paths",
		ProblemResumeHeaderEdge: "CloudFront forwards no query string and no viewer header by default: at the CDN attach the managed origin request policy `AllViewer` " +
			"(or one forwarding the cursor/resume query strings and Last-Event-ID) with the cache policy `CachingDisabled`; at the origin, carry the cursor in the path",
		ProblemWebSocketUpgrade: "CloudFront enables WebSockets but forwards Sec-WebSocket-Key and Sec-WebSocket-Version only when told: at the CDN attach the managed origin " +
			"request policy `AllViewer` (or forward those two headers) to the WebSocket path; at the origin nothing fixes it",
		ProblemBuffering: "a resumed stream that gets nothing behind CloudFront lost its resume token: by default CloudFront forwards neither the query string " +
			"(`since`, `lastEventId`) nor viewer headers (Last-Event-ID); at the CDN attach the origin request policy `AllViewer` (or one forwarding them) with the " +
			"cache policy `CachingDisabled`; otherwise check that no Lambda@Edge/CloudFront Function reads the body",
		ProblemBadGateway: "CloudFront answered 5xx for the origin (502 cannot connect, 504 origin response timeout): check the origin and its Response timeout; a 403 is a method outside the allowed methods (GET, HEAD by default)",
		ProblemCoalescing: "CloudFront collapses simultaneous requests for the same cacheable object: at the CDN `CachingDisabled` for the realtime paths; at the origin `Cache-Control: no-store`",
	}
	edgeRemedies["alb-like"] = map[string]string{
		ProblemIdleTimeout: "the ALB closes a connection with no byte for its idle timeout (60 s) and answers 504 for a target that has not responded: " +
			"at the origin, send a heartbeat/ping every 15-30 s and hold long-polls well under 60 s (e.g. 25 s); at the load balancer, raise the attribute " +
			"`idle_timeout.timeout_seconds` (1-4000 s) above the heartbeat and hold; HTTP/2 PING frames do not count",
		ProblemWebSocketUpgrade: "ALBs pass WebSocket upgrades natively: check the listener rule routes the path to the target group and no header rewrite drops Upgrade",
		ProblemBadGateway:       "the ALB answered 502/503/504 for the target: check the target group's health, that the target's keep-alive timeout is longer than the ALB's idle timeout, and the idle timeout itself",
	}
	edgeRemedies["heroku-like"] = map[string]string{
		ProblemIdleTimeout: "Heroku's router answers 503 (H12) when no response data arrives within 30 s, and closes a response or WebSocket with no byte for 55 s (H15); " +
			"at the router: nothing, both windows are not configurable (no Heroku setting raises them); at the origin: send the headers (a first byte) at once, answer or end long-polls within 25 s, " +
			"and send an SSE heartbeat / keep-alive line / WebSocket ping every 25 s or less",
		ProblemBadGateway:       "Heroku's router answered 503 (H12 request timeout or a crashed dyno, H10/H13): check `heroku logs` for the code; answer within 30 s",
		ProblemWebSocketUpgrade: "Heroku passes WebSocket upgrades: check that the app answers the upgrade itself (and within the 30 s window)",
	}
}

// ProblemResumeHeaderEdge is the proxy suite's "resume-header" cause (a resume token or cursor
// that does not reach the origin): Remedy(edge, ProblemResumeHeaderEdge) names the edge's
// setting for the edges whose defaults drop query strings and headers (cloudfront-like).
const ProblemResumeHeaderEdge = "resume-header"

var edgeBreaks = map[string][]string{
	"cloudflare-like": {ProblemIdleTimeout},
	"fastly-like":     {ProblemBuffering, ProblemCaching, ProblemCoalescing, ProblemIdleTimeout, ProblemWebSocketUpgrade},
	"cloudfront-like": {ProblemIdleTimeout, ProblemWebSocketUpgrade, ProblemCaching},
	"alb-like":        {ProblemIdleTimeout},
	"heroku-like":     {ProblemIdleTimeout},
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
