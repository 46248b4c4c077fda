package sseclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// timedServer writes each chunk, flushes, then waits gap.
func timedServer(t *testing.T, gap time.Duration, chunks ...string) (*httptest.Server, chan http.Header) {
	t.Helper()
	hdr := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr <- r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for _, c := range chunks {
			time.Sleep(gap)
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hdr
}

func open(t *testing.T, url string, l Limits) *Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, nil, req, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStreamTimedChunks(t *testing.T) {
	gap := 60 * time.Millisecond
	srv, hdr := timedServer(t, gap,
		": hi\n\nretry: 500\n\n",
		"id: 7\ndata: a\r",
		"\n\r\n",
		"data: b\n\ndata: partial",
	)
	s := open(t, srv.URL, Limits{})
	h := <-hdr
	if h.Get("Accept") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" {
		t.Errorf(
			"request headers: %v",
			h)
	}
	if s.Resp.StatusCode != 200 || s.Resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf(
			"response: %d %v",
			s.Resp.StatusCode, s.Resp.Header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, err := s.WaitComment(ctx)
	if err != nil || c.Text != " hi" {
		t.Fatalf(
			"comment %+v %v",
			c, err)
	}
	a, err := s.Next(ctx)
	if err != nil || a.Data != "a" || a.LastEventID != "7" || !a.IDSeen {
		t.Fatalf(
			"event a: %+v %v",
			a, err)
	}
	// "a" is dispatched by the third chunk, at least two gaps after the first byte.
	if fb := s.FirstByte(); fb.IsZero() || a.At.Sub(fb) < 2*gap-10*time.Millisecond {
		t.Errorf(
			"first byte %v, a.At %v",
			fb, a.At)
	}
	b, err := s.Next(ctx)
	if err != nil || b.Data != "b" || b.LastEventID != "7" || b.IDSeen {
		t.Fatalf(
			"event b: %+v %v",
			b, err)
	}
	if _, err := s.Next(ctx); err != io.EOF {
		t.Fatalf(
			"want io.EOF, got %v",
			err)
	}
	if !s.PendingDiscarded() {
		t.Error("partial event not reported as discarded")
	}
	if d, ok := s.Retry(); !ok || d != 500*time.Millisecond {
		t.Errorf(
			"retry %v %v",
			d, ok)
	}
	ch := s.Chunks()
	if len(ch) < 4 || s.ChunkCount() != len(ch) {
		t.Fatalf(
			"chunks %+v",
			ch)
	}
	var off int64
	for _, c := range ch {
		if c.Offset != off {
			t.Errorf(
				"chunk offsets %+v",
				ch)
		}
		off += int64(c.Len)
	}
	if st := s.Stats(); st.CRLF != 2 || st.Bytes != off || st.Comments != 1 {
		t.Errorf(
			"stats %+v",
			st)
	}
	if !strings.HasPrefix(string(s.Raw()), ": hi\n\nretry") {
		t.Errorf(
			"raw %q",
			s.Raw())
	}
	if s.Headers.Before(s.Start) || s.FirstByte().Before(s.Headers) {
		t.Errorf(
			"times start %v headers %v first byte %v",
			s.Start, s.Headers, s.FirstByte())
	}
}

func TestStreamKeepsRequestHeaders(t *testing.T) {
	srv, hdr := timedServer(t, 0)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Last-Event-ID", "42")
	s, err := Open(context.Background(), srv.Client(), req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := <-hdr
	if h.Get("Accept") != "*/*" || h.Get("Last-Event-ID") != "42" || h.Get("Cache-Control") != "no-cache" {
		t.Errorf(
			"headers %v",
			h)
	}
	if req.Header.Get("Cache-Control") != "" {
		t.Error("caller's request was modified")
	}
}

func TestStreamNon200IsNotAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(404)
		io.WriteString(w, "data: not an event stream\n\n")
	}))
	defer srv.Close()
	s := open(t, srv.URL, Limits{})
	if s.Resp.StatusCode != 404 {
		t.Fatalf(
			"status %d",
			s.Resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e, err := s.Next(ctx); err != nil || e.Data != "not an event stream" {
		t.Errorf(
			"%+v %v",
			e, err)
	}
}

func silentServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamNextTimeoutAndClose(t *testing.T) {
	s := open(t, silentServer(t).URL, Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf(
			"got %v",
			err)
	}
	if _, err := s.WaitComment(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf(
			"WaitComment: %v",
			err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf(
			"Next took %v",
			d)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hung")
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf(
			"after Close: %v",
			err)
	}
}

func TestStreamOpenContextEndsStream(t *testing.T) {
	srv := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequest("GET", srv.URL, nil)
	s, err := Open(ctx, nil, req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	select {
	case <-s.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("stream did not end on ctx cancel")
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf(
			"got %v",
			err)
	}
}

func TestStreamByteLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		line := []byte("data: " + strings.Repeat("x", 1000) + "\n\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	s := open(t, srv.URL, Limits{MaxBytes: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	var err error
	for err == nil {
		_, err = s.Next(ctx)
		n++
	}
	var le *LimitError
	if !errors.As(err, &le) || le.What != "bytes" {
		t.Fatalf(
			"got %v after %d events",
			err, n)
	}
	if n < 1000 {
		t.Errorf(
			"only %d events before the limit",
			n)
	}
}

func TestStreamBackpressureNoLoss(t *testing.T) {
	const total = MaxQueuedEvents * 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < total; i++ {
			io.WriteString(w, "data: x\n\n")
		}
	}))
	defer srv.Close()
	s := open(t, srv.URL, Limits{})
	time.Sleep(200 * time.Millisecond) // let the queue fill up
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for {
		_, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != total {
		t.Errorf(
			"got %d events, want %d",
			n, total)
	}
}

func TestStreamCloseWhileQueueFull(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, "data: x\n\n"); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	s := open(t, srv.URL, Limits{})
	time.Sleep(100 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hung with a full queue")
	}
}

