package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// Deployment is the cell of a remote target: the checks run end to end against the
// profile's url, which is expected to go through the deployment's proxy or CDN.
const Deployment = "deployment"

// Cells returns every cell the suite registers, in order: "<proxy>:<config>" for each proxy
// of proxyrun.Names() and each config of proxyrun.Variants(), then the CDN-like edges'
// "<edge>:<config>" (proxyrun.EdgeNames(), e.g. "fastly-like:naive"), then the h2 cells
// ("nginx:naive:h2", see h2.go), then Deployment.
func Cells() []string {
	var out []string
	for _, n := range append(proxyrun.Names(), proxyrun.EdgeNames()...) {
		for _, v := range proxyrun.Variants() {
			out = append(out, n+":"+v)
		}
	}
	out = append(out, h2Cells()...)
	return append(out, Deployment)
}

// Every edge cell carries what its stock proxy does not emulate of the edge's documented
// behaviour (proxyrun.Edge.NotEmulated): the reports print it under the cell's row as
// NOT_EMULATED, so a PASS is not read as a verdict on those behaviours. Every local cell
// registers its protocol, the matrix's protocol column.
var _ = func() bool {
	for _, cell := range Cells() {
		name, _ := splitCell(cell)
		if e, ok := proxyrun.EdgeOf(name); ok {
			fw.RegisterNotEmulated(cell, e.NotEmulated)
		}
		switch {
		case IsH2(cell):
			fw.RegisterCellProtocol(cell, "h2")
		case cell != Deployment: // the deployment's is what its URL negotiates (PX-H2-002)
			fw.RegisterCellProtocol(cell, "http/1.1")
		}
	}
	return true
}()

// cellLabels are a cell's labels: "proxy", "proxy:<name>", "config:<variant>", and for a
// CDN-like edge also "edge", its kind ("cdn", "lb" or "router") and its own label
// ("cdn:fastly-like", "lb:alb-like"), so 'proxy && cdn' selects the CDNs, 'proxy && edge'
// every edge (load balancers and routers too) and 'proxy && !edge' the stock proxies only.
func cellLabels(cell string) []string {
	name, variant := splitCell(cell)
	if name == "" {
		return []string{"proxy", Deployment}
	}
	labels := []string{"proxy", "proxy:" + name, "config:" + variant}
	if IsH2(cell) {
		labels = []string{"proxy", H2, H2 + ":" + name, "config:" + variant}
	}
	if e, ok := proxyrun.EdgeOf(name); ok {
		labels = append(labels, EdgeLabel, e.Kind, e.Label)
	}
	return labels
}

// EdgeLabel is the label of every CDN-like edge cell (CDNs, load balancers, routers).
const EdgeLabel = "edge"

// splitCell returns the proxy and config of a local cell ("", "" for Deployment).
func splitCell(cell string) (name, variant string) {
	name, variant, _ = strings.Cut(strings.TrimSuffix(cell, ":"+H2), ":")
	if cell == Deployment {
		return "", ""
	}
	return name, variant
}

// check is one PX check, registered once per cell with the same ID.
type check struct {
	id          string
	level       fw.Level
	transport   fw.Transport
	requirement string
	quote       string
	spec        string
	requires    []fw.Capability
	timeout     time.Duration
	// serial: the check measures latency (a budget, the delay a proxy adds) and is judged
	// alone, so the other checks' load does not show up as the proxy's delay.
	serial bool
	// problems are the proxyrun problem kinds the check detects; its failure remedies name
	// them (the first is the default).
	problems []string
	// h2only: registered in the h2 cells only (an HTTP/2 specific).
	h2only bool
	run    func(e *env)
}

// detects maps a check ID to the problems it detects (see check.problems).
var detects = map[string][]string{}

// h2Only holds the IDs of the checks registered in the h2 cells only (check.h2only).
var h2Only = map[string]bool{}

