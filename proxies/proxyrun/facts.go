package proxyrun

import "fmt"

// Problem kinds a proxy can cause to a realtime endpoint; keys for Remedy and the
// values NaiveBreaks returns.
const (
	// ProblemBuffering: the proxy holds response bytes (events arrive late or in batches).
	ProblemBuffering = "buffering"
	// ProblemIdleTimeout: the proxy cuts a stream, tunnel or held long-poll that sent no
	// byte for its idle timeout (a held long-poll gets 502/503/504).
	ProblemIdleTimeout = "idle-timeout"
	// ProblemWebSocketUpgrade: the WebSocket handshake does not get through (no 101).
	ProblemWebSocketUpgrade = "websocket-upgrade"
	// ProblemCaching: a stream or poll answer is cached and replayed to other clients.
	ProblemCaching = "caching"
	// ProblemCompression: compression holds bytes until its buffer fills or a flush.
	ProblemCompression = "compression"
	// ProblemHTTP10: the proxy speaks HTTP/1.0 to the upstream (no chunking, no upgrade).
	ProblemHTTP10 = "http10"
	// ProblemBadGateway: the proxy answers 502 (upstream unreachable or closed early).
	ProblemBadGateway = "bad-gateway"
	// ProblemCoalescing: identical concurrent requests wait behind the first one.
	ProblemCoalescing = "coalescing"
	// ProblemWriteDelay: small writes are held before they are sent (HAProxy without
	// http-no-delay: a response's first event ~200 ms late).
	ProblemWriteDelay = "write-delay"
	// ProblemStreamLifetime: a stream is cut after a total time, heartbeats or not.
	ProblemStreamLifetime = "stream-lifetime"
)

// Problems returns every problem kind Remedy knows.
func Problems() []string {
	return []string{ProblemBuffering, ProblemIdleTimeout, ProblemWebSocketUpgrade, ProblemCaching,
		ProblemCompression, ProblemHTTP10, ProblemBadGateway, ProblemCoalescing, ProblemWriteDelay,
		ProblemStreamLifetime}
}

// Fact is one default of a proxy that matters to realtime traffic, with its source and
// what each template does with it.
type Fact struct {
	Directive   string // e.g. "proxy_read_timeout"
	Default     string // e.g. "60s"
	Effect      string // what the default does to SSE, WebSocket or long-poll traffic
	Source      string // where the default is documented
	Naive       string // its value in the naive template ("Idle" = Options.Idle)
	Recommended string // its value in the recommended template ("StreamIdle" = Options.StreamIdle)
}

// Sources, as named in shared/notes/proxy-facts.md.
const (
	srcNginx   = "nginx.org docs, ngx_http_proxy_module (nginx/nginx.org xml @3924a7f8)"
	srcNginxWS = "nginx.org docs, websocket.html (nginx/nginx.org xml @3924a7f8)"
	srcHAProxy = "HAProxy doc/configuration.txt (@50872daa6)"
	srcVarnish = "varnish-cache vcl_var.rst, include/tbl/params.h (@27d2ce15b)"
	srcVarnWS  = "varnish-cache users-guide/vcl-example-websockets.rst (@27d2ce15b)"
	srcApache  = "httpd docs/manual mod_proxy.xml, core.xml (@0cb680442e)"
	srcCaddy   = "Caddy reverse_proxy docs; quoted in nginx/nginx#1505"
	srcMeasure = "measured with Debian 12's packages (shared/notes/proxy-facts.md)"
)

