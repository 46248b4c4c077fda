package reference

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// transcript records everything a raw client connection receives until EOF.
type transcript struct {
	nc   net.Conn
	mu   sync.Mutex
	buf  bytes.Buffer
	err  error // how the read ended (io.EOF for a clean close)
	done chan struct{}
}

func dialTranscript(t *testing.T, addr, request string) *transcript {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(3 * testTimeout))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	tr := &transcript{nc: nc, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		b := make([]byte, 32<<10)
		for {
			n, err := nc.Read(b)
			tr.mu.Lock()
			tr.buf.Write(b[:n])
			if err != nil {
				tr.err = err
			}
			tr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return tr
}

func (tr *transcript) bytes() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bytes.Clone(tr.buf.Bytes())
}

// waitFor waits until the transcript contains n occurrences of s.
func (tr *transcript) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for bytes.Count(tr.bytes(), []byte(s)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d× %q in %q", n, s, tr.bytes())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// end waits for the server to close the connection and returns the transcript.
func (tr *transcript) end(t *testing.T) ([]byte, error) {
	t.Helper()
	select {
	case <-tr.done:
	case <-time.After(testTimeout):
		t.Fatalf("the server did not close the connection; got %q", tr.bytes())
	}
	return tr.bytes(), tr.err
}

// sseScenario is one connection of TestSSEHijackedBytesMatchNetHTTP: a raw request and what
// is done while it is open.
type sseScenario struct {
	name     string
	request  string
	hijacked bool   // served on the hijacked connection (else by net/http)
	wait     string // what the response contains before act (default: "retry: ")
	act      func(t *testing.T, s *Server, tr *transcript)
}

var dateLine = regexp.MustCompile(`\r\nDate: ([^\r]*)\r\n`)

// normalize replaces the server's epoch and the Date value (after checking its format) and
// removes the heartbeat chunks (their timing differs between runs), counting them.
func normalize(t *testing.T, s *Server, b []byte) (string, int) {
	t.Helper()
	b = bytes.ReplaceAll(b, []byte(s.Topics().Epoch()), []byte("EPOCH"))
	for _, m := range dateLine.FindAllSubmatch(b, -1) {
		if _, err := time.Parse(http.TimeFormat, string(m[1])); err != nil {
			t.Errorf("Date %q: %v", m[1], err)
		}
	}
	b = dateLine.ReplaceAll(b, []byte("\r\nDate: DATE\r\n"))
	hb := bytes.Count(b, sseHeartbeatChunk)
	return string(bytes.ReplaceAll(b, sseHeartbeatChunk, nil)), hb
}

// TestSSEHijackedBytesMatchNetHTTP runs the same request sequences against the reference
// (whose SSE streams are served on hijacked connections) and against the reference with an
// identity Config.Wrap (served by net/http, as before), ends them with Shutdown, and requires
// the same bytes on the wire, from the status line to the close: headers and their order,
// chunks, resets, heartbeats, the terminating chunk, the clean close. Date values and event
// ids' epochs are normalized; heartbeat chunks are compared as bytes and removed (their
// interleaving with events depends on timing).
func TestSSEHijackedBytesMatchNetHTTP(t *testing.T) {
	big := strings.Repeat("b", 3000)                                      // over net/http's 2 KiB buffer before chunking
	huge := strings.Repeat("h", 70<<10) + "\n" + strings.Repeat("i", 100) // over every buffer
	auth := "Authorization: Bearer tok\r\n"
	get := func(path, extra string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: rt.example\r\n" + auth + extra + "\r\n"
	}
	publish := func(topic string, payloads ...string) func(*testing.T, *Server, *transcript) {
		return func(t *testing.T, s *Server, tr *transcript) {
			for _, p := range payloads {
				id := mustPublish(t, s, topic, p)
				tr.waitFor(t, "id: "+id+"\n", 1)
			}
		}
	}
	scenarios := []sseScenario{
		{name: "events", request: get("/sse/ev", ""), hijacked: true,
			act: publish("ev", "one", "a\nb\r\nc\rd", "", "trailing\n", " lead: colon\r\n\r\n", "ünï€😀", big, huge, "last")},
		{name: "heartbeats", request: get("/sse/hb", ""), hijacked: true,
			act: func(t *testing.T, s *Server, tr *transcript) { tr.waitFor(t, string(sseHeartbeatChunk), 2) }},
		{name: "resume header", request: get("/sse/gap", "Last-Event-ID: EPOCH-4\r\n"), hijacked: true, wait: "data: 6\n"},
		{name: "resume query", request: get("/sse/gap?lastEventId=EPOCH-5", ""), hijacked: true, wait: "data: 6\n"},
		{name: "expired", request: get("/sse/gap?lastEventId=EPOCH-1", ""), hijacked: true, wait: "data: 6\n",
			act: publish("gap", "7")},
		{name: "unknown", request: get("/sse/gap", "Last-Event-ID: nope\r\n"), hijacked: true, wait: "data: 6\n"},
		{name: "ahead", request: get("/sse/gap", "Last-Event-ID: EPOCH-99\r\n"), hijacked: true, wait: "data: 6\n"},
		{name: "query token", request: "GET /sse/q?access_token=tok HTTP/1.1\r\nHost: rt.example\r\n\r\n", hijacked: true,
			act: publish("q", "x")},
		{name: "cors allowed", request: get("/sse/c", "Origin: https://good.example\r\n"), hijacked: true, act: publish("c", "x")},
		{name: "cors refused", request: get("/sse/c2", "Origin: https://evil.example\r\n"), hijacked: true},
		{name: "connection close", request: get("/sse/cc", "Connection: close\r\n"), hijacked: true, act: publish("cc", "x")},
		{name: "keep-alive", request: get("/sse/ka", "Connection: keep-alive\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"),
			hijacked: true, act: publish("ka", "x")},
		{name: "pipelined", request: get("/sse/pl", "") + get("/healthz", ""), hijacked: true, act: publish("pl", "x")},
		{name: "http/1.0", request: "GET /sse/h10 HTTP/1.0\r\n" + auth + "\r\n", act: publish("h10", "x")},
		{name: "head", request: "HEAD /sse/hd HTTP/1.1\r\nHost: rt.example\r\n" + auth + "\r\n", wait: "\r\n\r\n"},
		{name: "get with body", request: get("/sse/body", "Content-Length: 5\r\n") + "hello", act: publish("body", "x")},
		{name: "no token", request: "GET /sse/nt HTTP/1.1\r\nHost: rt.example\r\n\r\n", wait: "\r\n\r\n"},
		{name: "bad topic", request: get("/sse/bad%21", ""), wait: "\r\n\r\n"},
	}
	run := func(t *testing.T, wrap bool) (map[string]string, map[string]int) {
		cfg := Config{Addr: "127.0.0.1:0", Heartbeat: 100 * time.Millisecond, Retry: 1500 * time.Millisecond, Log: eventlogOpts(4),
			AllowedOrigins: []string{"good.example"}, Token: "tok", Logf: func(string, ...any) {}}
		if wrap {
			cfg.Wrap = func(_ *Server, h http.Handler) http.Handler { return h }
		}
		s := New(cfg)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Shutdown(context.Background())
		for i := 1; i <= 6; i++ {
			mustPublish(t, s, "gap", fmt.Sprint(i))
		}
		trs := make([]*transcript, len(scenarios))
		hijacked := 0
		for i, sc := range scenarios {
			tr := dialTranscript(t, s.Addr(), strings.ReplaceAll(sc.request, "EPOCH", s.Topics().Epoch()))
			trs[i] = tr
			wait := sc.wait
			if wait == "" {
				wait = "retry: "
			}
			tr.waitFor(t, wait, 1)
			if sc.act != nil {
				sc.act(t, s, tr)
			}
			if sc.hijacked {
				hijacked++
			}
			s.sessMu.Lock()
			n := len(s.sessions)
			s.sessMu.Unlock()
			if want := map[bool]int{false: hijacked, true: 0}[wrap]; n != want {
				t.Errorf("wrap=%v after %q: %d hijacked streams, want %d", wrap, sc.name, n, want)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		got, hbs := map[string]string{}, map[string]int{}
		for i, sc := range scenarios {
			b, err := trs[i].end(t)
			if !errors.Is(err, io.EOF) {
				t.Errorf("wrap=%v %s: the connection ended with %v, want a clean close (EOF)", wrap, sc.name, err)
			}
			got[sc.name], hbs[sc.name] = normalize(t, s, b)
			// Every transcript is a well-formed HTTP/1.1 response whose body ends cleanly.
			br := bufio.NewReader(bytes.NewReader(b))
			method := "GET"
			if sc.name == "head" {
				method = "HEAD"
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Errorf("wrap=%v %s: %v in %q", wrap, sc.name, err, b)
				continue
			}
			if _, err := io.ReadAll(resp.Body); err != nil {
				t.Errorf("wrap=%v %s: body: %v", wrap, sc.name, err)
			}
		}
		return got, hbs
	}
	hj, hjBeats := run(t, false)
	nh, nhBeats := run(t, true)
	for _, sc := range scenarios {
		if hj[sc.name] != nh[sc.name] {
			t.Errorf("%s: the hijacked stream sent\n%q\nnet/http sent\n%q", sc.name, trim(hj[sc.name]), trim(nh[sc.name]))
		}
	}
	if hjBeats["heartbeats"] < 2 || nhBeats["heartbeats"] < 2 {
		t.Errorf("heartbeats: %d hijacked, %d net/http, want at least 2", hjBeats["heartbeats"], nhBeats["heartbeats"])
	}
	if !strings.Contains(hj["events"], "Transfer-Encoding: chunked\r\n\r\nd\r\nretry: 1500\n\n\r\n") ||
		!strings.HasSuffix(hj["events"], "\r\n0\r\n\r\n") {
		t.Errorf("events: not the expected chunked stream: %q", trim(hj["events"]))
	}
	if !strings.HasPrefix(hj["connection close"], "HTTP/1.1 200 OK\r\n") || !strings.Contains(hj["connection close"], "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n") {
		t.Errorf("connection close: %q", trim(hj["connection close"]))
	}
}

// trim shortens long transcripts for messages.
func trim(s string) string {
	if len(s) > 2000 {
		return s[:1000] + " … " + s[len(s)-1000:]
	}
	return s
}

// TestSSEHijackedEnds: a hijacked stream ends when the client closes its end (the gauge and
// Shutdown's tracking are released at once), and a stream stuck on a client that does not
// read is closed when Shutdown's ctx expires, as net/http's Close would close it.
func TestSSEHijackedEnds(t *testing.T) {
	s := startServer(t, Config{WriteTimeout: time.Minute, Heartbeat: time.Hour, Log: eventlogOpts(8), Logf: func(string, ...any) {}})
	sessions := func() int {
		s.sessMu.Lock()
		defer s.sessMu.Unlock()
		return len(s.sessions)
	}
	tr := dialTranscript(t, s.Addr(), "GET /sse/end HTTP/1.1\r\nHost: x\r\n\r\n")
	tr.waitFor(t, "retry: ", 1)
	if n := sessions(); n != 1 {
		t.Fatalf("%d tracked streams, want 1 (hijacked)", n)
	}
	tr.nc.Close()
	waitFor(t, "the stream to end after the client closed", func() bool { return s.m.sseClients.Load() == 0 && sessions() == 0 })

	// A client that never reads: events fill the socket buffers until the write blocks.
	stuck, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if _, err := io.WriteString(stuck, "GET /sse/stuck HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stuck stream", func() bool { return s.m.sseClients.Load() == 1 })
	payload := strings.Repeat("s", 256<<10)
	for range 200 { // 50 MiB: far more than loopback socket buffers hold
		mustPublish(t, s, "stuck", payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck stream: %v, want the deadline", err)
	}
	waitFor(t, "the stuck stream to be closed", func() bool { return s.m.sseClients.Load() == 0 && sessions() == 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the stuck stream ended %v after Shutdown began, want at its ctx's expiry", d)
	}
}