// register declares c for every cell; use it as `var _ = register(check{…})`.
func register(c check) bool {
	if c.timeout == 0 {
		c.timeout = 90 * time.Second
	}
	detects[c.id] = c.problems
	if c.h2only {
		h2Only[c.id] = true
	}
	for _, cell := range Cells() {
		if (IsH2(cell) && !slices.Contains(H2Checks, c.id)) || (c.h2only && !IsH2(cell) && cell != Deployment) {
			continue
		}
		labels := cellLabels(cell)
		fw.Register(fw.Check{
			ID: c.id, Level: c.level, Transport: c.transport, Requires: c.requires,
			Requirement: c.requirement, Quote: c.quote, Spec: c.spec, Timeout: c.timeout,
			Serial: c.serial, Cell: cell, Labels: labels, Enabled: enabled(cell),
			Run: func(t *fw.T) {
				e := newEnv(t, cell, c.problems, c.h2only)
				c.run(e)
				e.alive()
			},
		})
	}
	return true
}

// enabled implements the profile's cell selection (proxies.cells): a local cell runs when
// the list names it or its proxy, or, with an empty list, when the target is local; the
// deployment cell runs for a remote target when the list is empty or names "deployment".
func enabled(cell string) func(r *fw.Run) bool {
	return func(r *fw.Run) bool {
		cells := r.Profile.Proxies.Cells
		if r.Deploying() { // rtconform deploy: the deployment cell only
			return cell == Deployment
		}
		if cell == Deployment {
			return !local(r) && (len(cells) == 0 || slices.Contains(cells, Deployment))
		}
		if len(cells) == 0 {
			return local(r)
		}
		if IsH2(cell) {
			return slices.Contains(cells, cell) || slices.Contains(cells, H2)
		}
		name, _ := splitCell(cell)
		return slices.Contains(cells, cell) || slices.Contains(cells, name)
	}
}

// local reports whether the target runs on this machine under the run's control: started by
// target.start, or the in-process reference.
func local(r *fw.Run) bool {
	return r.InProcess || r.Profile.Target.Start != nil
}

// env is what a PX check works with: where its clients connect, the origin to compare with,
// and the proxy in between.
type env struct {
	t             *fw.T
	cell          string
	proxy, config string             // "" for the deployment cell
	h2            bool               // an h2 cell: HTTP/2 over TLS to the proxy
	inst          *proxyrun.Instance // nil for the deployment cell
	// base is the URL the check's clients use: the proxy's, or the deployment's url.
	base string
	// direct is the origin without the proxy ("" when the deployment declares no
	// proxies.direct): delivery through base is compared with delivery from it.
	direct   string
	problems []string
	// trace, when set, is attached to the requests of the taps opened meanwhile.
	trace *httptrace.ClientTrace
}

// newEnv prepares a check in cell; h2 says the check speaks HTTP/2 (check.h2only), which in
// the deployment cell needs a public URL that negotiates h2.
func newEnv(t *fw.T, cell string, problems []string, h2 bool) *env {
	e := &env{t: t, cell: cell, problems: problems}
	e.proxy, e.config = splitCell(cell)
	if e.proxy == "" {
		// A deployment: clients use the public URL (deploy.public, else the target's url);
		// the origin behind it is deploy.origin or proxies.direct.
		e.base = t.Run.PublicURL()
		e.direct = t.Run.OriginURL()
		if e.h2 = h2; h2 {
			e.negotiated()
		}
		return e
	}
	e.h2 = IsH2(cell)
	e.inst = instance(t, cell)
	e.base, e.direct = e.inst.URL(), t.Run.BaseURL
	e.alive()
	if e.h2 {
		e.negotiated()
	}
	return e
}

// idle is the proxies' short idle timeout (proxies.idle, default proxyrun.DefaultIdle).
func idle(r *fw.Run) time.Duration {
	if d := r.Profile.Proxies.Idle.D(); d > 0 {
		return d
	}
	return proxyrun.DefaultIdle
}

