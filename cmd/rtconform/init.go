package main

// rtconform init: a first profile for a server nobody described yet.
//
// Decisions:
//   - init declares only what it saw work: a transport whose endpoint answered as that
//     transport does (SSE: 200 text/event-stream; WebSocket: 101; HTTP stream: 200 with a
//     JSON-lines type), publish when a published payload arrived on an open stream, heartbeat
//     when every stream found sent keep-alive bytes while idle, retry when the SSE stream sent
//     a retry field, resume when a reconnect from the first of two events' id replayed the
//     second on every transport found (Last-Event-ID for SSE; for the others the first of the
//     usual query names that works). The checks judge how well each works; init only decides
//     what they may judge. Everything it could not determine is a TODO line in the file.
//   - Long-poll has no shape init can recognise without knowing the cursor: --longpoll PATH
//     writes its block with TODO lines, and the capability stays undeclared until they are
//     filled in.
//   - The profile is written to ./ginkgo.yaml (what run, deploy and probe read by default),
//     never over an existing file without --force.
//   - Every request is bounded (3 s to answer, the observation window for keep-alives), and
//     only the given URL is contacted.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/ndjsonclient"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// The usual paths init tries when no path is given for a transport.
var (
	sseCandidates    = []string{"/sse/{topic}", "/events/{topic}", "/sse", "/events", "/stream"}
	wsCandidates     = []string{"/ws/{topic}", "/ws", "/websocket", "/socket"}
	streamCandidates = []string{"/stream/{topic}", "/stream"}
	resumeQueries    = []string{"since", "lastEventId", "last_event_id", "offset", "cursor", "from"}
)

// initAnswer bounds how long an endpoint may take to answer.
const initAnswer = 3 * time.Second

func cmdInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	target := fs.String("target", "", "base URL of the server (required)")
	out := fs.String("out", DefaultConfig, "where to write the profile")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	ssePath := fs.String("sse", "", "SSE path ({topic} for the topic); default: try "+strings.Join(sseCandidates, " "))
	wsPath := fs.String("websocket", "", "WebSocket path; default: try "+strings.Join(wsCandidates, " "))
	streamPath := fs.String("httpstream", "", "HTTP stream (JSON lines) path; default: try "+strings.Join(streamCandidates, " "))
	lpPath := fs.String("longpoll", "", "long-poll path (written with TODO lines: init cannot learn the cursor)")
	publish := fs.String("publish", "", "publish path (POST, the payload as the body), e.g. /publish/{topic}: lets init check delivery and resume")
	window := fs.Duration("window", 5*time.Second, "how long to watch an idle stream for keep-alives")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform init --target URL [flags]\n\n"+
			"Probes the server and writes a commented profile declaring only what it found, with a TODO line for\n"+
			"everything it could not determine. Exit: 0 written; 2 usage error, nothing found, or the file exists.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	u, err := url.Parse(*target)
	if *target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "rtconform init: --target must be the server's base URL (http:// or https://), got %q\n", *target)
		return exitHarness
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		fmt.Fprintf(stderr, "rtconform init: %s exists; give --out for another file or --force to overwrite it\n", *out)
		return exitHarness
	}
	if *window <= 0 || *window > time.Minute {
		fmt.Fprintf(stderr, "rtconform init: --window must be between 0 and 1m, got %s\n", *window)
		return exitHarness
	}
	in := &initProbe{base: strings.TrimRight(*target, "/"), topic: fmt.Sprintf("rtc-init-%08x", rand.Uint32()),
		http: &http.Client{}, window: *window, publish: *publish, log: stdout}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+3**window)
	defer cancel()
	f := in.discover(ctx, *ssePath, *wsPath, *streamPath)
	if f.sse == "" && f.ws == "" && f.stream == "" {
		fmt.Fprintf(stderr, "rtconform init: no SSE, WebSocket or HTTP stream endpoint answered at %s (tried %s); give the paths with --sse, --websocket or --httpstream\n",
			in.base, strings.Join(f.tried, ", "))
		return exitHarness
	}
	f.longpoll = *lpPath
	if err := os.WriteFile(*out, []byte(f.profile(in.base, *publish)), 0o644); err != nil {
		fmt.Fprintf(stderr, "rtconform init: %v\n", err)
		return exitHarness
	}
	if _, err := fw.Load(*out, fw.Overrides{}); err != nil {
		fmt.Fprintf(stderr, "rtconform init: the written profile does not load (a bug of init; the file is kept): %v\n", err)
		return exitHarness
	}
	fmt.Fprintf(stdout, "rtconform init: wrote %s (capabilities: %s); run it with: rtconform run --config %s\n", *out, strings.Join(f.caps(), ", "), *out)
	return exitOK
}

