package proxyrun

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// requireProxies skips the test with a "not tested:" line when a proxy is not installed, or
// fails with it under RTCONFORM_REQUIRE_PROXIES=1 (CI). It is internal/need.Require, which
// this package's own tests cannot import (need imports proxyrun).
func requireProxies(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		err := Available(n)
		switch {
		case err == nil:
		case os.Getenv("RTCONFORM_REQUIRE_PROXIES") == "1":
			t.Fatalf("%s is required here (RTCONFORM_REQUIRE_PROXIES=1): %v (all at once: %s)", n, err, InstallLine())
		default:
			t.Skipf("not tested: the real proxies: %v; RTCONFORM_REQUIRE_PROXIES=1 makes this a failure", err)
		}
	}
}

// requireTLSFront is requireProxies for hitch, the TLS terminator in front of Varnish.
func requireTLSFront(t *testing.T) {
	t.Helper()
	if err := TLSFrontAvailable(); err != nil {
		if os.Getenv("RTCONFORM_REQUIRE_PROXIES") == "1" {
			t.Fatalf("hitch is required here (RTCONFORM_REQUIRE_PROXIES=1): %v", err)
		}
		t.Skipf("not tested: Varnish over TLS: %v; RTCONFORM_REQUIRE_PROXIES=1 makes this a failure", err)
	}
}

// TestAvailable: every proxy is installed (or the test says which is not) and reports its version.
func TestAvailable(t *testing.T) {
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			requireProxies(t, n)
			v, err := Version(n)
			if err != nil {
				t.Errorf("%s version: %v", n, err)
			}
			t.Logf("%s: %s", n, v)
		})
	}
}

func TestMissingBinaryNamesInstallLine(t *testing.T) {
	s := &spec{name: "nginx", pkg: "nginx", bins: []string{"proxyrun-no-such-binary"}}
	_, err := s.binary()
	if err == nil || err.Error() != "nginx not found: apt-get install -y nginx" {
		t.Fatalf("got %v", err)
	}
	if err := Available("squid"); err == nil || !strings.Contains(err.Error(), "unknown proxy") {
		t.Fatalf("unknown proxy: got %v", err)
	}
	if _, err := Start(context.Background(), "squid", Naive, Options{Upstream: "127.0.0.1:1"}); err == nil {
		t.Fatal("Start of an unknown proxy succeeded")
	}
}

