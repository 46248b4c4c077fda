package reference

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSSEHeadersAndFormat(t *testing.T) {
	s := startServer(t, Config{Retry: 1500 * time.Millisecond})
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", s.URL()+"/sse/fmt", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
		"Content-Length":    "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("status %s, length %d", resp.Status, resp.ContentLength)
	}
	// The first bytes arrive at once, before any event.
	first := make([]byte, len("retry: 1500\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "retry: 1500\n\n" {
		t.Fatalf("first bytes %q (%v)", first, err)
	}
	st := &sseStream{resp: resp, br: newBufReader(resp.Body)}

	id1 := mustPublish(t, s, "fmt", "one")
	id2 := mustPublish(t, s, "fmt", "a\nb\r\nc\rd")
	id3 := mustPublish(t, s, "fmt", "")
	id4 := mustPublish(t, s, "fmt", "trailing\n")
	id5 := mustPublish(t, s, "fmt", " lead: colon\r\n\r\n")
	for _, want := range [][]string{
		{"id: " + id1, "data: one"},
		{"id: " + id2, "data: a", "data: b", "data: c", "data: d"},
		{"id: " + id3, "data: "},
		{"id: " + id4, "data: trailing", "data: "},
		{"id: " + id5, "data:  lead: colon", "data: ", "data: "},
	} {
		if got := st.event(t); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("frame %q, want %q", got, want)
		}
	}

	// HEAD: headers only, returns at once.
	hreq, _ := http.NewRequestWithContext(ctxT(t), "HEAD", s.URL()+"/sse/fmt", nil)
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != 200 || hresp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("HEAD: %s %q", hresp.Status, hresp.Header.Get("Content-Type"))
	}
	// Other methods: 405 with Allow.
	presp, err := http.Post(s.URL()+"/sse/fmt", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.StatusCode != 405 || !strings.Contains(presp.Header.Get("Allow"), "GET") {
		t.Fatalf("POST /sse: %s Allow=%q", presp.Status, presp.Header.Get("Allow"))
	}
	// Invalid topic.
	bresp, err := http.Get(s.URL() + "/sse/bad%21topic")
	if err != nil {
		t.Fatal(err)
	}
	bresp.Body.Close()
	if bresp.StatusCode != 400 {
		t.Fatalf("invalid topic: %s", bresp.Status)
	}
}

func TestSSELiveFromHead(t *testing.T) {
	s := startServer(t, Config{})
	mustPublish(t, s, "live", "old")
	st := openSSE(t, s.URL()+"/sse/live", nil)
	id := mustPublish(t, s, "live", "new")
	if got := st.event(t); fmt.Sprint(got) != fmt.Sprint([]string{"id: " + id, "data: new"}) {
		t.Fatalf("got %q", got)
	}
}

func TestSSEHeartbeat(t *testing.T) {
	s := startServer(t, Config{Heartbeat: 30 * time.Millisecond})
	st := openSSE(t, s.URL()+"/sse/hb", nil)
	for i := 0; i < 2; i++ {
		if f := st.frame(t); fmt.Sprint(f) != "[: heartbeat]" {
			t.Fatalf("frame %q, want heartbeat", f)
		}
	}
	id := mustPublish(t, s, "hb", "x")
	if f := st.event(t); f[0] != "id: "+id {
		t.Fatalf("after heartbeats: %q", f)
	}
}

func TestSSEResume(t *testing.T) {
	s := startServer(t, Config{})
	var ids []string
	for i := 1; i <= 3; i++ {
		ids = append(ids, mustPublish(t, s, "r", fmt.Sprint(i)))
	}
	check := func(name string, st *sseStream, from int) {
		t.Helper()
		for i := from; i <= 3; i++ {
			want := []string{"id: " + ids[i-1], fmt.Sprintf("data: %d", i)}
			if got := st.event(t); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: got %q, want %q", name, got, want)
			}
		}
	}
	check("header", openSSE(t, s.URL()+"/sse/r", http.Header{"Last-Event-ID": {ids[0]}}), 2)
	check("query", openSSE(t, s.URL()+"/sse/r?lastEventId="+ids[1], nil), 3)
	check("header wins", openSSE(t, s.URL()+"/sse/r?lastEventId="+ids[1], http.Header{"Last-Event-ID": {ids[0]}}), 2)
	check("start", openSSE(t, s.URL()+"/sse/r?lastEventId="+s.Topics().Epoch()+"-0", nil), 1)
	// Resumed at head: the next event is the next one published.
	st := openSSE(t, s.URL()+"/sse/r", http.Header{"Last-Event-ID": {ids[2]}})
	id4 := mustPublish(t, s, "r", "4")
	if got := st.event(t); got[0] != "id: "+id4 {
		t.Fatalf("resume at head: %q", got)
	}
}

