// Package framework is the small core every rtconform suite is built on: the target profile
// (ginkgo.yaml), the check registry that turns typed checks into Ginkgo specs, the per-check
// context handed to a check, and the conformance report written after the suite.
//
// A run goes: Load the profile (defaults < file < flags), Setup the target (start the
// in-process reference server when no url is given), Schedule how many checks are judged at
// once (schedule.go), then RunSpecs; the registry's specs read the resolved target through
// Current.
package framework

import (
	"fmt"
	"strings"
	"time"
)

// Capability is something a target declares it supports. Checks that require an undeclared
// capability are reported NOT_SUPPORTED, never passed or failed.
type Capability string

// The capabilities a profile may declare.
const (
	CapSSE       Capability = "sse"
	CapWebSocket Capability = "websocket"
	CapLongPoll  Capability = "longpoll"
	CapResume    Capability = "resume"    // the target resumes a stream from an event id / cursor
	CapHeartbeat Capability = "heartbeat" // the target sends keep-alives while idle
	CapRetry     Capability = "retry"     // the SSE stream sends a retry: field
	CapFallback  Capability = "fallback"  // one token resumes across transports
	CapPublish   Capability = "publish"   // the suite can make the target emit events (publish hook)
	CapCORS      Capability = "cors"
	CapEcho      Capability = "echo"    // a WebSocket echo endpoint exists (websocket.echo)
	CapRestart   Capability = "restart" // the suite can restart the target (restart hook)
	// CapEngineIO: the target speaks Engine.IO v4 (Socket.IO's transport layer) at
	// target.engineio.path: polling handshake, heartbeats and its own polling→WebSocket upgrade.
	CapEngineIO Capability = "engineio"
	// CapHTTPStream: an HTTP streaming endpoint at target.httpstream.path sends one JSON
	// value per line (NDJSON) in a long-lived response — the fourth stream transport.
	CapHTTPStream Capability = "httpstream"
)

// KnownCapabilities lists every capability a profile may declare.
var KnownCapabilities = []Capability{CapSSE, CapWebSocket, CapLongPoll, CapResume, CapHeartbeat,
	CapRetry, CapFallback, CapPublish, CapCORS, CapEcho, CapRestart, CapEngineIO, CapHTTPStream}

// Duration is a time.Duration written in YAML as a Go duration string ("25s", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Profile is the whole run configuration: ginkgo.yaml, or the file given with --config.
type Profile struct {
	// Preset names an embedded preset (rtconform list --presets) this profile refines: its
	// target block is read first, then this file's keys on top.
	Preset  string      `yaml:"preset"`
	Target  Target      `yaml:"target"`
	Strict  bool        `yaml:"strict"`  // SHOULD violations fail the run
	Faults  Faults      `yaml:"faults"`  // fault-injection backend (chaos suites)
	Proxies ProxyMatrix `yaml:"proxies"` // the proxy suite: real proxies put in front of the target
	Deploy  Deploy      `yaml:"deploy"`  // a deployment under validation (rtconform deploy)
	Report  Report      `yaml:"report"`

	// Source is the file the profile was read from ("" for built-in defaults).
	Source string `yaml:"-"`
	// Notes are adjustments Load made that the user should see (the CLI prints them).
	Notes []string `yaml:"-"`
}

// Target describes the server under test.
type Target struct {
	Name string `yaml:"name"`
	// URL is the base URL; empty means: start the bundled reference server in-process.
	// "{port}" in it is replaced by a free loopback port (useful with Start).
	URL   string     `yaml:"url"`
	Start *StartHook `yaml:"start"`

	SSE        *SSEConfig        `yaml:"sse"`
	WebSocket  *WebSocketConfig  `yaml:"websocket"`
	LongPoll   *LongPollConfig   `yaml:"longpoll"`
	EngineIO   *EngineIOConfig   `yaml:"engineio"`
	HTTPStream *HTTPStreamConfig `yaml:"httpstream"`
	Envelope   Envelope          `yaml:"envelope"`
	// Connect describes the target's connect reply, when its streams start with one
	// (Centrifugo): the resume fields, replayed events and loss signal in it. nil: none.
	Connect *ConnectReply `yaml:"connect"`
	Publish *PublishHook  `yaml:"publish"`
	Restart *RestartHook  `yaml:"restart"`
	Origin  OriginPolicy  `yaml:"origin"`
	// Retention is how many events per topic the target promises to keep for resume; checks
	// of the "older than retention" signal publish more than that. 0: not declared.
	Retention int `yaml:"retention"`

	Capabilities []Capability `yaml:"capabilities"`
}