// initProbe is one run of init against a server.
type initProbe struct {
	base, topic, publish string
	http                 *http.Client
	window               time.Duration
	log                  io.Writer
	seq                  int
}

// found is what init established.
type found struct {
	tried                         []string
	sse, ws, stream, longpoll     string // paths ("" not found)
	sseHeartbeat, streamHeartbeat time.Duration
	sseRetry                      time.Duration
	published                     bool
	wsEnvelope, streamEnvelope    fw.Envelope
	sseResume                     bool
	wsResume, streamResume        string // the query name that resumes ("" none found)
	sseReset                      string // the event type of the loss signal ("" none seen)
	wsReset, streamReset          fw.ResetSignal
	todo                          []string
}

func (in *initProbe) say(format string, a ...any) { fmt.Fprintf(in.log, "  "+format+"\n", a...) }

func (in *initProbe) url(path string, topic string, query ...string) string {
	u := in.base + fw.Path(path, topic)
	if len(query) == 2 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + url.QueryEscape(query[0]) + "=" + url.QueryEscape(query[1])
	}
	return u
}

func candidates(given string, usual []string) []string {
	if given != "" {
		return []string{given}
	}
	return usual
}

// discover finds the endpoints, then watches them idle, then publishes and resumes.
func (in *initProbe) discover(ctx context.Context, ssePath, wsPath, streamPath string) *found {
	f := &found{}
	fmt.Fprintf(in.log, "rtconform init: probing %s (topic %s)\n", in.base, in.topic)
	for _, p := range candidates(ssePath, sseCandidates) {
		f.tried = append(f.tried, "SSE "+p)
		if in.isSSE(ctx, p) {
			f.sse = p
			in.say("SSE: %s answers text/event-stream", p)
			break
		}
	}
	for _, p := range candidates(streamPath, streamCandidates) {
		if p == f.sse {
			continue
		}
		f.tried = append(f.tried, "HTTP stream "+p)
		if in.isStream(ctx, p) {
			f.stream = p
			in.say("HTTP stream: %s answers JSON lines", p)
			break
		}
	}
	for _, p := range candidates(wsPath, wsCandidates) {
		f.tried = append(f.tried, "WebSocket "+p)
		if c, err := in.dial(ctx, in.url(p, in.topic)); err == nil {
			c.Close(websocket.StatusNormalClosure, "")
			f.ws = p
			in.say("WebSocket: %s upgrades", p)
			break
		}
	}
	in.watchIdle(ctx, f)
	if in.publish != "" {
		in.deliver(ctx, f)
	} else {
		f.todo = append(f.todo, "publish: give --publish PATH (or write target.publish) so the suite can make the server emit events; without it most checks are NOT_SUPPORTED")
	}
	if f.published {
		in.resume(ctx, f)
	}
	return f
}

func (in *initProbe) isSSE(ctx context.Context, path string) bool {
	return in.answers(ctx, path, "text/event-stream", func(ct string) bool { return strings.HasPrefix(ct, "text/event-stream") })
}

// answers reports whether GET path (Accept: accept) is answered 200 with a Content-Type ok
// accepts (lower case), within initAnswer.
func (in *initProbe) answers(ctx context.Context, path, accept string, ok func(ct string) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, initAnswer)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url(path, in.topic), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", accept)
	resp, err := in.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && ok(strings.ToLower(resp.Header.Get("Content-Type")))
}

