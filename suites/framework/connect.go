package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"text/template"
)

// ConnectReply describes a target's connect reply (target.connect): a JSON frame at the start of
// every stream (an SSE event's data, a WebSocket message, an HTTP-stream line) that answers the
// connect request. Centrifugo's is
//
//	{"connect":{"client":…,"subs":{"hist:T":{"epoch":"E","offset":3,"recovered":true,
//	  "publications":[{"data":…,"offset":2},{"data":…,"offset":3}]}}}}
//
// It carries what a later resume needs (Fields: the epoch), the events a resume replays
// (Events, each opened with Item), and the loss signal (Recovered). Every pointer may contain
// {topic}, replaced by the stream's topic (escaped as a JSON-pointer token).
//
//	connect:
//	  match: /connect
//	  events: /connect/subs/hist:{topic}/publications
//	  item: {id: /offset, data: /data}
//	  recovered: /connect/subs/hist:{topic}/recovered
//	  fields: {epoch: /connect/subs/hist:{topic}/epoch}
type ConnectReply struct {
	// Match identifies the reply: a frame where this pointer resolves. Required.
	Match string `yaml:"match"`
	// Events points at the array of events the reply replays on a resume, in order; each is
	// opened with Item (the same skip rule as an envelope). "": the reply carries no events.
	Events string   `yaml:"events"`
	Item   Envelope `yaml:"item"`
	// Recovered is the loss signal: on a resume, a reply whose value here is not JSON true
	// (absent, false) says events were lost — the reset signal of the transport. "": none.
	Recovered string `yaml:"recovered"`
	// Fields are values the resume templates use as {{.name}} (sse.resume.path,
	// websocket.resume.path and message, websocket.open, httpstream.resume.body): read from
	// every reply, the latest kept per topic.
	Fields map[string]string `yaml:"fields"`
}

// Reply is what one connect reply said.
type Reply struct {
	// Events are the replayed events, in order.
	Events []ReplyEvent
	// Recovered: the Recovered pointer is declared and holds JSON true.
	Recovered bool
	// Fields are the declared fields that resolved.
	Fields map[string]string
}

// ReplyEvent is one event inside a connect reply.
type ReplyEvent struct{ ID, Data string }

// topicPointer substitutes {topic} in ptr with topic escaped as one pointer token.
func topicPointer(ptr, topic string) string {
	return strings.ReplaceAll(ptr, "{topic}", strings.NewReplacer("~", "~0", "/", "~1").Replace(topic))
}

// Open reports whether frame is the connect reply of a stream of topic, and what it says. A nil
// ConnectReply matches nothing.
func (c *ConnectReply) Open(frame []byte, topic string) (Reply, bool) {
	if c == nil || c.Match == "" {
		return Reply{}, false
	}
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 || frame[0] != '{' {
		return Reply{}, false
	}
	if _, ok := rawText(frame, topicPointer(c.Match, topic)); !ok {
		return Reply{}, false
	}
	var r Reply
	if c.Recovered != "" {
		v, ok := rawText(frame, topicPointer(c.Recovered, topic))
		r.Recovered = ok && v == "true"
	}
	for name, ptr := range c.Fields {
		if v, ok := rawText(frame, topicPointer(ptr, topic)); ok {
			if r.Fields == nil {
				r.Fields = map[string]string{}
			}
			r.Fields[name] = v
		}
	}
	if c.Events != "" {
		var items []json.RawMessage
		if raw, ok := rawAt(frame, topicPointer(c.Events, topic)); ok && json.Unmarshal(raw, &items) == nil {
			for _, item := range items {
				data, ok := rawText(item, c.Item.Data)
				if !ok {
					continue
				}
				id, _ := rawText(item, c.Item.ID)
				r.Events = append(r.Events, ReplyEvent{ID: id, Data: data})
			}
		}
	}
	return r, true
}

// Lost reports whether r, the reply to a resume, signals that events were lost: Recovered is
// declared and does not hold true.
func (c *ConnectReply) Lost(r Reply) bool { return c != nil && c.Recovered != "" && !r.Recovered }

// ResumeState keeps the connect-reply fields learnt per topic, for the resume templates of
// later connections. The zero value is ready; it is safe for concurrent use.
type ResumeState struct {
	mu     sync.Mutex
	fields map[string]map[string]string
}

// Learn records the fields of a reply on topic (the latest value of each wins).
func (s *ResumeState) Learn(topic string, f map[string]string) {
	if len(f) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fields == nil {
		s.fields = map[string]map[string]string{}
	}
	m := s.fields[topic]
	if m == nil {
		m = map[string]string{}
		s.fields[topic] = m
	}
	maps.Copy(m, f)
}