// StartHook starts the target before the run and stops it after (like a CI "web server" step).
type StartHook struct {
	Command string   `yaml:"command"` // run with sh -c; "{port}" and "{url}" are substituted
	Ready   string   `yaml:"ready"`   // path polled until it answers 2xx; default /healthz
	Timeout Duration `yaml:"timeout"` // how long to wait for Ready; default 120s
}

// SSEConfig describes the target's Server-Sent Events endpoint.
type SSEConfig struct {
	Path string `yaml:"path"` // URL path template with {topic}
	// Resume: the Last-Event-ID header is always the standard way; Query names an optional
	// query-parameter form (e.g. lastEventId) that the target also accepts.
	Resume    SSEResume `yaml:"resume"`
	Heartbeat Duration  `yaml:"heartbeat"` // the longest idle gap the target promises between keep-alives
	Retry     Duration  `yaml:"retry"`     // the retry: value the target promises to send
	// Reset names the event type the target sends when a resume id is unknown or older than
	// its retention (the explicit "you missed events" signal). "": not declared.
	Reset SSEReset `yaml:"reset"`
	// Envelope says the SSE data is a JSON document that wraps the payload (Centrifugo's
	// {"channel":…,"pub":{"data":…,"offset":N}}). Absent (nil): the data is the payload.
	Envelope *SSEEnvelope `yaml:"envelope"`
}

// SSEEnvelope gives JSON pointers into the data of an SSE event (see Open for the rules).
//
//	sse:
//	  envelope: {id: /pub/offset, data: /pub/data}
//
// Skip rule: an event whose data is not JSON, or whose Data pointer does not resolve (or
// resolves to null), is not an event of the stream but a control frame of the target (a
// connect reply, a {} ping): the checks and the chaos history skip it. The SSE id: field is
// untouched (Last-Event-ID resume still uses it); ID is the event's position inside the data,
// which the chaos and fallback histories record as the event's id when the event has no id:
// field of its own (Centrifugo's uni_sse sends none).
type SSEEnvelope struct {
	ID   string `yaml:"id"`   // pointer to the event's id in the data; "": none
	Data string `yaml:"data"` // pointer to the payload in the data; required
}

// Open applies the envelope to the data of one SSE event. A nil envelope returns data as the
// payload (ok, no id). Otherwise ok is false when data is not JSON or the Data pointer does
// not resolve to a non-null value (the skip rule); a value that is a JSON string is the payload,
// any other JSON value is its raw text as sent (byte for byte). id is found the same way ("" when
// ID is empty or does not resolve).
func (e *SSEEnvelope) Open(data string) (id, payload string, ok bool) {
	if e == nil {
		return "", data, true
	}
	payload, ok = rawText([]byte(data), e.Data)
	if !ok {
		return "", "", false
	}
	if e.ID != "" {
		id, _ = rawText([]byte(data), e.ID)
	}
	return id, payload, true
}

// SSEReset describes the SSE reset signal: an event type, or a response header.
type SSEReset struct {
	Event string `yaml:"event"`
	// Header names a response header that, on every resume, carries the id of the event the
	// replay starts after (Mercure's Last-Event-ID): the requested id when nothing was lost,
	// any other value (e.g. "earliest", or the newest id) when events were. "": not declared.
	Header string `yaml:"header"`
}

// SSEResume describes how an SSE stream is resumed.
type SSEResume struct {
	Query string `yaml:"query"`
	// Path is the target's own resume request, for a target that does not resume from
	// Last-Event-ID (Centrifugo: a connect request naming epoch and offset): a path template
	// with {topic}, .ID (the id of the last event seen) and the connect-reply fields
	// (target.connect.fields), e.g.
	// /connection/uni_sse?cf_connect={"subs":{"hist:{topic}":{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}}}.
	// With it, resumes request Path and send no Last-Event-ID, and the checks of the
	// Last-Event-ID mechanism itself are NOT_SUPPORTED.
	Path string `yaml:"path"`
}

