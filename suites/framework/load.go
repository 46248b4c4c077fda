package framework

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rtconform/rtconform/presets"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
)

// Overrides are the command-line flags that take precedence over the profile file. A nil
// field was not set on the command line and leaves the file's value alone.
type Overrides struct {
	// Preset names an embedded preset (package presets) the profile file is layered on; it
	// overrides the file's own preset key.
	Preset    *string
	Target    *string
	Strict    *bool
	ReportDir *string
	Faults    *string // faults.backend
	// The deployment flags of rtconform deploy (deploy.*).
	Public, Origin          *string
	Latency, Idle, IdleWait *Duration
}

// Load reads a profile: built-in defaults, then the file (if path is not empty), then the
// overrides. Any mistake is a *ConfigError naming the file and the key.
//
// With a preset (Overrides.Preset, or the file's preset key) the layers are: built-in defaults
// for everything but the target, the preset's target, the file, the flags.
func Load(path string, o Overrides) (Profile, error) {
	p := Defaults()
	lines := map[string]int{}
	var raw []byte
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return p, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read the profile: %v", err)}
		}
		if p.Preset, err = presetKey(raw); err != nil {
			return p, &ConfigError{File: path, Msg: fmt.Sprintf("not valid YAML: %v", err)}
		}
	}
	if o.Preset != nil {
		p.Preset = *o.Preset
	}
	if p.Preset != "" {
		text, err := presets.Get(p.Preset)
		if err != nil {
			if o.Preset != nil {
				return p, &ConfigError{Key: "--preset", Msg: err.Error()}
			}
			return p, &ConfigError{File: path, Key: "preset", Msg: err.Error()}
		}
		p.Target = Target{}
		if err := decode(presetFile(p.Preset), text, &p, map[string]int{}, false); err != nil {
			return p, err
		}
	}
	if path != "" {
		if err := decode(path, raw, &p, lines, p.Preset != ""); err != nil {
			return p, err
		}
		p.Source = path
	}
	if o.Target != nil {
		p.Target.URL = *o.Target
		if p.Target.Name == "reference" {
			p.Target.Name = *o.Target
		}
	}
	if o.Strict != nil {
		p.Strict = *o.Strict
	}
	if o.ReportDir != nil {
		p.Report.Dir = *o.ReportDir
	}
	if o.Faults != nil {
		p.Faults.Backend = *o.Faults
	}
	setIf(&p.Deploy.Public, o.Public)
	setIf(&p.Deploy.Origin, o.Origin)
	setIf(&p.Deploy.Latency, o.Latency)
	setIf(&p.Deploy.Idle, o.Idle)
	setIf(&p.Deploy.MaxIdleWait, o.IdleWait)
	if err := p.resolveDeploy(lines); err != nil {
		return p, err
	}
	p.Target.Name = os.ExpandEnv(p.Target.Name)
	if err := p.expandEnv(lines); err != nil {
		return p, err
	}
	if p.Preset != "" && p.Target.URL == "" {
		return p, &ConfigError{File: p.Source, Key: "target.url", Msg: fmt.Sprintf("preset %q describes a kind of server, not where yours runs: give its base URL with --target (or target.url)", p.Preset)}
	}
	p.fillDefaults()
	if err := p.validate(lines); err != nil {
		return p, err
	}
	return p, nil
}

// presetFile is how a preset is named in configuration errors.
func presetFile(name string) string { return "preset " + name + " (presets/" + name + ".yaml)" }

// presetKey reads the top-level preset key of a profile ("" when absent).
func presetKey(raw []byte) (string, error) {
	var top struct {
		Preset string `yaml:"preset"`
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return "", err
	}
	if len(doc.Content) == 0 || !hasKey(doc.Content[0], "preset") {
		return "", nil
	}
	if err := doc.Content[0].Decode(&top); err != nil {
		return "", nil // decode reports the mistake with its key
	}
	return top.Preset, nil
}

