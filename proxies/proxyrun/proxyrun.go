// Package proxyrun starts real reverse proxies (nginx, HAProxy, Varnish, Apache httpd,
// Caddy) on loopback in front of an upstream, each with a naive or a recommended config,
// so the proxy suite can show what each config does to SSE, WebSocket and long-poll
// traffic.
//
// The configs are text/template files in proxies/<name>/ (embedded). Start renders one
// into a private directory (config, pid file, logs, temp and cache dirs: nothing is
// written to /etc or /var), validates it with the proxy's own checker, runs the binary
// in the foreground in its own process group as the current user (httpd refuses to
// serve as root: started by root, its workers run as www-data), and waits until it
// proxies. Stop ends the whole process group.
//
// Idle timeouts are short (Options.Idle, a few seconds) so idle cuts show within a test
// run; the recommended configs use Options.StreamIdle, comfortably above the target's
// heartbeat, for streams. Facts, NaiveBreaks and Remedy carry the defaults (with their
// sources), the breakage each naive config is known to cause and the fix for each.
package proxyrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rtconform/rtconform/internal/freeport"
)

// Variant names.
const (
	Naive       = "naive"       // what tutorials and defaults give you
	Recommended = "recommended" // what a careful operator deploys
)

// Defaults applied by Start when an Options field is zero.
const (
	DefaultIdle      = 4 * time.Second  // the short idle timeout the naive configs use
	DefaultHeartbeat = 10 * time.Second // the reference profile's SSE heartbeat
)

// Options says what to proxy and how the configs are rendered.
type Options struct {
	// Upstream is the host:port the proxy forwards to (plain HTTP). Required.
	Upstream string
	// Idle is the short idle timeout, in whole seconds (rounded up). The naive configs
	// put it where the proxy's default idle timeout (usually 60 s) stands, so idle cuts
	// show within a test run; the recommended configs use it only where it cannot cut a
	// response in progress (keep-alive between requests). Default DefaultIdle.
	Idle time.Duration
	// Heartbeat is the target's longest promised idle gap between keep-alives. It is
	// only used to check and document StreamIdle. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// StreamIdle is the idle timeout the recommended configs use for streams, tunnels
	// and held long-polls. It must be at least 1.5 × Heartbeat and above Idle.
	// Default: 3 × Heartbeat.
	StreamIdle time.Duration
	// Dir is where a per-instance directory (config, logs, pid, temp dirs) is created
	// and kept. Default: a new directory under os.TempDir().
	Dir string
	// ReadyPath is requested through the proxy to decide it is ready: any answer other
	// than 502, 503 or 504 counts. Default "/".
	ReadyPath string
	// ReadyTimeout bounds the wait for readiness. Default 20 s.
	ReadyTimeout time.Duration
	// TLS, when set, makes the proxy listen with TLS (the run's certificate) and HTTP/2 by
	// ALPN beside HTTP/1.1, and Instance.URL an https URL. Only the proxies and edges of
	// TLSNames() have a TLS listener; Start refuses the others.
	TLS *TLS
	// Template, when set, is the config template rendered (with the same data: .Listen,
	// .Upstream, .TLS, …) in place of the variant's, which then only names the instance: a
	// user's own config, or the tests' deliberately broken ones.
	Template string
}

// Instance is a running proxy.
type Instance struct {
	name, variant string
	addr          string
	dir           string
	cmd           *exec.Cmd
	done          chan struct{} // closed when the process has exited
	waitErr       error         // set before done is closed

	tls  *TLS           // nil: plain HTTP
	port *freeport.Port // released once the process has stopped
	// front is the TLS terminator in front of a proxy without TLS of its own (hitch before
	// Varnish), listening on port and forwarding to inner; nil otherwise.
	front *Instance
	inner *freeport.Port

	stopOnce sync.Once
	stopErr  error
}

// URL returns the proxy's base URL, http://127.0.0.1:port (https:// with Options.TLS).
func (i *Instance) URL() string {
	if i.tls != nil {
		return "https://" + i.addr
	}
	return "http://" + i.addr
}

// TLS returns the run's certificate the proxy listens with (nil: plain HTTP).
func (i *Instance) TLS() *TLS { return i.tls }