// WebSocketConfig describes the target's WebSocket endpoint.
type WebSocketConfig struct {
	Path   string         `yaml:"path"`
	Echo   string         `yaml:"echo"` // path of an echo endpoint, if any (capability echo)
	Resume WebSocketToken `yaml:"resume"`
	// MaxMessage is the largest message (bytes) the target accepts from a client; a larger
	// one must be refused with close code 1009. 0: not declared.
	MaxMessage int64 `yaml:"maxMessage"`
	// Reset identifies the target's "token too old or unknown" message.
	Reset ResetSignal `yaml:"reset"`
	// Keepalive is the longest idle gap between frames from the server (pings or application
	// heartbeats) the target promises (capability heartbeat). 0: not declared.
	Keepalive Duration `yaml:"keepalive"`
	// Protocol names the application protocol the endpoint at Path speaks ("centrifugo",
	// "socket.io", …); "" means it accepts any message a client sends. A server may
	// legitimately close a connection on a message that is not a command of its protocol, so
	// the framing checks that need an arbitrary message to be accepted run on the echo
	// endpoint only (capability echo) and are NOT_SUPPORTED on Path, with this reason.
	Protocol string `yaml:"protocol"`
	// Open are messages sent right after every handshake, in order, before anything else: a
	// subscribe or connect command (Socket.IO's 40, Centrifugo's {"connect":…}). Templates
	// with {topic}, .ID (the resume token, "" on a fresh connect) and the connect-reply
	// fields, so one message can carry the position on a resume:
	// {{if .ID}}…"offset":{{.ID}}…{{else}}…{{end}}.
	Open []string `yaml:"open"`
}

// WebSocketToken says how a resume token reaches the target: as a query parameter, as the
// path of the handshake (a template), or as a message after the handshake (and after the
// open messages) rendered from a template. Templates see {topic}, .ID (the token) and the
// connect-reply fields (target.connect.fields).
type WebSocketToken struct {
	Query   string `yaml:"query"`
	Message string `yaml:"message"`
	// Path replaces websocket.path on a resume, e.g. Centrifugo's
	// /connection/uni_websocket?cf_connect={"subs":{"hist:{topic}":{"recover":true,"epoch":"{{.epoch}}","offset":{{.ID}}}}}.
	Path string `yaml:"path"`
}

// LongPollConfig describes the target's long-poll endpoint.
type LongPollConfig struct {
	Path    string      `yaml:"path"`
	Cursor  QueryParam  `yaml:"cursor"`
	Timeout Duration    `yaml:"timeout"` // how long the target holds an empty poll
	Events  string      `yaml:"events"`  // JSON pointer to the event array in a response; default /events
	Next    string      `yaml:"next"`    // JSON pointer to the next cursor in a response; default /cursor
	Batch   int         `yaml:"batch"`   // most events one response carries; 0: not declared
	Reset   ResetSignal `yaml:"reset"`   // the "cursor too old or unknown" signal in a response
}

// EngineIOConfig describes an Engine.IO v4 endpoint (capability engineio): a server whose
// fallback is a protocol of its own (Socket.IO). The suite speaks Engine.IO at Path
// (?EIO=4&transport=polling, then transport=websocket) and checks that protocol's handshake,
// heartbeats and upgrade.
type EngineIOConfig struct {
	Path string `yaml:"path"` // e.g. /socket.io/
}

// HTTPStreamConfig describes an HTTP streaming endpoint (capability httpstream): a long-lived
// response carrying one JSON value per line (NDJSON: application/x-ndjson, JSON Lines, or a
// chunked application/json of lines), as Centrifugo's uni_http_stream and many fetch-streaming
// APIs do. Events are the lines whose data pointer (Envelope, default target.envelope)
// resolves; other lines (connect replies, {} pings) are keep-alives.
type HTTPStreamConfig struct {
	Path   string `yaml:"path"`   // URL path template with {topic}
	Method string `yaml:"method"` // GET (default) or POST
	// Body is the request body template of a POST ({topic} substituted), e.g. Centrifugo's
	// connect request {"subs":{"hist:{topic}":{}}}.
	Body   string           `yaml:"body"`
	Resume HTTPStreamResume `yaml:"resume"`
	// Heartbeat is the longest idle gap between lines the target promises (capability
	// heartbeat). 0: not declared.
	Heartbeat Duration `yaml:"heartbeat"`
	// Reset is the "token too old or unknown" signal: a line whose Pointer is present (and
	// equal to Value when set).
	Reset ResetSignal `yaml:"reset"`
	// Envelope gives the pointers to the id and payload inside a line; default target.envelope.
	Envelope *Envelope `yaml:"envelope"`
}

// HTTPStreamResume says how a resume token reaches an HTTP stream: a query parameter, or the
// POST body rendered from a template where {{.ID}} is the token, {topic} the topic and
// {{.name}} a connect-reply field (target.connect.fields: Centrifugo's epoch).
type HTTPStreamResume struct {
	Query string `yaml:"query"`
	Body  string `yaml:"body"`
}

// QueryParam names a query parameter.
type QueryParam struct {
	Query string `yaml:"query"`
}

