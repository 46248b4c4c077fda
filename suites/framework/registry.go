package framework

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
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
	Timeout     time.Duration // whole-spec timeout; default 30s
	Run         func(t *T)
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

// Labels are the Ginkgo labels of the check's spec: id:<ID>, the transport, the area
// (lower case) and the level.
func (c Check) Labels() []string {
	return []string{"id:" + c.ID, string(c.Transport), strings.ToLower(c.Area()), strings.ToLower(string(c.Level))}
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
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	regMu.Lock()
	if _, dup := registry[c.ID]; dup {
		regMu.Unlock()
		panic(fmt.Sprintf("rtconform: duplicate check ID %s", c.ID))
	}
	registry[c.ID] = c
	regMu.Unlock()

	ginkgo.It(fmt.Sprintf("[%s] %s: %s", c.ID, c.Level, c.Requirement), ginkgo.Label(c.Labels()...),
		ginkgo.SpecTimeout(c.Timeout), func(ctx ginkgo.SpecContext) { runSpec(ctx, c) })
	return true
}

// Checks returns every registered check, sorted by ID.
func Checks() []Check {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the check with the given ID.
func Lookup(id string) (Check, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	c, ok := registry[id]
	return c, ok
}
