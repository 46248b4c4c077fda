package reference

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestPublish(t *testing.T) {
	s := startServer(t, Config{MaxPublishBytes: 100})
	post := func(path, body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(s.URL()+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := post("/publish/news", "hello")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("publish: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var got struct{ ID string }
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.ID != s.Topics().Epoch()+"-1" {
		t.Fatalf("publish body %q (%v)", body, err)
	}
	l, _ := s.Topics().Get("news")
	if evs, _ := l.Since(l.Start(), 0); len(evs) != 1 || string(evs[0].Data) != "hello" {
		t.Fatalf("log holds %+v", evs)
	}

	if resp, _ := post("/publish/news", ""); resp.StatusCode != 200 {
		t.Fatalf("empty payload: %s", resp.Status)
	}
	if resp, _ := post("/publish/news", strings.Repeat("x", 100)); resp.StatusCode != 200 {
		t.Fatalf("payload at the limit: %s", resp.Status)
	}
	resp, body = post("/publish/news", strings.Repeat("x", 101))
	if resp.StatusCode != 413 || !strings.Contains(body, "100 bytes") {
		t.Fatalf("over limit: %s %q", resp.Status, body)
	}
	// Without Content-Length (chunked): MaxBytesReader catches it.
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte(strings.Repeat("y", 500))); pw.Close() }()
	req, _ := http.NewRequest("POST", s.URL()+"/publish/news", pr)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("chunked over limit: %s", r2.Status)
	}

	resp, body = post("/publish/news", "bad \xff\xfe utf8")
	if resp.StatusCode != 400 || !strings.Contains(body, "payload must be UTF-8") {
		t.Fatalf("non-UTF-8: %s %q", resp.Status, body)
	}
	if resp, _ := post("/publish/bad%20topic", "x"); resp.StatusCode != 400 {
		t.Fatalf("invalid topic: %s", resp.Status)
	}
	r3, err := http.Get(s.URL() + "/publish/news")
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != 405 || !strings.Contains(r3.Header.Get("Allow"), "POST") {
		t.Fatalf("GET /publish: %s Allow=%q", r3.Status, r3.Header.Get("Allow"))
	}
	if evs, _ := l.Since(l.Start(), 0); len(evs) != 3 {
		t.Fatalf("rejected publishes reached the log: %d events", len(evs))
	}

	if _, err := s.Publish("news", []byte{0xff}); !errors.Is(err, ErrNotUTF8) {
		t.Fatalf("Publish non-UTF-8: %v", err)
	}
	if _, err := s.Publish("news", make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Publish too large: %v", err)
	}
	if _, err := s.Publish("a/b", nil); err == nil {
		t.Fatal("Publish to invalid topic succeeded")
	}
}

func TestHealthzMetricsNotFound(t *testing.T) {
	s := startServer(t, Config{})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		return httpGet(t, s.URL()+path)
	}
	if resp, body := get("/healthz"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("healthz: %s %q", resp.Status, body)
	}
	mustPublish(t, s, "m", "x")
	mustPublish(t, s, "m", "y")
	resp, body := get("/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE rtconform_published_events_total counter\nrtconform_published_events_total 2\n",
		"rtconform_sse_clients 0\n", "rtconform_ws_clients 0\n", "rtconform_poll_clients 0\n",
		"rtconform_gaps_signalled_total 0\n", "rtconform_slow_consumers_dropped_total 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	for _, p := range []string{"/", "/nope", "/sse/a/b", "/sse/"} {
		if resp, _ := get(p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
}
