package reference

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

type ndStream struct {
	resp *http.Response
	br   *bufio.Reader
}

func openStream(t *testing.T, method, url, body string) *ndStream {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %s", method, url, resp.Status)
	}
	return &ndStream{resp: resp, br: bufio.NewReader(resp.Body)}
}

// line reads one line, which must end with "\n" and be one JSON object.
func (s *ndStream) line(t *testing.T) map[string]string {
	t.Helper()
	l, err := s.br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v (got %q)", err, l)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(l), &m); err != nil {
		t.Fatalf("line %q is not a JSON object of strings: %v", l, err)
	}
	return m
}

func TestStreamHeadersAndFormat(t *testing.T) {
	s := startServer(t, Config{})
	st := openStream(t, "GET", s.URL()+"/stream/fmt", "")
	for k, want := range map[string]string{
		"Content-Type":      "application/x-ndjson",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
		"Content-Length":    "",
	} {
		if got := st.resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if st.resp.ContentLength != -1 {
		t.Errorf("content length %d, want unknown (chunked)", st.resp.ContentLength)
	}
	payloads := []string{"one", "a\nb\r\nc\rd", "", `{"json":"quoted \" and \\"}`, "\u2028é😀\x00"}
	var ids []string
	for _, p := range payloads {
		ids = append(ids, mustPublish(t, s, "fmt", p))
	}
	for i, p := range payloads {
		m := st.line(t)
		if m["id"] != ids[i] || m["data"] != p {
			t.Fatalf("line %d = %q, want id %s data %q", i, m, ids[i], p)
		}
	}
	// HEAD: headers only.
	hreq, _ := http.NewRequestWithContext(ctxT(t), "HEAD", s.URL()+"/stream/fmt", nil)
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != 200 || hresp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("HEAD: %s %q", hresp.Status, hresp.Header.Get("Content-Type"))
	}
	// Invalid topic, bad POST body.
	if resp, _ := httpGet(t, s.URL()+"/stream/bad%21topic"); resp.StatusCode != 400 {
		t.Errorf("invalid topic: %s", resp.Status)
	}
	presp, err := http.Post(s.URL()+"/stream/fmt", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.StatusCode != 400 {
		t.Errorf("POST with a body that is not JSON: %s", presp.Status)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	s := startServer(t, Config{Heartbeat: 100 * time.Millisecond})
	st := openStream(t, "GET", s.URL()+"/stream/hb", "")
	start := time.Now()
	for i := 0; i < 3; i++ {
		if m := st.line(t); m["type"] != "heartbeat" || len(m) != 1 {
			t.Fatalf("line %q, want a heartbeat", m)
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("3 heartbeats took %s, want about 300ms", d)
	}
}

func TestStreamResumeAndPOST(t *testing.T) {
	s := startServer(t, Config{})
	var ids []string
	for _, p := range []string{"e1", "e2", "e3", "e4"} {
		ids = append(ids, mustPublish(t, s, "res", p))
	}
	// Exclusive of the given id, by query and by POST body (which wins).
	for _, st := range []*ndStream{
		openStream(t, "GET", s.URL()+"/stream/res?since="+ids[1], ""),
		openStream(t, "POST", s.URL()+"/stream/res?since="+ids[0], `{"since":"`+ids[1]+`"}`),
	} {
		for _, want := range []string{"e3", "e4"} {
			if m := st.line(t); m["data"] != want {
				t.Fatalf("line %q, want data %s", m, want)
			}
		}
	}
	// No token: live from the head; a POST without a body too.
	live := openStream(t, "POST", s.URL()+"/stream/res", "")
	mustPublish(t, s, "res", "e5")
	if m := live.line(t); m["data"] != "e5" {
		t.Fatalf("live line %q, want e5", m)
	}
}

func TestStreamReset(t *testing.T) {
	s := startServer(t, Config{Log: eventlogOpts(3)})
	first := mustPublish(t, s, "gap", "old")
	mustPublish(t, s, "gap", "lost")
	for _, p := range []string{"k1", "k2", "k3"} {
		mustPublish(t, s, "gap", p)
	}
	for _, c := range []struct{ since, reason string }{{first, "expired"}, {"nope-1", "unknown"}} {
		st := openStream(t, "GET", s.URL()+"/stream/gap?since="+c.since, "")
		if m := st.line(t); m["type"] != "reset" || m["reason"] != c.reason || m["requested"] != c.since {
			t.Fatalf("first line %q, want a reset (%s)", m, c.reason)
		}
		for _, want := range []string{"k1", "k2", "k3"} {
			if m := st.line(t); m["data"] != want {
				t.Fatalf("line %q, want %s", m, want)
			}
		}
	}
}

func TestStreamShutdownEndsStream(t *testing.T) {
	s := startServer(t, Config{})
	st := openStream(t, "GET", s.URL()+"/stream/down", "")
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(st.br)
		done <- err
	}()
	ctx := ctxT(t)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the body did not end cleanly: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not end on shutdown")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamStuckClientDroppedOthersUnaffected(t *testing.T) {
	s := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, Log: eventlogOpts(50)})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET /stream/stuck HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stuck client", func() bool { return s.m.streamClients.Load() == 1 })
	good := openStream(t, "GET", s.URL()+"/stream/stuck", "")
	got := make(chan error, 1)
	go func() {
		for {
			line, err := good.br.ReadString('\n')
			if err != nil {
				got <- err
				return
			}
			if strings.Contains(line, `"data":"end"`) {
				got <- nil
				return
			}
		}
	}()
	payload := strings.Repeat("s", 64<<10)
	for published := 0; s.m.streamClients.Load() > 1; published++ {
		if published == 4000 {
			t.Fatal("stuck stream client never dropped")
		}
		mustPublish(t, s, "stuck", payload)
		if published%20 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if s.m.writeTimeout.Load() == 0 {
		t.Fatal("write timeout not counted")
	}
	mustPublish(t, s, "stuck", "end")
	if err := <-got; err != nil {
		t.Fatalf("healthy client: %v", err)
	}
}
