package toxiproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	tp "github.com/Shopify/toxiproxy/v2/client"
)

// Backend names accepted in Config.Backend.
const (
	Embedded  = "embedded"  // Toxiproxy's server in this process (the default)
	Container = "container" // Toxiproxy in a Docker container started by Open
	External  = "external"  // an already running Toxiproxy, reached at Config.API
)

// DefaultImage is the container image the container backend asks for. Where it
// is neither present nor pullable, LocalImage is built and used instead.
const DefaultImage = "ghcr.io/shopify/toxiproxy:2.12.0"

// Toxic stream directions (Toxic.Stream).
const (
	Downstream = "downstream" // target -> client
	Upstream   = "upstream"   // client -> target
)

// Config selects and configures a backend. The zero value is the embedded backend.
type Config struct {
	// Backend is Embedded (default when empty), Container or External.
	Backend string
	// API is the Toxiproxy API URL of the External backend, e.g. http://127.0.0.1:8474.
	API string
	// Image is the container backend's image (default DefaultImage). Where it can
	// be neither found in the daemon nor pulled, LocalImage is built and used.
	Image string
	// Network is an optional Docker network the container joins, for targets that
	// live in that network (upstream "name:port"). Without it the container uses
	// host networking and reaches targets on the host's loopback.
	Network string
	// Ports is an optional fixed range of proxy listen ports, "first-last".
	// Container backend with Network: the container ports that are published to
	// the host's loopback, one per live proxy (default 8666-8681). External
	// backend: ports the sidecar may listen on (default: any free port, chosen by
	// the sidecar), for a sidecar whose ports are published one to one.
	// Ignored by the embedded backend and by the container backend on host networking.
	Ports string
	// Logf, if set, receives progress messages (image pull or build, container start).
	Logf func(format string, args ...any)
}

// Backend is a Toxiproxy server the suite can create proxies on.
type Backend interface {
	// Name is the backend's name: Embedded, Container or External.
	Name() string
	// API is the URL of the Toxiproxy HTTP API this backend drives.
	API() string
	// NewProxy makes a proxy whose listen address is reachable by the suite on
	// loopback and which forwards to upstream (host:port as the Toxiproxy server
	// sees it: normally 127.0.0.1:N; for a container target inside
	// Config.Network, its name:port).
	NewProxy(ctx context.Context, name, upstream string) (*Proxy, error)
	// Close removes every proxy this backend created and stops what Open started.
	// The external backend leaves other proxies on the sidecar alone.
	Close(ctx context.Context) error
}

// Open starts (embedded, container) or connects to (external) a Toxiproxy server.
func Open(ctx context.Context, cfg Config) (Backend, error) {
	switch cfg.Backend {
	case "", Embedded:
		return asBackend(openEmbedded(ctx, cfg))
	case Container:
		return asBackend(openContainer(ctx, cfg))
	case External:
		return asBackend(openExternal(ctx, cfg))
	default:
		return nil, fmt.Errorf("toxiproxy: unknown backend %q (want %s, %s or %s)", cfg.Backend, Embedded, Container, External)
	}
}

// asBackend keeps a failed open's typed nil from becoming a non-nil Backend.
func asBackend[B Backend](b B, err error) (Backend, error) {
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Toxic is one Toxiproxy toxic. Attribute units are Toxiproxy's own: latency,
// jitter, timeout and delays in milliseconds, except slicer's delay in
// MICROseconds; bandwidth rate in KB/s; limit_data in bytes.
type Toxic struct {
	// Name is unique per proxy; empty means Toxiproxy's default "<type>_<stream>".
	Name string `json:"name"`
	// Type is the toxic type: latency, bandwidth, slicer, limit_data, reset_peer,
	// timeout, slow_close.
	Type string `json:"type"`
	// Stream is Downstream (default when empty) or Upstream.
	Stream string `json:"stream"`
	// Toxicity is the probability that a connection is affected; 0 means 1 (always).
	Toxicity float32 `json:"toxicity"`
	// Attributes are the type's parameters.
	Attributes map[string]any `json:"attributes"`
}

// Proxy is one Toxiproxy proxy created by a Backend. Its methods are safe for
// concurrent use; each is one or two API calls.
type Proxy struct {
	b        *apiBackend
	name     string
	upstream string
	listen   string
	release  func() // returns a reserved listen port to the backend's pool

	mu      sync.Mutex // guards p and deleted; held for the duration of an API call
	p       *tp.Proxy
	deleted bool
}

// Name is the proxy's name on the Toxiproxy server.
func (p *Proxy) Name() string { return p.name }

// Listen is the address the suite dials to go through the proxy, "127.0.0.1:port".
func (p *Proxy) Listen() string { return p.listen }

// Upstream is the address the proxy forwards to, as the Toxiproxy server sees it.
func (p *Proxy) Upstream() string { return p.upstream }

// AddToxic installs t. It acts on connections opened before and after (but see
// the package doc for reset_peer, which only resets new connections).
func (p *Proxy) AddToxic(ctx context.Context, t Toxic) error {
	if t.Type == "" {
		return fmt.Errorf("toxiproxy: proxy %q: toxic without a type", p.name)
	}
	if t.Stream == "" {
		t.Stream = Downstream
	}
	if t.Stream != Downstream && t.Stream != Upstream {
		return fmt.Errorf("toxiproxy: proxy %q: toxic %q: stream %q is neither %s nor %s", p.name, t.Name, t.Stream, Downstream, Upstream)
	}
	if t.Toxicity == 0 {
		t.Toxicity = 1 // Toxiproxy takes 0 literally: a toxic that never fires
	}
	err := p.do(ctx, func(c *tp.Proxy) error {
		_, err := c.AddToxic(t.Name, t.Type, t.Stream, t.Toxicity, tp.Attributes(t.Attributes))
		return err
	})
	if err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: add %s toxic %q: %w", p.name, t.Type, t.Name, err)
	}
	return nil
}