// jsonLinesType reports whether a Content-Type is one of JSON lines.
func jsonLinesType(ct string) bool {
	ct = strings.ToLower(ct)
	return strings.Contains(ct, "ndjson") || strings.Contains(ct, "jsonl") || strings.Contains(ct, "json-seq") || strings.Contains(ct, "x-json-stream")
}

func (in *initProbe) isStream(ctx context.Context, path string) bool {
	return in.answers(ctx, path, "application/x-ndjson, application/jsonl", jsonLinesType)
}

func (in *initProbe) dial(ctx context.Context, u string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, initAnswer)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, strings.Replace(u, "http", "ws", 1), &websocket.DialOptions{HTTPClient: in.http})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

// watchIdle opens the streams found and watches them idle for the window: the longest gap
// between keep-alive bytes is the heartbeat seen, and SSE's retry field its retry.
func (in *initProbe) watchIdle(ctx context.Context, f *found) {
	if f.sse == "" && f.stream == "" {
		return
	}
	in.say("watching idle streams for %s (keep-alives, retry)", in.window)
	wctx, cancel := context.WithTimeout(ctx, in.window+initAnswer)
	defer cancel()
	var sse *sseclient.Stream
	var lines *ndjsonclient.Stream
	if f.sse != "" {
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, in.url(f.sse, in.topic+"-idle"), nil)
		req.Header.Set("Accept", "text/event-stream")
		if s, err := sseclient.Start(wctx, in.http, req, sseclient.Limits{}); err == nil {
			sse = s
			defer s.Close()
		}
	}
	if f.stream != "" {
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, in.url(f.stream, in.topic+"-idle"), nil)
		if s, err := ndjsonclient.Start(wctx, in.http, req, ndjsonclient.Limits{}); err == nil {
			lines = s
			defer s.Close()
		}
	}
	start := time.Now()
	var streamTimes []time.Time
	read := make(chan struct{})
	go func() { // the lines' arrival times, until the window ends
		defer close(read)
		for lines != nil {
			ln, err := lines.Next(wctx)
			if err != nil {
				return
			}
			streamTimes = append(streamTimes, ln.At)
		}
	}()
	select {
	case <-ctx.Done():
	case <-time.After(in.window):
	}
	if sse != nil {
		var at []time.Time
		for _, c := range sse.Comments() {
			at = append(at, c.At)
		}
		f.sseHeartbeat = declared(longestGap(start, at), in.window)
		if r, ok := sse.Retry(); ok {
			f.sseRetry = r
		}
	}
	cancel()
	<-read
	if lines != nil {
		f.streamHeartbeat = declared(longestGap(start, streamTimes), in.window)
	}
}

// longestGap is the longest silence from start through the times (0: fewer than two).
func longestGap(start time.Time, at []time.Time) time.Duration {
	if len(at) < 2 {
		return 0
	}
	var g time.Duration
	prev := start
	for _, t := range at {
		g, prev = max(g, t.Sub(prev)), t
	}
	return g
}

// declared turns an observed keep-alive gap into the bound a profile declares: the gap
// rounded up to a whole second plus one second of slack (0 when none was seen, or when the
// gap was as long as the window: not a keep-alive seen twice).
func declared(gap, window time.Duration) time.Duration {
	if gap <= 0 || gap >= window {
		return 0
	}
	return gap.Truncate(time.Second) + 2*time.Second
}

// payload is the next unique payload init publishes.
func (in *initProbe) payload() string {
	in.seq++
	return fmt.Sprintf(`{"rtconform_init":%q,"seq":%d}`, in.topic, in.seq)
}

