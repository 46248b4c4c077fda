// Package need decides what the project's own tests do when a system part they use — a real
// proxy, Chromium, a Docker daemon — is not on the machine.
//
// The decision (README, "Quick start"): a test that needs a missing part is skipped with one
// line naming the part and its install line, and the rest pass; `go run ./internal/cmd/test`,
// the README's test command, prints one "not tested:" line per missing part before and after
// `go test` (whose own output hides a passing package's skips). Setting the part's require
// variable to 1 turns the skip into a failure: CI (.ci/run) sets RTCONFORM_REQUIRE_PROXIES,
// RTCONFORM_REQUIRE_CHROMIUM and RTCONFORM_REQUIRE_DOCKER, so nothing is skipped there.
// Tests never install anything themselves.
package need

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
)

// Part is a system part some tests need.
type Part struct {
	Name    string // "nginx", "chromium", "docker"
	Env     string // the variable that, set to 1, makes its absence a failure
	Install string // how to install it
	Tests   string // what is not tested without it
	find    func() error
}

// Parts lists every system part the project's tests use.
func Parts() []Part {
	var ps []Part
	for _, name := range proxyrun.Names() {
		ps = append(ps, Part{Name: name, Env: "RTCONFORM_REQUIRE_PROXIES", Install: "apt-get install -y " + proxyrun.Package(name),
			Tests: "the proxy suite's " + name + " cells, the deploy and probe tests through " + name,
			find:  func() error { return proxyrun.Available(name) }})
	}
	ps = append(ps,
		Part{Name: "hitch", Env: "RTCONFORM_REQUIRE_PROXIES", Install: "apt-get install -y hitch",
			Tests: "the h2 cells of varnish, fastly-like and heroku-like (hitch terminates their TLS)", find: proxyrun.TLSFrontAvailable},
		Part{Name: "chromium", Env: "RTCONFORM_REQUIRE_CHROMIUM", Install: "apt-get install -y chromium",
			Tests: "the HTML report in a real browser", find: func() error { _, err := ChromiumPath(); return err }},
		Part{Name: "docker", Env: "RTCONFORM_REQUIRE_DOCKER", Install: "apt-get install -y docker.io, and start it (or set DOCKER_HOST)",
			Tests: "the chaos suites' container backend", find: dockerUp})
	return ps
}

// Lookup returns the part called name.
func Lookup(name string) (Part, bool) {
	for _, p := range Parts() {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// Find reports why the part is not usable here (nil: it is).
func (p Part) Find() error { return p.find() }

// Required reports whether the part's require variable asks for it.
func (p Part) Required() bool { return os.Getenv(p.Env) == "1" }

// NotTested is the line that names a missing part.
func (p Part) NotTested(why error) string {
	msg := why.Error()
	if !strings.Contains(msg, p.Install) {
		msg += " — install: " + p.Install
	}
	return fmt.Sprintf("not tested: %s: %s; %s=1 makes this a failure", p.Tests, msg, p.Env)
}

// Missing returns the parts not usable here, each with its reason.
func Missing() map[string]error {
	out := map[string]error{}
	for _, p := range Parts() {
		if err := p.Find(); err != nil {
			out[p.Name] = err
		}
	}
	return out
}

// Require makes the test depend on the named parts: when one is missing the test is skipped
// with its "not tested:" line, or fails with it when the part's require variable is 1.
func Require(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		p, ok := Lookup(name)
		if !ok {
			t.Fatalf("need: unknown part %q", name)
		}
		err := p.Find()
		if err == nil {
			continue
		}
		if p.Required() {
			t.Fatalf("%s is required here (%s=1): %v — install: %s", p.Name, p.Env, err, p.Install)
		}
		t.Skip(p.NotTested(err))
	}
}

// Proxies is Require for every real proxy.
func Proxies(t testing.TB) { t.Helper(); Require(t, proxyrun.Names()...) }

// ChromiumPath finds Debian's Chromium (or another Chrome) on PATH.
func ChromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium, chromium-browser or google-chrome on PATH")
}

// dockerUp pings the Docker daemon at DOCKER_HOST (unix:// or tcp://) or the default socket.
func dockerUp() error {
	network, addr := "unix", "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		scheme, rest, ok := strings.Cut(h, "://")
		if !ok {
			return fmt.Errorf("DOCKER_HOST=%q is not unix:// or tcp://", h)
		}
		switch scheme {
		case "unix":
			addr = rest
		case "tcp":
			network, addr = "tcp", rest
		default:
			return fmt.Errorf("DOCKER_HOST=%q: only unix:// and tcp:// are checked", h)
		}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return fmt.Errorf("no Docker daemon at %s: %w", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the Docker daemon at %s answered %s", addr, resp.Status)
	}
	return nil
}