var facts = map[string][]Fact{
	"nginx": {
		{"proxy_read_timeout", "60s", "closes a stream, WebSocket or held long-poll (504) after that long without a byte from the upstream", srcNginx, "Idle", "StreamIdle"},
		{"proxy_buffering", "on", "buffers the response; with HTTP/1.0 upstream SSE bytes wait for ~4 KiB or the end; X-Accel-Buffering: no turns it off per response", srcNginx + "; nginx/nginx#1505", "on (default)", "off"},
		{"proxy_http_version", "1.0 before 1.29.7, 1.1 since", "HTTP/1.0 to the upstream: no chunked transfer, Connection: close, no WebSocket", srcNginx, "default", "1.1"},
		{"proxy_set_header Upgrade/Connection", "not set", "Upgrade is hop-by-hop and not passed to the upstream: the handshake gets 400", srcNginxWS, "not set", "$http_upgrade / map $connection_upgrade"},
		{"gzip_types", "text/html", "SSE is compressed only if text/event-stream or * is added; compression holds bytes until a flush", srcNginx, "gzip off (default)", "gzip off"},
	},
	"haproxy": {
		{"timeout client / timeout server", "none (infinite, with a warning); Debian's haproxy.cfg: 50s", "maximum inactivity time: cuts SSE, long-polls (504) and, without timeout tunnel, WebSockets", srcHAProxy, "Idle", "StreamIdle"},
		{"timeout tunnel", "not set", "once a connection is upgraded it supersedes client/server timeouts; unset, WebSockets get the client/server idle limit", srcHAProxy, "not set", "StreamIdle"},
		{"option http-no-delay", "off", "small writes may be held to merge them: a response's first SSE event arrives ~200 ms late", srcMeasure + "; this package's tests", "off", "on"},
	},
	"varnish": {
		{"first_byte_timeout", "60s", "a long-poll held longer gets 503", srcVarnish, "Idle", "StreamIdle"},
		{"between_bytes_timeout", "60s", "the backend must send a byte at least that often or the stream is cut (not for pipe)", srcVarnish, "Idle", "StreamIdle"},
		{"send_timeout", "600s", "total time of a response: an SSE stream is cut when it runs out, heartbeats or not", srcVarnish + "; " + srcMeasure, "600s (default)", "24h for Accept: text/event-stream (sess.send_timeout)"},
		{"pipe_timeout", "60s", "idle limit in both directions of a piped WebSocket", srcVarnish, "60s (no pipe)", "StreamIdle (-p pipe_timeout)"},
		{"built-in vcl_recv", "hash (cache) GETs, no pipe for upgrades", "WebSocket handshakes fail (400); responses without Cache-Control are cached (default_ttl 120s) and concurrent identical requests coalesce", srcVarnWS + "; " + srcMeasure, "built-in", "pipe upgrades, pass the rest"},
		{"beresp.do_stream", "true", "a fetched response is delivered while it arrives", srcVarnish, "true", "true"},
	},
	"apache": {
		{"Timeout / ProxyTimeout", "60 (Debian's apache2.conf: 300); ProxyTimeout defaults to Timeout", "cuts a stream, or a held long-poll (502 Proxy Error), after that long without a byte from the upstream", srcApache, "Idle", "StreamIdle"},
		{"ProxyPass upgrade=", "not set", "mod_proxy_http drops Upgrade: the WebSocket handshake gets 400", srcApache + "; " + srcMeasure, "not set", "upgrade=websocket"},
		{"ProxyPass flushpackets=", "off (flushwait=10ms)", "in effect only for mod_proxy_ajp and mod_proxy_fcgi: SSE from PHP-FPM arrives in batches", srcApache, "off", "on"},
	},
	"caddy": {
		{"flush_interval", "none; immediate for text/event-stream and unknown Content-Length", "other streaming types without chunking may be buffered", srcCaddy, "default", "-1"},
		{"transport http read_timeout", "none", "no idle limit on the upstream: nothing is cut, a dead upstream holds the client", srcCaddy, "none", "StreamIdle"},
		{"admin", "localhost:2019", "an admin endpoint on a fixed port (not behaviour under test)", srcCaddy + "; " + srcMeasure, "off", "off"},
	},
}

// Facts returns the defaults of the proxy that matter to realtime traffic, with their
// sources and the value each template sets (nil for an unknown proxy).
func Facts(name string) []Fact {
	return append([]Fact(nil), facts[name]...)
}

