package reference

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// fuzzConfig keeps every stream short: a long-poll is answered after 20 ms, SSE heartbeats
// come every 5 ms, publish bodies are limited to 64 bytes and topics to 64.
func fuzzConfig() Config {
	return Config{
		PollTimeout: 20 * time.Millisecond, Heartbeat: 5 * time.Millisecond, MaxPublishBytes: 64,
		AllowedOrigins: []string{"*.allowed.test"}, Log: eventlog.Options{MaxTopics: 64},
		WriteTimeout: time.Second, PingInterval: time.Second,
	}
}

// validHeader reports whether net/http's server would accept the header field at all (a
// token name, a value without control characters other than tab).
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7F || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for _, c := range []byte(value) {
		if c < ' ' && c != '\t' || c == 0x7F {
			return false
		}
	}
	return true
}

var fuzzRoutes = []string{"/publish/", "/sse/", "/poll/"}

// FuzzHTTP sends requests built from fuzzed route, method, topic, query, one header, an
// Origin and a body to the server's handler: POST /publish/{topic}, GET /sse/{topic} (for
// 30 ms) and GET /poll/{topic}. It must not panic, must return, and must answer with one of
// the statuses the routes document (or the router's 301, 404 and 405). Beyond that:
//   - a POST to a valid topic is 200 exactly when the body is UTF-8 within MaxPublishBytes
//     (413 over the limit, 400 otherwise), and the event then in the log is the body;
//   - an SSE 200 is an event stream starting with the retry field, well-formed for the
//     suite's parser, its events the one published (with its id) or a reset signal;
//   - a long-poll 200 is the documented JSON with a cursor, its events the one published.
func FuzzHTTP(f *testing.F) {
	f.Add(uint8(0), "POST", "news", "", "Content-Type", "text/plain", "", []byte("hello"))
	f.Add(uint8(0), "POST", "news", "", "", "", "https://a.allowed.test", []byte("\xff\xfe"))
	f.Add(uint8(0), "POST", "n", "x=1", "", "", "", bytes.Repeat([]byte("a"), 65))
	f.Add(uint8(0), "PUT", "..", "", "", "", "", []byte("x"))
	f.Add(uint8(0), "OPTIONS", "t", "", "Access-Control-Request-Method", "POST", "https://a.allowed.test", []byte(nil))
	f.Add(uint8(1), "GET", "news", "lastEventId=0", "", "", "", []byte(nil))
	f.Add(uint8(1), "GET", "news", "", "Last-Event-ID", "garbage", "http://evil.test", []byte(nil))
	f.Add(uint8(1), "HEAD", "a_b~c", "", "", "", "", []byte(nil))
	f.Add(uint8(2), "GET", "news", "cursor=zz-1", "", "", "", []byte(nil))
	f.Add(uint8(2), "GET", "news", "cursor=", "Accept", "application/json", "", []byte(nil))
	f.Add(uint8(2), "GET", strings.Repeat("t", 129), "", "", "", "", []byte(nil))
	f.Add(uint8(2), "GET", "a%2Fb", "cursor=%zz", "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, route uint8, method, topic, query, hname, hvalue, origin string, body []byte) {
		s := New(fuzzConfig())
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		// Only an SSE stream is ended by the client; a long-poll ends by itself after
		// PollTimeout, so that its answer does not depend on the machine's speed.
		ctx := context.Background()
		if path == "/sse/" {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://rt.test"+path+topic+"?"+query, bytes.NewReader(body))
		if err != nil || req.URL.Path != path+topic || !validHeader(hname, hvalue) && hname != "" || !validHeader("Origin", origin) {
			return // not a request a server would hand to the handler
		}
		if hname != "" {
			req.Header.Set(hname, hvalue)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		plain := eventlog.ValidTopic(topic) && topic != "." && topic != ".."
		if plain && path != "/publish/" {
			if _, err := s.Publish(topic, []byte("seed")); err != nil {
				t.Fatal(err)
			}
		}
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Handler().ServeHTTP(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s: no answer within 10 s", method, req.URL)
		}
		switch rec.Code {
		case 200, 204, 301, 307, 308, 400, 404, 405, 413, 503:
		default:
			t.Fatalf("%s %s: status %d", method, req.URL, rec.Code)
		}
		if !plain {
			return
		}
		switch {
		case path == "/publish/" && method == http.MethodPost:
			want := http.StatusOK
			if len(body) > 64 {
				want = http.StatusRequestEntityTooLarge
			} else if !utf8.Valid(body) {
				want = http.StatusBadRequest
			}
			if rec.Code != want {
				t.Fatalf("publish of %q to %q: status %d, want %d", body, topic, rec.Code, want)
			}
			if want != http.StatusOK {
				return
			}
			var got struct{ ID string }
			l, _ := s.Topics().Get(topic)
			evs, gap := l.Since(l.Start(), 10)
			if json.Unmarshal(rec.Body.Bytes(), &got) != nil || gap != nil || len(evs) != 1 || evs[0].ID != got.ID || !bytes.Equal(evs[0].Data, body) {
				t.Fatalf("publish of %q answered %q; the log has %+v (gap %v)", body, rec.Body, evs, gap)
			}
		case path == "/sse/" && method == http.MethodGet && rec.Code == http.StatusOK:
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") || !strings.HasPrefix(rec.Body.String(), "retry: ") {
				t.Fatalf("SSE stream %q, %q", rec.Header().Get("Content-Type"), rec.Body)
			}
			p := sseclient.NewParser(sseclient.Limits{})
			evs, err := p.Feed(rec.Body.Bytes(), time.Now())
			if err != nil {
				t.Fatalf("SSE stream %q: %v", rec.Body, err)
			}
			for _, e := range evs {
				if e.Type != "reset" && (e.Type != "" || e.Data != "seed" || !e.IDSeen) {
					t.Fatalf("SSE event %+v in %q", e, rec.Body)
				}
			}
		case path == "/poll/" && method == http.MethodGet && rec.Code == http.StatusOK:
			var p wire.Poll
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Events == nil || p.Cursor == "" {
				t.Fatalf("long-poll body %q: %v", rec.Body, err)
			}
			for _, e := range p.Events {
				if e.Data != "seed" {
					t.Fatalf("long-poll event %+v", e)
				}
			}
		}
	})
}

