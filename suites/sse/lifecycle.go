package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// A server that ends the response after each event or after a short while turns SSE into
// polling: every end is a reconnect after the retry delay, and events in between wait.
var _ = fw.Register(fw.Check{
	ID: "SSE-LIFE-001", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A stream stays open after delivering an event and while idle for 5 s.",
	Spec:        "WHATWG HTML §9.2.1 (a persistent connection); operational",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		t.Publish(t.Payload(1))
		nextEvent(t, s, deliveryWait, "event 1")
		select {
		case <-s.Done():
			diagnoseCut(t, s)
			t.Violation("the stream open 5s after an event", fmt.Sprintf("it ended %s after opening: %v", s.EndedAt().Sub(s.Start).Round(time.Millisecond), s.Err()))
		case <-time.After(5 * time.Second):
		}
	},
})

// "Clients will reconnect if the connection is closed" (§9.2.1): a clean end of the body
// (EOF) makes a browser reconnect; on shutdown a server should end streams that way.
var _ = fw.Register(fw.Check{
	ID: "SSE-LIFE-002", Level: fw.SHOULD, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapRestart},
	Requirement: "When the target restarts, an open stream ends cleanly (end of body, not a hang or a reset) within 15 s, and a new stream opens afterwards.",
	Quote:       "Clients will reconnect if the connection is closed",
	Spec:        "WHATWG HTML §9.2.1, §9.2.3 (processEventSourceEndOfBody)",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		s := live(t)
		start := time.Now()
		t.Restart()
		select {
		case <-s.Done():
		case <-time.After(15 * time.Second):
			t.Violation("the stream ends within 15s of the restart", "still open")
		}
		t.Measure("stream ended after", "%s: %v", s.EndedAt().Sub(start).Round(time.Millisecond), s.Err())
		if !errors.Is(s.Err(), io.EOF) {
			t.Violation("a clean end of the body (EOF)", fmt.Sprintf("%v", s.Err()))
		}
		headOK(t, bounded(t), nil, nil)
	},
})

// "if res's status is not 200, or if res's Content-Type is not text/event-stream, then fail
// the connection" — and a failed EventSource never reconnects. A reconnect storm (every
// client after a deploy) must not be answered 429 or 503.
var _ = fw.Register(fw.Check{
	ID: "SSE-LIFE-003", Level: fw.MUST, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "Twenty reconnects in quick succession each get 200 text/event-stream (a 429 or 5xx ends a browser's EventSource for good).",
	Quote:       "if res's status is not 200, or if res's Content-Type is not text/event-stream, then fail the connection",
	Spec:        "WHATWG HTML §9.2.3",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		for i := 1; i <= 20; i++ {
			ctx, cancel := t.Within(10 * time.Second)
			s := head(t, ctx, nil, nil)
			ct, _, _ := mime.ParseMediaType(s.Resp.Header.Get("Content-Type"))
			status := s.Resp.StatusCode
			_ = s.Close()
			cancel()
			if status != http.StatusOK || ct != "text/event-stream" {
				t.Violation("200 text/event-stream on every reconnect", fmt.Sprintf("reconnect %d got %d %q", i, status, ct))
			}
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-FANOUT-001", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "Fifty concurrent subscribers of one topic each receive the identical, complete sequence of 20 events.",
	Spec:        "operational: fan-out (one event log per topic)",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		const subs, n = 50, 20
		// Open all at once: a target that is slow to answer must not serialize the check. The
		// requests are sent without waiting for the response heads (see open).
		streams := make([]*sseclient.Stream, subs)
		errs := make([]error, subs)
		var opening sync.WaitGroup
		for i := range streams {
			opening.Add(1)
			go func() {
				defer opening.Done()
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, streamURL(t, nil), nil)
				streams[i], errs[i] = sseclient.Start(t.Context(), t.HTTP(), req, streamLimits(t))
				unwrap(t, streams[i], false)
			}()
		}
		opening.Wait()
		for i, s := range streams {
			if s != nil {
				t.Cleanup(func() { _ = s.Close() })
			}
			if errs[i] != nil {
				t.Violation(fmt.Sprintf("%d streams open", subs), fmt.Sprintf("subscriber %d: %v", i+1, errs[i]))
			}
		}
		heads, cancelHeads := t.Within(headWait)
		for _, s := range streams {
			_ = s.WaitHeaders(heads) // a target that holds its head until the first event: go on
		}
		cancelHeads()
		settle(streams[subs-1])
		publishSeqs(t, 1, n)
		want := make([]int, n)
		for i := range want {
			want[i] = i + 1
		}
		var mu sync.Mutex
		var bad []string
		var wg sync.WaitGroup
		for i, s := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := t.Within(15 * time.Second)
				defer cancel()
				var got []int
				for len(got) < n {
					ev, err := s.Next(ctx)
					if err != nil {
						break
					}
					got = append(got, t.Seqs([]string{ev.Data})...)
				}
				if err := s.WaitHeaders(ctx); err == nil && s.Resp.StatusCode != http.StatusOK {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("subscriber %d: status %d", i+1, s.Resp.StatusCode))
					mu.Unlock()
					return
				}
				if !slices.Equal(got, want) {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("subscriber %d got %v", i+1, got))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Violation(fmt.Sprintf("every subscriber gets seqs 1..%d", n), fmt.Sprintf("%d of %d differ; first: %s", len(bad), subs, bad[0]))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-ORDER-001", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A burst of 100 events published back to back arrives complete and in publish order.",
	Spec:        "operational: per-topic ordering",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		publishSeqs(t, 1, 100)
		got := t.Seqs(datas(collect(t, s, 100, 15*time.Second, "100 events")))
		for i, g := range got {
			if g != i+1 {
				t.Violation("seqs 1..100 in order", fmt.Sprintf("position %d holds seq %d: %v", i+1, g, got))
			}
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-DELIVER-002", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A stream receives only the events of its own topic.",
	Spec:        "operational: topic isolation",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		t.PublishTo(t.TopicN(1), t.Payload(100))
		t.Publish(t.Payload(1))
		ev := nextEvent(t, s, deliveryWait, "event 1 of the stream's own topic")
		if n, _ := t.Seq(ev.Data); n != 1 {
			t.Violation("only the stream's topic", fmt.Sprintf("first event data %s (seq 100 was published to another topic)", clipq(ev.Data)))
		}
	},
})