// Addr returns the proxy's listen address, 127.0.0.1:port.
func (i *Instance) Addr() string { return i.addr }

// Name returns the proxy name (one of Names()).
func (i *Instance) Name() string { return i.name }

// Variant returns the config variant (one of Variants()).
func (i *Instance) Variant() string { return i.variant }

// Logs returns the instance directory: the rendered config, the validation output and
// the proxy's logs. It is kept after Stop so a report can point at it.
func (i *Instance) Logs() string { return i.dir }

// Config returns the path of the rendered config file.
func (i *Instance) Config() string { return filepath.Join(i.dir, specs[i.name].config) }

// Done is closed when the proxy process has exited (after Stop, or on a crash).
func (i *Instance) Done() <-chan struct{} { return i.done }

// Tail returns up to max bytes from the end of each log file in the instance
// directory, each headed by its name, for a failure report.
func (i *Instance) Tail(max int) string { return tailLogs(i.dir, max) }

// Stop ends the proxy (SIGTERM to the leader, then SIGKILL to its process group after
// 5 s), kills what is left of the group and waits until no process of it, nor any
// process naming the instance directory, is left (15 s at most in all). It is
// idempotent and safe to call concurrently; the logs are kept.
func (i *Instance) Stop() error {
	i.stopOnce.Do(func() {
		if i.front != nil {
			i.stopErr = i.front.stop()
		}
		if err := i.stop(); i.stopErr == nil {
			i.stopErr = err
		}
		if i.stopErr == nil { // a process that would not die keeps its ports reserved
			i.port.Release()
			i.inner.Release()
		}
	})
	return i.stopErr
}

func (i *Instance) stop() error {
	pgid := i.cmd.Process.Pid // Setpgid: the group id is the leader's pid
	// The leader stops its own children (nginx and httpd workers, varnishd's cache
	// process); the group is killed only if it does not exit in time.
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-i.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s %s: process %d did not exit after SIGKILL", i.name, i.variant, pgid)
		}
	}
	// Children may outlive the leader for a moment: kill what is left of the group.
	deadline := time.Now().Add(5 * time.Second)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s: processes of group %d still running after stop", i.name, i.variant, pgid)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(50 * time.Millisecond)
	}
	// A process that left the group (setsid) still names the private directory (a TLS front
	// has none of its own: its proxy's processes name it).
	for i.dir != "" && time.Now().Before(deadline) {
		pids := processesNaming(i.dir)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if i.dir == "" {
		return nil
	}
	return fmt.Errorf("%s %s: processes %v naming %s still running after stop", i.name, i.variant, processesNaming(i.dir), i.dir)
}