// hijackRecorder is a ResponseRecorder that can be hijacked: the handler gets one end of a
// net.Pipe.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	hijacked chan struct{}
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	close(h.hijacked)
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// FuzzWebSocketUpgrade sends GET /ws/{topic} with fuzzed handshake headers (Connection,
// Upgrade, Sec-WebSocket-Version, Sec-WebSocket-Key, Origin) and, when the server takes the
// connection over, fuzzed client bytes after the handshake, then closes it. It must not
// panic and the handler must return. A refusal is 400, 403, 405 or 426; an acceptance is a
// 101 with the right Sec-WebSocket-Accept for a key of 16 base64 bytes; a well-formed
// handshake from an allowed origin is accepted.
func FuzzWebSocketUpgrade(f *testing.F) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	masked := []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	closeFrame := []byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8}
	f.Add("Upgrade", "websocket", "13", key, "", append(masked, closeFrame...))
	f.Add("keep-alive, Upgrade", "WebSocket", "13", key, "https://x.allowed.test", []byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add("Upgrade", "websocket", "8", key, "", []byte(nil))
	f.Add("Upgrade", "websocket", "13", "short", "", []byte(nil))
	f.Add("Upgrade", "websocket", "13", key, "http://evil.test", []byte(nil))
	f.Add("close", "h2c", "13", key, "", []byte(nil))
	f.Add("Upgrade", "websocket", " 13 ", " "+key+" ", "null", []byte{0x89, 0x80, 0, 0, 0, 0, 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, connection, upgrade, version, wsKey, origin string, frames []byte) {
		req, err := http.NewRequest(http.MethodGet, "http://rt.test/ws/topic", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range [][2]string{{"Connection", connection}, {"Upgrade", upgrade}, {"Sec-WebSocket-Version", version}, {"Sec-WebSocket-Key", wsKey}, {"Origin", origin}} {
			if !validHeader(h[0], h[1]) {
				return
			}
			if h[1] != "" {
				req.Header.Set(h[0], h[1])
			}
		}
		s := New(fuzzConfig())
		srv, cli := net.Pipe()
		defer cli.Close()
		hr := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: srv, hijacked: make(chan struct{})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Handler().ServeHTTP(hr, req)
		}()
		var out bytes.Buffer
		read := make(chan struct{})
		select {
		case <-done:
			srv.Close()
		case <-hr.hijacked:
			go func() { io.Copy(&out, cli); close(read) }()
			_ = cli.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := cli.Write(frames); err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Fatalf("writing the client bytes: %v", err)
			}
			cli.Close()
			<-read
		case <-time.After(10 * time.Second):
			t.Fatal("no answer to the handshake within 10 s")
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the WebSocket handler did not return within 10 s of the client closing")
		}
		k, kerr := base64.StdEncoding.DecodeString(strings.TrimSpace(wsKey))
		wellFormed := wsHeaderToken(req.Header, "Connection", "upgrade") && wsHeaderToken(req.Header, "Upgrade", "websocket") &&
			strings.TrimSpace(version) == "13" && kerr == nil && len(k) == 16
		originOK := origin == "" || s.wsOriginAllowed(req)
		select {
		case <-hr.hijacked:
			resp := out.String()
			if !strings.HasPrefix(resp, "HTTP/1.1 101 Switching Protocols\r\n") ||
				!strings.Contains(resp, "\r\nSec-WebSocket-Accept: "+wsAcceptKey(strings.TrimSpace(wsKey))+"\r\n") {
				t.Fatalf("accepted with %q", resp[:min(len(resp), 300)])
			}
			if !wellFormed || !originOK {
				t.Fatalf("accepted a handshake with Connection %q Upgrade %q version %q key %q origin %q", connection, upgrade, version, wsKey, origin)
			}
		default:
			switch hr.Code {
			case 400, 403, 405, 426:
			default:
				t.Fatalf("handshake refused with %d", hr.Code)
			}
			if wellFormed && originOK {
				t.Fatalf("refused (%d %q) a well-formed handshake", hr.Code, hr.Body)
			}
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
