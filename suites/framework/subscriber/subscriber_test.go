package subscriber

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// log is a Recorder that keeps every call as a line.
type log struct {
	mu    sync.Mutex
	lines []string
}

func (l *log) add(s string)       { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *log) Now() time.Duration { return 0 }
func (l *log) Connect(c, tr, topic, token string, start time.Duration, err error) {
	l.add(fmt.Sprintf("connect %s token=%q err=%v", c, token, err))
}
func (l *log) EventRetry(c, id string, seq int64, retry time.Duration) {
	l.add(fmt.Sprintf("event %s id=%s seq=%d retry=%s", c, id, seq, retry))
}
func (l *log) Event(c, id string, seq int64) { l.EventRetry(c, id, seq, 0) }
func (l *log) Reset(c string)                { l.add("reset " + c) }
func (l *log) Disconnect(c, cause string)    { l.add("disconnect " + c + " " + cause) }

func (l *log) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

// TestResumesAfterADropOnEveryTransport runs a subscriber per transport against the reference,
// cuts its connection, and requires every seq exactly once with a resume token on reconnect.
func TestResumesAfterADropOnEveryTransport(t *testing.T) {
	srv := reference.New(reference.Config{Addr: "127.0.0.1:0", Retry: 200 * time.Millisecond, Heartbeat: 300 * time.Millisecond,
		PingInterval: 300 * time.Millisecond, PollTimeout: time.Second})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	target := fw.Defaults().Target
	target.LongPoll.Events, target.LongPoll.Next = "/events", "/cursor"
	for _, tr := range []fw.Transport{fw.SSE, fw.WebSocket, fw.LongPoll, fw.HTTPStream} {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			topic := "sub-" + string(tr)
			rec := &log{}
			s := Start(ctx, Options{Name: "c1", Transport: tr, Base: "http://" + srv.Addr(), Topic: topic, Target: &target, Rec: rec,
				Seq: func(d string) (int, bool) { n, err := strconv.Atoi(d); return n, err == nil }, Idle: 2 * time.Second, Delay: 100 * time.Millisecond})
			defer s.Stop()
			publish := func(i int) {
				resp, err := http.Post("http://"+srv.Addr()+"/publish/"+topic, "text/plain", bytes.NewBufferString(strconv.Itoa(i)))
				if err != nil || resp.StatusCode/100 != 2 {
					t.Fatalf("publish %d: %v %v", i, err, resp)
				}
				resp.Body.Close()
			}
			// Wait for the first connection, then prime with seq 0 until it arrives (a
			// long-poll without a cursor starts at "now", so a publish may precede it).
			for i := 0; !s.Has(0); i++ {
				if i > 50 {
					t.Fatalf("seq 0 never arrived: %v", rec.lines)
				}
				if _, c, _ := s.Counts(); c > 0 {
					publish(0)
				}
				wctx, wc := context.WithTimeout(ctx, 200*time.Millisecond)
				s.WaitFor(wctx, []int{0})
				wc()
			}
			for i := 1; i <= 5; i++ {
				publish(i)
			}
			if m := s.WaitFor(ctx, []int{1, 2, 3, 4, 5}); m != nil {
				t.Fatalf("missing %v: %v", m, rec.lines)
			}
			if !s.Drop() {
				t.Fatal("no connection to drop")
			}
			for i := 6; i <= 10; i++ {
				publish(i)
			}
			if m := s.WaitFor(ctx, []int{6, 7, 8, 9, 10}); m != nil {
				t.Fatalf("missing %v after a drop: %v", m, rec.lines)
			}
			if n := rec.count("connect c1 token=\"\""); n != 1 {
				t.Errorf("%d fresh connects, want 1 (the reconnect must send the last id): %v", n, rec.lines)
			}
			ev, connects, _ := s.Counts()
			if ev < 11 || connects < 2 {
				t.Errorf("events %d connects %d: %v", ev, connects, rec.lines)
			}
		})
	}
}