// processesNaming lists the processes whose command line names a path under dir (via
// /proc; none where there is no /proc). Every process an instance starts names a file
// in its private dir.
func processesNaming(dir string) []int {
	dir += "/" // proxyrun-nginx-naive-12 must not match proxyrun-nginx-naive-123
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// groupAlive reports whether any live (non-zombie) process of the group pgid is left.
// Zombies are ignored: an orphan is reaped by whoever is PID 1, which a container's init
// may never do.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // no /proc: trust kill(2)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		rest := string(stat)
		if k := strings.LastIndexByte(rest, ')'); k >= 0 {
			rest = rest[k+1:]
		}
		f := strings.Fields(rest)
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// Names returns the proxies this package can run.
func Names() []string { return []string{"nginx", "haproxy", "varnish", "apache", "caddy"} }

// Variants returns the config variants every proxy has.
func Variants() []string { return []string{Naive, Recommended} }

// InstallLine returns the apt-get line that installs every proxy (Debian's varnish
// package pulls in gcc, which varnishd needs to compile VCL).
func InstallLine() string {
	return "apt-get install -y nginx haproxy varnish apache2 caddy hitch"
}

// Package returns the Debian package of the proxy ("apache2" for apache); "" for an unknown name.
func Package(name string) string {
	if s, ok := specs[name]; ok {
		return s.pkg
	}
	return ""
}

// Available reports whether the proxy can run here. The error names what is missing and
// the exact install line, e.g. "nginx not found: apt-get install -y nginx".
func Available(name string) error {
	s, ok := specs[name]
	if !ok {
		return fmt.Errorf("unknown proxy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if _, err := s.binary(); err != nil {
		return err
	}
	if s.check != nil {
		return s.check()
	}
	return nil
}

// Version returns the proxy's version line (e.g. "nginx version: nginx/1.22.1").
func Version(name string) (string, error) {
	s, ok := specs[name]
	if !ok {
		return "", fmt.Errorf("unknown proxy %q", name)
	}
	bin, err := s.binary()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, s.version...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", bin, strings.Join(s.version, " "), err, firstLine(string(out)))
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{") {
			return l, nil
		}
	}
	return firstLine(string(out)), nil
}

// Start renders the variant's config for the proxy, validates it, starts the proxy on a
// free 127.0.0.1 port and waits until it proxies a request to the upstream. A port taken
// between picking and binding is retried with another one. The caller must Stop the
// instance; ctx bounds the start only, not the instance's life.
func Start(ctx context.Context, name, variant string, o Options) (*Instance, error) {
	if err := Available(name); err != nil {
		return nil, err
	}
	s := specs[name]
	tmpl, ok := s.templates[variant]
	if o.Template != "" {
		tmpl = o.Template
	}
	if !ok {
		return nil, fmt.Errorf("unknown variant %q (known: %s)", variant, strings.Join(Variants(), ", "))
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.TLS != nil && s.tlsFront {
		if err := TLSFrontAvailable(); err != nil {
			return nil, fmt.Errorf("%s over TLS runs behind the TLS terminator hitch: %v", name, err)
		}
	}
	if o.TLS != nil && !SupportsTLS(name) {
		return nil, fmt.Errorf("%s: no TLS listener in its templates (TLS and HTTP/2 at the edge: %s)", name, strings.Join(TLSNames(), ", "))
	}
	dir, err := makeDir(o.Dir, name, variant)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		inst, retry, err := startOnce(ctx, s, name, variant, tmpl, o, dir)
		if err == nil {
			return inst, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return nil, lastErr
}

func (o Options) withDefaults() (Options, error) {
	if _, _, err := net.SplitHostPort(o.Upstream); err != nil {
		return o, fmt.Errorf("Options.Upstream %q: want host:port: %v", o.Upstream, err)
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.StreamIdle <= 0 {
		o.StreamIdle = 3 * o.Heartbeat
	}
	if o.StreamIdle*2 < o.Heartbeat*3 {
		return o, fmt.Errorf("Options.StreamIdle %s is not comfortably above Heartbeat %s (want at least 1.5x)", o.StreamIdle, o.Heartbeat)
	}
	if o.StreamIdle <= o.Idle {
		return o, fmt.Errorf("Options.StreamIdle %s must be above Idle %s", o.StreamIdle, o.Idle)
	}
	if o.ReadyPath == "" {
		o.ReadyPath = "/"
	}
	if !strings.HasPrefix(o.ReadyPath, "/") {
		return o, fmt.Errorf("Options.ReadyPath %q must start with /", o.ReadyPath)
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	return o, nil
}

// makeDir creates the instance directory and its private subdirectories.
func makeDir(base, name, variant string) (string, error) {
	if base != "" {
		if err := os.MkdirAll(base, 0o755); err != nil {
			return "", err
		}
	}
	dir, err := os.MkdirTemp(base, "proxyrun-"+name+"-"+variant+"-")
	if err != nil {
		return "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	for _, sub := range []string{"tmp", "run", "data", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// startOnce does one attempt on a fresh port; retry says whether another port may help.
func startOnce(ctx context.Context, s *spec, name, variant, tmpl string, o Options, dir string) (inst *Instance, retry bool, err error) {
	// Reserved, not just free a moment ago: another run's proxy taking the port meanwhile
	// would answer this one's ready probe (see internal/freeport).
	port, err := freeport.Reserve()
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if inst == nil {
			port.Release()
		}
	}()
	d, err := newData(o, dir, port.N)
	if err != nil {
		return nil, false, err
	}
	if o.TLS != nil {
		d.TLS, d.Cert, d.Key, d.CertKey = true, o.TLS.CertFile, o.TLS.KeyFile, o.TLS.CertKeyFile
		d.HTTP2On = nginxHTTP2On()
	}
	var inner *freeport.Port
	if o.TLS != nil && s.tlsFront {
		// The proxy listens on an inner port (PROXY protocol); its TLS terminator on port.
		if inner, err = freeport.Reserve(); err != nil {
			return nil, false, err
		}
		defer func() {
			if inst == nil {
				inner.Release()
			}
		}()
		d.Inner = net.JoinHostPort(d.Host, strconv.Itoa(inner.N))
	}
	conf := filepath.Join(dir, s.config)
	if err := render(tmpl, d, conf); err != nil {
		return nil, false, fmt.Errorf("%s %s: render: %v", name, variant, err)
	}
	bin, err := s.binary()
	if err != nil {
		return nil, false, err
	}
	if err := validate(ctx, s, bin, d, dir); err != nil {
		return nil, false, fmt.Errorf("%s %s: %v (config %s)", name, variant, err, conf)
	}
	out, err := os.OpenFile(filepath.Join(dir, "output.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	args := s.run(d, variant)
	fmt.Fprintf(out, "== %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), s.env(d)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, false, fmt.Errorf("%s %s: start %s: %v", name, variant, bin, err)
	}
	inst = &Instance{name: name, variant: variant, addr: d.Listen, dir: dir, cmd: cmd, done: make(chan struct{}), tls: o.TLS, port: port, inner: inner}
	go func() {
		inst.waitErr = cmd.Wait()
		out.Close()
		close(inst.done)
	}()
	if d.Inner != "" {
		front, err := startTLSFront(d, dir)
		if err != nil {
			_ = inst.Stop()
			inst = nil
			return nil, false, fmt.Errorf("%s %s: %v", name, variant, err)
		}
		inst.front = front
	}
	if err := inst.waitReady(ctx, o); err != nil {
		_ = inst.Stop()
		tail := inst.Tail(2048)
		inUse := strings.Contains(tail, "in use") || strings.Contains(tail, "EADDRINUSE") || strings.Contains(tail, "Cannot bind")
		inst = nil // releases the port
		return nil, inUse, fmt.Errorf("%s %s on %s: %v\nlogs in %s:\n%s", name, variant, d.Listen, err, dir, tail)
	}
	return inst, false, nil
}

// waitReady polls ReadyPath through the proxy until it answers with anything but a
// gateway error, the process exits, or the ready timeout or ctx ends.
func (i *Instance) waitReady(ctx context.Context, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if i.tls != nil {
		tr.TLSClientConfig, tr.ForceAttemptHTTP2 = i.tls.ClientConfig(), true
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	last := "no answer yet"
	for {
		select {
		case <-i.done:
			return fmt.Errorf("exited before ready: %v", i.waitErr)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.URL()+o.ReadyPath, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				last = "answered " + resp.Status + " (upstream " + o.Upstream + " not reached)"
			default:
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %s", o.ReadyTimeout, last)
		case <-i.done:
			return fmt.Errorf("exited before ready: %v", i.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// validate runs the proxy's own config check, with its output kept in validate.log.
func validate(ctx context.Context, s *spec, bin string, d *data, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := s.validate(d)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), s.env(d)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out := &tailBuffer{max: 64 << 10} // varnishd -C prints the whole generated C source
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	log := fmt.Sprintf("== %s %s\n%s", bin, strings.Join(args, " "), out.b)
	_ = os.WriteFile(filepath.Join(dir, "validate.log"), []byte(log), 0o644)
	if err != nil {
		return fmt.Errorf("config check `%s %s` failed: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, lastBytes(out.b, 2048))
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// tailLogs returns the end of each *.log file under dir (not recursing), max bytes each.
func tailLogs(dir string, max int) string {
	if max <= 0 {
		max = 2048
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := readTail(f, max)
		if err != nil || len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), strings.TrimRight(string(data), "\n"))
	}
	return b.String()
}

// readTail reads at most max bytes from the end of a file.
func readTail(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := st.Size() - int64(max)
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

func lastBytes(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// seconds rounds a duration up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }
