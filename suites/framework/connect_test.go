package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// centrifugoConnect is the connect-reply declaration of the Centrifugo presets.
var centrifugoConnect = &ConnectReply{
	Match:     "/connect",
	Events:    "/connect/subs/hist:{topic}/publications",
	Item:      Envelope{ID: "/offset", Data: "/data"},
	Recovered: "/connect/subs/hist:{topic}/recovered",
	Fields:    map[string]string{"epoch": "/connect/subs/hist:{topic}/epoch"},
}

// Frames seen on Centrifugo v6.9.1's uni_http_stream (2026-12-04).
const (
	cfRecovered = `{"connect":{"client":"e4d1","version":"0.0.0 OSS","subs":{"hist:t1":{"recoverable":true,"epoch":"WccftXzU","publications":[{"data":"p2","offset":2},{"data":"p3","offset":3}],"recovered":true,"offset":1,"positioned":true,"was_recovering":true}},"ping":25}}`
	cfLost      = `{"connect":{"client":"ac6e","subs":{"hist:t1":{"recoverable":true,"epoch":"WccftXzU","offset":3,"positioned":true,"was_recovering":true}},"ping":25}}`
	cfPub       = `{"channel":"hist:t1","pub":{"data":"p4","offset":4}}`
)

func TestConnectReplyOpen(t *testing.T) {
	r, ok := centrifugoConnect.Open([]byte(cfRecovered), "t1")
	if !ok {
		t.Fatal("the recovered reply is not recognised")
	}
	want := []ReplyEvent{{ID: "2", Data: "p2"}, {ID: "3", Data: "p3"}}
	if !slices.Equal(r.Events, want) || !r.Recovered || r.Fields["epoch"] != "WccftXzU" || len(r.Fields) != 1 {
		t.Errorf("recovered reply: %+v", r)
	}
	if centrifugoConnect.Lost(r) {
		t.Error("a recovered reply reads as a loss")
	}

	r, ok = centrifugoConnect.Open([]byte(cfLost), "t1")
	if !ok || r.Recovered || len(r.Events) != 0 || r.Fields["epoch"] != "WccftXzU" {
		t.Errorf("reply without recovered: ok %v, %+v", ok, r)
	}
	if !centrifugoConnect.Lost(r) {
		t.Error(`a reply to a resume without "recovered" is not the loss signal`)
	}

	// The reply of another channel: a reply, but nothing in it for this topic.
	if r, ok := centrifugoConnect.Open([]byte(cfRecovered), "t2"); !ok || len(r.Events) != 0 || r.Recovered || len(r.Fields) != 0 {
		t.Errorf("reply for another topic: ok %v, %+v", ok, r)
	}
	for _, frame := range []string{cfPub, "", "   ", "{}", "[1,2]", `"connect"`, "not json", `{"connect":`, "null"} {
		if _, ok := centrifugoConnect.Open([]byte(frame), "t1"); ok {
			t.Errorf("%q is taken for a connect reply", frame)
		}
	}
	var none *ConnectReply
	if _, ok := none.Open([]byte(cfRecovered), "t1"); ok {
		t.Error("a nil ConnectReply matched")
	}
	if none.Lost(Reply{}) {
		t.Error("a nil ConnectReply signals a loss")
	}
	if (&ConnectReply{Match: "/connect"}).Lost(Reply{}) {
		t.Error("a reply without a declared recovered pointer signals a loss")
	}
	// An item whose data does not resolve is skipped (the envelope's rule); a raw JSON value
	// keeps its text byte for byte.
	mixed := `{"connect":{"subs":{"hist:t1":{"publications":[{"offset":1},{"data":{"a": 1},"offset":2},{"data":null,"offset":3}]}}}}`
	if r, _ := centrifugoConnect.Open([]byte(mixed), "t1"); !slices.Equal(r.Events, []ReplyEvent{{ID: "2", Data: `{"a": 1}`}}) {
		t.Errorf("mixed items: %+v", r.Events)
	}
}

// {topic} in a pointer is one token: a topic with / or ~ is escaped (RFC 6901).
func TestConnectReplyTopicEscaped(t *testing.T) {
	for _, topic := range []string{"a/b", "a~b", "a~1b"} {
		key, _ := json.Marshal("hist:" + topic)
		frame := fmt.Sprintf(`{"connect":{"subs":{%s:{"epoch":"E","recovered":true,"publications":[{"data":"x","offset":7}]}}}}`, key)
		r, ok := centrifugoConnect.Open([]byte(frame), topic)
		if !ok || !r.Recovered || r.Fields["epoch"] != "E" || !slices.Equal(r.Events, []ReplyEvent{{ID: "7", Data: "x"}}) {
			t.Errorf("topic %q: ok %v, %+v", topic, ok, r)
		}
	}
}

