package reference

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestWrap checks that Config.Wrap's handler is what Handler returns and
// what Start serves, across Restart, and that Done and Track give a
// replacement handler the reference's shutdown.
func TestWrap(t *testing.T) {
	held := make(chan struct{}, 1)
	var finished atomic.Bool
	var wrapped *Server
	s := startServer(t, Config{Wrap: func(s *Server, h http.Handler) http.Handler {
		wrapped = s
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("GET /extra", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "extra")
		})
		// /hold hijacks its connection, so http.Server.Shutdown neither
		// tracks nor waits for it: Track makes Shutdown wait, Done ends it.
		mux.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) {
			quit := s.Done()
			defer s.Track()()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			held <- struct{}{}
			<-quit
			time.Sleep(100 * time.Millisecond)
			finished.Store(true)
		})
		return mux
	}})
	if wrapped != s {
		t.Fatal("Wrap did not receive the server being built")
	}
	get := func(path string) string {
		t.Helper()
		_, body := httpGet(t, s.URL()+path)
		return body
	}
	if got := get("/extra"); got != "extra" {
		t.Fatalf("/extra = %q", got)
	}
	if got := get("/healthz"); got != "ok" {
		t.Fatalf("/healthz through the wrapper = %q", got)
	}

	for i := range 2 { // the first Restart and a second one re-arm Done
		resp, err := http.Get(s.URL() + "/hold")
		if err != nil {
			t.Fatal(err)
		}
		<-held
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		if err := s.Restart(ctx); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		cancel()
		if !finished.Swap(false) {
			t.Fatalf("restart %d returned before the tracked handler", i)
		}
		resp.Body.Close()
		if got := get("/extra"); got != "extra" {
			t.Fatalf("/extra after restart %d = %q", i, got)
		}
	}
}

// Shutdown's on-shutdown hook runs in a goroutine of its own: after a Restart it must not
// close the next generation's Done channel (streams would end right after connecting).
func TestRestartKeepsTheNewDoneOpen(t *testing.T) {
	srv := New(Config{Addr: "127.0.0.1:0"})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	for i := 0; i < 20; i++ {
		if err := srv.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let a late on-shutdown hook run
		select {
		case <-srv.Done():
			t.Fatalf("restart %d: Done is closed on a running server", i+1)
		default:
		}
	}
}
