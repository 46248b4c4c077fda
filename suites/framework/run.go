package framework

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/rtconform/rtconform/internal/freeport"
	"github.com/rtconform/rtconform/reference"
)

// Run is one resolved run: the profile, the live base URL of the target and what must be
// stopped afterwards.
type Run struct {
	Profile Profile
	BaseURL string // scheme://host:port, no trailing slash
	ID      string // random per run; topics and payloads carry it
	HTTP    *http.Client
	Started time.Time
	// InProcess is true when the target is the reference server Setup started in this
	// process (the profile gave no url).
	InProcess bool

	stop    []func()
	restart func(context.Context) error // the in-process reference's Restart
	shared  map[string]*sharedRes
	sched   *scheduler
	blocked map[Transport]*blockState
	mu      sync.Mutex
	// the summary of the finished suite (set by the report hook)
	summary *Summary
}

var (
	currentMu sync.Mutex
	current   *Run
)

// Current is the run that Setup resolved; the specs read it.
func Current() *Run {
	currentMu.Lock()
	defer currentMu.Unlock()
	return current
}

// HarnessError is a failure to set up the run (the target cannot be started or reached). The
// CLI exits 2 for it.
type HarnessError struct{ Err error }

func (e *HarnessError) Error() string { return "harness error: " + e.Err.Error() }
func (e *HarnessError) Unwrap() error { return e.Err }

// Setup resolves the target of p and makes it Current: it starts the in-process reference
// server when no url is given, or runs target.start and waits until it is ready, and checks
// that the target answers. Call Teardown when the suite is done.
func Setup(ctx context.Context, p Profile) (*Run, error) {
	r := &Run{Profile: p, ID: strings.ReplaceAll(uuid.NewString(), "-", ""), Started: time.Now()}
	r.HTTP = newHTTPClient()
	t := &r.Profile.Target
	switch {
	case t.URL == "":
		r.InProcess = true
		cfg := reference.Config{
			Addr:           "127.0.0.1:0",
			Heartbeat:      durOr(t.SSE, func(s *SSEConfig) time.Duration { return s.Heartbeat.D() }),
			Retry:          durOr(t.SSE, func(s *SSEConfig) time.Duration { return s.Retry.D() }),
			PollTimeout:    durOr(t.LongPoll, func(l *LongPollConfig) time.Duration { return l.Timeout.D() }),
			AllowedOrigins: hostPatterns(t.Origin.Allowed),
			PingInterval:   durOr(t.WebSocket, func(w *WebSocketConfig) time.Duration { return w.Keepalive.D() }),
		}
		cfg.Log.MaxEvents = t.Retention
		srv := reference.New(cfg)
		if err := srv.Start(); err != nil {
			return nil, &HarnessError{fmt.Errorf("starting the in-process reference server: %w", err)}
		}
		r.stop = append(r.stop, func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(c)
		})
		r.restart = srv.Restart
		r.BaseURL = srv.URL()
		t.URL = r.BaseURL
	case t.Start != nil:
		if err := r.startCommand(ctx); err != nil {
			r.Teardown()
			return nil, &HarnessError{err}
		}
	default:
		r.BaseURL = strings.TrimRight(t.URL, "/")
	}
	if h := t.Restart; h != nil { // {url} in the restart hook is the resolved base URL
		h.Command = strings.ReplaceAll(h.Command, "{url}", r.BaseURL)
		h.URL = strings.ReplaceAll(h.URL, "{url}", r.BaseURL)
	}
	if err := r.preflight(ctx); err != nil {
		r.Teardown()
		return nil, &HarnessError{err}
	}
	currentMu.Lock()
	current = r
	currentMu.Unlock()
	return r, nil
}

// newHTTPClient is the suite's HTTP client: no environment proxy, no transparent
// decompression (checks see the wire), bounded response headers, redirects not followed, no
// overall timeout (streams are bounded by contexts instead).
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                  nil, // only the target itself, never an environment proxy
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        30 * time.Second,
		ResponseHeaderTimeout:  0,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// NewTLSHTTPClient is the suite's HTTP client (the same settings as Run.HTTP's) trusting cfg and
