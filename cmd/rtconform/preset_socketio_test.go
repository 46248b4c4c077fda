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
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// socketIOVersion is the library version the server module pins.
const socketIOVersion = "v3.0.6"

// startSocketIO runs the server on a free loopback port until the test ends; it returns the
// base URL.
func startSocketIO(t *testing.T, bin string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-addr", addr, "-ping-interval", "1s", "-ping-timeout", "2s")
	base := "http://" + addr
	serveReal(t, "socketio", cmd, t.TempDir(), base+"/healthz", http.StatusOK, 20*time.Second)
	return base
}

func TestPresetSocketIO(t *testing.T) {
	t.Parallel()
	base := startSocketIO(t, buildNestedModule(t, "socketio", socketIOVersion))
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
