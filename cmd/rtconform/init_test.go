package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// rtconform init against servers nobody described: the reference (every stream transport,
// publish, resume with its loss signals, keep-alives, retry) writes a profile with which a
// default run passes everything it judges; r3labs/sse (the third-party SSE server of
// fixtures/thirdparty) gets a profile declaring only SSE, publish and resume, with TODO
// lines for what it does not show; a URL that answers none of the usual paths, and an
// existing output file, are errors (exit 2).
func TestInit(t *testing.T) {
	t.Run("reference", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		out := filepath.Join(dir, "profile.yaml")
		r := cli(t, 2*time.Minute, "init", "--target", probeReference(t), "--publish", "/publish/{topic}", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		p := loadInit(t, out, "sse", "websocket", "httpstream", "publish", "resume", "heartbeat", "retry")
		if p.Target.SSE.Reset.Event != "reset" || p.Target.WebSocket.Resume.Query != "since" || p.Target.WebSocket.Reset.Value != "reset" ||
			p.Target.HTTPStream.Resume.Query != "since" || p.Target.Envelope.Data != "/data" || p.Target.Envelope.ID != "/id" {
			t.Errorf("what init found is not what the reference does: %+v", p.Target)
		}
		run := cli(t, 5*time.Minute, "run", "--config", out, "--report-dir", filepath.Join(dir, "report"))
		if run.code != 0 || run.report == nil {
			t.Fatalf("run with the profile init wrote: exit %d\n%s%s", run.code, run.stdout, run.stderr)
		}
		for _, c := range run.report.Checks {
			if c.Verdict != fw.PASS && c.Verdict != fw.NOTSUPPORTED && c.Verdict != fw.INFOV {
				t.Errorf("%s: %s %s", c.Key(), c.Verdict, c.Message)
			}
		}
	})
	t.Run("sse-only", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		addr := freeAddr(t)
		cmd := exec.Command("go", "run", "./fixtures/thirdparty/cmd/thirdparty-sse", "-addr", addr, "r3labs")
		cmd.Dir = root
		serveReal(t, "r3labs", cmd, dir, "http://"+addr+"/healthz", http.StatusOK, 3*time.Minute)
		out := filepath.Join(dir, "profile.yaml")
		r := cli(t, 2*time.Minute, "init", "--target", "http://"+addr, "--publish", "/publish/{topic}", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		p := loadInit(t, out, "sse", "publish", "resume")
		if p.Target.WebSocket != nil || p.Target.HTTPStream != nil || p.Target.LongPoll != nil {
			t.Errorf("transports declared that the server does not have: %+v", p.Target)
		}
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), "# TODO heartbeat") {
			t.Errorf("no TODO line for the heartbeat it could not see:\n%s", b)
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		nothing := httptest.NewServer(http.NotFoundHandler())
		defer nothing.Close()
		dir := t.TempDir()
		r := cli(t, time.Minute, "init", "--target", nothing.URL, "--out", filepath.Join(dir, "p.yaml"))
		if r.code != 2 || !strings.Contains(r.stderr, "no SSE, WebSocket or HTTP stream endpoint answered") {
			t.Errorf("nothing to find: exit %d, %s", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "p.yaml")); err == nil {
			t.Errorf("a profile was written for a server with nothing found")
		}
		exists := filepath.Join(dir, "exists.yaml")
		if err := os.WriteFile(exists, []byte("keep me\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r = cli(t, time.Minute, "init", "--target", nothing.URL, "--out", exists)
		if b, _ := os.ReadFile(exists); r.code != 2 || string(b) != "keep me\n" || !strings.Contains(r.stderr, "--force") {
			t.Errorf("an existing file: exit %d, %s; file %q", r.code, r.stderr, b)
		}
		if r := cli(t, time.Minute, "init", "--target", "ftp://x"); r.code != 2 {
			t.Errorf("a bad --target: exit %d", r.code)
		}
	})
}

// loadInit loads the profile init wrote (it must load) and requires exactly these capabilities.
func loadInit(t *testing.T, path string, caps ...string) fw.Profile {
	t.Helper()
	p, err := fw.Load(path, fw.Overrides{})
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("the profile does not load: %v\n%s", err, b)
	}
	var got []string
	for _, c := range p.Target.Capabilities {
		got = append(got, string(c))
	}
	slices.Sort(got)
	slices.Sort(caps)
	if !slices.Equal(got, caps) {
		b, _ := os.ReadFile(path)
		t.Errorf("capabilities %v, want %v\n%s", got, caps, b)
	}
	return p
}