// offering HTTP/2 by ALPN: for the checks that speak TLS to an intermediary (the proxy suite's
// h2 cells). Its idle connections are the caller's to close.
func NewTLSHTTPClient(cfg *tls.Config) *http.Client {
	c := newHTTPClient()
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig, tr.ForceAttemptHTTP2 = cfg, true
	return c
}

// WithQuery returns rawURL with the query parameter key=value added (net/url, so a path
// template that already carries a query, such as Mercure's /.well-known/mercure?topic={topic},
// gets "&"). An unparsable rawURL is returned with the parameter appended as best it can.
func WithQuery(rawURL, key, value string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		return rawURL + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
	}
	// The template's own query is kept byte for byte (its order and encoding are the
	// target's business); the parameter is appended.
	add := url.Values{key: {value}}.Encode()
	if u.RawQuery == "" {
		u.RawQuery = add
	} else {
		u.RawQuery += "&" + add
	}
	return u.String()
}

func durOr[T any](cfg *T, f func(*T) time.Duration) time.Duration {
	if cfg == nil {
		return 0
	}
	return f(cfg)
}

type sharedRes struct {
	once sync.Once
	val  any
	err  error
}

// Shared returns the run-wide resource named key, starting it with start on first use (a
// fault proxy backend, a real proxy in front of the target). stop, when start returns one,
// runs at Teardown. A start that fails is not retried: every later caller gets its error.
func (r *Run) Shared(key string, start func() (val any, stop func(), err error)) (any, error) {
	r.mu.Lock()
	if r.shared == nil {
		r.shared = map[string]*sharedRes{}
	}
	s := r.shared[key]
	if s == nil {
		s = &sharedRes{}
		r.shared[key] = s
	}
	r.mu.Unlock()
	s.once.Do(func() {
		var stop func()
		s.val, stop, s.err = start()
		if stop != nil {
			r.mu.Lock()
			r.stop = append(r.stop, stop)
			r.mu.Unlock()
		}
	})
	return s.val, s.err
}

// Teardown stops what Setup and Shared started (in reverse order).
func (r *Run) Teardown() {
	r.mu.Lock()
	sched := r.sched
	r.mu.Unlock()
	if sched != nil {
		sched.close() // checks still being judged end before what they use is stopped
	}
	r.mu.Lock()
	stop := r.stop
	r.stop = nil
	r.mu.Unlock()
	for i := len(stop) - 1; i >= 0; i-- {
		stop[i]()
	}
	if r.HTTP != nil {
		// Keep-alive connections to a target the run did not start (target.url without
		// start) would otherwise outlive the run, with their goroutines.
		r.HTTP.CloseIdleConnections()
	}
	currentMu.Lock()
	if current == r {
		current = nil
	}
	currentMu.Unlock()
}

// startCommand runs target.start (see startOnce). A free port handed to the command can be
// taken by another process before the command listens on it; such a start is retried with a
// new port, up to three times.
func (r *Run) startCommand(ctx context.Context) error {
	t := &r.Profile.Target
	url0, cmd0 := t.URL, t.Start.Command
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		t.URL = url0
		err = r.startOnce(ctx, url0, cmd0)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(url0+cmd0, "{port}") {
			return err
		}
		r.Teardown()
	}
	return err
}