func TestRenderToken(t *testing.T) {
	const body = `{"subs":{"hist:{topic}":{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}}}`
	got, err := RenderToken(body, "t1", "42", map[string]string{"epoch": "WccftXzU"})
	if err != nil || got != `{"subs":{"hist:t1":{"recover":true,"epoch":"WccftXzU","offset":42}}}` || !json.Valid([]byte(got)) {
		t.Errorf("resume body: %q, %v", got, err)
	}
	const open = `{"subs":{"hist:{topic}":{{if .ID}}{"recover":true,"offset":{{.ID}}}{{else}}{}{{end}}}}`
	for token, want := range map[string]string{"": `{"subs":{"hist:t1":{}}}`, "5": `{"subs":{"hist:t1":{"recover":true,"offset":5}}}`} {
		if got, err := RenderToken(open, "t1", token, nil); err != nil || got != want {
			t.Errorf("open with token %q: %q, %v; want %q", token, got, err, want)
		}
	}
	// Without {{ the text is returned as it is, single braces and all.
	if got, err := RenderToken(`/c?x={"a":{}}&t={topic}`, "t1", "9", nil); err != nil || got != `/c?x={"a":{}}&t=t1` {
		t.Errorf("no template: %q, %v", got, err)
	}
	// An unknown field renders empty; .ID cannot be overridden by a field.
	if got, _ := RenderToken("{{.nope}}|{{.ID}}", "t", "1", map[string]string{"ID": "x"}); got != "|1" {
		t.Errorf("unknown field and ID: %q", got)
	}
	if _, err := RenderToken("{{.ID", "t", "1", nil); err == nil {
		t.Error("a template syntax error is not returned")
	}
}

func TestCheckTemplate(t *testing.T) {
	fields := map[string]string{"epoch": "/e"}
	for tmpl, want := range map[string]string{
		`{"offset":{{.ID}},"epoch":"{{.epoch}}"}`: "",
		`/plain/{topic}?x={"a":1}`:                "",
		`{{.epok}}`:                               "neither .ID nor a field",
		`{{.ID`:                                   "not a valid template",
		`{{if .ID}}x`:                             "not a valid template",
	} {
		err := checkTemplate(tmpl, fields)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", tmpl, err, want)
		}
	}
}

func TestResumeState(t *testing.T) {
	var s ResumeState
	if f := s.Fields("t"); len(f) != 0 {
		t.Errorf("zero value: %v", f)
	}
	s.Learn("t", map[string]string{"epoch": "A", "other": "x"})
	s.Learn("t", map[string]string{"epoch": "B"})
	s.Learn("u", map[string]string{"epoch": "C"})
	s.Learn("t", nil)
	f := s.Fields("t")
	if !maps.Equal(f, map[string]string{"epoch": "B", "other": "x"}) || s.Fields("u")["epoch"] != "C" {
		t.Errorf("fields: t %v, u %v", f, s.Fields("u"))
	}
	f["epoch"] = "mutated"
	if s.Fields("t")["epoch"] != "B" {
		t.Error("Fields returns the state itself, not a copy")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				s.Learn("c", map[string]string{"n": fmt.Sprint(i*100 + j)})
				_ = s.Fields("c")
			}
		})
	}
	wg.Wait()
	if len(s.Fields("c")) != 1 {
		t.Errorf("concurrent learns: %v", s.Fields("c"))
	}
}

func TestUnknownIDs(t *testing.T) {
	for _, c := range []struct {
		sample   string
		ownShape bool
		want     []string
	}{
		{"42", false, []string{"rtconform-never-issued-run1", "99999999999"}},
		{"42", true, []string{"99999999999"}},
		{"abc", true, []string{"rtconform-never-issued-run1"}}, // no shape of its own to follow
		{"epoch-7", false, []string{"rtconform-never-issued-run1", "epoch-9999999999"}},
	} {
		if got := UnknownIDs("run1", c.sample, c.ownShape); !slices.Equal(got, c.want) {
			t.Errorf("UnknownIDs(%q, %v) = %q, want %q", c.sample, c.ownShape, got, c.want)
		}
	}
}

func TestResumeTemplated(t *testing.T) {
	tg := Defaults().Target
	for _, tr := range []Transport{SSE, WebSocket, HTTPStream, LongPoll} {
		if tg.ResumeTemplated(tr) {
			t.Errorf("the reference's %s resume (a header or query) reads as a template", tr)
		}
	}
	tg.SSE.Resume.Path = "/sse?from={{.ID}}"
	tg.WebSocket.Resume = WebSocketToken{Message: `{"since":"{{.ID}}"}`}
	tg.HTTPStream.Resume = HTTPStreamResume{Body: `{"since":{{.ID}}}`}
	for _, tr := range []Transport{SSE, WebSocket, HTTPStream} {
		if !tg.ResumeTemplated(tr) {
			t.Errorf("%s: a resume template is not reported", tr)
		}
	}
}

func TestWebSocketFirstAndPath(t *testing.T) {
	tg := Target{WebSocket: &WebSocketConfig{
		Path:   "/ws/{topic}",
		Open:   []string{`{"auth":1}`, `{"sub":"{topic}"{{if .ID}},"from":{{.ID}},"epoch":"{{.epoch}}"{{end}}}`},
		Resume: WebSocketToken{Message: `{"resume":"{{.ID}}"}`, Path: "/ws/{topic}?from={{.ID}}"},
	}}
	fields := map[string]string{"epoch": "E"}
	first, err := tg.WebSocketFirst("t1", "", fields)
	if err != nil || !slices.Equal(first, []string{`{"auth":1}`, `{"sub":"t1"}`}) {
		t.Errorf("fresh connect: %q, %v", first, err)
	}
	first, err = tg.WebSocketFirst("t1", "7", fields)
	if err != nil || !slices.Equal(first, []string{`{"auth":1}`, `{"sub":"t1","from":7,"epoch":"E"}`, `{"resume":"7"}`}) {
		t.Errorf("resume: %q, %v", first, err)
	}
	if p, err := tg.WebSocketPath("t1", "", fields); err != nil || p != "/ws/{topic}" {
		t.Errorf("fresh path: %q, %v", p, err)
	}
	if p, err := tg.WebSocketPath("t1", "7", fields); err != nil || p != "/ws/t1?from=7" {
		t.Errorf("resume path: %q, %v", p, err)
	}
	tg.WebSocket.Open = []string{"{{.ID"}
	if _, err := tg.WebSocketFirst("t1", "", nil); err == nil || !strings.Contains(err.Error(), "target.websocket.open[0]") {
		t.Errorf("a broken open template: %v (want the key named)", err)
	}
	if _, err := (&Target{}).WebSocketPath("t", "", nil); err == nil {
		t.Error("no websocket config: no error")
	}
}

func TestFrameBound(t *testing.T) {
	if b := (&Target{}).FrameBound(1 << 20); b != 1<<20 {
		t.Errorf("no connect reply: %d", b)
	}
	if b := (&Target{Connect: &ConnectReply{Match: "/c"}}).FrameBound(0); b != 0 {
		t.Errorf("a reply without events: %d", b)
	}
	if b := (&Target{Connect: centrifugoConnect}).FrameBound(1 << 20); b != ReplyMax {
		t.Errorf("a replaying reply: %d, want %d", b, ReplyMax)
	}
}