// r3labs/sse#61: a server that replays its whole history to every new connection floods
// clients on each page load.
var _ = fw.Register(fw.Check{
	ID: "SSE-DELIVER-003", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A new stream without Last-Event-ID starts at the live edge: it does not replay events published before it connected.",
	Spec:        "WHATWG HTML §9.2.4 (resume is the Last-Event-ID's job); operational (r3labs/sse#61)",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		// Events 1 and 2 go out on a stream of their own first, so they are in any history
		// the target keeps (their ids do not matter here: a server without SSE ids, such as
		// Centrifugo's uni_sse, is judged on what a new stream replays all the same).
		pre := live(t)
		publishSeqs(t, 1, 2)
		collect(t, pre, 2, deliveryWait, "events 1..2 on a live stream")
		_ = pre.Close()
		s := live(t)
		t.Publish(t.Payload(3))
		got := t.Seqs(datas(collect(t, s, 1, deliveryWait, "event 3")))
		if !slices.Equal(got, []int{3}) {
			t.Violation("event 3 first", fmt.Sprintf("seqs %v (history replayed)", got))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-TIME-003", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "After the stream was idle for a while (the heartbeat interval + 1 s, at least 3 s), a published event still arrives within 1 s.",
	Spec:        "operational: idle streams must not stall",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		idle := 3 * time.Second
		if t.Target().Has(fw.CapHeartbeat) {
			idle = max(idle, min(t.Target().SSE.Heartbeat.D()+time.Second, 20*time.Second))
		}
		s := openOK(t, t.Context(), nil, nil)
		time.Sleep(idle)
		sent := time.Now()
		t.Publish(t.Payload(1))
		ev := nextEvent(t, s, deliveryWait, "event 1 after the idle period")
		d := ev.At.Sub(sent)
		t.Measure("latency after idle", "%s (idle %s)", d.Round(time.Millisecond), idle)
		if d > time.Second {
			diagnoseBuffered(t, d.Round(time.Millisecond))
			t.Violation("within 1s", fmt.Sprintf("after %s", d.Round(time.Millisecond)))
		}
	},
})

// "wait a delay equal to the reconnection time" — a tiny retry turns every outage into a
// reconnect storm (Azure/fetch-event-source#57).
var _ = fw.Register(fw.Check{
	ID: "SSE-RETRY-002", Level: fw.SHOULD, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapRetry},
	Requirement: "The retry: value sent is at least 1000 ms (shorter values cause reconnect storms after an outage).",
	Quote:       "Wait a delay equal to the reconnection time of the event source.",
	Spec:        "WHATWG HTML §9.2.3; operational (Azure/fetch-event-source#57)",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		s := openOK(t, t.Context(), nil, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		nudged := false
		for {
			nudge(t, s, &nudged)
			if r, ok := s.Retry(); ok {
				requireOK(t, s, t.Context(), 0, "status 200") // a client ignores the body of any other status
				t.Measure("retry", "%s", r)
				if r < time.Second {
					t.Violation("retry >= 1000", fmt.Sprintf("retry: %d", r.Milliseconds()))
				}
				return
			}
			select {
			case <-ctx.Done():
				t.Violation("a retry field within 5s", "none")
			case <-time.After(20 * time.Millisecond):
			}
		}
	},
})