// startOnce picks a free port for {port}, starts the command in its own process group and
// waits until the ready path answers 2xx.
func (r *Run) startOnce(ctx context.Context, base, cmdline string) error {
	t := &r.Profile.Target
	if strings.Contains(base, "{port}") || strings.Contains(cmdline, "{port}") {
		// Reserved (not just free a moment ago): a port another run's server takes meanwhile
		// would answer the ready probe for this run (see internal/freeport).
		port, err := freeport.Reserve()
		if err != nil {
			return fmt.Errorf("picking a free port for target.start: %w", err)
		}
		r.stop = append(r.stop, port.Release) // runs after the command's stop below
		base = strings.ReplaceAll(base, "{port}", port.String())
		cmdline = strings.ReplaceAll(cmdline, "{port}", port.String())
	}
	base = strings.TrimRight(base, "/")
	cmdline = strings.ReplaceAll(cmdline, "{url}", base)
	t.URL, r.BaseURL = base, base

	out := &boundedBuffer{max: 64 << 10}
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("target.start.command %q: %w", cmdline, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	r.stop = append(r.stop, func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	ready := base + t.Start.Ready
	deadline := time.Now().Add(t.Start.Timeout.D())
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("target.start.command %q exited before %s was ready (%v); its output:\n%s", cmdline, ready, err, out.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(c, http.MethodGet, ready, nil)
		resp, err := r.HTTP.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				cancel()
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		cancel()
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("target.start: %s not ready within %s (last: %v); the command's output:\n%s", ready, t.Start.Timeout, last, out.String())
}

// preflight makes sure something listens at the target before any check runs, so an
// unreachable target is one clear harness error instead of every check failing.
func (r *Run) preflight(ctx context.Context) error {
	u, err := url.Parse(r.BaseURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(c, "tcp", host)
	if err != nil {
		return fmt.Errorf("cannot reach the target %s: %w", r.BaseURL, err)
	}
	return conn.Close()
}

// boundedBuffer keeps the last max bytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Payload returns the suite's own payload for sequence number seq: it names the run and the
// check so ordering and loss are judged from the payload, never from the target's ids.
func (t *T) Payload(seq int) []byte {
	return fmt.Appendf(nil, `{"run":%q,"check":%q,"seq":%d}`, t.Run.ID[:8], t.Check.ID, seq)
}

// PaddedPayload is Payload grown to about size bytes with a "pad" field (bandwidth checks
// need events of a known size); Seq reads it like any payload.
func (t *T) PaddedPayload(seq, size int) []byte {
	p := t.Payload(seq)
	if n := size - len(p) - len(`,"pad":""`); n > 0 {
		p = append(p[:len(p)-1], `,"pad":"`...)
		p = append(p, bytes.Repeat([]byte{'x'}, n)...)
		p = append(p, `"}`...)
	}
	return p
}

// Publish makes the target emit payload on the check's topic through the profile's publish
// hook. A hook that fails is a harness fault (the check cannot drive the target).
func (t *T) Publish(payload []byte) {
	t.PublishTo(t.Topic(), payload)
}

// PublishTo is Publish on another topic.
func (t *T) PublishTo(topic string, payload []byte) {
	if err := t.Run.publish(t.ctx, topic, payload); err != nil {
		t.Harness("publish hook: %v", err)
	}
}

// PublishRefused is the publish hook's error when the target answered with a non-2xx
// status: the publish certainly did not happen (a transport error leaves it unknown).
type PublishRefused struct {
	Status int
	Msg    string
}

func (e *PublishRefused) Error() string { return e.Msg }

// TryPublish is PublishTo that returns the hook's error instead of ending the check: the
// chaos suites record a failing publish in their history (outcome fail or unknown).
func (t *T) TryPublish(ctx context.Context, topic string, payload []byte) error {
	return t.Run.publish(ctx, topic, payload)
}

// PublishCorner publishes a corner-case payload (a bare CR, a NUL, invalid UTF-8 …), what
// naming it for the report. A target may legitimately refuse such input at publish (an SSE
// stream cannot carry a bare CR): when the publish is refused with a 4xx and an ordinary
// payload on another topic is accepted, the refusal is the target's input policy and the
// check ends NOT_SUPPORTED with the target's answer — never ERROR, never FAIL. A hook that
// refuses the ordinary payload too is broken: a harness fault.
func (t *T) PublishCorner(payload []byte, what string) {
	err := t.Run.publish(t.ctx, t.Topic(), payload)
	if err == nil {
		return
	}
	var refused *PublishRefused
	if errors.As(err, &refused) && refused.Status/100 == 4 {
		if perr := t.Run.publish(t.ctx, t.TopicN(99), t.Payload(0)); perr == nil {
			t.Measure("publish refused", "%s", refused.Msg)
			t.NotSupported("the target refuses %s at publish (its input policy, not a conformance failure): %s", what, refused.Msg)
		}
	}
	t.Harness("publish hook: %v", err)
}

func (r *Run) publish(ctx context.Context, topic string, payload []byte) error {
	h := r.Profile.Target.Publish
	if h == nil {
		return errors.New("the profile has no target.publish hook")
	}
	target := Path(h.Path, url.PathEscape(topic))
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = r.BaseURL + target
	}
	var body io.Reader
	ctype := ""
	switch h.Body.Type {
	case "form":
		v := url.Values{}
		for k, val := range h.Body.Form {
			v.Set(k, strings.ReplaceAll(val, "{topic}", topic)) // a value, not a URL: Path would encode a ?
		}
		v.Set(h.Body.Field, string(payload))
		body, ctype = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	case "json":
		doc, err := placeJSON(strings.ReplaceAll(h.Body.Template, "{topic}", topic), h.Body.Pointer, string(payload))
		if err != nil {
			return fmt.Errorf("target.publish.body: %w", err)
		}
		body, ctype = bytes.NewReader(doc), "application/json"
	default:
		body, ctype = bytes.NewReader(payload), "application/octet-stream"
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, h.Method, target, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	for k, v := range h.Headers {
		req.Header.Set(k, v) // ${NAME} was expanded by Load
	}
	if r.ViaIntermediary() {
		// A proxy closes idle keep-alive connections on its own clock (Apache after 5 s), and
		// a POST that races that close gets EOF and cannot be retried safely: the event may
		// have been published. Through an intermediary each publish gets a connection of its own.
		req.Close = true
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", h.Method, target, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &PublishRefused{Status: resp.StatusCode, Msg: fmt.Sprintf("%s %s answered %d: %s", h.Method, target, resp.StatusCode, strings.TrimSpace(string(msg)))}
	}
	return nil
}

// Seq reads the sequence number out of one of this check's payloads (see Payload). ok is
// false for anything that is not a payload of this run and check.
func (t *T) Seq(data string) (seq int, ok bool) {
	var p struct {
		Run   string `json:"run"`
		Check string `json:"check"`
		Seq   *int   `json:"seq"`
	}
	if err := json.Unmarshal([]byte(data), &p); err != nil || p.Seq == nil {
		return 0, false
	}
	if p.Run != t.Run.ID[:8] || p.Check != t.Check.ID {
		return 0, false
	}
	return *p.Seq, true
}

// Seqs maps payloads to sequence numbers; anything else becomes -1.
func (t *T) Seqs(datas []string) []int {
	out := make([]int, len(datas))
	for i, d := range datas {
		if s, ok := t.Seq(d); ok {
			out[i] = s
		} else {
			out[i] = -1
		}
	}
	return out
}

// hostPatterns turns allowed origins (https://app.example) into the host patterns the
// reference's WebSocket origin check takes (app.example).
func hostPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		} else {
			out = append(out, o)
		}
	}
	return out
}

// Restart restarts the target: the in-process reference directly, otherwise through the
// profile's restart hook (a shell command, or an HTTP request to restart.url). It returns once
// the target accepts connections again (or after 60 s).
func (r *Run) Restart(ctx context.Context) error {
	// Keep-alive connections from before the restart are dead; a POST (publish) sent on one
	// would fail with EOF and is not retried by net/http.
	defer r.HTTP.CloseIdleConnections()
	if r.restart != nil {
		return r.restart(ctx)
	}
	h := r.Profile.Target.Restart
	switch {
	case h == nil:
		return errors.New("the profile has no target.restart hook")
	case h.Command != "":
		out, err := exec.CommandContext(ctx, "sh", "-c", h.Command).CombinedOutput()
		if err != nil {
			return fmt.Errorf("target.restart.command %q: %v: %s", h.Command, err, out)
		}
	default:
		method := h.Method
		if method == "" {
			method = http.MethodPost
		}
		req, err := http.NewRequestWithContext(ctx, method, h.URL, nil)
		if err != nil {
			return err
		}
		resp, err := r.HTTP.Do(req)
		if err != nil {
			return fmt.Errorf("target.restart.url: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("target.restart.url answered %d", resp.StatusCode)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := r.preflight(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("the target did not come back within 60s: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Restart restarts the target (capability restart); a failure is a harness fault.
func (t *T) Restart() {
	if err := t.Run.Restart(t.ctx); err != nil {
		t.Harness("restart: %v", err)
	}
}
