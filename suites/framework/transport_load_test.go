package framework

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadHTTPStream(t *testing.T) {
	base := "target:\n  url: http://127.0.0.1:9\n  capabilities: [httpstream, resume]\n"
	p, err := Load(write(t, base+"  httpstream: {path: '/stream/{topic}', resume: {query: since}}\n  envelope: {id: /pub/offset}\n"), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	h := p.Target.HTTPStream
	if h.Method != "GET" || h.Envelope.ID != "/pub/offset" || h.Envelope.Data != "/data" {
		t.Errorf("defaults: method %q, envelope %+v (want GET and target.envelope's pointers)", h.Method, *h.Envelope)
	}
	for _, c := range []struct{ body, key, msg string }{
		{"", "target.httpstream", "is required when capability \"httpstream\""},
		{"  httpstream: {path: stream}\n", "target.httpstream.path", "must start with /"},
		{"  httpstream: {path: /s, method: PUT}\n", "target.httpstream.method", `"PUT" is not GET or POST`},
		{"  httpstream: {path: /s, body: '{}'}\n", "target.httpstream.body", "a GET has no body"},
		{"  httpstream: {path: /s}\n", "target.httpstream.resume", "needs query or body"},
		{"  httpstream: {path: /s, method: POST, resume: {query: a, body: b}}\n", "target.httpstream.resume", "either query or body"},
		{"  httpstream: {path: /s, resume: {query: a}, reset: {pointer: type}}\n", "target.httpstream.reset.pointer", "not a JSON pointer"},
		{"  httpstream: {path: /s, resume: {query: a}, envelope: {data: x}}\n", "target.httpstream.envelope.data", "not a JSON pointer"},
		{"  httpstream: {path: /s, resume: {query: a}, heartbeat: 1}\n", "target.httpstream.heartbeat", ""},
	} {
		_, err := Load(write(t, base+c.body), Overrides{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Msg, c.msg) || !strings.HasSuffix(ce.File, "profile.yaml") {
			t.Errorf("%q: got %v, want key %s and %q", c.body, err, c.key, c.msg)
		}
	}
	// A POST stream with a connect body and a resume template (Centrifugo's uni_http_stream).
	body := "  httpstream:\n    path: /connection/uni_http_stream\n    method: POST\n    body: '{\"subs\":{\"hist:{topic}\":{}}}'\n" +
		"    resume: {body: '{\"subs\":{\"hist:{topic}\":{\"recover\":true,\"offset\":{{.ID}}}}}'}\n"
	if _, err := Load(write(t, base+body), Overrides{}); err != nil {
		t.Errorf("POST stream: %v", err)
	}
}

func TestLoadEngineIO(t *testing.T) {
	base := "target:\n  url: http://127.0.0.1:9\n  capabilities: [engineio]\n"
	p, err := Load(write(t, base+"  engineio: {path: /socket.io/}\n"), Overrides{})
	if err != nil || p.Target.EngineIO.Path != "/socket.io/" {
		t.Fatalf("engineio: %v %+v", err, p.Target.EngineIO)
	}
	for _, c := range []struct{ body, key, msg string }{
		{"", "target.engineio", `is required when capability "engineio" is declared`},
		{"  engineio: {path: socket.io}\n", "target.engineio.path", "must start with /"},
		{"  engineio: {}\n", "target.engineio.path", "is required"},
		{"  engineio: {path: /socket.io/, upgrade: true}\n", "target.engineio.upgrade", "unknown key"},
	} {
		_, err := Load(write(t, base+c.body), Overrides{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Msg, c.msg) {
			t.Errorf("%q: got %v, want key %s and %q", c.body, err, c.key, c.msg)
		}
	}
}