// envRef is a ${NAME} reference to an environment variable in a profile value.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv substitutes ${NAME} in the values that carry secrets or deployment-specific
// parts (publish path, headers, body templates and form fields; the stream paths and resume
// message), so a profile or preset can say Authorization: Bearer ${MERCURE_PUBLISHER_JWT}
// without the secret in the file. An unset variable is an error naming the key: a request
// with an empty token would fail every check for a reason the run would not show. Only the
// braced form is expanded; a lone $ stays as it is.
func (p *Profile) expandEnv(lines map[string]int) error {
	t := &p.Target
	expand := func(key string, s *string) error {
		var missing []string
		*s = envRef.ReplaceAllStringFunc(*s, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return &ConfigError{File: p.Source, Line: lines[key], Key: key,
				Msg: fmt.Sprintf("uses ${%s}, which is not set in the environment", strings.Join(missing, "}, ${"))}
		}
		return nil
	}
	type field struct {
		key string
		s   *string
	}
	var fields []field
	if t.SSE != nil {
		fields = append(fields, field{"target.sse.path", &t.SSE.Path}, field{"target.sse.resume.path", &t.SSE.Resume.Path})
	}
	if t.WebSocket != nil {
		fields = append(fields, field{"target.websocket.path", &t.WebSocket.Path}, field{"target.websocket.resume.message", &t.WebSocket.Resume.Message},
			field{"target.websocket.resume.path", &t.WebSocket.Resume.Path})
		for i := range t.WebSocket.Open {
			fields = append(fields, field{fmt.Sprintf("target.websocket.open[%d]", i), &t.WebSocket.Open[i]})
		}
	}
	if h := t.HTTPStream; h != nil {
		fields = append(fields, field{"target.httpstream.path", &h.Path}, field{"target.httpstream.body", &h.Body}, field{"target.httpstream.resume.body", &h.Resume.Body})
	}
	if t.LongPoll != nil {
		fields = append(fields, field{"target.longpoll.path", &t.LongPoll.Path})
	}
	if pub := t.Publish; pub != nil {
		fields = append(fields, field{"target.publish.path", &pub.Path}, field{"target.publish.body.template", &pub.Body.Template})
		headers, form := make(map[string]string, len(pub.Headers)), make(map[string]string, len(pub.Body.Form))
		for _, k := range slices.Sorted(maps.Keys(pub.Headers)) {
			v := pub.Headers[k]
			if err := expand("target.publish.headers."+k, &v); err != nil {
				return err
			}
			headers[k] = v
		}
		for _, k := range slices.Sorted(maps.Keys(pub.Body.Form)) {
			v := pub.Body.Form[k]
			if err := expand("target.publish.body.form."+k, &v); err != nil {
				return err
			}
			form[k] = v
		}
		if pub.Headers != nil {
			pub.Headers = headers
		}
		if pub.Body.Form != nil {
			pub.Body.Form = form
		}
	}
	for _, f := range fields {
		if err := expand(f.key, f.s); err != nil {
			return err
		}
	}
	return nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// resolveDeploy points the target at the deployment: the wire suites run against
// deploy.origin when it is given, else through deploy.public.
func (p *Profile) resolveDeploy(lines map[string]int) error {
	d := &p.Deploy
	if d.Public == "" {
		if d.Origin != "" {
			return &ConfigError{File: p.Source, Line: lines["deploy"], Key: "deploy.public", Msg: "is required with deploy.origin: the URL clients use"}
		}
		return nil
	}
	for key, u := range map[string]string{"deploy.public": d.Public, "deploy.origin": d.Origin} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
			return &ConfigError{File: p.Source, Line: lines["deploy"], Key: key, Msg: fmt.Sprintf("%q must be an http(s) URL", u)}
		}
	}
	if d.Latency < 0 || d.Idle < 0 || d.MaxIdleWait < 0 {
		return &ConfigError{File: p.Source, Line: lines["deploy"], Key: "deploy", Msg: "latency, idle and maxIdleWait must not be negative"}
	}
	want := strings.TrimRight(d.Public, "/")
	if d.Origin != "" {
		want = strings.TrimRight(d.Origin, "/")
	}
	if t := strings.TrimRight(p.Target.URL, "/"); t != "" && t != want && t != strings.TrimRight(d.Public, "/") {
		return &ConfigError{File: p.Source, Line: lines["target"], Key: "target.url",
			Msg: fmt.Sprintf("%q differs from deploy.public and deploy.origin: a deployment run judges the server at deploy.origin (else through deploy.public); leave target.url unset", p.Target.URL)}
	}
	if p.Target.Start != nil {
		return &ConfigError{File: p.Source, Line: lines["target"], Key: "target.start", Msg: "cannot be combined with deploy.public: a deployment is already running"}
	}
	p.Target.URL = want
	if p.Target.Has(CapRestart) && (p.Target.Restart == nil || (p.Target.Restart.Command == "" && p.Target.Restart.URL == "")) {
		p.Target.Capabilities = slices.DeleteFunc(slices.Clone(p.Target.Capabilities), func(c Capability) bool { return c == CapRestart })
		p.Notes = append(p.Notes, "capability restart dropped: a deployment has no target.restart hook, so the restart checks are NOT_SUPPORTED")
	}
	return nil
}