// A server that sends its headers only with the first event (go-sse's defaults): Start
// returns once the request is written, so the caller can make the server emit that event.
func TestStartBeforeHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	s, err := Start(ctx, nil, req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	if err := s.WaitHeaders(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHeaders before the headers: %v, want a deadline", err)
	}
	cancelShort()
	if s.HeadersErr() != nil {
		t.Fatalf("HeadersErr before the headers: %v", s.HeadersErr())
	}
	close(release)
	ev, err := s.Next(ctx)
	if err != nil || ev.Data != "first" {
		t.Fatalf("Next: %+v %v", ev, err)
	}
	if err := s.WaitHeaders(ctx); err != nil || s.Resp.StatusCode != 200 || s.Headers.Before(s.Start) {
		t.Fatalf("WaitHeaders after the event: %v", err)
	}
}

// Close before the headers arrived ends the request at once.
func TestCloseBeforeHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	s, err := Start(context.Background(), nil, req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close before the headers did not return")
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Close: %v", err)
	}
	if s.HeadersErr() == nil {
		t.Error("HeadersErr after Close before the headers: nil")
	}
}

// A request that cannot be sent is Start's own error.
func TestStartUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	req, _ := http.NewRequest("GET", url, nil)
	if s, err := Start(context.Background(), nil, req, Limits{}); err == nil {
		s.Close()
		t.Fatal("Start to a closed port succeeded")
	}
}

func TestStreamUnwrap(t *testing.T) {
	srv, _ := timedServer(t, 0, "\r\ndata: {\"connect\":{}}\n\ndata: {\"pub\":\"a\"}\n\ndata: {}\n\ndata: {\"pub\":\"b\"}\n\ndata: {\"pubs\":\"c,d\"}\n\n")
	s := open(t, srv.URL, Limits{})
	s.SetUnwrap(func(ev Event) []Event {
		if p, ok := strings.CutPrefix(ev.Data, `{"pubs":"`); ok { // one frame, several events
			var out []Event
			for _, d := range strings.Split(strings.TrimSuffix(p, `"}`), ",") {
				out = append(out, Event{Type: ev.Type, Data: d})
			}
			return out
		}
		p, ok := strings.CutPrefix(ev.Data, `{"pub":"`)
		if !ok {
			return nil
		}
		ev.Data = strings.TrimSuffix(p, `"}`)
		return []Event{ev}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, ev.Data)
	}
	if strings.Join(got, ",") != "a,b,c,d" {
		t.Fatalf("got %q: the connect reply and the ping must be skipped, the payloads unwrapped, a frame of two events expanded in order", got)
	}
}