func TestSSEGap(t *testing.T) {
	s := startServer(t, Config{Log: eventlogOpts(3)})
	var ids []string
	for i := 1; i <= 5; i++ {
		ids = append(ids, mustPublish(t, s, "g", fmt.Sprint(i)))
	}
	// ids[0] is seq 1; retained are 3,4,5: seq 2 was lost.
	st := openSSE(t, s.URL()+"/sse/g", http.Header{"Last-Event-ID": {ids[0]}})
	want := fmt.Sprintf(`[event: reset data: {"reason":"expired","requested":"%s"}]`, ids[0])
	if got := st.event(t); fmt.Sprint(got) != want {
		t.Fatalf("got %q, want %s", got, want)
	}
	for i := 3; i <= 5; i++ {
		if got := st.event(t); got[0] != "id: "+ids[i-1] {
			t.Fatalf("after reset: %q, want id %s", got, ids[i-1])
		}
	}
	// seq 2 == oldest-1: no gap.
	st = openSSE(t, s.URL()+"/sse/g", http.Header{"Last-Event-ID": {ids[1]}})
	if got := st.event(t); got[0] != "id: "+ids[2] {
		t.Fatalf("oldest-1: %q", got)
	}
	// Unknown: other epoch, malformed, ahead of head.
	for _, c := range []string{"00000000-1", "garbage", s.Topics().Epoch() + "-99"} {
		if c == s.Topics().Epoch()+"-1" {
			continue
		}
		st = openSSE(t, s.URL()+"/sse/g?lastEventId="+c, nil)
		want := fmt.Sprintf(`[event: reset data: {"reason":"unknown","requested":"%s"}]`, c)
		if got := st.event(t); fmt.Sprint(got) != want {
			t.Fatalf("got %q, want %s", got, want)
		}
		if got := st.event(t); got[0] != "id: "+ids[2] {
			t.Fatalf("after unknown reset: %q", got)
		}
	}
	// An unknown cursor on an empty topic: one reset, then live.
	st = openSSE(t, s.URL()+"/sse/empty?lastEventId=garbage", nil)
	if got := st.event(t); got[0] != "event: reset" {
		t.Fatalf("empty topic: %q", got)
	}
	id := mustPublish(t, s, "empty", "x")
	if got := st.event(t); got[0] != "id: "+id {
		t.Fatalf("empty topic after reset: %q", got)
	}
	if n := s.m.gaps.Load(); n < 5 {
		t.Fatalf("gaps metric %d", n)
	}
}

func TestSSEShutdownEndsStream(t *testing.T) {
	s := startServer(t, Config{})
	st := openSSE(t, s.URL()+"/sse/sd", nil)
	mustPublish(t, s, "sd", "x")
	st.event(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	// The chunked body terminates cleanly (io.EOF, not ErrUnexpectedEOF).
	rest, err := io.ReadAll(st.br)
	if err != nil {
		t.Fatalf("body did not end cleanly: %v (rest %q)", err, rest)
	}
}

func TestSSEStuckClientDroppedOthersUnaffected(t *testing.T) {
	s := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, Log: eventlogOpts(50)})
	// A raw client that sends the request and never reads.
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET /sse/stuck HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stuck client", func() bool { return s.m.sseClients.Load() == 1 })
	good := openSSE(t, s.URL()+"/sse/stuck", nil)
	got := make(chan error, 1)
	go func() {
		// The healthy client reads until the end marker.
		for {
			line, err := good.br.ReadString('\n')
			if err != nil {
				got <- err
				return
			}
			if line == "data: end\n" {
				got <- nil
				return
			}
		}
	}()
	payload := strings.Repeat("s", 64<<10)
	published := 0
	for s.m.sseClients.Load() > 1 {
		if published == 4000 {
			t.Fatal("stuck SSE client never dropped")
		}
		mustPublish(t, s, "stuck", payload)
		published++
		if published%20 == 0 {
			time.Sleep(10 * time.Millisecond) // let the healthy client keep within retention
		}
	}
	if s.m.writeTimeout.Load() == 0 {
		t.Fatal("write timeout not counted")
	}
	// The healthy client was never blocked nor dropped: it gets the marker.
	mustPublish(t, s, "stuck", "end")
	if err := <-got; err != nil {
		t.Fatalf("healthy client: %v", err)
	}
}