func (in *initProbe) post(ctx context.Context, topic, body string) error {
	ctx, cancel := context.WithTimeout(ctx, initAnswer)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url(in.publish, topic), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// frame is one thing a listener read: an SSE event (its data, type and id), a WebSocket
// message or a line of an HTTP stream (raw).
type frame struct {
	raw         []byte
	sseID, kind string
}

// listener is one open stream of a transport.
type listener struct {
	next  func(ctx context.Context) (frame, error)
	close func()
}

func (in *initProbe) listen(ctx context.Context, tr fw.Transport, path, topic string, query ...string) (*listener, error) {
	switch tr {
	case fw.SSE:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.url(path, topic), nil)
		req.Header.Set("Accept", "text/event-stream")
		if len(query) == 2 && query[0] == "Last-Event-ID" {
			req.Header.Set("Last-Event-ID", query[1])
		}
		s, err := sseclient.Start(ctx, in.http, req, sseclient.Limits{})
		if err != nil {
			return nil, err
		}
		return &listener{next: func(ctx context.Context) (frame, error) {
			ev, err := s.Next(ctx)
			return frame{raw: []byte(ev.Data), sseID: ev.LastEventID, kind: ev.Type}, err
		}, close: func() { _ = s.Close() }}, nil
	case fw.HTTPStream:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.url(path, topic, query...), nil)
		s, err := ndjsonclient.Start(ctx, in.http, req, ndjsonclient.Limits{})
		if err != nil {
			return nil, err
		}
		return &listener{next: func(ctx context.Context) (frame, error) {
			ln, err := s.Next(ctx)
			return frame{raw: ln.Raw}, err
		}, close: func() { _ = s.Close() }}, nil
	default:
		c, err := in.dial(ctx, in.url(path, topic, query...))
		if err != nil {
			return nil, err
		}
		return &listener{next: func(ctx context.Context) (frame, error) {
			_, b, err := c.Read(ctx)
			return frame{raw: b}, err
		}, close: func() { c.Close(websocket.StatusNormalClosure, "") }}, nil
	}
}

// event is a payload init published, as one transport delivered it.
type event struct {
	id string // the event's id: SSE's id field, or the envelope's id pointer
	ok bool
}

// await reads l until payload arrives (bounded by initAnswer); it learns the envelope of a
// JSON frame (the pointer where the payload sits, and an id beside it) into env.
func await(ctx context.Context, l *listener, payload string, env *fw.Envelope) event {
	ctx, cancel := context.WithTimeout(ctx, initAnswer)
	defer cancel()
	var want any
	_ = json.Unmarshal([]byte(payload), &want)
	for {
		fr, err := l.next(ctx)
		if err != nil {
			return event{}
		}
		raw, sseID := fr.raw, fr.sseID
		if env == nil { // SSE: the data is the payload
			if strings.TrimSpace(string(raw)) == payload {
				return event{id: sseID, ok: true}
			}
			continue
		}
		var doc any
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		if env.Data != "" {
			if v, ok := pointerValue(doc, env.Data); ok && carries(v, want) {
				id, _ := pointerText(doc, env.ID)
				return event{id: id, ok: true}
			}
			continue
		}
		if ptr, ok := findValue(doc, want, ""); ok {
			env.Data = ptr
			env.ID = idBeside(doc, ptr)
			id, _ := pointerText(doc, env.ID)
			return event{id: id, ok: true}
		}
	}
}

// deliver publishes one payload per transport found and learns the envelopes.
func (in *initProbe) deliver(ctx context.Context, f *found) {
	type open struct {
		tr   fw.Transport
		path string
		env  *fw.Envelope
	}
	var opens []open
	if f.sse != "" {
		opens = append(opens, open{fw.SSE, f.sse, nil})
	}
	if f.ws != "" {
		opens = append(opens, open{fw.WebSocket, f.ws, &f.wsEnvelope})
	}
	if f.stream != "" {
		opens = append(opens, open{fw.HTTPStream, f.stream, &f.streamEnvelope})
	}
	for _, o := range opens {
		topic := fmt.Sprintf("%s-%s", in.topic, o.tr)
		l, err := in.listen(ctx, o.tr, o.path, topic)
		if err != nil {
			in.say("%s: could not open a stream to publish to: %v", o.tr, err)
			continue
		}
		time.Sleep(300 * time.Millisecond) // let the subscription reach the server
		p := in.payload()
		if err := in.post(ctx, topic, p); err != nil {
			l.close()
			in.say("publish to %s failed: %v", in.url(in.publish, topic), err)
			f.todo = append(f.todo, fmt.Sprintf("publish: POST %s answered %v; fix target.publish (method, body, headers)", in.publish, err))
			return
		}
		ev := await(ctx, l, p, o.env)
		l.close()
		if !ev.ok {
			in.say("%s: the published payload did not arrive within %s", o.tr, initAnswer)
			f.todo = append(f.todo, fmt.Sprintf("%s: a payload published through %s did not arrive on %s; check the publish hook's body shape", o.tr, in.publish, o.path))
			continue
		}
		f.published = true
		in.say("%s: a published payload arrived (envelope %s)", o.tr, envelopeText(o.env))
	}
}

