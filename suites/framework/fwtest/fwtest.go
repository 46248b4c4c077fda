// Package fwtest holds the helpers the suites' own tests share: an in-process reference
// server and a deployment run through a URL, for probing a path without the CLI.
package fwtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// Reference starts the reference server in-process with cfg (on a free loopback port when
// cfg.Addr is empty), stops it when the test ends, and returns its URL.
func Reference(t testing.TB, cfg reference.Config) string {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv := reference.New(cfg)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv.URL()
}

// DeploymentRun is a run of the built-in profile validating a deployment through base
// (deploy.public, no origin), declaring caps when given: what a probe sees.
func DeploymentRun(base string, caps ...fw.Capability) *fw.Run {
	p := fw.Defaults()
	if caps != nil {
		p.Target.Capabilities = caps
	}
	p.Deploy.Public = base
	return &fw.Run{Profile: p, BaseURL: base, ID: "0123456789abcdef0123456789abcdef", HTTP: &http.Client{}}
}

// ProbePassesCorrectPaths requires probe to name no cause through each of CorrectPaths —
// quickly (a live path answers in milliseconds; 3 s is the generous bound) — both with the
// default profile and with only the transport capability tr declared (no publish hook).
func ProbePassesCorrectPaths(t *testing.T, probe fw.Probe, tr fw.Capability) {
	t.Helper()
	for _, base := range CorrectPaths(t) {
		start := time.Now()
		if c := probe(context.Background(), DeploymentRun(base)); c != nil {
			t.Errorf("through %s: cause %+v, want none", base, *c)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("through %s: the probe took %s on a live path", base, d)
		}
		if c := probe(context.Background(), DeploymentRun(base, tr)); c != nil {
			t.Errorf("through %s without publish: cause %+v, want none", base, *c)
		}
	}
}

// CorrectPaths starts the reference and a streaming reverse proxy in front of it (Go's
// httputil, a correct intermediary) and returns both URLs: the paths a probe must pass.
func CorrectPaths(t testing.TB) []string {
	t.Helper()
	ref := Reference(t, reference.Config{})
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(proxy.Close)
	return []string{ref, proxy.URL}
}

// BadGatewayProxy is a reverse proxy whose upstream is gone, so it answers every request
// 502 Bad Gateway; it returns its URL.
func BadGatewayProxy(t testing.TB) string {
	t.Helper()
	gone := httptest.NewServer(http.NotFoundHandler())
	u, err := url.Parse(gone.URL)
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(proxy.Close)
	return proxy.URL
}

// OpenSSE opens the event stream at url with the request headers hdr (resume headers, or
// nil) and closes it when the test ends. The response headers must come within 5 s; the
// stream itself has no deadline. A status other than 200 fails the test.
func OpenSSE(t testing.TB, url string, hdr http.Header) *sseclient.Stream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	// The context governs the whole stream: the timer bounds the handshake only.
	sctx, scancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(5*time.Second, scancel)
	s, err := sseclient.Open(sctx, &http.Client{}, req, sseclient.Limits{})
	if !timer.Stop() && err == nil {
		err = errors.New("no response headers within 5s")
	}
	if err != nil {
		scancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close(); scancel() })
	if s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, s.Resp.Status)
	}
	return s
}
