package main

// The socketio preset against a real Socket.IO server: fixtures/thirdparty/socketio, built
// from github.com/zishang520/socket.io (servers/socket/v3 v3.0.6) in a module of its own.
//
// Known verdicts (the Engine.IO checks, --label-filter engineio):
//
//	                          preset socketio    + publish hook (fixtures/profiles/socketio-publish.yaml)
//	FB-EIO-001 handshake      PASS               PASS
//	FB-EIO-002 heartbeat      PASS               PASS
//	FB-EIO-003 upgrade        PASS               PASS
//	FB-EIO-004 no loss        NOT_SUPPORTED      PASS   (needs publish: Socket.IO has no publish API)
//	FB-EIO-005 poll refused   PASS               PASS
//	FB-EIO-006 second WS      PASS               PASS   (the library accepts it, then resets it)
//	FB-EIO-007 ping timeout   PASS               PASS
//
// Both runs exit 0. Build cost: the server is built once per content of its module (main.go,
// go.mod, go.sum) into os.UserCacheDir()/rtconform/thirdparty/socketio-v3.0.6/. Measured on 2
// shared cores: the module download about 10 s; the compile 97 s with an empty Go build cache
// (the standard library included), 24 s with only the library's packages to compile, 2 s
// with Go's build cache warm, nothing when the binary is cached. The two runs take about 10 s
// each, in parallel.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// socketIOVersion is the library version the server module pins.
const socketIOVersion = "v3.0.6"

// buildSocketIO returns the server binary, building it when no build of this module content
// is cached.
func buildSocketIO(t *testing.T) string {
	t.Helper()
	src := filepath.Join(root, "fixtures", "thirdparty", "socketio")
	h := sha256.New()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "rtconform", "thirdparty", "socketio-"+socketIOVersion, "socketio-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(bin); err == nil {
		t.Logf("socketio server: cached %s", bin)
		return bin
	}
	start := time.Now()
	tmp := bin + fmt.Sprintf(".tmp%d", os.Getpid())
	build := exec.Command("go", "build", "-o", tmp, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("socketio server: built %s in %s", bin, time.Since(start).Round(time.Second))
	return bin
}

// startSocketIO runs the server on a free loopback port until the test ends; it returns the
// base URL.
func startSocketIO(t *testing.T, bin string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.Command(bin, "-addr", addr, "-ping-interval", "1s", "-ping-timeout", "2s")
	logf, err := os.Create(filepath.Join(t.TempDir(), "socketio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	base := "http://" + addr
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := c.Get(base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("the socketio server exited before it was ready:\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socketio server at %s is not ready within 20 s (last: %v)", base, err)
		}
	}
}

func TestPresetSocketIO(t *testing.T) {
	t.Parallel()
	base := startSocketIO(t, buildSocketIO(t))
	pass := fw.PASS
	for _, c := range []struct {
		name string
		args []string
		want map[string]fw.Verdict
	}{
		// No label filter: a target declaring engineio gets the (opt-in) Engine.IO checks
		// by default; everything else is NOT_SUPPORTED.
		{"preset", []string{"--preset", "socketio"}, map[string]fw.Verdict{
			"FB-EIO-001": pass, "FB-EIO-002": pass, "FB-EIO-003": pass, "FB-EIO-004": fw.NOTSUPPORTED,
			"FB-EIO-005": pass, "FB-EIO-006": pass, "FB-EIO-007": pass}},
		{"with-publish", []string{"--config", filepath.Join("fixtures", "profiles", "socketio-publish.yaml"), "--label-filter", "engineio"}, map[string]fw.Verdict{
			"FB-EIO-001": pass, "FB-EIO-002": pass, "FB-EIO-003": pass, "FB-EIO-004": pass,
			"FB-EIO-005": pass, "FB-EIO-006": pass, "FB-EIO-007": pass}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append([]string{"run"}, c.args...)
			args = append(args, "--target", base, "--report-dir", dir)
			r := cli(t, 5*time.Minute, args...)
			if r.report == nil {
				t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			got := map[string]fw.Verdict{}
			for _, res := range r.report.Checks {
				got[res.ID] = res.Verdict
				if res.Verdict == fw.ERROR {
					t.Errorf("%s: harness error: %s", res.ID, res.Message)
				}
			}
			for id, v := range c.want {
				if got[id] != v {
					t.Errorf("%s: %s, want %s", id, got[id], v)
				}
			}
			for id, v := range got {
				if _, ok := c.want[id]; !ok && v != fw.NOTSUPPORTED {
					t.Errorf("%s ran (%s) but is not in the documented table", id, v)
				}
			}
			if r.code != 0 {
				t.Errorf("exit %d, want 0", r.code)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
			t.Logf("%s", summaryLine(r.stdout))
		})
	}
}
