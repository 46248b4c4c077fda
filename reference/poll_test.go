package reference

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	s := startServer(t, Config{PollBatch: 2, PollTimeout: 300 * time.Millisecond, Log: eventlogOpts(5)})
	base := s.URL() + "/poll/p"
	var ids []string
	for i := 1; i <= 3; i++ {
		ids = append(ids, mustPublish(t, s, "p", fmt.Sprint(i)))
	}
	start := s.Topics().Epoch() + "-0"

	// Immediate, batched.
	p, err := poll(t, ctxT(t), base+"?cursor="+start)
	if err != nil {
		t.Fatal(err)
	}
	if p.header.Get("Cache-Control") != "no-store" || p.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", p.header)
	}
	if len(p.Events) != 2 || p.Events[0].ID != ids[0] || p.Events[0].Data != "1" || p.Events[1].ID != ids[1] || p.Cursor != ids[1] || p.Reset != nil {
		t.Fatalf("batch: %s", p.raw)
	}
	p, _ = poll(t, ctxT(t), base+"?cursor="+url.QueryEscape(p.Cursor))
	if len(p.Events) != 1 || p.Events[0].ID != ids[2] || p.Cursor != ids[2] {
		t.Fatalf("next batch: %s", p.raw)
	}

	// Timeout: empty batch, same cursor, "events":[] (not null).
	t0 := time.Now()
	p, _ = poll(t, ctxT(t), base+"?cursor="+ids[2])
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Fatalf("returned after %v, want a hold of ~300ms", d)
	}
	if len(p.Events) != 0 || p.Cursor != ids[2] || p.raw != fmt.Sprintf(`{"events":[],"cursor":"%s"}`+"\n", ids[2]) {
		t.Fatalf("timeout: %q", p.raw)
	}

	// Hold then wake at the publish.
	done := make(chan *pollResp, 1)
	go func() {
		p, err := poll(t, ctxT(t), base+"?cursor="+ids[2])
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	waitFor(t, "held poll", func() bool { return s.m.pollClients.Load() == 1 })
	id4 := mustPublish(t, s, "p", "4")
	if p := <-done; p == nil || len(p.Events) != 1 || p.Events[0].ID != id4 || p.Cursor != id4 {
		t.Fatalf("held poll: %+v", p)
	}

	// Missing cursor: head at request time, waits for the next event.
	go func() {
		p, err := poll(t, ctxT(t), base)
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	waitFor(t, "held poll", func() bool { return s.m.pollClients.Load() == 1 })
	id5 := mustPublish(t, s, "p", "5")
	if p := <-done; p == nil || len(p.Events) != 1 || p.Events[0].ID != id5 {
		t.Fatalf("no cursor: %+v", p)
	}
	p, _ = poll(t, ctxT(t), base) // times out with the head as cursor
	if len(p.Events) != 0 || p.Cursor != id5 {
		t.Fatalf("no cursor timeout: %s", p.raw)
	}

	// Client gone mid-hold: nothing is consumed.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := poll(t, ctx, base+"?cursor="+id5)
		done <- nil
		_ = err
	}()
	waitFor(t, "held poll", func() bool { return s.m.pollClients.Load() == 1 })
	cancel()
	<-done
	waitFor(t, "poll released", func() bool { return s.m.pollClients.Load() == 0 })
	id6 := mustPublish(t, s, "p", "6")
	p, _ = poll(t, ctxT(t), base+"?cursor="+id5)
	if len(p.Events) != 1 || p.Events[0].ID != id6 {
		t.Fatalf("after abandoned poll: %s", p.raw)
	}

	// Reset: retention 5 keeps 2..6; cursor seq 0 lost seq 1.
	p, _ = poll(t, ctxT(t), base+"?cursor="+start)
	if p.Reset == nil || p.Reset.Reason != "expired" || p.Reset.Requested != start || len(p.Events) != 2 || p.Events[0].ID != ids[1] {
		t.Fatalf("expired: %s", p.raw)
	}
	p, _ = poll(t, ctxT(t), base+"?cursor=bogus")
	if p.Reset == nil || p.Reset.Reason != "unknown" || p.Reset.Requested != "bogus" || len(p.Events) != 2 {
		t.Fatalf("unknown: %s", p.raw)
	}
	// Unknown cursor on an empty topic: immediate reset, cursor = head.
	p, _ = poll(t, ctxT(t), s.URL()+"/poll/empty?cursor=bogus")
	if p.Reset == nil || len(p.Events) != 0 || p.Cursor != start {
		t.Fatalf("unknown on empty topic: %s", p.raw)
	}
}

func TestPollShutdownAnswersHeld(t *testing.T) {
	s := startServer(t, Config{}) // PollTimeout 25s
	cur := mustPublish(t, s, "h", "x")
	done := make(chan *pollResp, 1)
	go func() {
		p, err := poll(t, context.Background(), s.URL()+"/poll/h?cursor="+cur)
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	waitFor(t, "held poll", func() bool { return s.m.pollClients.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	t0 := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	p := <-done
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("held poll answered after %v", d)
	}
	if p == nil || len(p.Events) != 0 || p.Cursor != cur {
		t.Fatalf("shutdown answer: %+v", p)
	}
}