// resume publishes two events per transport, then reconnects from the first one's id and
// looks for the second in the replay.
func (in *initProbe) resume(ctx context.Context, f *found) {
	try := func(tr fw.Transport, path string, env *fw.Envelope, queries []string) (string, bool) {
		topic := fmt.Sprintf("%s-%s-resume", in.topic, tr)
		l, err := in.listen(ctx, tr, path, topic)
		if err != nil {
			return "", false
		}
		time.Sleep(300 * time.Millisecond)
		p1, p2 := in.payload(), in.payload()
		if in.post(ctx, topic, p1) != nil || in.post(ctx, topic, p2) != nil {
			l.close()
			return "", false
		}
		e1 := await(ctx, l, p1, env)
		l.close()
		if !e1.ok || e1.id == "" {
			in.say("%s: events carry no id to resume from", tr)
			return "", false
		}
		for _, q := range queries {
			r, err := in.listen(ctx, tr, path, topic, q, e1.id)
			if err != nil {
				continue
			}
			ok := await(ctx, r, p2, env).ok
			r.close()
			if ok {
				return q, true
			}
		}
		return "", false
	}
	if f.sse != "" {
		_, f.sseResume = try(fw.SSE, f.sse, nil, []string{"Last-Event-ID"})
	}
	if f.ws != "" && f.wsEnvelope.Data != "" {
		f.wsResume, _ = try(fw.WebSocket, f.ws, &f.wsEnvelope, resumeQueries)
	}
	if f.stream != "" && f.streamEnvelope.Data != "" {
		f.streamResume, _ = try(fw.HTTPStream, f.stream, &f.streamEnvelope, resumeQueries)
	}
	if f.sse != "" {
		in.say("SSE: a reconnect with Last-Event-ID replays what followed: %v", f.sseResume)
	}
	if f.ws != "" {
		in.say("WebSocket: the query that resumes: %s", orNone(f.wsResume))
	}
	if f.stream != "" {
		in.say("HTTP stream: the query that resumes: %s", orNone(f.streamResume))
	}
	// The loss signal: what the server sends first to a resume from an id it never issued.
	unknown := fmt.Sprintf("rtconform-init-unknown-%08x", rand.Uint32())
	first := func(tr fw.Transport, path, query string) (frame, bool) {
		l, err := in.listen(ctx, tr, path, in.topic+"-reset", query, unknown)
		if err != nil {
			return frame{}, false
		}
		defer l.close()
		rctx, cancel := context.WithTimeout(ctx, initAnswer/2)
		defer cancel()
		fr, err := l.next(rctx)
		return fr, err == nil
	}
	if f.sseResume {
		if fr, ok := first(fw.SSE, f.sse, "Last-Event-ID"); ok && fr.kind != "" && fr.kind != "message" {
			f.sseReset = fr.kind
		}
	}
	if f.wsResume != "" {
		if fr, ok := first(fw.WebSocket, f.ws, f.wsResume); ok {
			f.wsReset = resetSignal(fr.raw, f.wsEnvelope)
		}
	}
	if f.streamResume != "" {
		if fr, ok := first(fw.HTTPStream, f.stream, f.streamResume); ok {
			f.streamReset = resetSignal(fr.raw, f.streamEnvelope)
		}
	}
	if f.sseResume {
		in.say("SSE: the loss signal for an unknown id: event %s", orNone(f.sseReset))
	}
	if f.wsResume != "" {
		in.say("WebSocket: the loss signal for an unknown id: %s", orNone(f.wsReset.Pointer))
	}
	if f.streamResume != "" {
		in.say("HTTP stream: the loss signal for an unknown id: %s", orNone(f.streamReset.Pointer))
	}
}