// naiveBreaks is what each naive config was observed to break by this package's tests,
// with Debian 12's packages (nginx 1.22, HAProxy 2.6, Varnish 7.1, Apache 2.4, Caddy 2.6).
var naiveBreaks = map[string][]string{
	"nginx":   {ProblemBuffering, ProblemHTTP10, ProblemWebSocketUpgrade, ProblemIdleTimeout},
	"haproxy": {ProblemWriteDelay, ProblemIdleTimeout},
	"varnish": {ProblemWebSocketUpgrade, ProblemCaching, ProblemCoalescing, ProblemIdleTimeout},
	"apache":  {ProblemWebSocketUpgrade, ProblemIdleTimeout},
	"caddy":   nil,
}

// NaiveBreaks returns the problems the proxy's naive config causes, as observed by this
// package's tests (the recommended configs cause none of them). nginx's buffering and
// http10 hold for nginx before 1.29.7, whose upstream default is HTTP/1.0.
func NaiveBreaks(name string) []string {
	return append([]string(nil), naiveBreaks[name]...)
}

var remedies = map[string]map[string]string{
	"nginx": {
		ProblemBuffering:        "nginx buffers the response (proxy_buffering on): send `X-Accel-Buffering: no` from the upstream, or set `proxy_buffering off;` (and `proxy_http_version 1.1;`) in the location",
		ProblemIdleTimeout:      "nginx closed the connection after proxy_read_timeout (default 60s) without a byte from the upstream: send heartbeats more often than that, hold long-polls for less, or raise `proxy_read_timeout` (and `proxy_send_timeout` for WebSocket) above the heartbeat",
		ProblemWebSocketUpgrade: "nginx does not pass the hop-by-hop Upgrade header: add `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;` with `map $http_upgrade $connection_upgrade { default upgrade; '' ''; }`",
		ProblemCaching:          "nginx proxy_cache stored a stream or poll answer: send `Cache-Control: no-store` from the upstream and do not set `proxy_ignore_headers Cache-Control`, or `proxy_cache off;` for the realtime location",
		ProblemCompression:      "nginx gzip holds bytes until a flush: keep text/event-stream out of `gzip_types`, or send `Cache-Control: no-transform` and flush per event",
		ProblemHTTP10:           "nginx speaks HTTP/1.0 to the upstream (the default before 1.29.7): set `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";` (or the Upgrade map)",
		ProblemBadGateway:       "nginx answered 502: the upstream refused or closed the connection; check the upstream address in proxy_pass and that the upstream does not close kept-alive connections nginx reuses (`keepalive_timeout` upstream longer than nginx's)",
	},
	"haproxy": {
		ProblemIdleTimeout:      "HAProxy cut the connection at `timeout server`/`timeout client` (no default; Debian ships 50s): raise both above the heartbeat and long-poll hold, and set `timeout tunnel` for WebSockets",
		ProblemWebSocketUpgrade: "HAProxy in `mode http` forwards upgrades itself: check that no `http-request` rule strips Upgrade/Connection, and set `timeout tunnel` so the tunnel is not cut at timeout client/server",
		ProblemWriteDelay:       "HAProxy delays small writes to merge them: add `option http-no-delay` to the frontend/backend (or defaults)",
		ProblemBuffering:        "HAProxy streams responses as they come unless a filter (compression, cache) buffers them: add `option http-no-delay` and keep text/event-stream out of `compression type`",
		ProblemCaching:          "HAProxy's cache stored the answer: send `Cache-Control: no-store` or do not `http-request cache-use` on realtime paths",
		ProblemCompression:      "HAProxy compression holds bytes: remove text/event-stream from `compression type`",
		ProblemHTTP10:           "HAProxy speaks HTTP/1.1 to servers; an HTTP/1.0 request comes from the client itself",
		ProblemBadGateway:       "HAProxy answered 502/503: the server is down or closed the connection (see `timeout connect`, health checks and `option http-server-close`)",
	},
	"varnish": {
		ProblemWebSocketUpgrade: "Varnish's built-in VCL does not pipe upgrades: in vcl_recv `if (req.http.upgrade ~ \"(?i)websocket\") { return (pipe); }` and in vcl_pipe copy `bereq.http.upgrade` and `bereq.http.connection`; raise `-p pipe_timeout` above the ping interval",
		ProblemCaching:          "Varnish cached the stream or poll answer: send `Cache-Control: no-store` (or no-cache/private) from the upstream, or `return (pass)` in vcl_recv for realtime paths",
		ProblemCoalescing:       "Varnish coalesces identical concurrent requests (waiting list): `return (pass)` in vcl_recv for long-poll and SSE paths",
		ProblemIdleTimeout:      "Varnish cut the fetch at `between_bytes_timeout` (or `first_byte_timeout` for a held long-poll; both 60s): send heartbeats more often, or raise them in the backend definition or with `set bereq.between_bytes_timeout`",
		ProblemStreamLifetime:   "Varnish's `send_timeout` (600s) bounds a response's total time: `set sess.send_timeout = 24h;` in vcl_recv for event streams, or let clients reconnect",
		ProblemBuffering:        "Varnish buffers when `beresp.do_stream` is false: keep it true (the default) and `return (pass)` for event streams",
		ProblemCompression:      "Varnish gzips when `beresp.do_gzip` is set: do not set it for text/event-stream",
		ProblemHTTP10:           "Varnish speaks HTTP/1.1 to backends; an HTTP/1.0 request comes from the client itself",
		ProblemBadGateway:       "Varnish answered 503 (backend fetch failed): the backend is down, closed early, or a timeout hit; see varnishlog",
	},
	"apache": {
		ProblemWebSocketUpgrade: "Apache's mod_proxy_http drops Upgrade unless told: add `upgrade=websocket` to the ProxyPass line (httpd >= 2.4.47), or use mod_proxy_wstunnel with a `ws://` ProxyPass",
		ProblemIdleTimeout:      "Apache cut the connection at ProxyTimeout (defaults to Timeout, 60s): raise `ProxyTimeout` (or ProxyPass `timeout=`) above the heartbeat and long-poll hold",
		ProblemBuffering:        "Apache batches proxied output for FastCGI/AJP backends: add `flushpackets=on` to the ProxyPass line; and keep mod_deflate off text/event-stream (`SetEnvIfNoCase Accept text/event-stream no-gzip`)",
		ProblemCompression:      "Apache mod_deflate holds bytes: `SetEnvIfNoCase Accept text/event-stream no-gzip` or send `Cache-Control: no-transform`",
		ProblemCaching:          "Apache mod_cache stored the answer: send `Cache-Control: no-store` or `CacheDisable` the realtime paths",
		ProblemHTTP10:           "Apache speaks HTTP/1.1 to the upstream unless `SetEnv force-proxy-request-1.0` is set: remove it",
		ProblemBadGateway:       "Apache answered 502: the upstream refused or closed the connection; check the ProxyPass address and ProxyTimeout",
	},
	"caddy": {
		ProblemBuffering:        "Caddy flushes text/event-stream at once; for other streaming types set `flush_interval -1` in reverse_proxy",
		ProblemCompression:      "Caddy's `encode` compresses the stream: exclude text/event-stream from it (a matcher on the encode directive)",
		ProblemIdleTimeout:      "Caddy has no default idle limit on a proxied response; a `transport http { read_timeout }` cut it: raise it above the heartbeat and long-poll hold",
		ProblemWebSocketUpgrade: "Caddy's reverse_proxy upgrades WebSockets by default: check that no header_up removes Upgrade/Connection",
		ProblemCaching:          "Caddy does not cache by default; a cache module stored the answer: send `Cache-Control: no-store`",
		ProblemHTTP10:           "Caddy speaks HTTP/1.1 (or 2) to the upstream; an HTTP/1.0 request comes from the client itself",
		ProblemBadGateway:       "Caddy answered 502: the upstream refused or closed the connection; check the reverse_proxy address",
	},
}

// Remedy returns the directive or response header that fixes the problem behind the
// named proxy, e.g. Remedy("nginx", "buffering"). For a problem with no proxy-specific
// remedy it says so, naming the proxy and the problem.
func Remedy(name, problem string) string {
	if r := remedies[name][problem]; r != "" {
		return r
	}
	if _, ok := facts[name]; !ok {
		return fmt.Sprintf("unknown proxy %q", name)
	}
	return fmt.Sprintf("%s: no known remedy for %q", name, problem)
}
