package framework

import (
	"errors"
	"net/url"
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
		{"target:\n  url: http://h:1\n  capabilities: [websocket, resume]\n  websocket: {path: /w}\n", "target.websocket.resume", "query, path or message"},
		{"target:\n  url: http://h:{port}\n  capabilities: []\n", "target.url", "{port}"},
		{"target:\n  publish: {path: /p, body: {type: json}}\n", "target.publish.body.pointer", "JSON pointer"},
		{"proxies: {cells: [squid]}\n", "proxies.cells[0]", "squid"},
		{"proxies: {cells: [nginx:naive:h3]}\n", "proxies.cells[0]", "only :h2 may follow"},
		{"proxies: {cells: [nginx:fast]}\n", "proxies.cells[0]", "naive or recommended"},
		{"target: [1, 2]\n", "target", "mapping"},
		{"target:\n  url: http://h:1\n  capabilities: [sse]\n  sse: {path: /s, reset: {header: 'Last Event'}}\n", "target.sse.reset.header", "not an HTTP header name"},
		// The reference's reset event is a default: a header on top of it is ambiguous.
		{"target:\n  sse: {reset: {header: Last-Event-ID}}\n", "target.sse.reset", "either event or header"},
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

func TestLoadSSEResetHeader(t *testing.T) {
	path := write(t, "target:\n  url: http://127.0.0.1:9000\n  capabilities: [sse, resume, publish]\n  sse: {path: /s, reset: {header: Last-Event-ID}}\n  publish: {path: /p}\n")
	p, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Target.SSE.Reset; r.Header != "Last-Event-ID" || r.Event != "" {
		t.Fatalf("sse.reset: %+v", r)
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
		var o Overrides
		if raw, _ := os.ReadFile(m); strings.Contains(string(raw), "\npreset:") {
			u := "http://127.0.0.1:9" // a profile refining a preset is run with --target
			o.Target = &u
		}
		if _, err := Load(m, o); err != nil {
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

func TestLoadSSEEnvelope(t *testing.T) {
	p, err := Load(write(t, "target:\n  sse:\n    envelope: {id: /pub/offset, data: /pub/data}\n"), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Target.SSE.Envelope; e == nil || e.ID != "/pub/offset" || e.Data != "/pub/data" {
		t.Fatalf("envelope: %+v", e)
	}
	if p, _ := Load("", Overrides{}); p.Target.SSE.Envelope != nil {
		t.Fatal("no envelope by default: the SSE data is the payload")
	}
	cases := []struct{ yaml, key, line string }{
		{"target:\n  sse:\n    envelope: {id: /pub/offset}\n", "target.sse.envelope.data", "profile.yaml:3:"},
		{"target:\n  sse:\n    envelope:\n      data: pub/data\n", "target.sse.envelope.data", "profile.yaml:4:"},
		{"target:\n  sse:\n    envelope:\n      data: /d\n      id: offset\n", "target.sse.envelope.id", "profile.yaml:5:"},
		{"target:\n  sse:\n    envelope: {data: /d, offset: /o}\n", "target.sse.envelope.offset", "profile.yaml:3:"},
	}
	for _, c := range cases {
		_, err := Load(write(t, c.yaml), Overrides{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(err.Error(), c.line+" "+c.key) {
			t.Errorf("%q: got %v, want %s %s", c.yaml, err, c.line, c.key)
		}
	}
}

func TestSSEEnvelopeOpen(t *testing.T) {
	e := &SSEEnvelope{ID: "/pub/offset", Data: "/pub/data"}
	cases := []struct {
		data, id, payload string
		ok                bool
	}{
		{`{"channel":"hist:t","pub":{"data":"{\"seq\":1}","offset":7}}`, "7", `{"seq":1}`, true},
		{`{"pub":{"data": {"b":1, "a":[1,2]} ,"offset":8}}`, "8", `{"b":1, "a":[1,2]}`, true}, // raw text, as sent
		{`{"pub":{"data":12.50}}`, "", "12.50", true},
		{`{"connect":{"client":"c","subs":{}}}`, "", "", false}, // a connect reply: skipped
		{`{}`, "", "", false}, // a ping: skipped
		{`{"pub":{"data":null,"offset":1}}`, "", "", false},
		{`not json`, "", "", false},
		{`{"pub":["x"]}`, "", "", false},
	}
	for _, c := range cases {
		id, payload, ok := e.Open(c.data)
		if id != c.id || payload != c.payload || ok != c.ok {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, %v)", c.data, id, payload, ok, c.id, c.payload, c.ok)
		}
	}
	if _, p, ok := (&SSEEnvelope{Data: "/a/1"}).Open(`{"a":["x","y"]}`); !ok || p != "y" {
		t.Errorf("array index: %q %v", p, ok)
	}
	var none *SSEEnvelope
	if id, p, ok := none.Open(`{"pub":1}`); id != "" || p != `{"pub":1}` || !ok {
		t.Errorf("no envelope: the data is the payload, got (%q, %q, %v)", id, p, ok)
	}
}

func TestPathEncodesTheQuery(t *testing.T) {
	cases := []struct{ tmpl, want string }{
		{"/sse/{topic}", "/sse/t1"},
		{`/connection/uni_sse?cf_connect={"subs":{"hist:{topic}":{}}}`, "/connection/uni_sse?cf_connect=%7B%22subs%22:%7B%22hist:t1%22:%7B%7D%7D%7D"},
		{"/.well-known/mercure?topic={topic}&x=a%20b", "/.well-known/mercure?topic=t1&x=a%20b"}, // valid: byte for byte
		{"/s?q=a b#c&ü=%zz", "/s?q=a%20b%23c&%C3%BC=%25zz"},
	}
	for _, c := range cases {
		if got := Path(c.tmpl, "t1"); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
	// The connect request reaches the server as written.
	u, err := url.Parse("http://h" + Path(`/c?cf_connect={"subs":{"hist:{topic}":{}}}`, "t1"))
	if err != nil || u.Query().Get("cf_connect") != `{"subs":{"hist:t1":{}}}` {
		t.Errorf("decoded: %v %q", err, u.Query().Get("cf_connect"))
	}
}
