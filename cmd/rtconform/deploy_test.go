package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	"github.com/rtconform/rtconform/proxies/proxyrun"
	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
	"github.com/rtconform/rtconform/suites/proxy"
)

// rtconform deploy over the proxy matrix: the reference (proxies/matrix.yaml's timings)
// behind each proxy's naive and recommended config, judged as a deployment.
//   - recommended, no --origin: the wire suites go through the proxy. Exit 0, nothing
//     FAILs, WARNs or is BLOCKED: the rules a proxy legitimately changes are INFO.
//   - recommended, --origin, the path checks only (--label-filter proxy): exit 0, clean.
//   - naive, --origin: exit 1; the server (judged on the origin) is clean, and the path fails
//     exactly what the proxy matrix documents for that config (proxy.NaiveBreaks), each with
//     a remedy and a cause. nginx runs the whole command; the others the path checks only
//     (their origin side is the same reference).
//
// The idle limits are the rendered ones (naive 4 s, recommended 20 s); the recommended runs
// do not wait out 20 s (--max-idle-wait 10s) but measure the margin.
func TestDeployMatrix(t *testing.T) {
	for _, name := range proxyrun.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			need.Require(t, name)
			origin := matrixReference(t)
			rec := startProxy(t, name, proxyrun.Recommended, origin)
			naive := startProxy(t, name, proxyrun.Naive, origin)
			matrix := filepath.Join("proxies", "matrix.yaml")

			r := cli(t, 6*time.Minute, "deploy", "--config", matrix, "--target", rec.URL(), "--idle", "20s", "--max-idle-wait", "10s",
				"--report-dir", t.TempDir())
			judgeDeploy(t, name+" recommended, no origin", r, nil)

			r = cli(t, 4*time.Minute, "deploy", "--config", matrix, "--target", rec.URL(), "--origin", origin, "--idle", "20s",
				"--max-idle-wait", "10s", "--label-filter", "proxy", "--report-dir", t.TempDir())
			judgeDeploy(t, name+" recommended, origin", r, nil)

			args := []string{"deploy", "--config", matrix, "--target", naive.URL(), "--origin", origin, "--idle", "4s", "--report-dir", t.TempDir()}
			if name != "nginx" {
				args = append(args, "--label-filter", "proxy")
			}
			r = cli(t, 6*time.Minute, args...)
			judgeDeploy(t, name+" naive, origin", r, proxy.NaiveBreaks[name])
		})
	}
	// A buffering path without the origin: nginx's naive config in front of an origin that
	// does not send X-Accel-Buffering. Buffering is reported once per stream transport, as
	// the cause its checks are BLOCKED by (SSE, the HTTP stream), instead of each check
	// waiting out its timeout.
	t.Run("buffering", func(t *testing.T) {
		t.Parallel()
		need.Require(t, "nginx")
		origin := strippedReference(t, "X-Accel-Buffering")
		inst := startProxy(t, "nginx", proxyrun.Naive, origin)
		r := cli(t, 6*time.Minute, "deploy", "--config", filepath.Join("proxies", "matrix.yaml"), "--target", inst.URL(), "--idle", "4s",
			"--report-dir", t.TempDir())
		if r.report == nil {
			t.Fatalf("no report (exit %d)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		// Both streams are held (the HTTP stream goes without X-Accel-Buffering too): each
		// transport's wire checks are BLOCKED under its own buffering cause.
		for _, w := range []struct {
			tr  fw.Transport
			min int // the transport's suite, at least
		}{{fw.SSE, 20}, {fw.HTTPStream, 10}} {
			key := "buffering:" + string(w.tr)
			var buffering *fw.CauseGroup
			for i, g := range r.report.Summary.Causes {
				if g.Key == key {
					buffering = &r.report.Summary.Causes[i]
				}
			}
			if buffering == nil {
				t.Errorf("no %s cause; causes %+v", key, r.report.Summary.Causes)
				continue
			}
			blocked := 0
			for _, c := range r.report.Checks {
				switch {
				case c.Transport != w.tr || c.Cell != "":
				case c.Verdict == fw.BLOCKED:
					blocked++
					if c.Cause == nil || c.Cause.Key != key {
						t.Errorf("%s BLOCKED by %+v, want %s", c.Key(), c.Cause, key)
					}
				case c.Verdict == fw.FAIL || c.Verdict == fw.WARN:
					t.Errorf("%s %s behind a buffering path, want BLOCKED by buffering: %s", c.Key(), c.Verdict, c.Message)
				}
			}
			if blocked < w.min || len(buffering.Checks) < blocked {
				t.Errorf("%d %s checks BLOCKED, %d under the buffering cause: want the suite (≥ %d) grouped under it", blocked, w.tr, len(buffering.Checks), w.min)
			}
		}
		if !strings.Contains(r.stdout, "buffer") || !strings.Contains(r.stdout, "the path in front of it") {
			t.Errorf("the console does not name buffering and the path:\n%s", r.stdout)
		}
	})
}

// judgeDeploy requires a deployment run to report exactly breaks as the path's FAIL/WARN
// (deployment cell), each with a remedy and a cause, nothing else FAILing, WARNing, BLOCKED or
// in ERROR, and the exit code that implies.
func judgeDeploy(t *testing.T, what string, r result, breaks []string) {
	t.Helper()
	if r.report == nil {
		t.Errorf("%s: no report (exit %d)\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
		return
	}
	var path, other []string
	for _, c := range r.report.Checks {
		switch {
		case c.Verdict != fw.FAIL && c.Verdict != fw.WARN && c.Verdict != fw.BLOCKED && c.Verdict != fw.ERROR:
		case c.Cell == proxy.Deployment && c.Verdict != fw.ERROR && c.Verdict != fw.BLOCKED:
			path = append(path, c.ID)
			if strings.TrimSpace(c.Remedy) == "" || c.Cause == nil {
				t.Errorf("%s: %s %s without a remedy or a cause (remedy %q, cause %+v)", what, c.Verdict, c.Key(), c.Remedy, c.Cause)
			}
		default:
			other = append(other, fmt.Sprintf("%s %s: %s", c.Verdict, c.Key(), clip(c.Message, 400)))
		}
	}
	slices.Sort(path)
	want := slices.Sorted(slices.Values(breaks))
	if !slices.Equal(path, want) {
		t.Errorf("%s: the path fails %v, want exactly %v", what, path, want)
	}
	if len(other) > 0 {
		t.Errorf("%s: findings outside the path's expected ones:\n  %s", what, strings.Join(other, "\n  "))
	}
	code := 0
	for _, id := range breaks {
		if c, ok := fw.Lookup(id + "@" + proxy.Deployment); ok && c.Level == fw.MUST {
			code = 1
		}
	}
	if r.code != code {
		t.Errorf("%s: exit %d, want %d", what, r.code, code)
	}
	if !strings.Contains(r.stdout, "the server (judged") || !strings.Contains(r.stdout, "the path in front of it") {
		t.Errorf("%s: the console has no attribution (server / path)", what)
	}
	if t.Failed() {
		t.Logf("%s: stdout:\n%s\nstderr:\n%s", what, r.stdout, r.stderr)
	}
}

// matrixReference starts the reference with proxies/matrix.yaml's timings and returns its URL.
func matrixReference(t *testing.T) string {
	t.Helper()
	cfg := reference.Config{Addr: "127.0.0.1:0", Heartbeat: 6 * time.Second, PingInterval: 6 * time.Second,
		PollTimeout: 6 * time.Second, Retry: 3 * time.Second, AllowedOrigins: []string{"app.example"}}
	cfg.Log.MaxEvents = 150
	return fwtest.Reference(t, cfg)
}

// startProxy puts a proxy with a config in front of origin, as proxies/matrix.yaml renders it
// (idle 4 s, stream idle 20 s, heartbeat 6 s); it is stopped when the test ends.
func startProxy(t *testing.T, name, variant, origin string) *proxyrun.Instance {
	t.Helper()
	u, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst, err := proxyrun.Start(ctx, name, variant, proxyrun.Options{Upstream: u.Host, Idle: 4 * time.Second,
		StreamIdle: 20 * time.Second, Heartbeat: 6 * time.Second, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Stop() })
	return inst
}