// streamIdle is the recommended configs' stream timeout: proxies.streamIdle, else enough
// for every keep-alive and hold the target declares (3× the SSE and HTTP stream heartbeats
// and the WebSocket keepalive, 2× the long-poll hold, 2× idle).
func streamIdle(r *fw.Run) time.Duration {
	if d := r.Profile.Proxies.StreamIdle.D(); d > 0 {
		return d
	}
	t := r.Profile.Target
	d := 2 * idle(r)
	if t.SSE != nil {
		d = max(d, 3*t.SSE.Heartbeat.D())
	}
	if t.WebSocket != nil {
		d = max(d, 3*t.WebSocket.Keepalive.D())
	}
	if t.LongPoll != nil {
		d = max(d, 2*t.LongPoll.Timeout.D())
	}
	return max(d, 3*streamHeartbeat(t))
}

// streamHeartbeat is the longest keep-alive interval of the target's streams (SSE and the
// HTTP stream; 0: none declared): what the configs' comments and idle limits are sized for.
func streamHeartbeat(t fw.Target) time.Duration {
	var hb time.Duration
	if t.SSE != nil {
		hb = t.SSE.Heartbeat.D()
	}
	if t.HTTPStream != nil {
		hb = max(hb, t.HTTPStream.Heartbeat.D())
	}
	return hb
}

