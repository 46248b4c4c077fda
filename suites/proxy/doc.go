// Package proxy is the proxy and CDN compatibility suite (checks PX-SSE-…, PX-WS-…,
// PX-LP-…, PX-HS-…): it puts real reverse proxies (nginx, HAProxy, Varnish, Apache httpd, Caddy,
// started by proxies/proxyrun) in front of the target, each with a naive and a recommended
// config, and checks what realtime traffic needs from an intermediary: first byte and
// per-event delivery without buffering, survival across the proxy's idle timeout, resume
// tokens passed through, WebSocket upgrade and both directions of frames, no caching or
// request coalescing, compression that does not hold events, long-polls not cut, and no
// lasting 502 after the origin restarts. Failures name the directive to change
// (proxyrun.Remedy).
//
// # Cells
//
// Every check is registered once per cell with the same ID: "<proxy>:<config>" for each
// proxy and config (nginx:naive, nginx:recommended, …) and "deployment". The labels are
// "proxy", "proxy:<name>", "config:<config>" (deployment: "proxy", "deployment"), and for a
// CDN-like edge (proxyrun.Edges()) also "edge", its kind ("cdn", "lb", "router") and its own
// label ("cdn:fastly-like", "lb:alb-like"), so
//
//	rtconform run --config proxies/matrix.yaml --label-filter 'proxy && proxy:nginx'
//
// runs the nginx column, 'proxy && cdn' the CDN-like cells and 'proxy && edge' every edge.
// The h2 cells ("nginx:naive:h2", h2.go) run the SSE, HTTP-stream and long-poll checks over HTTP/2 and TLS
// to the proxy; they are labelled "h2" and "h2:<name>" instead of "proxy:<name>". The suite is opt-in: a run whose label filter does not name
// "proxy" leaves it out. Which cells run is the profile's proxies.cells: the cells listed
// (a bare proxy name means both configs); when empty, every local cell when the target runs
// on this machine (the in-process reference or target.start), else the deployment cell.
//
// A local cell's proxy is started once per run (Run.Shared "proxy:<cell>") in front of the
// target's address, with its config and logs under <report dir>/proxies/<cell>/, and stopped
// at teardown. A missing proxy binary is a harness error carrying the install line, never a
// skip; a proxy that dies mid-run is a harness error with the tail of its logs. The checks
// talk to the proxy and compare with the origin itself (the target's own address).
//
// The deployment cell judges the path of a deployment (rtconform deploy, which runs only this
// cell of the suite): its clients use the public URL (deploy.public, else the target's url),
// which goes through the deployment's proxies or CDN, and compare with the origin behind it
// (deploy.origin, else proxies.direct); without an origin the checks judge absolute bounds and
// say so in a measurement. Its remedies name the directive for each common intermediary.
//
// # Causes and blocking
//
// Every failure names its root cause "<problem>:<transport>" with the proxyrun problem names
// (buffering:sse, websocket-upgrade:websocket, idle-timeout:longpoll, write-delay:sse, …;
// CauseKey): the key the wire suites' probes use for the same fault, so a PX failure and the
// wire checks it makes unjudgeable are one finding in the report. When the deployment cell
// establishes that the path buffers a transport or refuses the WebSocket upgrade, and the
// wire suites reach the server through that path (no origin given), it blocks the
// transport (Run.Block): its wire checks that start later are BLOCKED under that cause
// instead of each waiting out its timeout. Every PX check is bounded by the proxies' short
// idle window (proxies.idle + 3 s) on a broken path, not by its spec timeout.
//
// # Idle limits
//
// The idle checks (PX-SSE-004, PX-WS-004, PX-LP-001's hold) judge survival against the
// path's idle limit L. A local cell's L is proxies.idle, its config's rendered limit, and
// the checks wait out 2 × L. The deployment's L is deploy.idle (--idle), else proxies.idle
// when the profile sets it, else the default of the intermediary recognised in the response
// headers (Server: nginx → proxy_read_timeout 60 s; Via: varnish or X-Varnish → 60 s;
// Server: Apache → 60 s; Cf-Ray → Cloudflare 100 s; X-Amzn-* or awselb → AWS ALB 60 s;
// Via: 1.1 vegur → Heroku 55 s; Caddy → no idle limit; the shortest one when several show),
// else 50 s, the shortest common default (Debian's HAProxy `timeout server 50s`); the
// measurement says where L came from and how to declare it. When 2 × L is shorter than
// deploy.maxIdleWait (--max-idle-wait, default 2 min) the checks wait it out; otherwise they
// measure, through the public URL, the longest silence between received bytes (the SSE
// heartbeat, the WebSocket pings) over a bounded window (three gaps and twice the declared
// interval, or the max wait) and report the margin, "heartbeat 6.00 s < limit 60.00 s: safe
// by 10×", failing (idle-timeout) when the silence reaches L. A long-poll's hold is measured
// by the held poll itself and compared with L the same way; a declared hold longer than the
// max wait is compared without being waited out, and fails when it reaches L.
//
// # Latency
//
// PX-SSE-003 (SHOULD) warns when the path adds more than 100 ms per event, and says how to
// declare a budget. deploy.latency (--latency) declares the latency the path may add; the
// budget checks PX-SSE-010, PX-WS-006 and PX-LP-004 (MUST) judge the median added latency
// per transport against it (compared with the origin when it is given, else publish to
// delivery), and are NOT_SUPPORTED when no budget is declared. HAProxy without
// `option http-no-delay` (~200 ms per SSE event) fails PX-SSE-010 under a 100 ms budget.
//
// # What the intermediary changed
//
// The INFO checks PX-SSE-011 and PX-WS-007 compare the public URL with the origin and
// describe what the intermediary legitimately changed — response headers it consumed or
// added on an event stream (nginx consumes X-Accel-Buffering, adds Server), and WebSocket
// handshakes it normalises (a Connection header without Upgrade, an HTTP/1.0 request:
// refused by the origin, accepted through nginx's WebSocket recipe, which rewrites
// Connection and speaks HTTP/1.1 upstream). This is why the wire rules such changes affect
// (WS-HS-008, WS-HS-035, SSE-RESP-005) are judged on the origin. INFO checks measure; they
// never fail.
//
// # Time scaling
//
// Real idle limits are a minute or more (nginx proxy_read_timeout 60 s, Debian's HAProxy
// 50 s, Varnish between_bytes_timeout 60 s, Apache Timeout 60 s) and real heartbeats and
// holds are shorter than that (15–30 s). The local cells cannot wait minutes, so everything
// is scaled down together: the naive configs are rendered with proxies.idle (default 4 s)
// where the proxy's default idle limit stands, and proxies/matrix.yaml gives the in-process
// reference a heartbeat, WebSocket keepalive and long-poll hold of 6 s — longer than the
// 4 s idle, as a 30–60 s heartbeat outlasts a tutorial's `timeout server 30s`, so the naive
// configs cut what a real one would. The recommended configs use proxies.streamIdle (20 s
// there; default: enough for the declared heartbeat, keepalive and hold), which outlasts
// them. Against the default ginkgo.yaml (1 s heartbeat, 3 s hold) the naive configs
// survive: the target's keep-alives are then shorter than the proxies' idle limit, which is
// exactly the advice a failure gives.
//
// # Checks
//
//	check       level   what it catches                                   problem (proxyrun)
//	PX-SSE-001  SHOULD  headers / first byte later than 1 s               buffering
//	PX-SSE-002  MUST    an event later than 1 s (quantified: released     buffering
//	                    after N KiB, or when the stream ended)
//	PX-SSE-003  SHOULD  more than 100 ms added per event (median)         write-delay
//	PX-SSE-004  MUST    a heartbeating stream cut within 2 × the idle     idle-timeout
//	                    limit, or its heartbeat reaching the limit
//	PX-SSE-005  MUST    Last-Event-ID resume with a gap or duplicate      resume header, caching
//	PX-SSE-006  MUST    one of two concurrent identical streams starved   coalescing
//	PX-SSE-007  MUST    a resumed or new stream replays another's data    caching
//	PX-SSE-008  SHOULD  events later with Accept-Encoding: gzip           compression
//	PX-SSE-009  MUST    5xx or no 200 within 3 s once a restarted         bad-gateway
//	                    origin is back (a 5xx ends an EventSource)
//	PX-SSE-010  MUST    more added per event than deploy.latency          write-delay, buffering
//	                    (NOT_SUPPORTED without a declared budget)
//	PX-SSE-011  INFO    response headers the path consumed/added/changed  —
//	PX-WS-001   MUST    no 101 / wrong Sec-WebSocket-Accept               websocket-upgrade
//	PX-WS-002   MUST    a server event later than 1 s                     buffering
//	PX-WS-003   MUST    an echo not back within 1 s                       buffering
//	PX-WS-004   MUST    a pinged WebSocket cut within 2 × the idle        idle-timeout
//	                    limit, or its pings' silence reaching the limit
//	PX-WS-005   MUST    the resume token lost                             resume token
//	PX-WS-006   MUST    more added per event than deploy.latency          write-delay, buffering
//	PX-WS-007   INFO    handshakes the path normalises (Connection        —
//	                    without Upgrade, HTTP/1.0) that the origin refuses
//	PX-LP-001   MUST    a held empty poll cut (502/503/504), serialised   idle-timeout, coalescing,
//	                    behind an identical one, or not held at all;      caching
//	                    a hold reaching the idle limit
//	PX-LP-002   MUST    a poll answer served from a cache                 caching
//	PX-LP-003   MUST    a held poll answered later than 1 s after the     coalescing
//	                    publish
//	PX-LP-004   MUST    more added to a held poll's answer than           write-delay, buffering
//	                    deploy.latency
//	PX-HS-001   MUST    an HTTP stream's event later than 1 s             buffering
//	PX-HS-002   SHOULD  more than 100 ms added per event (median)         write-delay
//	PX-HS-003   MUST    a stream with keep-alive lines cut within 2 × the idle-timeout
//	                    idle limit, or its keep-alives reaching the limit
//	PX-HS-004   MUST    a resume (query or body) with a gap or duplicate  resume token, caching
//	PX-HS-005   MUST    one of two concurrent identical streams starved   coalescing
//	PX-HS-006   MUST    a resumed or new stream replays another's data    caching
//	PX-HS-007   SHOULD  events later with Accept-Encoding: gzip           compression
//	PX-HS-008   MUST    more added per event than deploy.latency          write-delay, buffering
//	PX-H2-001   MUST    (h2 cells only) 8 concurrent event streams not on h2-multiplexing,
//	                    one HTTP/2 connection, or an event later than 1 s buffering
//	PX-H2-002   INFO    the protocol a browser gets, and how many streams  —
//	                    it can hold to the origin (6 over HTTP/1.1,
//	                    SETTINGS_MAX_CONCURRENT_STREAMS over h2)
//	PX-H2-003   MUST    (h2 cells only) a connection-specific header field h2-connection-headers
//	                    (Connection, Keep-Alive, Proxy-Connection,
//	                    Transfer-Encoding, Upgrade) in an h2 response
//	PX-WS-008   MUST    (h2 cells only) WebSocket over HTTP/2 offered      h2-websocket,
//	                    (SETTINGS_ENABLE_CONNECT_PROTOCOL) but refused, or buffering
//	                    an event later than 1 s on it; not offered: the
//	                    HTTP/1.1 fallback is reported
//
// The deployment cell runs the h2-only checks too: over h2 when the public URL negotiates it
// (https, ALPN h2; the system's roots, SSL_CERT_FILE for a private CA), NOT_SUPPORTED otherwise
// (HTTP/1.1 at the edge is legitimate; PX-H2-002 says what it costs a browser).
//
// PX-SSE-005/007, PX-HS-004/006 and PX-LP-002 tell a lost resume token or cursor
// (resume-header) from a buffering or timing-out path: a resumed stream that got no byte is
// compared with a live stream opened through the path now (it delivers: the token was lost),
// and a poll held until the gateway's timeout with the origin's own answer to the same cursor
// (immediate: the cursor was lost, as behind CloudFront's default of forwarding no query).
//
// The PX-HS checks run the PX-SSE stream checks (002–008, 010) over the target's HTTP stream
// of JSON lines (target.httpstream), opened with its declared request and read through its
// envelope (httpstream.go says what is not carried over, and why).
//
// Delivery is timed from the publish to the arrival of the event at a client of its own
// (tap.go: the response is read in the background, so a proxy holding even the response
// headers is measured, and a gzip body is decoded as it arrives), and compared with the same
// events read directly from the origin at the same time.
//
// # Expected matrix
//
// The recommended configs pass every check (INFO checks INFO, budget checks NOT_SUPPORTED
// without a declared budget). NaiveBreaks lists what each naive config fails against the
// reference with proxies/matrix.yaml, as observed with Debian 12's packages, and NaiveCauses
// the cause key of each; TestProxyMatrix in cmd/rtconform runs the matrix and requires
// exactly that.
package proxy
