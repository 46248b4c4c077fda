package framework

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaultsFileFlagsPrecedence(t *testing.T) {
	p, err := Load("", Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.URL != "" || !p.Target.Has(CapSSE) || p.Report.Dir != "rtconform-report" {
		t.Fatalf("defaults: %+v", p)
	}
	path := write(t, "strict: true\nreport: {dir: out}\ntarget:\n  longpoll: {timeout: 7s}\n")
	p, err = Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Strict || p.Report.Dir != "out" || p.Target.LongPoll.Timeout.D() != 7*time.Second || p.Target.SSE.Path != "/sse/{topic}" {
		t.Fatalf("file over defaults: %+v", p)
	}
	no, dir := false, "flagdir"
	p, err = Load(path, Overrides{Strict: &no, ReportDir: &dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Strict || p.Report.Dir != "flagdir" {
		t.Fatalf("flags over file: strict=%v dir=%q", p.Strict, p.Report.Dir)
	}
}

func TestLoadExternalTargetStartsFromScratch(t *testing.T) {
	path := write(t, "target:\n  url: http://127.0.0.1:9000\n  capabilities: [websocket]\n  websocket: {path: /live}\n")
	p, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.SSE != nil || p.Target.Has(CapSSE) || p.Target.Publish != nil {
		t.Fatalf("the reference's description leaked into an external target: %+v", p.Target)
	}
	if p.Target.Envelope.Data != "/data" || p.Target.Name != "http://127.0.0.1:9000" {
		t.Fatalf("conventional defaults missing: %+v", p.Target)
	}
}

func TestLoadErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct{ yaml, key, msg string }{
		{"target:\n  sse:\n    paht: /x\n", "target.sse.paht", "unknown key"},
		{"strict: maybe\n", "strict", "bool"},
		{"target:\n  url: http://h:1/path\n  capabilities: [sse]\n  sse: {path: /s}\n", "target.url", "has a path"},
		{"target:\n  url: http://h:1\n  capabilities: [sse, publish]\n  sse: {path: /s}\n", "target.publish", "required"},
		{"target:\n  url: http://h:1\n  capabilities: [websocket, resume]\n  websocket: {path: /w}\n", "target.websocket.resume", "query or message"},
		{"target:\n  url: http://h:{port}\n  capabilities: []\n", "target.url", "{port}"},
		{"target:\n  publish: {path: /p, body: {type: json}}\n", "target.publish.body.pointer", "JSON pointer"},
		{"proxies: {cells: [squid]}\n", "proxies.cells[0]", "squid"},
		{"target: [1, 2]\n", "target", "mapping"},
	}
	for _, c := range cases {
		path := write(t, c.yaml)
		_, err := Load(path, Overrides{})
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: want a *ConfigError, got %v", c.yaml, err)
			continue
		}
		if ce.Key != c.key || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: got %q (key %q), want key %q and %q", c.yaml, err, ce.Key, c.key, c.msg)
		}
	}
	// The unknown key is reported with its line.
	_, err := Load(write(t, "report: {dir: x}\ntarget:\n  name: n\n  capabilties: [sse]\n"), Overrides{})
	if err == nil || !strings.Contains(err.Error(), "profile.yaml:4: target.capabilties") {
		t.Errorf("want file:line: key, got %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), Overrides{}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestRepositoryProfileIsValid(t *testing.T) {
	p, err := Load("../../ginkgo.yaml", Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Capability{CapSSE, CapWebSocket, CapLongPoll, CapPublish, CapResume} {
		if !p.Target.Has(c) {
			t.Errorf("ginkgo.yaml does not declare %s", c)
		}
	}
	t.Setenv("RTCONFORM_FIXTURE", "sse-buffered")
	matches, _ := filepath.Glob("../../fixtures/profiles/*.yaml")
	if len(matches) == 0 {
		t.Fatal("no fixture profiles")
	}
	for _, m := range matches {
		if _, err := Load(m, Overrides{}); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestPlaceJSON(t *testing.T) {
	b, err := placeJSON(`{"channel":"c","meta":{"x":1}}`, "/meta/payload", "a\"b")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"channel":"c","meta":{"payload":"a\"b","x":1}}` {
		t.Fatalf("got %s", b)
	}
	if _, err := placeJSON(`[1]`, "/a", "v"); err == nil {
		t.Fatal("an array template must be refused")
	}
}