// decode checks the document for unknown keys (reporting the full key path and line) and then
// decodes it over the defaults.
//
// onPreset says the document is layered on a preset's target: its target keys refine the
// preset's instead of replacing the reference's, so neither the reset nor the capability
// requirement below applies.
func decode(file string, raw []byte, p *Profile, lines map[string]int, onPreset bool) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		msg := fmt.Sprintf("not valid YAML: %v", err)
		if strings.Contains(msg, "did not find expected ',' or '}'") && strings.Contains(string(raw), "{topic}") {
			msg += " (hint: inside a {...} flow mapping a path with {topic} must be quoted: path: '/sse/{topic}')"
		}
		return &ConfigError{File: file, Msg: msg}
	}
	if len(doc.Content) == 0 {
		return nil // an empty file: defaults
	}
	root := doc.Content[0]
	if err := walkKeys(file, root, reflect.TypeFor[Profile](), "", lines); err != nil {
		return err
	}
	// A target given by URL or start command describes some other server: the reference's
	// capability list must not leak into it.
	if !onPreset && (hasKey(root, "target", "url") || hasKey(root, "target", "start")) {
		if !hasKey(root, "target", "capabilities") {
			return &ConfigError{File: file, Line: lines["target"], Key: "target.capabilities",
				Msg: "required when target.url or target.start is set: declare what the server supports (" + capList() + ")"}
		}
		p.Target = Target{}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return &ConfigError{File: file, Msg: strings.Join(te.Errors, "; ")}
		}
		return &ConfigError{File: file, Msg: err.Error()}
	}
	return nil
}

