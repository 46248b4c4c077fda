// Package proxy is the proxy and CDN compatibility suite (checks PX-SSE-…, PX-WS-…,
// PX-LP-…): it puts real reverse proxies (nginx, HAProxy, Varnish, Apache httpd, Caddy,
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
// "proxy", "proxy:<name>", "config:<config>" (deployment: "proxy", "deployment"), so
//
//	rtconform run --config proxies/matrix.yaml --label-filter 'proxy && proxy:nginx'
//
// runs the nginx column. The suite is opt-in: a run whose label filter does not name
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
// The deployment cell talks to the target's url — a public URL that goes through the
// deployment's proxy or CDN — and compares with proxies.direct (the origin behind it) when
// the profile gives it; without it, checks judge absolute bounds and say so in a
// measurement. Its remedies name the directive for each common intermediary.
//
// # Time scaling
//
// Real idle limits are a minute or more (nginx proxy_read_timeout 60 s, Debian's HAProxy
// 50 s, Varnish between_bytes_timeout 60 s, Apache Timeout 60 s) and real heartbeats and
// holds are shorter than that (15–30 s). A check cannot wait minutes, so everything is
// scaled down together: the naive configs are rendered with proxies.idle (default 4 s) where
// the proxy's default idle limit stands, and proxies/matrix.yaml gives the in-process
// reference a heartbeat, WebSocket keepalive and long-poll hold of 6 s — longer than the
// 4 s idle, as a 30–60 s heartbeat outlasts a tutorial's `timeout server 30s`, so the naive
// configs cut what a real one would. The recommended configs use proxies.streamIdle (20 s
// there; default: enough for the declared heartbeat, keepalive and hold), which outlasts
// them. Idle checks wait 2 × proxies.idle. Against the default ginkgo.yaml (1 s heartbeat,
// 3 s hold) the naive configs survive: the target's keep-alives are then shorter than the
// proxies' idle limit, which is exactly the advice a failure gives.
//
// # Checks
//
//	check       level   what it catches                                   problem (proxyrun)
//	PX-SSE-001  SHOULD  headers / first byte later than 1 s               buffering
//	PX-SSE-002  MUST    an event later than 1 s (quantified: released     buffering
//	                    after N KiB, or when the stream ended)
//	PX-SSE-003  SHOULD  more than 100 ms added per event (median)         write-delay
//	PX-SSE-004  MUST    a heartbeating stream cut within 2 × idle         idle-timeout
//	PX-SSE-005  MUST    Last-Event-ID resume with a gap or duplicate      resume header, caching
//	PX-SSE-006  MUST    one of two concurrent identical streams starved   coalescing
//	PX-SSE-007  MUST    a resumed or new stream replays another's data    caching
//	PX-SSE-008  SHOULD  events later with Accept-Encoding: gzip           compression
//	PX-SSE-009  MUST    5xx or no 200 within 3 s once a restarted         bad-gateway
//	                    origin is back (a 5xx ends an EventSource)
//	PX-WS-001   MUST    no 101 / wrong Sec-WebSocket-Accept               websocket-upgrade
//	PX-WS-002   MUST    a server event later than 1 s                     buffering
//	PX-WS-003   MUST    an echo not back within 1 s                       buffering
//	PX-WS-004   MUST    a pinged WebSocket cut within 2 × idle            idle-timeout
//	PX-WS-005   MUST    the resume token lost                             resume token
//	PX-LP-001   MUST    a held empty poll cut (502/503/504), serialised   idle-timeout, coalescing,
//	                    behind an identical one, or not held at all       caching
//	PX-LP-002   MUST    a poll answer served from a cache                 caching
//	PX-LP-003   MUST    a held poll answered later than 1 s after the     coalescing
//	                    publish
//
// Delivery is timed from the publish to the arrival of the event at a client of its own
// (tap.go: the response is read in the background, so a proxy holding even the response
// headers is measured, and a gzip body is decoded as it arrives), and compared with the same
// events read directly from the origin at the same time.
//
// # Expected matrix
//
// The recommended configs pass every check. NaiveBreaks lists what each naive config fails
// against the reference with proxies/matrix.yaml, as observed with Debian 12's packages;
// TestProxyMatrix in cmd/rtconform runs the matrix and requires exactly that.
package proxy
