package framework

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// Level is how binding a requirement is.
type Level string

// The requirement levels (RFC 2119 words; INFO measures without a verdict).
const (
	MUST   Level = "MUST"
	SHOULD Level = "SHOULD"
	INFO   Level = "INFO"
)

// Transport names the protocol a check exercises; it is also a spec label.
type Transport string

// The transports.
const (
	SSE       Transport = "sse"
	WebSocket Transport = "websocket"
	LongPoll  Transport = "longpoll"
	// HTTPStream is an HTTP stream of JSON lines (NDJSON; capability httpstream).
	HTTPStream Transport = "httpstream"
)

// Check is one conformance requirement, declared once as a value and turned into one Ginkgo
// spec. The ID is stable forever: never renumbered, never reused.
type Check struct {
	ID          string    // AREA-TOPIC-NNN, e.g. SSE-RESUME-003
	Level       Level     // MUST, SHOULD or INFO
	Transport   Transport // label
	Requirement string    // the project's own requirement sentence
	Quote       string    // the normative sentence of the spec, where there is one
	Spec        string    // where the rule comes from: "WHATWG HTML §9.2.4", "RFC 6455 §5.5.2", "operational: <source>"
	Requires    []Capability
	Timeout     time.Duration // the check's timeout, from the start of its judging; default 30s
	// Serial: the check needs the machine to itself (a latency budget, a connection storm):
	// no other check is judged while it runs (see Run.Schedule). Checks that restart the
	// target are always judged alone.
	Serial bool
	// Timed: the verdict rests on a tight time bound (a lag, a publish answered within 2 s)
	// that a loaded machine — the run's other checks, other processes — can break on a
	// correct target, while the target the check is after breaks it every time. A violation
	// of time bounds only (T.TimingOnly) is therefore judged once more, alone, on topics of
	// its own, and the second verdict stands; the result records the first failure
	// (measurement first_attempt) and keeps its history beside (<history>.first). Any other
	// outcome — a pass, a lost or reordered event, a harness error, a hang — stands at once.
	Timed bool
	Run   func(t *T)

	// Cell names one cell of a matrix the same check runs in several times (the proxy suite:
	// "nginx:naive"); "" for an ordinary check. ID and Cell together identify a spec.
	Cell string
	// Enabled, when set, decides at run time whether the spec runs at all for this profile
	// (a matrix cell the profile does not select); a disabled spec is skipped like one the
	// label filter left out, with no verdict.
	Enabled func(r *Run) bool
	// Intermediary, when set, says what a proxy or CDN legitimately changes about what this
	// check looks at ("rewrites Connection to upgrade (nginx's WebSocket recipe)"). A
	// deployment run that reaches the server only through its intermediaries reports a
	// violation of such a check as INFO describing what was seen, never as a verdict on the
	// server; with the origin given the check judges the origin.
	Intermediary string
	// Labels are extra Ginkgo labels: "chaos" and "proxy" mark the opt-in suites (see
	// EffectiveLabelFilter), "proxy:nginx" and the like select matrix cells.
	Labels []string
}

// Key identifies a registered spec: the ID, and "@cell" for a matrix cell.
func (c Check) Key() string {
	if c.Cell == "" {
		return c.ID
	}
	return c.ID + "@" + c.Cell
}

// DefaultTimeout bounds a check that sets no Timeout.
const DefaultTimeout = 30 * time.Second

var idPattern = regexp.MustCompile(`^[A-Z]+-[A-Z0-9]+-[0-9]{3}$`)

var (
	regMu    sync.Mutex
	registry = map[string]Check{}
)

// Area is the first two parts of the ID ("SSE-RESUME").
func (c Check) Area() string {
	i := strings.LastIndex(c.ID, "-")
	if i < 0 {
		return c.ID
	}
	return c.ID[:i]
}

// AllLabels are the Ginkgo labels of the check's spec: id:<ID>, the transport, the area
// (lower case), the level, cell:<cell> for a matrix cell, then the extra Labels.
func (c Check) AllLabels() []string {
	l := []string{"id:" + c.ID, string(c.Transport), strings.ToLower(c.Area()), strings.ToLower(string(c.Level))}
	if c.Cell != "" {
		l = append(l, "cell:"+c.Cell)
	}
	return append(l, c.Labels...)
}