// TestSilenceEndsTheConnection: a stream that stays silent longer than Idle is given up with
// cause heartbeat-timeout (a black hole is noticed only this way).
func TestSilenceEndsTheConnection(t *testing.T) {
	srv := httptestSilent(t)
	target := fw.Defaults().Target
	target.LongPoll.Events, target.LongPoll.Next, target.LongPoll.Timeout = "/events", "/cursor", fw.Duration(200*time.Millisecond)
	for _, tr := range []fw.Transport{fw.SSE, fw.LongPoll, fw.HTTPStream} {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rec := &log{}
			start := time.Now()
			s := Start(ctx, Options{Name: "c1", Transport: tr, Base: srv, Topic: "x", Target: &target, Rec: rec,
				Idle: 700 * time.Millisecond, Delay: time.Hour})
			for rec.count("disconnect c1 "+CauseHeartbeat) == 0 && rec.count("connect c1 token=\"\" err=no response") == 0 {
				if ctx.Err() != nil {
					t.Fatalf("no heartbeat timeout: %v", rec.lines)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if d := time.Since(start); d < 700*time.Millisecond {
				t.Errorf("gave up after %s, before the idle bound", d)
			}
			s.Stop()
		})
	}
}

func httptestSilent(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEndpointAddsTheResumeQueryWithNetURL: a path template that already has a query (a
// Mercure hub's /.well-known/mercure?topic={topic}) gets the resume parameter beside it.
func TestEndpointAddsTheResumeQueryWithNetURL(t *testing.T) {
	s := &Subscriber{o: Options{Base: "http://127.0.0.1:1", Topic: "t1"}}
	for _, c := range []struct {
		tmpl, path string
		query      url.Values
	}{
		{"/ws/{topic}", "/ws/t1", url.Values{"since": {"a b&c"}}},
		{"/.well-known/mercure?topic={topic}", "/.well-known/mercure", url.Values{"since": {"a b&c"}, "topic": {"t1"}}},
	} {
		got := s.endpoint(c.tmpl, "since", "a b&c")
		u, err := url.Parse(got)
		if err != nil || u.Path != c.path || !reflect.DeepEqual(u.Query(), c.query) || strings.Count(got, "?") != 1 {
			t.Errorf("endpoint(%q) = %q, want path %s and query %v", c.tmpl, got, c.path, c.query)
		}
	}
	if got := s.endpoint("/ws/{topic}", "since", ""); got != "http://127.0.0.1:1/ws/t1" {
		t.Errorf("no token: %q", got)
	}
}

// TestPauseStopsReading: a paused subscriber reads nothing more (beyond a read already under
// way) and its watchdog does not take the pause for silence; after Resume it receives what
// waited, on SSE and WebSocket.
func TestPauseStopsReading(t *testing.T) {
	srv := reference.New(reference.Config{Addr: "127.0.0.1:0", Heartbeat: 200 * time.Millisecond, PingInterval: 200 * time.Millisecond})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	target := fw.Defaults().Target
	for _, tr := range []fw.Transport{fw.SSE, fw.WebSocket} {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			topic := "pause-" + string(tr)
			rec := &log{}
			s := Start(ctx, Options{Name: "c1", Transport: tr, Base: "http://" + srv.Addr(), Topic: topic, Target: &target, Rec: rec,
				Seq: func(d string) (int, bool) { n, err := strconv.Atoi(d); return n, err == nil }, Idle: 600 * time.Millisecond,
				Delay: 100 * time.Millisecond, RcvBuf: 4096})
			defer s.Stop()
			publish := func(i int) {
				resp, err := http.Post("http://"+srv.Addr()+"/publish/"+topic, "text/plain", bytes.NewBufferString(strconv.Itoa(i)))
				if err != nil || resp.StatusCode/100 != 2 {
					t.Fatalf("publish %d: %v %v", i, err, resp)
				}
				resp.Body.Close()
			}
			for !s.Listening(200 * time.Millisecond) {
				time.Sleep(20 * time.Millisecond)
			}
			for i := 0; !s.Has(0); i++ {
				if i > 50 {
					t.Fatalf("seq 0 never arrived: %v", rec.lines)
				}
				publish(0)
				wctx, wc := context.WithTimeout(ctx, 200*time.Millisecond)
				s.WaitFor(wctx, []int{0})
				wc()
			}
			s.Pause()
			publish(1) // may be read by the read that was already waiting
			time.Sleep(300 * time.Millisecond)
			publish(2)
			time.Sleep(1500 * time.Millisecond) // beyond Idle: no watchdog while paused
			if s.Has(2) {
				t.Fatalf("a paused subscriber received seq 2: %v", rec.lines)
			}
			s.Resume()
			if m := s.WaitFor(ctx, []int{1, 2}); m != nil {
				t.Fatalf("missing %v after Resume: %v", m, rec.lines)
			}
			if n := rec.count("disconnect"); n != 0 {
				t.Errorf("%d disconnects during the pause: %v", n, rec.lines)
			}
		})
	}
}