// RemoveToxic removes the named toxic.
func (p *Proxy) RemoveToxic(ctx context.Context, name string) error {
	if err := p.do(ctx, func(c *tp.Proxy) error { return c.RemoveToxic(name) }); err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: remove toxic %q: %w", p.name, name, err)
	}
	return nil
}

// Toxics lists the toxics installed on the proxy.
func (p *Proxy) Toxics(ctx context.Context) ([]Toxic, error) {
	var list tp.Toxics
	err := p.do(ctx, func(c *tp.Proxy) error {
		var err error
		list, err = c.Toxics()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: proxy %q: list toxics: %w", p.name, err)
	}
	out := make([]Toxic, 0, len(list))
	for _, t := range list {
		out = append(out, Toxic{Name: t.Name, Type: t.Type, Stream: t.Stream, Toxicity: t.Toxicity, Attributes: t.Attributes})
	}
	return out, nil
}

// ClearToxics removes every toxic from the proxy.
func (p *Proxy) ClearToxics(ctx context.Context) error {
	err := p.do(ctx, func(c *tp.Proxy) error {
		list, err := c.Toxics()
		if err != nil {
			return err
		}
		var errs []error
		for _, t := range list {
			if err := c.RemoveToxic(t.Name); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove %q: %w", t.Name, err))
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: clear toxics: %w", p.name, err)
	}
	return nil
}

// Disable takes the proxy down: its listener closes (new connections are
// refused) and every open connection through it is closed. The listen address
// is kept for Enable.
func (p *Proxy) Disable(ctx context.Context) error {
	if err := p.do(ctx, func(c *tp.Proxy) error { return c.Disable() }); err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: disable: %w", p.name, err)
	}
	return nil
}

// Enable brings a disabled proxy back on the same listen address. Enabling an
// enabled proxy is a no-op.
func (p *Proxy) Enable(ctx context.Context) error {
	if err := p.do(ctx, func(c *tp.Proxy) error { return c.Enable() }); err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: enable: %w", p.name, err)
	}
	return nil
}

// Reset restores the proxy to clean and enabled: no toxics, listening.
func (p *Proxy) Reset(ctx context.Context) error {
	return errors.Join(p.ClearToxics(ctx), p.Enable(ctx))
}

// Delete removes the proxy from the server, closing its connections. Deleting
// twice is a no-op.
func (p *Proxy) Delete(ctx context.Context) error {
	err := call(ctx, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.deleted {
			return nil
		}
		if err := p.p.Delete(); err != nil && !isNotFound(err) {
			return err
		}
		p.deleted = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("toxiproxy: proxy %q: delete: %w", p.name, err)
	}
	p.b.forget(p)
	return nil
}

// do runs f on the client proxy under p.mu, returning early if ctx ends first.
// The Toxiproxy client takes no context (its own timeout is 30 s), so an
// abandoned call finishes in the background; holding p.mu inside the goroutine
// keeps it from racing with the next call.
func (p *Proxy) do(ctx context.Context, f func(*tp.Proxy) error) error {
	return call(ctx, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.deleted {
			return errors.New("proxy was deleted")
		}
		return f(p.p)
	})
}