// ProxyNames are the real proxies the proxy suite runs (proxies/<name>), then its CDN-like
// and other edges (proxies/cdn): what proxies.cells may name (suites/proxy's
// TestCellNamesMatchProxyrun keeps the list equal to proxyrun's).
var ProxyNames = []string{"nginx", "haproxy", "varnish", "apache", "caddy",
	"cloudflare-like", "fastly-like", "cloudfront-like", "alb-like", "heroku-like"}

// OptIn are the labels of suites that run only when a label filter asks for them: they need
// fault injection, real proxies or fronts of their own and take minutes, not the default
// run's seconds.
var OptIn = []string{"chaos", "proxy", "fallback"}

// EffectiveLabelFilter is the filter a run really uses. The opt-in suites run only when
// asked for: a filter that names an opt-in label ("chaos", "proxy") or a check ("id:…") is
// taken as given, and so is a filter that selects nothing but opt-in checks (e.g. an area
// such as "ord-switch"); any other filter, and the empty one, also excludes the opt-in suites,
// so `rtconform run` and `--label-filter sse` stay the fast conformance run.
func EffectiveLabelFilter(filter string) string {
	f := strings.TrimSpace(filter)
	ex := "!" + strings.Join(OptIn, " && !")
	if f == "" {
		return ex
	}
	if strings.Contains(f, "id:") {
		return f
	}
	for _, l := range OptIn {
		if strings.Contains(f, l) {
			return f
		}
	}
	match, err := types.ParseLabelFilter(f)
	if err != nil {
		return f // the caller reports the syntax error
	}
	for _, c := range Checks() {
		if match(c.AllLabels()) && !c.OptIn() {
			return "(" + f + ") && " + ex
		}
	}
	return f
}

// OptIn reports whether the check belongs to an opt-in suite.
func (c Check) OptIn() bool {
	for _, l := range c.Labels {
		if slices.Contains(OptIn, l) {
			return true
		}
	}
	return false
}

// Register declares a check and creates its Ginkgo spec. It panics on a malformed or duplicate
// ID, so a mistake is caught when the spec tree is built. Use it as
//
//	var _ = framework.Register(framework.Check{...})
func Register(c Check) bool {
	if !idPattern.MatchString(c.ID) {
		panic(fmt.Sprintf("rtconform: check ID %q is not AREA-TOPIC-NNN", c.ID))
	}
	switch c.Level {
	case MUST, SHOULD, INFO:
	default:
		panic(fmt.Sprintf("rtconform: check %s has level %q (want MUST, SHOULD or INFO)", c.ID, c.Level))
	}
	if c.Requirement == "" || c.Spec == "" || c.Run == nil || c.Transport == "" {
		panic(fmt.Sprintf("rtconform: check %s needs Requirement, Spec, Transport and Run", c.ID))
	}
	if strings.ContainsAny(c.Cell, " @&|!,()/") {
		panic(fmt.Sprintf("rtconform: check %s has cell %q (no spaces, @, / or label operators)", c.ID, c.Cell))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	regMu.Lock()
	if _, dup := registry[c.Key()]; dup {
		regMu.Unlock()
		panic(fmt.Sprintf("rtconform: duplicate check %s", c.Key()))
	}
	registry[c.Key()] = c
	regMu.Unlock()

	ginkgo.It(fmt.Sprintf("[%s] %s: %s", c.Key(), c.Level, c.Requirement), ginkgo.Label(c.AllLabels()...),
		specTimeout(c), func(ctx ginkgo.SpecContext) { runSpec(ctx, c) })
	return true
}

// Checks returns every registered check (each matrix cell once), sorted by ID and cell.
func Checks() []Check {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Lookup returns the check with the given key (ID, or ID@cell for a matrix cell).
func Lookup(key string) (Check, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	c, ok := registry[key]
	return c, ok
}
