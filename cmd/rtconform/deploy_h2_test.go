package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	"github.com/rtconform/rtconform/proxies/haproxy"
	"github.com/rtconform/rtconform/proxies/nginx"
	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/proxy"
)

// h2Filter selects the HTTP/2 checks of the deployment cell.
const h2Filter = "proxy && (id:PX-H2-001 || id:PX-H2-002 || id:PX-H2-003 || id:PX-WS-008)"

// rtconform deploy over HTTP/2: with an https public URL that negotiates h2, the deployment
// cell judges PX-H2-001 (streams share one connection), PX-H2-003 (no connection-specific
// header field) and PX-WS-008 (WebSocket over HTTP/2, RFC 8441) over h2, and PX-H2-002 reports the protocol; the edge's CA is trusted the way a
// user's own CA is, through SSL_CERT_FILE. Each check is proved both ways on real proxies:
//   - HAProxy's recommended config offers extended CONNECT and carries it: both pass (exit 0);
//   - nginx capped at 4 concurrent streams per connection (`http2_max_concurrent_streams 4`)
//     fails PX-H2-001 (the client needs more connections; a browser would queue the 5th
//     EventSource), and PX-WS-008 reports that it offers no WebSocket over h2;
//   - HAProxy refusing upgrades that arrive over h2 (a WAF-like rule on HTTP/2) still offers
//     extended CONNECT: PX-WS-008 fails with the 403;
//   - nginx adding `Connection` and `Upgrade` (add_header) sends them over h2: PX-H2-003 fails;
//     HAProxy's h2 mux drops what `http-response set-header` adds: it passes;
//   - a plain-HTTP deployment: the h2 checks are NOT_SUPPORTED and PX-H2-002 reports HTTP/1.1
//     and the 6-connection limit.
func TestDeployH2(t *testing.T) {
	need.Require(t, "nginx", "haproxy")
	t.Parallel()
	origin := matrixReference(t)
	ca, err := proxyrun.NewTLS(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + ca.CAFile, "SSL_CERT_DIR=/nonexistent"}
	start := func(name, template string, tls *proxyrun.TLS) *proxyrun.Instance {
		t.Helper()
		u, _ := url.Parse(origin)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		inst, err := proxyrun.Start(ctx, name, proxyrun.Recommended, proxyrun.Options{Upstream: u.Host, Idle: 4 * time.Second,
			StreamIdle: 20 * time.Second, Heartbeat: 6 * time.Second, Dir: t.TempDir(), TLS: tls, Template: template})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = inst.Stop() })
		return inst
	}
	patch := func(tmpl, after, add string) string {
		t.Helper()
		if !strings.Contains(tmpl, after) {
			t.Fatalf("the template has no %q to patch", after)
		}
		return strings.Replace(tmpl, after, after+add, 1)
	}
	deploy := func(inst *proxyrun.Instance) result {
		return cliEnv(t, 3*time.Minute, env, "deploy", "--config", filepath.Join("proxies", "matrix.yaml"), "--target", inst.URL(),
			"--origin", origin, "--label-filter", h2Filter, "--report-dir", t.TempDir())
	}
	type want struct {
		verdict fw.Verdict
		text    string // in the message or a measurement
	}
	judge := func(what string, r result, code int, wants map[string]want) {
		t.Helper()
		if r.report == nil {
			t.Fatalf("%s: no report (exit %d)\n%s\n%s", what, r.code, r.stdout, r.stderr)
		}
		// The deployment's protocol column: what its URL negotiates (known once PX-H2-002 ran).
		if _, ok := wants["PX-H2-002"]; ok {
			proto := "h2"
			if strings.HasPrefix(what, "plain") {
				proto = "http/1.1"
			}
			for _, m := range r.report.Matrix {
				if m.Protocol != proto {
					t.Errorf("%s: matrix row %s@%s: protocol %q, want %s", what, m.ID, m.Cell, m.Protocol, proto)
				}
			}
		}
		if r.code != code {
			t.Errorf("%s: exit %d, want %d\n%s", what, r.code, code, r.stdout)
		}
		seen := map[string]bool{}
		for _, c := range r.report.Checks {
			w, ok := wants[c.ID]
			if !ok || c.Cell != proxy.Deployment {
				continue
			}
			seen[c.ID] = true
			text := c.Message + " " + c.Observed
			for _, m := range c.Measurements {
				text += " " + m.Name + "=" + m.Value
			}
			if c.Verdict != w.verdict || !strings.Contains(text, w.text) {
				t.Errorf("%s: %s %s (%s), want %s mentioning %q", what, c.ID, c.Verdict, clip(text, 600), w.verdict, w.text)
			}
		}
		for id := range wants {
			if !seen[id] {
				t.Errorf("%s: no verdict for %s in the deployment cell\n%s", what, id, r.stdout)
			}
		}
	}

	good := start("haproxy", "", ca)
	judge("haproxy recommended over h2", deploy(good), 0, map[string]want{
		"PX-H2-001": {fw.PASS, "connections=1"},
		"PX-WS-008": {fw.PASS, "offered (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)"},
		"PX-H2-002": {fw.INFOV, "HTTP/2 over TLS"},
		"PX-H2-003": {fw.PASS, "no connection-specific field"},
	})

	// Connection-specific fields added at the edge: nginx 1.22 sends add_header's Connection
	// and Upgrade over h2 as they are (a browser fails the response); HAProxy's h2 mux drops
	// what set-header adds.
	nginxConn := start("nginx", patch(nginx.Recommended, "ssl_certificate_key {{.Key}};",
		"\n        add_header Connection \"keep-alive\" always;\n        add_header Upgrade \"h2c\" always;"), ca)
	judge("nginx adding Connection and Upgrade", deploy(nginxConn), 1, map[string]want{
		"PX-H2-003": {fw.FAIL, "Connection: keep-alive"},
	})
	haConn := start("haproxy", patch(haproxy.Recommended, "alpn h2,http/1.1{{end}}",
		"\n    http-response set-header Connection keep-alive\n    http-response set-header Upgrade h2c"), ca)
	judge("haproxy setting Connection and Upgrade", deploy(haConn), 0, map[string]want{
		"PX-H2-003": {fw.PASS, "no connection-specific field"},
	})

	capped := start("nginx", patch(nginx.Recommended, "ssl_certificate_key {{.Key}};", "\n        http2_max_concurrent_streams 4;"), ca)
	judge("nginx capped at 4 streams", deploy(capped), 1, map[string]want{
		"PX-H2-001": {fw.FAIL, "the 8 streams on one HTTP/2 connection"}, // 2 or 3 connections: dials race
		"PX-WS-008": {fw.PASS, "not offered"},
		"PX-H2-002": {fw.INFOV, "up to 4 at once"},
	})

	refusing := start("haproxy", patch(haproxy.Recommended, "alpn h2,http/1.1{{end}}",
		"\n    http-request deny deny_status 403 if { req.ver 2.0 } { req.hdr(upgrade) -m found }"), ca)
	judge("haproxy refusing upgrades over h2", deploy(refusing), 1, map[string]want{
		"PX-H2-001": {fw.PASS, "connections=1"},
		"PX-WS-008": {fw.FAIL, "403"},
	})

	plain := start("nginx", "", nil)
	judge("plain HTTP", deploy(plain), 0, map[string]want{
		"PX-H2-001": {fw.NOTSUPPORTED, "does not speak HTTP/2"},
		"PX-H2-003": {fw.NOTSUPPORTED, "does not speak HTTP/2"},
		"PX-WS-008": {fw.NOTSUPPORTED, "does not speak HTTP/2"},
		"PX-H2-002": {fw.INFOV, "at most 6 connections"},
	})
}