// instance returns the cell's proxy, started on first use and stopped at the run's teardown.
// A proxy that cannot start (binary missing: the error carries the install line) is a
// harness error of every check of the cell.
func instance(t *fw.T, cell string) *proxyrun.Instance {
	name, variant := splitCell(cell)
	r := t.Run
	v, err := r.Shared("proxy:"+cell, func() (any, func(), error) {
		if err := proxyrun.Available(name); err != nil {
			return nil, nil, fmt.Errorf("%w (every proxy: %s)", err, proxyrun.InstallLine())
		}
		up, err := upstream(r.BaseURL)
		if err != nil {
			return nil, nil, err
		}
		hb := streamHeartbeat(r.Profile.Target)
		var certs *proxyrun.TLS
		if IsH2(cell) {
			if certs, err = runTLS(r); err != nil {
				return nil, nil, fmt.Errorf("the run's TLS certificate: %w", err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		inst, err := proxyrun.Start(ctx, name, variant, proxyrun.Options{
			Upstream: up, Idle: idle(r), Heartbeat: hb, StreamIdle: streamIdle(r),
			Dir: filepath.Join(r.Profile.Report.Dir, "proxies", cell), TLS: certs,
		})
		if err != nil {
			return nil, nil, err
		}
		return inst, func() { _ = inst.Stop() }, nil
	})
	if err != nil {
		t.Harness("%s with the %s config could not be put in front of %s: %v", name, variant, r.BaseURL, err)
	}
	return v.(*proxyrun.Instance)
}

// upstream is the host:port a local proxy forwards to.
func upstream(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("the local proxies forward plain HTTP; the target is %s (use the deployment cell for it)", base)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80"), nil
	}
	return u.Host, nil
}

// alive ends the check with a harness error when the cell's proxy has exited.
func (e *env) alive() {
	if e.inst == nil {
		return
	}
	select {
	case <-e.inst.Done():
		e.t.Harness("%s (%s config) exited during the run; logs in %s:\n%s", e.proxy, e.config, e.inst.Logs(), e.inst.Tail(2048))
	default:
	}
}

// fail reports a violation caused by problems (default: the check's first problem), with
// the remedy for this cell's proxy; a proxy that died meanwhile is a harness error instead.
func (e *env) fail(expected, observed string, problems ...string) {
	e.alive()
	if len(problems) == 0 && len(e.problems) > 0 {
		problems = e.problems[:1]
	}
	var fixes []string
	for _, p := range problems {
		fixes = append(fixes, e.remedy(p))
	}
	e.t.Remedy("%s", strings.Join(fixes, " — also: "))
	e.diagnose(problems[0])
	if e.inst != nil {
		e.t.Measure("proxy logs", "%s", e.inst.Logs())
	}
	e.t.Violation(expected, observed)
}

// diagnose names the failure's root cause "<problem>:<transport>" (the key the wire suites'
// probes use, so a PX failure and the wire checks it blocks are one finding). When the
// deployment cell establishes that the path buffers a transport or refuses the upgrade, and
// the wire suites reach the server through that path (no origin), their checks of the
// transport are BLOCKED by it; with an origin they judge the server directly and stay.
func (e *env) diagnose(problem string) {
	tr := e.t.Check.Transport
	c := fw.Cause{Key: CauseKey(problem, tr), Text: e.causeText(problem, tr)}
	e.t.Diagnose(c.Key, "%s", c.Text)
	if e.inst == nil && e.t.Run.ViaIntermediary() && blocks[problem] {
		e.t.Run.Block(tr, c)
	}
}

// blocks are the problems that, established on a transport, make every live-delivery check
// of it unjudgeable through the path.
var blocks = map[string]bool{proxyrun.ProblemBuffering: true, proxyrun.ProblemWebSocketUpgrade: true}

// CauseKey is the cause key of a path fault: "<problem>:<transport>", e.g. "buffering:sse".
func CauseKey(problem string, tr fw.Transport) string { return problem + ":" + string(tr) }

// causeTexts say what a problem does, in one sentence (%[1]s: who, %[2]s: the transport).
var causeTexts = map[string]string{
	proxyrun.ProblemBuffering:        "%[1]s buffers %[2]s responses: events are held instead of delivered live.",
	proxyrun.ProblemWebSocketUpgrade: "%[1]s does not pass the WebSocket upgrade to the origin.",
	proxyrun.ProblemCaching:          "%[1]s serves stored %[2]s answers to other clients (a cache in front of the realtime endpoint).",
	proxyrun.ProblemCoalescing:       "%[1]s collapses identical concurrent %[2]s requests (request coalescing).",
	proxyrun.ProblemCompression:      "Compression on %[1]s holds %[2]s bytes until its buffer fills.",
	proxyrun.ProblemBadGateway:       "%[1]s answers %[2]s requests with 5xx (the origin is unreachable through it, or stays so after a restart).",
	proxyrun.ProblemWriteDelay:       "%[1]s delays small writes, adding latency to every %[2]s event.",
	proxyrun.ProblemHTTP10:           "%[1]s speaks HTTP/1.0 to the origin.",
	proxyrun.ProblemStreamLifetime:   "%[1]s bounds the total time of %[2]s responses, heartbeats or not.",
	problemResumeHeader:              "The resume token (Last-Event-ID, the resume query or body) does not reach the origin through %[1]s.",
	problemH2Streams:                 "Concurrent %[2]s streams through %[1]s do not share one HTTP/2 connection.",
	problemH2WebSocket:               "%[1]s offers WebSocket over HTTP/2 but does not carry it.",
	problemH2Headers:                 "%[1]s sends connection-specific header fields over HTTP/2.",
}

// idleTexts say what an idle cut does on each transport.
var idleTexts = map[fw.Transport]string{
	fw.SSE:        "%[1]s cuts an event stream that stays silent for its idle limit, before the origin's next heartbeat.",
	fw.WebSocket:  "%[1]s cuts a WebSocket that stays silent for its idle limit, before the origin's next ping.",
	fw.LongPoll:   "%[1]s cuts a held long-poll (502/503/504) before the origin answers it.",
	fw.HTTPStream: "%[1]s cuts an HTTP stream that stays silent for its idle limit, before the origin's next keep-alive line.",
}

var transportNames = map[fw.Transport]string{fw.SSE: "SSE", fw.WebSocket: "WebSocket", fw.LongPoll: "long-poll", fw.HTTPStream: "HTTP stream"}

// causeText is the one-sentence cause of problem on transport tr behind this cell's proxy.
func (e *env) causeText(problem string, tr fw.Transport) string {
	who := "the path in front of the origin"
	if e.proxy != "" {
		who = fmt.Sprintf("%s (%s config)", e.proxy, e.config)
	}
	f, ok := causeTexts[problem]
	if problem == proxyrun.ProblemIdleTimeout {
		f, ok = idleTexts[tr]
	}
	if !ok {
		f = "%[1]s breaks %[2]s: " + problem + "."
	}
	s := fmt.Sprintf(f, who, transportNames[tr])
	if strings.HasPrefix(s, "the path") {
		s = "T" + s[1:]
	}
	return s
}

// remedy is what fixes problem behind this cell's proxy. A lost resume token gets the
// proxy's own remedy where proxyrun has one (an edge whose defaults drop query strings and
// viewer headers: cloudfront-like names AllViewer), else the generic one.
func (e *env) remedy(problem string) string {
	switch problem {
	case problemH2Streams:
		return h2StreamsRemedy
	case problemH2WebSocket:
		return h2WebSocketRemedy
	case problemH2Headers:
		return h2HeadersRemedy
	}
	if problem == problemResumeHeader {
		if r, ok := e.proxyRemedy(proxyrun.ProblemResumeHeaderEdge); ok {
			return r
		}
		return resumeHeaderRemedy
	}
	if e.proxy == "" {
		return DeploymentRemedy(problem)
	}
	r := proxyrun.Remedy(e.proxy, problem)
	if strings.Contains(r, "no known remedy") {
		// proxyrun has no proxy-specific fix: name the directive of every intermediary.
		return DeploymentRemedy(problem)
	}
	switch {
	case e.proxy == "nginx" && problem == proxyrun.ProblemBuffering:
		// Measured: with the HTTP/1.0 upstream (the default before 1.29.7) nginx holds SSE
		// bytes even though the origin sends X-Accel-Buffering: no.
		r += "; " + proxyrun.Remedy("nginx", proxyrun.ProblemHTTP10)
	case e.proxy == "apache" && problem == proxyrun.ProblemBadGateway:
		r += "; a 503 that lasts after the upstream is back is mod_proxy's worker retry (`retry=`, default 60 s): set `retry=0` on the ProxyPass line"
	}
	return r
}

// proxyRemedy is proxyrun's remedy for problem behind this cell's proxy (ok false for the
// deployment cell or when proxyrun knows none).
func (e *env) proxyRemedy(problem string) (string, bool) {
	if e.proxy == "" {
		return "", false
	}
	r := proxyrun.Remedy(e.proxy, problem)
	if strings.Contains(r, "no known remedy") || strings.HasPrefix(r, "unknown proxy") {
		return "", false
	}
	return r, true
}

// deploymentRemedies name the directive for each common intermediary, for a deployment
// whose proxy or CDN is not known (facts: shared/notes/proxy-facts.md).
var deploymentRemedies = map[string]string{
	proxyrun.ProblemBuffering: "an intermediary buffers the stream: nginx `proxy_buffering off;` + `proxy_http_version 1.1;` (or send `X-Accel-Buffering: no`); " +
		"HAProxy `option http-no-delay` and no `compression type` for text/event-stream or application/x-ndjson; Varnish `return (pass)` with `beresp.do_stream = true`; " +
		"Apache `flushpackets=on` on ProxyPass (FastCGI/AJP) and no mod_deflate for text/event-stream; Caddy `flush_interval -1`; " +
		"CDNs: a no-buffering/bypass rule for the realtime paths (cloudflared streams only text/event-stream; Fastly `beresp.do_stream`)",
	proxyrun.ProblemIdleTimeout: "an intermediary cut the idle connection: send heartbeats/pings and hold long-polls for less than the smallest idle limit, or raise it — " +
		"nginx `proxy_read_timeout` (60s), HAProxy `timeout client`/`timeout server` (+ `timeout tunnel` for WebSocket), " +
		"Varnish `between_bytes_timeout`/`first_byte_timeout` (60s) and `-p pipe_timeout`, Apache `ProxyTimeout` (defaults to Timeout, 60s), " +
		"Caddy `transport http read_timeout`; AWS ALB idle timeout (60s), Cloudflare Proxy Read Timeout (100s, 524), Heroku (55s rolling window)",
	proxyrun.ProblemWebSocketUpgrade: "the WebSocket handshake does not get through: nginx `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; " +
		"proxy_set_header Connection $connection_upgrade;`; HAProxy: keep Upgrade/Connection and set `timeout tunnel`; " +
		"Varnish `if (req.http.upgrade ~ \"(?i)websocket\") { return (pipe); }` and copy Upgrade/Connection in vcl_pipe; " +
		"Apache `upgrade=websocket` on ProxyPass (or mod_proxy_wstunnel); Caddy upgrades by default; CDNs: enable WebSockets for the zone",
	proxyrun.ProblemCaching: "an intermediary served a stored answer: send `Cache-Control: no-store` (or no-cache/private) on streams and polls; " +
		"nginx: no `proxy_cache` or `proxy_ignore_headers Cache-Control` there; Varnish `return (pass)`; Apache `CacheDisable`; HAProxy no `cache-use`; " +
		"CDNs: a cache-bypass rule for the realtime paths (Bunny caches responses without Cache-Control for a month)",
	proxyrun.ProblemCoalescing: "an intermediary collapses identical concurrent requests: Varnish `return (pass)` for realtime paths (waiting list); " +
		"nginx `proxy_cache_lock off`; CDNs: disable request collapsing for them (Fastly `return(pass)`)",
	proxyrun.ProblemCompression: "compression holds bytes until its buffer fills: keep text/event-stream (and application/x-ndjson streams) out of nginx `gzip_types`, HAProxy `compression type`, " +
		"Apache mod_deflate (`SetEnvIfNoCase Accept text/event-stream no-gzip`) and Caddy `encode`, or send `Cache-Control: no-transform` and flush per event",
	proxyrun.ProblemBadGateway: "the intermediary kept answering 5xx after the origin came back, which ends an EventSource for good: nginx with one server " +
		"recovers at once (no `max_fails`/`fail_timeout` games), HAProxy short health-check `inter`/`rise`, Varnish probes, Apache ProxyPass `retry=0` " +
		"(default: 60s of 503 after a failed connect), Caddy `lb_try_duration`; CDNs: do not cache origin errors",
	proxyrun.ProblemWriteDelay:     "an intermediary holds small writes: HAProxy `option http-no-delay`, nginx `tcp_nodelay on` (default)",
	proxyrun.ProblemHTTP10:         "an intermediary speaks HTTP/1.0 to the origin: nginx `proxy_http_version 1.1;` (default before 1.29.7); Apache: no `force-proxy-request-1.0`",
	proxyrun.ProblemStreamLifetime: "an intermediary bounds a response's total time: Varnish `set sess.send_timeout = 24h;` for event streams; CDNs: check the maximum response time",
}

// resumeHeaderRemedy fixes a resume that does not reach the origin, behind any proxy.
const resumeHeaderRemedy = "let the resume token reach the origin: nothing may strip the Last-Event-ID request header or the resume query " +
	"(nginx `proxy_set_header Last-Event-ID \"\"` or `proxy_pass_request_headers off`; HAProxy `http-request del-header`; " +
	"Varnish `unset req.http.Last-Event-ID`; Apache `RequestHeader unset`; Caddy `header_up -Last-Event-ID`), and a cache in front of " +
	"streams must pass them (Varnish `return (pass)`) rather than key on the URL alone"

// DeploymentRemedy is the remedy for a problem behind an unknown proxy or CDN: the directive
// of each common one.
func DeploymentRemedy(problem string) string {
	if r, ok := deploymentRemedies[problem]; ok {
		return r
	}
	return "no known remedy for " + problem
}
