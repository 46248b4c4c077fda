package main

// Real third-party servers as targets (the presets' tests): built once from their Go modules
// into the user cache, started on a free loopback port, stopped when the test ends, and their
// verdict tables compared with the documented findings.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/freeport"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// buildLocks keeps parallel tests from building the same binary at once.
var buildLocks sync.Map // path → *sync.Mutex

// cachedBinary returns os.UserCacheDir()/rtconform/thirdparty/<dir>/<name>, building it first
// when it is absent: build returns the command that writes the binary to the path it is
// given. Builds take minutes cold (a few seconds with Go's build cache warm); the cache makes
// every later run free.
func cachedBinary(t *testing.T, dir, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "rtconform", "thirdparty", dir, name)
	mu, _ := buildLocks.LoadOrStore(bin, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, err := os.Stat(bin); err == nil {
		t.Logf("%s: cached %s", name, bin)
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tmp := bin + fmt.Sprintf(".tmp%d", os.Getpid())
	cmd := build(tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: built %s in %s", name, bin, time.Since(start).Round(time.Second))
	return bin
}

// buildNestedModule builds the server of a nested module under fixtures/thirdparty (its own
// go.mod, keeping its dependencies out of the main module), cached by the content of its
// main.go, go.mod and go.sum; env is added to the go command's environment.
func buildNestedModule(t *testing.T, module, version string, env ...string) string {
	t.Helper()
	src := filepath.Join(root, "fixtures", "thirdparty", module)
	h := sha256.New()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	name := module + "-" + hex.EncodeToString(h.Sum(nil))[:12]
	return cachedBinary(t, module+"-"+version, name, func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), env...)
		return cmd
	})
}

// freeAddr returns a loopback address reserved for the test (internal/freeport): a port
// only free a moment ago could be taken by another test's server, which would then answer
// this one's readiness probe. Registered first, the release runs after the server's stop.
func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Release)
	return "127.0.0.1:" + p.String()
}

// serveReal starts cmd (a real server) in a process group of its own, its output in a log in
// logDir, and stops the group when the test ends (SIGTERM, SIGKILL after 10 s). It returns
// once GET u answers status want, and fails the test with the server's log when the server
// exits first or bound passes.
func serveReal(t *testing.T, name string, cmd *exec.Cmd, logDir, u string, want int, bound time.Duration) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
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
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = logf.Close()
	})
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(bound); ; {
		res, err := c.Get(u)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == want {
				return
			}
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited before it was ready:\n%s", name, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s: %s did not answer %d within %s (last: %v)\n%s", name, u, want, bound, err, out)
		}
	}
}

// requireFindings compares a run's FAIL and WARN checks with the documented findings,
// exactly, reports every ERROR, and returns the verdict of each check and the number passed.
func requireFindings(t *testing.T, name string, r result, wantFail, wantWarn []string) (map[string]fw.Verdict, int) {
	t.Helper()
	var failed, warned []string
	passed := 0
	verdicts := map[string]fw.Verdict{}
	for _, c := range r.report.Checks {
		verdicts[c.ID] = c.Verdict
		switch c.Verdict {
		case fw.PASS:
			passed++
		case fw.FAIL:
			failed = append(failed, c.ID)
		case fw.WARN:
			warned = append(warned, c.ID)
		case fw.ERROR:
			t.Errorf("%s: harness error against %s: %s", c.ID, name, c.Message)
		}
	}
	for _, v := range []struct {
		verdict   string
		got, want []string
	}{{"FAIL", failed, wantFail}, {"WARN", warned, wantWarn}} {
		got, want := slices.Sorted(slices.Values(v.got)), slices.Sorted(slices.Values(v.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s checks differ from the documented findings:\n  unexpected: %v\n  no longer %s: %v",
				name, v.verdict, diff(got, want), v.verdict, diff(want, got))
		}
	}
	if len(failed) > 0 && r.code != 1 {
		t.Errorf("%s: exit %d with %d failing MUST checks, want 1", name, r.code, len(failed))
	}
	t.Logf("%s: %d passed, %d failed, %d warned: %s", name, passed, len(failed), len(warned), summaryLine(r.stdout))
	return verdicts, passed
}