// ResetSignal is how a target says "your cursor or token is too old or unknown" in a JSON
// message (a long-poll response, a WebSocket message): the value at Pointer is present and,
// when Value is set, equal to it. An empty Pointer: not declared.
type ResetSignal struct {
	Pointer string `yaml:"pointer"`
	Value   string `yaml:"value"`
}

// Envelope gives JSON pointers to the id and the payload inside a WebSocket or long-poll message.
type Envelope struct {
	ID   string `yaml:"id"`
	Data string `yaml:"data"`
}

// PublishHook is how the suite makes the target emit an event.
type PublishHook struct {
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"` // template with {topic}; may be an absolute URL
	Headers map[string]string `yaml:"headers"`
	Body    PublishBody       `yaml:"body"`
}

// PublishBody says where the payload goes: raw (the whole body), form (a form field) or json
// (the payload as a JSON string at Pointer inside Template, a JSON object).
type PublishBody struct {
	Type     string `yaml:"type"`     // raw | form | json
	Field    string `yaml:"field"`    // form field name
	Pointer  string `yaml:"pointer"`  // json: where the payload goes
	Template string `yaml:"template"` // json: the object around it; {topic} substituted
	// Extra form fields, e.g. the topic for a Mercure hub; {topic} substituted.
	Form map[string]string `yaml:"form"`
}

// RestartHook restarts the target (checks of shutdown and restart behaviour need it).
type RestartHook struct {
	Command string `yaml:"command"`
	URL     string `yaml:"url"`
	Method  string `yaml:"method"`
	// Durable says whether the target keeps its event history across a restart (default
	// true). A target that does not (durable: false) must signal the loss explicitly to a
	// client resuming from before the restart (the declared reset signal); a silent gap, or
	// ids reused so that a resume lands on the wrong events, still fail.
	Durable *bool `yaml:"durable"`
}

// RestartDurable reports whether the target keeps its history across a restart: true unless
// the restart hook declares durable: false.
func (t *Target) RestartDurable() bool {
	return t.Restart == nil || t.Restart.Durable == nil || *t.Restart.Durable
}

// OriginPolicy is the target's declared WebSocket/CORS origin allow-list.
type OriginPolicy struct {
	Allowed []string `yaml:"allowed"`
}

// Faults selects the Toxiproxy backend used by the chaos suites.
type Faults struct {
	Backend string `yaml:"backend"` // embedded | container | external
	API     string `yaml:"api"`     // external: the Toxiproxy API URL
	Image   string `yaml:"image"`   // container: the image (default ghcr.io/shopify/toxiproxy:2.12.0, built locally when it cannot be pulled)
	// Network is the Docker network the container joins when the target runs in one (the
	// target URL then names the container); empty: host networking, target on the host.
	Network string `yaml:"network"`
}

// ProxyMatrix configures the proxy suite (label "proxy").
type ProxyMatrix struct {
	// Cells are the proxy × config cells to run, "nginx:naive", "haproxy:recommended", or a
	// proxy name for both of its configs. Empty: every cell when the target runs locally
	// (the in-process reference, or target.start), none for a remote url — which is then
	// checked as a deployment (cell "deployment": the same checks end to end).
	Cells []string `yaml:"cells"`
	// Idle is the idle timeout the proxy configs are rendered with, standing in for their
	// real defaults (nginx proxy_read_timeout 60s …) so idle cuts show in seconds (default 4s).
	Idle Duration `yaml:"idle"`
	// StreamIdle is the recommended configs' timeout for streams and upgraded connections;
	// it must outlast the target's heartbeat (default 3× the SSE heartbeat).
	StreamIdle Duration `yaml:"streamIdle"`
	// Direct is the origin's own URL, behind the proxy or CDN that url goes through: the
	// deployment cell compares delivery through url with delivery from Direct.
	Direct string `yaml:"direct"`
}

// Report configures where reports are written.
type Report struct {
	Dir string `yaml:"dir"`
}