// Fields returns a copy of the fields learnt on topic.
func (s *ResumeState) Fields(topic string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.fields[topic])
}

// RenderToken renders a resume or open template: {topic} is replaced first, then the template
// (text/template syntax) is executed with .ID the resume token ("" on a fresh connect) and the
// connect-reply fields as .name (an unknown field renders empty). A template without {{ is
// returned as it is, so a path with literal braces needs no escaping.
func RenderToken(tmpl, topic, token string, fields map[string]string) (string, error) {
	s := strings.ReplaceAll(tmpl, "{topic}", topic)
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	tp, err := template.New("t").Option("missingkey=zero").Parse(s)
	if err != nil {
		return "", err
	}
	data := map[string]string{"ID": token}
	for k, v := range fields {
		if k != "ID" {
			data[k] = v
		}
	}
	var b strings.Builder
	if err := tp.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// checkTemplate parses tmpl and executes it with every name it may use (ID and the declared
// fields), so that a syntax error or an undeclared {{.name}} is found at load time.
func checkTemplate(tmpl string, fields map[string]string) error {
	if !strings.Contains(tmpl, "{{") {
		return nil
	}
	tp, err := template.New("t").Option("missingkey=error").Parse(strings.ReplaceAll(tmpl, "{topic}", "t"))
	if err != nil {
		return fmt.Errorf("is not a valid template: %v", strings.TrimPrefix(err.Error(), "template: t:"))
	}
	data := map[string]string{"ID": "1"}
	for k := range fields {
		data[k] = "x"
	}
	if err := tp.Execute(new(strings.Builder), data); err != nil {
		if strings.Contains(err.Error(), "map has no entry for key") {
			return fmt.Errorf("uses a name that is neither .ID nor a field of target.connect.fields (%v)", err)
		}
		return fmt.Errorf("does not render: %v", err)
	}
	return nil
}

// ResumeURL renders a resume path template (sse.resume.path, websocket.resume.path, named by
// key for the error) for the check's topic, with token and the connect-reply fields the
// check's streams learnt, as a URL of the target. A template that does not render is a
// harness error (the loader checked its syntax).
func (t *T) ResumeURL(key, tmpl, token string) string {
	p, err := RenderToken(tmpl, t.Topic(), token, t.resume.Fields(t.Topic()))
	if err != nil {
		t.Harness("%s: %v", key, err)
	}
	return t.Run.BaseURL + Path(p, t.Topic())
}

// WebSocketFirst returns the messages a client sends right after the WebSocket handshake on
// topic, in order: the open messages (websocket.open), then, when token is not empty, the
// resume message (websocket.resume.message); rendered with token and fields (RenderToken).
func (t *Target) WebSocketFirst(topic, token string, fields map[string]string) ([]string, error) {
	w := t.WebSocket
	if w == nil {
		return nil, nil
	}
	var out []string
	for i, m := range w.Open {
		s, err := RenderToken(m, topic, token, fields)
		if err != nil {
			return nil, fmt.Errorf("target.websocket.open[%d]: %v", i, err)
		}
		out = append(out, s)
	}
	if token != "" && w.Resume.Message != "" {
		s, err := RenderToken(w.Resume.Message, topic, token, fields)
		if err != nil {
			return nil, fmt.Errorf("target.websocket.resume.message: %v", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// WebSocketPath returns the path template of a WebSocket connection on topic: the resume
// path (websocket.resume.path) rendered with token and fields when both are given, else
// websocket.path.
func (t *Target) WebSocketPath(topic, token string, fields map[string]string) (string, error) {
	w := t.WebSocket
	if w == nil {
		return "", fmt.Errorf("the profile declares no target.websocket")
	}
	if token == "" || w.Resume.Path == "" {
		return w.Path, nil
	}
	p, err := RenderToken(w.Resume.Path, topic, token, fields)
	if err != nil {
		return "", fmt.Errorf("target.websocket.resume.path: %v", err)
	}
	return p, nil
}

// ReplyMax bounds one frame (an SSE data, a WebSocket message, a stream line) of a target
// whose connect reply replays events (target.connect.events): the whole replay is one frame,
// so the clients' usual 1 MiB line bound would cut a legitimate resume.
const ReplyMax = 64 << 20

// FrameBound is the largest frame a client of this target accepts: ReplyMax when the connect
// reply carries replayed events, else def.
func (t *Target) FrameBound(def int) int {
	if t.Connect != nil && t.Connect.Events != "" {
		return max(def, ReplyMax)
	}
	return def
}
