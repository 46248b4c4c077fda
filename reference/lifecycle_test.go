package reference

import (
	"context"
	"io"
	"net/http"
	"testing"
)

func TestRestartKeepsLog(t *testing.T) {
	s := startServer(t, Config{})
	addr, epoch := s.Addr(), s.Topics().Epoch()
	id1 := mustPublish(t, s, "rs", "before")
	st := openSSE(t, s.URL()+"/sse/rs", http.Header{"Last-Event-ID": {s.Topics().Epoch() + "-0"}})
	if got := st.event(t); got[0] != "id: "+id1 {
		t.Fatalf("got %q", got)
	}
	ws := dialWS(t, wsURL(s, "/ws/rs"))
	wsErr := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(context.Background())
		wsErr <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr || s.Topics().Epoch() != epoch {
		t.Fatalf("after restart: addr %s epoch %s, want %s %s", s.Addr(), s.Topics().Epoch(), addr, epoch)
	}
	if _, err := io.ReadAll(st.br); err != nil {
		t.Fatalf("SSE stream did not end cleanly: %v", err)
	}
	if err := <-wsErr; err == nil || !isGoingAway(err) {
		t.Fatalf("ws: %v, want 1001", err)
	}
	id2 := mustPublish(t, s, "rs", "after")
	// Resume across the restart with the id received before it.
	st2 := openSSE(t, s.URL()+"/sse/rs", http.Header{"Last-Event-ID": {id1}})
	if got := st2.event(t); got[0] != "id: "+id2 {
		t.Fatalf("resume after restart: %q", got)
	}
	p, _ := poll(t, ctxT(t), s.URL()+"/poll/rs?cursor="+s.Topics().Epoch()+"-0")
	if len(p.Events) != 2 || p.Events[0].Data != "before" {
		t.Fatalf("log after restart: %s", p.raw)
	}
	// Restart twice in a row works too.
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(s.URL() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after second restart: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestStartTwiceAndShutdownIdle(t *testing.T) {
	s := startServer(t, Config{})
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	h := New(Config{})
	if h.Addr() != "" {
		t.Fatal("Addr before Start")
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of a server never started: %v", err)
	}
}