func hasKey(n *yaml.Node, path ...string) bool {
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

// walkKeys compares every mapping key with the yaml tags of the Go type it decodes into.
func walkKeys(file string, n *yaml.Node, t reflect.Type, prefix string, lines map[string]int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &ConfigError{File: file, Line: n.Line, Key: keyName(prefix), Msg: "must be a mapping"}
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(prefix, k.Value)
			lines[key] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				return &ConfigError{File: file, Line: k.Line, Key: key,
					Msg: fmt.Sprintf("unknown key %q (known keys here: %s)", k.Value, strings.Join(names, ", "))}
			}
			if err := walkKeys(file, v, ft, key, lines); err != nil {
				return err
			}
		}
	case reflect.Slice:
		switch {
		case n.Kind == yaml.SequenceNode:
			for i, c := range n.Content {
				if err := walkKeys(file, c, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i), lines); err != nil {
					return err
				}
			}
		case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		case n.Kind == yaml.AliasNode:
			return walkKeys(file, n.Alias, t, prefix, lines)
		default:
			return &ConfigError{File: file, Line: n.Line, Key: keyName(prefix), Msg: "must be a list"}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &ConfigError{File: file, Line: n.Line, Key: keyName(prefix), Msg: "must be a mapping"}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			lines[join(prefix, n.Content[i].Value)] = n.Content[i].Line
		}
	default:
		// A leaf: decode it alone so a bad value is reported with its key.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			msg := err.Error()
			if te, ok := err.(*yaml.TypeError); ok {
				msg = strings.Join(te.Errors, "; ")
			}
			return &ConfigError{File: file, Line: n.Line, Key: keyName(prefix), Msg: msg}
		}
	}
	return nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func keyName(k string) string {
	if k == "" {
		return "(document)"
	}
	return k
}

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 25s, 1m30s)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func capList() string {
	var s []string
	for _, c := range KnownCapabilities {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

// validate checks the meaning of the decoded profile.
func (p *Profile) validate(lines map[string]int) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{File: p.Source, Line: lines[key], Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	t := &p.Target
	if t.URL != "" {
		u, err := url.Parse(strings.ReplaceAll(t.URL, "{port}", "1"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("target.url", "%q is not an absolute http:// or https:// URL", t.URL)
		}
		if u.Path != "" && u.Path != "/" {
			return bad("target.url", "%q has a path: give the base URL (scheme://host:port) and put paths under target.sse/websocket/longpoll", t.URL)
		}
	} else if t.Start != nil {
		return bad("target.start", "needs target.url too (the address the started server listens on; {port} picks a free one)")
	}
	if strings.Contains(t.URL, "{port}") && t.Start == nil {
		return bad("target.url", "{port} only makes sense with target.start (the suite picks the port and passes it to the command)")
	}
	if t.Start != nil && strings.TrimSpace(t.Start.Command) == "" {
		return bad("target.start.command", "is required")
	}
	for i, c := range t.Capabilities {
		if !slices.Contains(KnownCapabilities, c) {
			return bad(fmt.Sprintf("target.capabilities[%d]", i), "unknown capability %q (known: %s)", c, capList())
		}
	}
	needPath := func(c Capability, key, path string) error {
		if !t.Has(c) {
			return nil
		}
		if path == "" {
			return bad(key, "is required when capability %q is declared", c)
		}
		if !strings.HasPrefix(path, "/") {
			return bad(key, "%q must start with /", path)
		}
		return nil
	}
	if t.Has(CapSSE) && t.SSE == nil {
		return bad("target.sse", "is required when capability \"sse\" is declared")
	}
	if t.Has(CapWebSocket) && t.WebSocket == nil {
		return bad("target.websocket", "is required when capability \"websocket\" is declared")
	}
	if t.Has(CapLongPoll) && t.LongPoll == nil {
		return bad("target.longpoll", "is required when capability \"longpoll\" is declared")
	}
	if t.Has(CapHTTPStream) && t.HTTPStream == nil {
		return bad("target.httpstream", "is required when capability \"httpstream\" is declared")
	}
	if h := t.HTTPStream; h != nil {
		if err := needPath(CapHTTPStream, "target.httpstream.path", h.Path); err != nil {
			return err
		}
		switch h.Method {
		case "GET":
			if h.Body != "" || h.Resume.Body != "" {
				return bad("target.httpstream.body", "a GET has no body: set method: POST to send one")
			}
		case "POST":
		default:
			return bad("target.httpstream.method", "%q is not GET or POST", h.Method)
		}
		if h.Resume.Query != "" && h.Resume.Body != "" {
			return bad("target.httpstream.resume", "give either query or body, not both")
		}
		if t.Has(CapHTTPStream) && t.Has(CapResume) && h.Resume.Query == "" && h.Resume.Body == "" {
			return bad("target.httpstream.resume", "needs query or body when capabilities httpstream and resume are declared")
		}
		if h.Heartbeat < 0 {
			return bad("target.httpstream.heartbeat", "must not be negative")
		}
		if t.Has(CapHTTPStream) && t.Has(CapHeartbeat) && h.Heartbeat == 0 {
			return bad("target.httpstream.heartbeat", "must be a positive duration when capabilities httpstream and heartbeat are declared")
		}
		ptrs := map[string]string{"target.httpstream.reset.pointer": h.Reset.Pointer,
			"target.httpstream.envelope.id": h.Envelope.ID, "target.httpstream.envelope.data": h.Envelope.Data}
		for k, v := range ptrs {
			if err := checkPointer(v); err != nil {
				return bad(k, "%v", err)
			}
		}
	}
	if err := t.validateConnect(bad); err != nil {
		return err
	}
	if t.Has(CapEngineIO) && t.EngineIO == nil {
		return bad("target.engineio", "is required when capability \"engineio\" is declared")
	}
	if t.EngineIO != nil {
		if err := needPath(CapEngineIO, "target.engineio.path", t.EngineIO.Path); err != nil {
			return err
		}
	}
	if t.SSE != nil {
		if err := needPath(CapSSE, "target.sse.path", t.SSE.Path); err != nil {
			return err
		}
		if t.Has(CapHeartbeat) && t.SSE.Heartbeat <= 0 {
			return bad("target.sse.heartbeat", "must be a positive duration when capability \"heartbeat\" is declared (the longest idle gap the server promises)")
		}
		if t.Has(CapRetry) && t.SSE.Retry <= 0 {
			return bad("target.sse.retry", "must be a positive duration when capability \"retry\" is declared")
		}
		if p := t.SSE.Resume.Path; p != "" && !strings.HasPrefix(p, "/") {
			return bad("target.sse.resume.path", "%q must start with /", p)
		}
		if h := t.SSE.Reset.Header; h != "" {
			if strings.Trim(h, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				return bad("target.sse.reset.header", "%q is not an HTTP header name", h)
			}
			if t.SSE.Reset.Event != "" {
				return bad("target.sse.reset", "give either event or header, not both (event %q, header %q)", t.SSE.Reset.Event, h)
			}
		}
		if e := t.SSE.Envelope; e != nil {
			if e.Data == "" || checkPointer(e.Data) != nil {
				err := bad("target.sse.envelope.data", "%q must be a JSON pointer to the payload inside the SSE data, such as /pub/data (without an envelope the whole data is the payload)", e.Data)
				if ce := err.(*ConfigError); ce.Line == 0 {
					ce.Line = lines["target.sse.envelope"] // data not given: the envelope's line
				}
				return err
			}
			if err := checkPointer(e.ID); err != nil {
				return bad("target.sse.envelope.id", "%v", err)
			}
		}
	}
	if t.WebSocket != nil {
		if err := needPath(CapWebSocket, "target.websocket.path", t.WebSocket.Path); err != nil {
			return err
		}
		if err := needPath(CapEcho, "target.websocket.echo", t.WebSocket.Echo); err != nil {
			return err
		}
		r := t.WebSocket.Resume
		openResumes := slices.ContainsFunc(t.WebSocket.Open, func(m string) bool { return strings.Contains(m, ".ID") })
		if t.Has(CapWebSocket) && t.Has(CapResume) && r.Query == "" && r.Message == "" && r.Path == "" && !openResumes {
			return bad("target.websocket.resume", "needs query, path or message when capabilities websocket and resume are declared (or an open message that uses {{.ID}})")
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			return bad("target.websocket.resume.path", "%q must start with /", r.Path)
		}
		if err := checkPointer(t.WebSocket.Reset.Pointer); err != nil {
			return bad("target.websocket.reset.pointer", "%v", err)
		}
		if t.WebSocket.Keepalive < 0 {
			return bad("target.websocket.keepalive", "must not be negative")
		}
		if t.WebSocket.MaxMessage < 0 {
			return bad("target.websocket.maxMessage", "must not be negative")
		}
		if n := len(slices.DeleteFunc([]string{r.Query, r.Message, r.Path}, func(s string) bool { return s == "" })); n > 1 {
			return bad("target.websocket.resume", "give one of query, path or message, not %d", n)
		}
	}
	if t.LongPoll != nil {
		if err := needPath(CapLongPoll, "target.longpoll.path", t.LongPoll.Path); err != nil {
			return err
		}
		if t.LongPoll.Timeout <= 0 {
			return bad("target.longpoll.timeout", "must be a positive duration")
		}
		if t.LongPoll.Batch < 0 {
			return bad("target.longpoll.batch", "must not be negative")
		}
		for k, v := range map[string]string{"target.longpoll.events": t.LongPoll.Events, "target.longpoll.next": t.LongPoll.Next, "target.longpoll.reset.pointer": t.LongPoll.Reset.Pointer} {
			if err := checkPointer(v); err != nil {
				return bad(k, "%v", err)
			}
		}
	}
	for k, v := range map[string]string{"target.envelope.id": t.Envelope.ID, "target.envelope.data": t.Envelope.Data} {
		if err := checkPointer(v); err != nil {
			return bad(k, "%v", err)
		}
	}
	if t.Has(CapPublish) {
		if t.Publish == nil {
			return bad("target.publish", "is required when capability \"publish\" is declared")
		}
		if t.Publish.Path == "" {
			return bad("target.publish.path", "is required")
		}
	}
	if t.Publish != nil {
		switch t.Publish.Body.Type {
		case "raw":
		case "form":
			if t.Publish.Body.Field == "" {
				return bad("target.publish.body.field", "is required for body type form")
			}
		case "json":
			if err := checkPointer(t.Publish.Body.Pointer); err != nil || t.Publish.Body.Pointer == "" {
				return bad("target.publish.body.pointer", "must be a JSON pointer such as /data for body type json")
			}
		default:
			return bad("target.publish.body.type", "%q is not one of raw, form, json", t.Publish.Body.Type)
		}
	}
	if t.Has(CapRestart) && t.URL != "" && (t.Restart == nil || (t.Restart.Command == "" && t.Restart.URL == "")) {
		return bad("target.restart", "needs command or url when capability \"restart\" is declared for an external target")
	}
	switch p.Faults.Backend {
	case "embedded", "container":
	case "external":
		if u, err := url.Parse(p.Faults.API); err != nil || u.Host == "" {
			return bad("faults.api", "%q must be the Toxiproxy API URL (http://host:8474) for backend external", p.Faults.API)
		}
	default:
		return bad("faults.backend", "%q is not one of embedded, container, external", p.Faults.Backend)
	}
	for i, c := range p.Proxies.Cells {
		// name, name:variant, name:variant:h2 (an h2 cell), h2 (every h2 cell) or deployment.
		name, rest, _ := strings.Cut(c, ":")
		variant, h2, _ := strings.Cut(rest, ":")
		if c == "deployment" || c == "h2" {
			continue
		}
		if !slices.Contains(ProxyNames, name) {
			return bad(fmt.Sprintf("proxies.cells[%d]", i), "%q names no proxy (one of %s, optionally :naive or :recommended, and :h2 after it for the h2 cell; or h2, or deployment)", c, strings.Join(ProxyNames, ", "))
		}
		if rest != "" && variant != "naive" && variant != "recommended" {
			return bad(fmt.Sprintf("proxies.cells[%d]", i), "%q: the config is naive or recommended", c)
		}
		if h2 != "" && h2 != "h2" {
			return bad(fmt.Sprintf("proxies.cells[%d]", i), "%q: after the config only :h2 may follow (the h2 cell)", c)
		}
	}
	if d := p.Proxies.Direct; d != "" {
		if u, err := url.Parse(d); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return bad("proxies.direct", "%q must be an http(s) URL (the origin behind the proxy or CDN)", d)
		}
	}
	if p.Proxies.Idle < 0 || p.Proxies.StreamIdle < 0 {
		return bad("proxies.idle", "must not be negative")
	}
	if t.Retention < 0 {
		return bad("target.retention", "must not be negative")
	}
	if strings.TrimSpace(p.Report.Dir) == "" {
		return bad("report.dir", "must not be empty")
	}
	return nil
}

// checkPointer validates RFC 6901 JSON pointer syntax ("" is the whole document).
// validateConnect checks target.connect and every template that may use its fields.
func (t *Target) validateConnect(bad func(key, format string, args ...any) error) error {
	var fields map[string]string
	if c := t.Connect; c != nil {
		if c.Match == "" {
			return bad("target.connect.match", "is required: a JSON pointer that resolves in the connect reply only, such as /connect")
		}
		ptrs := map[string]string{"target.connect.match": c.Match, "target.connect.events": c.Events,
			"target.connect.item.id": c.Item.ID, "target.connect.item.data": c.Item.Data, "target.connect.recovered": c.Recovered}
		for name, p := range c.Fields {
			ptrs["target.connect.fields."+name] = p
		}
		for _, k := range slices.Sorted(maps.Keys(ptrs)) {
			if err := checkPointer(ptrs[k]); err != nil {
				return bad(k, "%v", err)
			}
		}
		if c.Events != "" && c.Item.Data == "" {
			return bad("target.connect.item.data", "is required with target.connect.events: the pointer to the payload inside each replayed event, such as /data")
		}
		for _, name := range slices.Sorted(maps.Keys(c.Fields)) {
			if name == "ID" || !identifier(name) {
				return bad("target.connect.fields."+name, "%q cannot name a template field: use letters, digits and _, not ID", name)
			}
		}
		fields = c.Fields
	}
	tmpls := map[string]string{}
	if t.SSE != nil {
		tmpls["target.sse.resume.path"] = t.SSE.Resume.Path
	}
	if w := t.WebSocket; w != nil {
		tmpls["target.websocket.resume.path"] = w.Resume.Path
		tmpls["target.websocket.resume.message"] = w.Resume.Message
		for i, m := range w.Open {
			tmpls[fmt.Sprintf("target.websocket.open[%d]", i)] = m
		}
	}
	if h := t.HTTPStream; h != nil {
		tmpls["target.httpstream.resume.body"] = h.Resume.Body
	}
	for _, k := range slices.Sorted(maps.Keys(tmpls)) {
		if err := checkTemplate(tmpls[k], fields); err != nil {
			return bad(k, "%v", err)
		}
	}
	return nil
}

// identifier reports whether s is a Go template field name.
func identifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func checkPointer(p string) error {
	if !jsonptr.Valid(p) {
		return fmt.Errorf("%q is not a JSON pointer (it must start with /)", p)
	}
	return nil
}