func TestOptionsDefaultsAndChecks(t *testing.T) {
	o, err := Options{Upstream: "127.0.0.1:8080"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Idle != DefaultIdle || o.Heartbeat != DefaultHeartbeat || o.StreamIdle != 3*DefaultHeartbeat || o.ReadyPath != "/" {
		t.Fatalf("defaults: %+v", o)
	}
	for _, bad := range []Options{
		{Upstream: "no-port"},
		{Upstream: "127.0.0.1:1", Heartbeat: 10 * time.Second, StreamIdle: 12 * time.Second},
		{Upstream: "127.0.0.1:1", Idle: 40 * time.Second, Heartbeat: 10 * time.Second, StreamIdle: 30 * time.Second},
		{Upstream: "127.0.0.1:1", ReadyPath: "ready"},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
	if seconds(1500*time.Millisecond) != 2 || seconds(0) != 1 || seconds(4*time.Second) != 4 {
		t.Error("seconds does not round up to whole seconds")
	}
}

// TestTemplatesRender renders every template and checks the timeouts land where the
// README says: the naive configs use Idle for the stream timeouts, the recommended ones
// StreamIdle, and everything stays under the private directory and on loopback.
// renderData is the template data the render tests use: upstream 127.0.0.1:8080, listening on
// 18081, Idle 4 s, Heartbeat 10 s, StreamIdle 31 s; and the directory it points into.
func renderData(t *testing.T) (*data, string) {
	t.Helper()
	o, err := Options{Upstream: "127.0.0.1:8080", Idle: 4 * time.Second, Heartbeat: 10 * time.Second, StreamIdle: 31 * time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := newData(o, dir, 18081)
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

func TestTemplatesRender(t *testing.T) {
	d, dir := renderData(t)
	want := map[string]map[string][]string{
		"nginx": {
			Naive:       {"proxy_read_timeout 4s;", "proxy_pass http://127.0.0.1:8080;", "listen 127.0.0.1:18081;"},
			Recommended: {"proxy_read_timeout 31s;", "proxy_http_version 1.1;", "proxy_buffering off;", "proxy_set_header Upgrade $http_upgrade;"},
		},
		"haproxy": {
			Naive:       {"timeout client 4s", "timeout server 4s", "bind 127.0.0.1:18081"},
			Recommended: {"timeout tunnel 31s", "timeout server 31s", "option http-no-delay"},
		},
		"varnish": {
			Naive:       {".between_bytes_timeout = 4s;", ".first_byte_timeout = 4s;"},
			Recommended: {".between_bytes_timeout = 31s;", "return (pipe);", "return (pass);", "set bereq.http.Upgrade = req.http.Upgrade;"},
		},
		"apache": {
			Naive:       {"Timeout 4\n", `ProxyPass "/" "http://127.0.0.1:8080/"` + "\n", "Listen 127.0.0.1:18081"},
			Recommended: {"ProxyTimeout 31", "upgrade=websocket", "flushpackets=on"},
		},
		"caddy": {
			Naive:       {"reverse_proxy 127.0.0.1:8080\n", "bind 127.0.0.1", "admin off"},
			Recommended: {"flush_interval -1", "read_timeout 31s"},
		},
	}
	for _, n := range Names() {
		for _, v := range Variants() {
			path := dir + "/" + n + "-" + v
			if err := render(specs[n].templates[v], d, path); err != nil {
				t.Fatalf("%s %s: %v", n, v, err)
			}
			text := readFile(t, path)
			for _, w := range want[n][v] {
				if !strings.Contains(text, w) {
					t.Errorf("%s %s: rendered config lacks %q", n, v, w)
				}
			}
			// (The run's directory, in the config's paths, may contain "31" by chance.)
			if v == Naive && strings.Contains(strings.ReplaceAll(text, dir, ""), "31") && n != "caddy" {
				t.Errorf("%s naive mentions StreamIdle (31)", n)
			}
			for _, bad := range []string{"/etc/", "/var/", "0.0.0.0", "<no value>"} {
				if strings.Contains(uncommented(text), bad) {
					t.Errorf("%s %s: rendered config contains %q", n, v, bad)
				}
			}
			if v == Recommended && !strings.Contains(text, "RECOMMENDED") {
				t.Errorf("%s recommended: no explaining header", n)
			}
		}
	}
}

func TestRemedies(t *testing.T) {
	for _, n := range Names() {
		if len(Facts(n)) == 0 {
			t.Errorf("%s: no facts", n)
		}
		for _, f := range Facts(n) {
			if f.Directive == "" || f.Default == "" || f.Source == "" || f.Naive == "" || f.Recommended == "" {
				t.Errorf("%s: incomplete fact %+v", n, f)
			}
		}
		for _, p := range NaiveBreaks(n) {
			if r := Remedy(n, p); strings.Contains(r, "no known remedy") {
				t.Errorf("%s breaks %s but has no remedy", n, p)
			}
		}
	}
	if r := Remedy("nginx", ProblemBuffering); !strings.Contains(r, "X-Accel-Buffering: no") || !strings.Contains(r, "proxy_buffering off;") {
		t.Errorf("nginx buffering remedy: %q", r)
	}
	if r := Remedy("caddy", "no-such-problem"); !strings.Contains(r, "no known remedy") {
		t.Errorf("unknown problem: %q", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// uncommented drops the comment lines (# in every config language used here).
func uncommented(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