// Has reports whether the target declares c.
func (t *Target) Has(c Capability) bool {
	for _, x := range t.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Missing returns the capabilities in want that the target does not declare.
func (t *Target) Missing(want []Capability) []Capability {
	var out []Capability
	for _, c := range want {
		if !t.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// Defaults returns the built-in profile: the in-process reference server, every capability.
func Defaults() Profile {
	return Profile{
		Target: Target{
			Name: "reference",
			SSE: &SSEConfig{Path: "/sse/{topic}", Resume: SSEResume{Query: "lastEventId"}, Heartbeat: Duration(10 * time.Second),
				Retry: Duration(3 * time.Second), Reset: SSEReset{Event: "reset"}},
			WebSocket: &WebSocketConfig{Path: "/ws/{topic}", Echo: "/echo", Resume: WebSocketToken{Query: "since"},
				MaxMessage: 64 << 10, Reset: ResetSignal{Pointer: "/type", Value: "reset"}, Keepalive: Duration(20 * time.Second)},
			LongPoll: &LongPollConfig{Path: "/poll/{topic}", Cursor: QueryParam{Query: "cursor"}, Timeout: Duration(25 * time.Second),
				Batch: 100, Reset: ResetSignal{Pointer: "/reset"}},
			HTTPStream: &HTTPStreamConfig{Path: "/stream/{topic}", Method: "GET", Resume: HTTPStreamResume{Query: "since"},
				Heartbeat: Duration(10 * time.Second), Reset: ResetSignal{Pointer: "/type", Value: "reset"}},
			Envelope:  Envelope{ID: "/id", Data: "/data"},
			Publish:   &PublishHook{Method: "POST", Path: "/publish/{topic}"},
			Retention: 10000,
			Capabilities: []Capability{CapSSE, CapWebSocket, CapLongPoll, CapResume, CapHeartbeat,
				CapRetry, CapPublish, CapEcho, CapRestart, CapHTTPStream},
		},
		Faults: Faults{Backend: "embedded"},
		Report: Report{Dir: "rtconform-report"},
	}
}

// fillDefaults completes optional fields that have a conventional default.
func (p *Profile) fillDefaults() {
	t := &p.Target
	if t.LongPoll != nil {
		if t.LongPoll.Events == "" {
			t.LongPoll.Events = "/events"
		}
		if t.LongPoll.Next == "" {
			t.LongPoll.Next = "/cursor"
		}
		if t.LongPoll.Cursor.Query == "" {
			t.LongPoll.Cursor.Query = "cursor"
		}
		if t.LongPoll.Timeout == 0 {
			t.LongPoll.Timeout = Duration(25 * time.Second)
		}
	}
	if t.Envelope.ID == "" {
		t.Envelope.ID = "/id"
	}
	if t.Envelope.Data == "" {
		t.Envelope.Data = "/data"
	}
	if t.Publish != nil {
		if t.Publish.Method == "" {
			t.Publish.Method = "POST"
		}
		if t.Publish.Body.Type == "" {
			t.Publish.Body.Type = "raw"
		}
	}
	if h := t.HTTPStream; h != nil {
		if h.Method == "" {
			h.Method = "GET"
		}
		if h.Envelope == nil {
			h.Envelope = &Envelope{}
		}
		if h.Envelope.ID == "" {
			h.Envelope.ID = t.Envelope.ID
		}
		if h.Envelope.Data == "" {
			h.Envelope.Data = t.Envelope.Data
		}
	}
	if t.Start != nil {
		if t.Start.Ready == "" {
			t.Start.Ready = "/healthz"
		}
		if t.Start.Timeout == 0 {
			t.Start.Timeout = Duration(120 * time.Second)
		}
	}
	if p.Faults.Backend == "" {
		p.Faults.Backend = "embedded"
	}
	if p.Report.Dir == "" {
		p.Report.Dir = "rtconform-report"
	}
	if t.Name == "" {
		if t.URL == "" {
			t.Name = "reference"
		} else {
			t.Name = t.URL
		}
	}
}

// Path renders a path template for a topic: {topic} is substituted, then the query part
// (after the first ?) is made a valid URL query. Every byte that may not appear in a query
// (RFC 3986 §3.4: quotes, braces, spaces, brackets, #, non-ASCII …) is percent-encoded, so a
// template can carry a JSON connect request as written, such as Centrifugo's
// /connection/uni_sse?cf_connect={"subs":{"hist:{topic}":{}}}; what is valid already (a %XX
// escape, the & and = between parameters, : / ? @) is kept byte for byte, so an encoded
// template is not encoded twice. Every URL the suites build from sse.path, websocket.path,
// longpoll.path and publish.path goes through here (T.URL, the subscriber, the probes).
func Path(template, topic string) string {
	s := strings.ReplaceAll(template, "{topic}", topic)
	path, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	return path + "?" + escapeQuery(query)
}

// escapeQuery percent-encodes the bytes of a URL query that RFC 3986 does not allow there,
// keeping valid %XX escapes.
func escapeQuery(q string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '%' && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2]):
			b.WriteByte(c)
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ConfigError is a profile mistake: it names the file, the key and what is wrong.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<flags>"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}
