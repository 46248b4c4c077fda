package reference

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtconform/rtconform/reference/eventlog"
)

const testTimeout = 10 * time.Second

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	s := New(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mustPublish(t *testing.T, s *Server, topic, data string) string {
	t.Helper()
	ev, err := s.Publish(topic, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type sseStream struct {
	resp *http.Response
	br   *bufio.Reader
}

// openSSE connects and consumes the first frame, which must be the retry field.
func openSSE(t *testing.T, url string, hdr http.Header) *sseStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	st := &sseStream{resp: resp, br: bufio.NewReader(resp.Body)}
	if f := st.frame(t); len(f) != 1 || !strings.HasPrefix(f[0], "retry: ") {
		t.Fatalf("first frame %q, want retry", f)
	}
	return st
}

// frame returns the lines of the next frame (up to the blank line).
func (s *sseStream) frame(t *testing.T) []string {
	t.Helper()
	var lines []string
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading SSE frame (got %q so far): %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return lines
		}
		lines = append(lines, line)
	}
}

// event returns the next non-comment frame.
func (s *sseStream) event(t *testing.T) []string {
	t.Helper()
	for {
		f := s.frame(t)
		if len(f) > 0 && strings.HasPrefix(f[0], ":") {
			continue
		}
		return f
	}
}

func wsURL(s *Server, path string) string { return "ws://" + s.Addr() + path }

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctxT(t), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

type wsMsg struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Data      string `json:"data"`
	Reason    string `json:"reason"`
	Requested string `json:"requested"`
}

func readWS(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	typ, b, err := c.Read(ctxT(t))
	if err != nil {
		t.Fatalf("ws read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v", typ)
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("bad JSON %q: %v", b, err)
	}
	return m
}

type pollResp struct {
	Events []struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	} `json:"events"`
	Cursor string `json:"cursor"`
	Reset  *struct {
		Reason    string `json:"reason"`
		Requested string `json:"requested"`
	} `json:"reset"`
	raw    string
	header http.Header
}

func poll(t *testing.T, ctx context.Context, url string) (*pollResp, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		t.Fatalf("poll %s: %s %s", url, resp.Status, b)
	}
	var p pollResp
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("bad poll JSON %q: %v", b, err)
	}
	p.raw = string(b)
	p.header = resp.Header
	return &p, nil
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func eventlogOpts(maxEvents int) eventlog.Options { return eventlog.Options{MaxEvents: maxEvents} }

func isGoingAway(err error) bool { return websocket.CloseStatus(err) == websocket.StatusGoingAway }

// httpGet GETs url and returns the response with its body read.
func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