// resetSignal describes a JSON frame that is not an event (its payload pointer does not
// resolve) as a reset signal: its "type" member and value, else its only member.
func resetSignal(raw []byte, env fw.Envelope) fw.ResetSignal {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return fw.ResetSignal{}
	}
	if _, isEvent := pointerValue(doc, env.Data); isEvent {
		return fw.ResetSignal{}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return fw.ResetSignal{}
	}
	if t, ok := m["type"].(string); ok {
		return fw.ResetSignal{Pointer: "/type", Value: t}
	}
	if len(m) == 1 {
		for k := range m {
			return fw.ResetSignal{Pointer: "/" + k}
		}
	}
	return fw.ResetSignal{}
}

// resumes reports whether every transport found resumes.
func (f *found) resumes() bool {
	return f.published && (f.sse == "" || f.sseResume) && (f.ws == "" || f.wsResume != "") && (f.stream == "" || f.streamResume != "")
}

// heartbeats reports whether every stream found showed keep-alives.
func (f *found) heartbeats() bool {
	return (f.sse != "" || f.stream != "") && (f.sse == "" || f.sseHeartbeat > 0) && (f.stream == "" || f.streamHeartbeat > 0)
}

func (f *found) caps() []string {
	var c []string
	if f.sse != "" {
		c = append(c, "sse")
	}
	if f.ws != "" {
		c = append(c, "websocket")
	}
	if f.stream != "" {
		c = append(c, "httpstream")
	}
	if f.published {
		c = append(c, "publish")
	}
	if f.resumes() {
		c = append(c, "resume")
	}
	if f.heartbeats() {
		c = append(c, "heartbeat")
	}
	if f.sse != "" && f.sseRetry > 0 {
		c = append(c, "retry")
	}
	return c
}

// profile renders the commented profile.
func (f *found) profile(base, publish string) string {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Written by rtconform init on %s from what %s answered.", time.Now().UTC().Format("2006-01-02"), base)
	w("# It declares only what init saw work; the TODO lines are what it could not determine.")
	w("# Run it: rtconform run --config <this file>   (README: \"Point it at your own server\")")
	w("target:")
	w("  name: %s", yamlString(base))
	w("  url: %s", yamlString(base))
	if f.sse != "" {
		w("  sse:")
		w("    path: %s", yamlString(f.sse))
		if f.sseHeartbeat > 0 {
			w("    heartbeat: %s                  # keep-alive comments seen while idle (longest gap, plus slack)", f.sseHeartbeat)
		} else {
			w("    # TODO heartbeat: no keep-alive comment seen within the window; declare yours (e.g. 15s)")
		}
		if f.sseRetry > 0 {
			w("    retry: %s                     # the retry field the stream sent", f.sseRetry)
		}
		if f.sseReset != "" {
			w("    reset: {event: %s}              # sent first to a resume from an id the server never issued", yamlString(f.sseReset))
		} else {
			w("    # TODO reset: {event: NAME} if the server signals an unknown or expired Last-Event-ID with an event")
		}
	}
	if f.ws != "" {
		w("  websocket:")
		w("    path: %s", yamlString(f.ws))
		if f.wsResume != "" {
			w("    resume: {query: %s}", f.wsResume)
		} else {
			w("    # TODO resume: {query: NAME} or {message: TEMPLATE}: how a reconnect says where it left off")
		}
		writeReset(w, f.wsReset)
		w("    # TODO keepalive: the server's ping interval; echo: an echo path (capability echo)")
	}
	if f.stream != "" {
		w("  httpstream:")
		w("    path: %s", yamlString(f.stream))
		if f.streamResume != "" {
			w("    resume: {query: %s}", f.streamResume)
		} else {
			w("    # TODO resume: {query: NAME} or {body: TEMPLATE}")
		}
		writeReset(w, f.streamReset)
		if f.streamHeartbeat > 0 {
			w("    heartbeat: %s", f.streamHeartbeat)
		} else {
			w("    # TODO heartbeat: no keep-alive line seen within the window")
		}
		if f.streamEnvelope.Data != "" && f.streamEnvelope != f.wsEnvelope {
			w("    envelope: {id: %s, data: %s}", yamlString(f.streamEnvelope.ID), yamlString(f.streamEnvelope.Data))
		}
	}
	if f.longpoll != "" {
		w("  # TODO longpoll: init cannot learn a long-poll's cursor; fill this in and add longpoll to the capabilities")
		w("  # longpoll:")
		w("  #   path: %s", yamlString(f.longpoll))
		w("  #   cursor: {query: cursor}         # the query parameter carrying the position")
		w("  #   timeout: 25s                    # how long an empty poll is held")
		w("  #   events: /events                 # pointer to the events in an answer; next: /cursor")
	}
	env := f.wsEnvelope
	if env.Data == "" {
		env = f.streamEnvelope
	}
	if env.Data != "" {
		w("  envelope: {id: %s, data: %s}   # where a frame carries the event id and the payload", yamlString(env.ID), yamlString(env.Data))
	}
	if f.published {
		w("  publish:")
		w("    method: POST")
		w("    path: %s", yamlString(publish))
		w("    body: {type: raw}                # the payload is the request body")
	} else if publish != "" {
		w("  # TODO publish: %s did not deliver (see below)", yamlString(publish))
	}
	w("  capabilities: [%s]", strings.Join(f.caps(), ", "))
	for _, t := range f.todo {
		w("  # TODO %s", t)
	}
	if !f.resumes() && f.published {
		w("  # TODO resume: not declared (a reconnect from an event id did not replay the next event on every transport)")
	}
	if !f.heartbeats() {
		w("  # TODO heartbeat: not declared (no keep-alives seen on every stream within the window)")
	}
	w("report: {dir: rtconform-report}")
	return b.String()
}