// The loader: target.connect and the templates that use its fields.
func TestLoadConnect(t *testing.T) {
	const profile = `target:
  url: http://127.0.0.1:9
  capabilities: [sse, websocket, httpstream, resume, publish]
  publish: {method: POST, path: /api/publish}
  sse:
    path: '/connection/uni_sse?cf_connect={"subs":{"hist:{topic}":{}}}'
    resume:
      path: '/connection/uni_sse?cf_connect={"subs":{"hist:{topic}":{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}}}'
  websocket:
    path: /connection/uni_websocket
    open: ['{"subs":{"hist:{topic}":{{if .ID}}{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}{{else}}{}{{end}}}}']
  httpstream:
    path: /connection/uni_http_stream
    method: POST
    body: '{"subs":{"hist:{topic}":{}}}'
    resume: {body: '{"subs":{"hist:{topic}":{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}}}'}
  envelope: {id: /pub/offset, data: /pub/data}
  connect:
    match: /connect
    events: '/connect/subs/hist:{topic}/publications'
    item: {id: /offset, data: /data}
    recovered: '/connect/subs/hist:{topic}/recovered'
    fields: {epoch: '/connect/subs/hist:{topic}/epoch'}
`
	p, err := Load(write(t, profile), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Target.Connect; c == nil || c.Match != "/connect" || c.Item.Data != "/data" || c.Fields["epoch"] == "" || p.Target.SSE.Resume.Path == "" || len(p.Target.WebSocket.Open) != 1 {
		t.Errorf("loaded: %+v", p.Target)
	}

	base := "target:\n  url: http://127.0.0.1:9\n  capabilities: [websocket, resume]\n"
	ws := "  websocket: {path: /w, resume: {query: since}}\n"
	for _, c := range []struct{ body, key, msg string }{
		{ws + "  connect: {events: /e}\n", "target.connect.match", "is required"},
		{ws + "  connect: {match: /c, events: /e}\n", "target.connect.item.data", "is required with target.connect.events"},
		{ws + "  connect: {match: /c, fields: {x: bad}}\n", "target.connect.fields.x", "not a JSON pointer"},
		{ws + "  connect: {match: /c, fields: {ID: /id}}\n", "target.connect.fields.ID", "cannot name a template field"},
		{ws + "  connect: {match: /c, fields: {bad-name: /id}}\n", "target.connect.fields.bad-name", "cannot name a template field"},
		{ws + "  connect: {match: /c, recovered: r}\n", "target.connect.recovered", "not a JSON pointer"},
		{"  websocket: {path: /w, resume: {path: '/w?e={{.epok}}'}}\n  connect: {match: /c, fields: {epoch: /e}}\n",
			"target.websocket.resume.path", "neither .ID nor a field"},
		{"  websocket: {path: /w, resume: {path: '/w?from={{.ID}}', message: m}}\n", "target.websocket.resume", "one of query, path or message"},
		{"  websocket: {path: /w, resume: {path: 'w?from={{.ID}}'}}\n", "target.websocket.resume.path", "must start with /"},
		{"  websocket: {path: /w, open: ['{\"sub\":1}']}\n", "target.websocket.resume", "needs query, path or message"},
		{"  websocket: {path: /w, resume: {query: q}, open: ['{{if .ID}}']}\n", "target.websocket.open[0]", "not a valid template"},
	} {
		_, err := Load(write(t, base+c.body), Overrides{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Msg, c.msg) || !strings.HasSuffix(ce.File, "profile.yaml") {
			t.Errorf("%q: got %v, want key %s and %q", c.body, err, c.key, c.msg)
		}
	}
	hs := "target:\n  url: http://127.0.0.1:9\n  capabilities: [httpstream, resume]\n  httpstream: {path: /s, method: POST, resume: {body: '{{.ID'}}\n"
	var ce *ConfigError
	if _, err := Load(write(t, hs), Overrides{}); !errors.As(err, &ce) || ce.Key != "target.httpstream.resume.body" {
		t.Errorf("broken resume body template: %v", err)
	}
	sse := "target:\n  url: http://127.0.0.1:9\n  capabilities: [sse]\n  sse: {path: /s, resume: {path: 's?x={{.ID}}'}}\n"
	if _, err := Load(write(t, sse), Overrides{}); !errors.As(err, &ce) || ce.Key != "target.sse.resume.path" {
		t.Errorf("relative sse.resume.path: %v", err)
	}
	// An open message that uses {{.ID}} declares the resume by itself.
	openOnly := base + "  websocket: {path: /w, open: ['{\"from\":\"{{.ID}}\"}']}\n"
	if _, err := Load(write(t, openOnly), Overrides{}); err != nil {
		t.Errorf("resume carried by the open message: %v", err)
	}
}

// ${NAME} in the new template keys is expanded at load; an unset name is an error naming the key.
func TestLoadConnectEnv(t *testing.T) {
	t.Setenv("RTC_CF_TOKEN", "tok")
	body := "target:\n  url: http://127.0.0.1:9\n  capabilities: [sse, websocket, resume]\n" +
		"  sse: {path: /s, resume: {path: '/s?token=${RTC_CF_TOKEN}&from={{.ID}}'}}\n" +
		"  websocket: {path: /w, resume: {query: q}, open: ['{\"token\":\"${RTC_CF_TOKEN}\"}']}\n"
	p, err := Load(write(t, body), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.SSE.Resume.Path != "/s?token=tok&from={{.ID}}" || p.Target.WebSocket.Open[0] != `{"token":"tok"}` {
		t.Errorf("expanded: %q, %q", p.Target.SSE.Resume.Path, p.Target.WebSocket.Open)
	}
	unset := strings.ReplaceAll(body, "RTC_CF_TOKEN}\"}", "RTC_CF_UNSET_X}\"}")
	var ce *ConfigError
	if _, err := Load(write(t, unset), Overrides{}); !errors.As(err, &ce) || ce.Key != "target.websocket.open[0]" || !strings.Contains(ce.Msg, "RTC_CF_UNSET_X") {
		t.Errorf("unset variable in an open message: %v", err)
	}
}