func call(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isNotFound(err error) bool {
	var apiErr *tp.ApiError
	return errors.As(err, &apiErr) && apiErr.Status == 404
}

// apiBackend is what the three backends share: a Toxiproxy client, a plan for
// listen addresses and the set of proxies created through it.
type apiBackend struct {
	name   string
	api    string
	client *tp.Client
	addrs  *addrPlan

	mu      sync.Mutex
	proxies map[*Proxy]struct{}
	closed  bool
}

func newAPIBackend(name, api string, addrs *addrPlan) *apiBackend {
	return &apiBackend{name: name, api: api, client: tp.NewClient(api), addrs: addrs, proxies: map[*Proxy]struct{}{}}
}

func (b *apiBackend) Name() string { return b.name }
func (b *apiBackend) API() string  { return b.api }

func (b *apiBackend) NewProxy(ctx context.Context, name, upstream string) (*Proxy, error) {
	if name == "" || strings.ContainsAny(name, "/?#% ") {
		return nil, fmt.Errorf("toxiproxy: invalid proxy name %q", name)
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("toxiproxy: proxy %q: upstream %q is not host:port: %w", name, upstream, err)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("toxiproxy: proxy %q: backend is closed", name)
	}
	bind, release, err := b.addrs.reserve()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: proxy %q: %w", name, err)
	}

	// Create in a goroutine that, should ctx end first, deletes what it made:
	// a proxy nobody holds must not outlive the call.
	type result struct {
		p   *tp.Proxy
		err error
	}
	done := make(chan result, 1)
	var mu sync.Mutex
	abandoned := false
	go func() {
		c, err := b.client.CreateProxy(name, bind, upstream)
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil {
				_ = c.Delete()
			}
			release()
			return
		}
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		mu.Lock()
		select {
		case r = <-done:
		default:
			abandoned = true
		}
		mu.Unlock()
		if abandoned {
			return nil, fmt.Errorf("toxiproxy: create proxy %q: %w", name, ctx.Err())
		}
	}
	if r.err != nil {
		release()
		return nil, fmt.Errorf("toxiproxy: create proxy %q -> %s (listen %s): %w", name, upstream, bind, r.err)
	}
	dial, err := b.addrs.dial(r.p.Listen)
	if err != nil {
		_ = r.p.Delete()
		release()
		return nil, fmt.Errorf("toxiproxy: proxy %q: %w", name, err)
	}
	p := &Proxy{b: b, name: name, upstream: upstream, listen: dial, release: release, p: r.p}
	b.mu.Lock()
	b.proxies[p] = struct{}{}
	b.mu.Unlock()
	return p, nil
}

// forget drops a deleted proxy from the backend's set and frees its port.
func (b *apiBackend) forget(p *Proxy) {
	b.mu.Lock()
	_, ok := b.proxies[p]
	delete(b.proxies, p)
	b.mu.Unlock()
	if ok {
		p.release()
	}
}

// deleteAll deletes every proxy this backend created and marks it closed.
func (b *apiBackend) deleteAll(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	list := make([]*Proxy, 0, len(b.proxies))
	for p := range b.proxies {
		list = append(list, p)
	}
	b.mu.Unlock()
	var errs []error
	for _, p := range list {
		errs = append(errs, p.Delete(ctx))
	}
	return errors.Join(errs...)
}

// addrPlan decides which address a new proxy listens on and which address the
// suite dials for it.
type addrPlan struct {
	bindHost string      // host part of the listen address Toxiproxy is asked for
	dialHost string      // host the suite dials
	pool     []int       // fixed listen ports to hand out; nil: port 0, chosen by Toxiproxy
	mapped   map[int]int // listen port -> port the suite dials (published container ports); nil: same port

	mu    sync.Mutex
	inUse map[int]bool
}

func (a *addrPlan) reserve() (bind string, release func(), err error) {
	if a.pool == nil {
		return net.JoinHostPort(a.bindHost, "0"), func() {}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, port := range a.pool {
		if !a.inUse[port] {
			a.inUse[port] = true
			var once sync.Once
			return net.JoinHostPort(a.bindHost, strconv.Itoa(port)), func() {
				once.Do(func() {
					a.mu.Lock()
					delete(a.inUse, port)
					a.mu.Unlock()
				})
			}, nil
		}
	}
	return "", nil, fmt.Errorf("all %d listen ports of the range %d-%d are in use (Config.Ports)", len(a.pool), a.pool[0], a.pool[len(a.pool)-1])
}

func (a *addrPlan) dial(reported string) (string, error) {
	_, portStr, err := net.SplitHostPort(reported)
	if err != nil {
		return "", fmt.Errorf("toxiproxy reported listen address %q: %w", reported, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", fmt.Errorf("toxiproxy reported listen address %q: %w", reported, err)
	}
	if a.mapped != nil {
		hostPort, ok := a.mapped[port]
		if !ok {
			return "", fmt.Errorf("listen port %d is not published", port)
		}
		port = hostPort
	}
	return net.JoinHostPort(a.dialHost, strconv.Itoa(port)), nil
}

// parsePorts parses "first-last" (or a single port) into the list of ports.
func parsePorts(s string) ([]int, error) {
	first, last, found := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(first))
	hi := lo
	var err2 error
	if found {
		hi, err2 = strconv.Atoi(strings.TrimSpace(last))
	}
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo || hi-lo >= 1024 {
		return nil, fmt.Errorf("toxiproxy: Ports %q: want \"first-last\" within 1-65535, at most 1024 ports", s)
	}
	ports := make([]int, 0, hi-lo+1)
	for p := lo; p <= hi; p++ {
		ports = append(ports, p)
	}
	return ports, nil
}
