package framework

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Deploy describes a deployment under validation (rtconform deploy, or the profile's deploy
// section): the public URL clients use, which goes through proxies or a CDN, and optionally
// the origin server behind them.
//
// When Public is set the run validates a deployment. The wire suites (sse, websocket,
// longpoll) judge the *server*: they run against Origin when it is given, and otherwise
// through Public, where the rules an intermediary legitimately changes (Check.Intermediary)
// are reported as INFO and a transport whose live delivery the path breaks is BLOCKED (see
// RegisterProbe). The proxy suite's deployment cell judges the *path*: it runs against
// Public and compares with Origin.
type Deploy struct {
	// Public is the URL clients use (through the proxy or CDN). "": not a deployment run.
	Public string `yaml:"public"`
	// Origin is the origin server's own URL behind Public ("": not reachable from here).
	Origin string `yaml:"origin"`
	// Latency is the per-event latency the path may add (median, compared with Origin, else
	// absolute); above it the latency checks fail at MUST. 0: not declared (SHOULD ≤ 100 ms).
	Latency Duration `yaml:"latency"`
	// Idle is the path's idle limit (the shortest proxy or CDN idle timeout in front of the
	// origin). 0: detected from the intermediary's response headers, else the shortest common
	// default.
	Idle Duration `yaml:"idle"`
	// MaxIdleWait is the longest the idle checks wait out the limit (default 2m); beyond it
	// they measure the heartbeat, keepalive and hold through Public and report the margin.
	MaxIdleWait Duration `yaml:"maxIdleWait"`
}

// Enabled reports whether the profile validates a deployment (deploy.public is set).
func (d Deploy) Enabled() bool { return d.Public != "" }

// DefaultMaxIdleWait is deploy.maxIdleWait when not set.
const DefaultMaxIdleWait = 2 * time.Minute

// Deploying reports whether the run validates a deployment (deploy.public is set).
func (r *Run) Deploying() bool { return r.Profile.Deploy.Enabled() }

// ViaIntermediary reports whether the wire suites reach the server through the deployment's
// intermediaries: a deployment run without deploy.origin.
func (r *Run) ViaIntermediary() bool { return r.Deploying() && r.Profile.Deploy.Origin == "" }

// PublicURL is the URL clients use: deploy.public, else the target's base URL.
func (r *Run) PublicURL() string {
	if p := r.Profile.Deploy.Public; p != "" {
		return strings.TrimRight(p, "/")
	}
	return r.BaseURL
}

// OriginURL is the origin behind the public URL (deploy.origin, else proxies.direct); ""
// when none is given.
func (r *Run) OriginURL() string {
	if o := r.Profile.Deploy.Origin; o != "" {
		return strings.TrimRight(o, "/")
	}
	return strings.TrimRight(r.Profile.Proxies.Direct, "/")
}

// MaxIdleWait is deploy.maxIdleWait, default DefaultMaxIdleWait.
func (r *Run) MaxIdleWait() time.Duration {
	if d := r.Profile.Deploy.MaxIdleWait.D(); d > 0 {
		return d
	}
	return DefaultMaxIdleWait
}

// Probe establishes, before the first wire check of its transport runs through an
// intermediary, whether the path delivers that transport live at all. It returns the root
// cause when it does not (a refused upgrade, a buffered stream, a 5xx): every wire check of
// the transport is then BLOCKED by that cause instead of each waiting out its timeout. A
// probe is bounded by ctx and must not take more than ~15 s.
type Probe func(ctx context.Context, r *Run) *Cause

// ProbeTimeout bounds one probe.
const ProbeTimeout = 20 * time.Second

var (
	probesMu sync.Mutex
	probes   = map[Transport]Probe{}
)

// RegisterProbe sets the probe of a transport (one per transport; the transport's suite
// package registers it).
func RegisterProbe(tr Transport, p Probe) bool {
	probesMu.Lock()
	defer probesMu.Unlock()
	if _, dup := probes[tr]; dup {
		panic(fmt.Sprintf("rtconform: a probe for %s is already registered", tr))
	}
	probes[tr] = p
	return true
}

type blockState struct {
	once  sync.Once
	cause *Cause
}

// Block records an established root cause for a transport: the wire checks of the
// transport that start after it are BLOCKED by it. Checks of the proxy suite that establish
// a cause (buffering, a refused upgrade) may call it.
func (r *Run) Block(tr Transport, c Cause) {
	s := r.blockState(tr)
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.cause == nil {
		s.cause = &c
	}
}

func (r *Run) blockState(tr Transport) *blockState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blocked == nil {
		r.blocked = map[Transport]*blockState{}
	}
	s := r.blocked[tr]
	if s == nil {
		s = &blockState{}
		r.blocked[tr] = s
	}
	return s
}

// BlockedBy returns the root cause that blocks the wire checks of tr, running the
// transport's probe first when the run goes through an intermediary and it has not run yet;
// nil when nothing blocks them.
func (r *Run) BlockedBy(tr Transport) *Cause {
	s := r.blockState(tr)
	if r.ViaIntermediary() {
		s.once.Do(func() {
			probesMu.Lock()
			p := probes[tr]
			probesMu.Unlock()
			if p == nil || r.Profile.Target.Missing([]Capability{Capability(tr)}) != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
			defer cancel()
			if c := p(ctx, r); c != nil {
				r.Block(tr, *c)
			}
		})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.cause
}

// blockable reports whether a check is one the transport's root cause can block: a wire
// check (not a matrix cell, which judges the path itself, and not an opt-in suite).
func (c Check) blockable() bool { return c.Cell == "" && !c.OptIn() }

// ProbeTopic is a topic of the run's own for the probe of tr.
func (r *Run) ProbeTopic(tr Transport) string {
	return "rtc-probe-" + string(tr) + "-" + r.ID[:8]
}

// Publish makes the target emit payload on topic through the profile's publish hook (for
// probes, which run outside any check; checks use T.Publish).
func (r *Run) Publish(ctx context.Context, topic string, payload []byte) error {
	return r.publish(ctx, topic, payload)
}

// BadGateway is the cause "bad-gateway:<tr>" of a 5xx answer from the path to a probe's
// request for what ("SSE stream") at u; nil for any other status, or no response.
func BadGateway(tr Transport, what, u string, resp *http.Response) *Cause {
	if resp == nil || resp.StatusCode < 500 {
		return nil
	}
	return &Cause{Key: "bad-gateway:" + string(tr), Text: fmt.Sprintf(
		"through %s, the %s request was answered %q: the path in front of the server does not reach it "+
			"(check the proxy's upstream address and that it keeps the connection to the origin open)", u, what, resp.Status)}
}