// writeReset writes a reset signal found, or the TODO for it.
func writeReset(w func(string, ...any), r fw.ResetSignal) {
	switch {
	case r.Pointer != "" && r.Value != "":
		w("    reset: {pointer: %s, value: %s}   # sent first to a resume from an id the server never issued", yamlString(r.Pointer), yamlString(r.Value))
	case r.Pointer != "":
		w("    reset: {pointer: %s}   # sent first to a resume from an id the server never issued", yamlString(r.Pointer))
	default:
		w("    # TODO reset: {pointer: /type, value: reset}: how the server says a resume token is unknown or too old")
	}
}

func orNone(s string) string {
	if s == "" {
		return "none found"
	}
	return s
}

func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func envelopeText(e *fw.Envelope) string {
	if e == nil {
		return "none: the SSE data is the payload"
	}
	return fmt.Sprintf("id %q, data %q", e.ID, e.Data)
}

// pointerValue returns the value at ptr in doc.
func pointerValue(doc any, ptr string) (any, bool) {
	cur := doc
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func pointerText(doc any, ptr string) (string, bool) {
	if ptr == "" {
		return "", false
	}
	v, ok := pointerValue(doc, ptr)
	if !ok || v == nil {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}

// findValue returns the pointer at which want sits in doc: as the JSON value itself, or as a
// string holding its JSON text.
func findValue(doc, want any, at string) (string, bool) {
	if carries(doc, want) {
		return at, at != ""
	}
	if m, ok := doc.(map[string]any); ok {
		for k, v := range m {
			if p, ok := findValue(v, want, at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")); ok {
				return p, true
			}
		}
	}
	return "", false
}

// idBeside names the id member next to the payload at ptr (id, offset, seq), or "".
func idBeside(doc any, ptr string) string {
	parent := ptr[:strings.LastIndex(ptr, "/")]
	p, _ := pointerValue(doc, parent)
	if parent == "" {
		p = doc
	}
	m, ok := p.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"id", "offset", "seq", "eventId", "event_id"} {
		if _, ok := m[k]; ok {
			return parent + "/" + k
		}
	}
	return ""
}

// carries reports whether v is want, as a JSON value or as a string of its JSON text.
func carries(v, want any) bool {
	if jsonEqual(v, want) {
		return true
	}
	if s, ok := v.(string); ok {
		var inner any
		return json.Unmarshal([]byte(s), &inner) == nil && jsonEqual(inner, want)
	}
	return false
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
