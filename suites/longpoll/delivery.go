package longpoll

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

// Latency over several rounds: a server that checks for new events on a timer (a database
// poll every few seconds) delivers "eventually" and passes a single lucky measurement.
var _ = fw.Register(fw.Check{
	ID: "LP-DELIVER-002", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Across five held polls, each event published during the hold is delivered within 1 s (measured per round).",
	Quote:       holdQuote,
	Spec:        "RFC 6202 §1, §2.1",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		const rounds, limit = 5, time.Second
		cur := bootstrap(t)
		var lats []time.Duration
		for i := 1; i <= rounds; i++ {
			p := start(t, cur)
			time.Sleep(settle)
			sent := time.Now()
			t.Publish(t.Payload(i))
			r := p.wait(t)
			// An answer that came before the publish (no hold) is LP-HOLD-001's business;
			// follow it until the event arrives.
			for len(r.Events) == 0 && time.Since(sent) < hold(t)+slack {
				r = poll(t, r.Cursor)
			}
			lat := r.Done.Sub(sent)
			lats = append(lats, lat)
			if got := seqsOf(t, r); !slices.Equal(got, []int{i}) {
				t.Violation(fmt.Sprintf("event %d in round %d", i, i), fmt.Sprintf("seqs %v", got))
			}
			cur = r.Cursor
		}
		worst := slices.Max(lats)
		t.Measure("latency per round", "%v", roundAll(lats))
		t.Measure("worst latency", "%s", worst.Round(time.Millisecond))
		if worst > limit {
			t.Violation(fmt.Sprintf("every event delivered within %s of its publish", limit), fmt.Sprintf("latencies %v", roundAll(lats)))
		}
	},
})

// The classic long-poll loss: events published while the client is between two polls, or
// while the server is still writing the previous answer. A continuous publisher makes both
// windows certain to be hit.
var _ = fw.Register(fw.Check{
	ID: "LP-GAP-002", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Under a continuous publisher (an event every 25 ms for 1.5 s), a client re-polling with each returned cursor 50 ms after each answer receives every event exactly once, in order.",
	Spec:        "RFC 6202 §2.1 (the client re-polls after each response); operational: exactly-once delivery across the re-poll gap",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		const n, every = 60, 25 * time.Millisecond
		cur := bootstrap(t)
		f := follow(t, cur)
		for i := 1; i <= n; i++ {
			t.Publish(t.Payload(i))
			time.Sleep(every)
		}
		seqs, polls, err := f.until(t, n, hold(t)+slack)
		t.Measure("polls", "%d for %d events", polls, n)
		if err != nil {
			t.Violation("every poll answered 200 with the declared body", err.Error())
		}
		if want := upto(1, n); !slices.Equal(seqs, want) {
			t.Violation(fmt.Sprintf("seqs 1-%d exactly once, in order", n), fmt.Sprintf("%d events: %s", len(seqs), diagnose(seqs, want)))
		}
	},
})

// SockJS checks that an aborted receiving request is detected; in a cursor protocol the
// equivalent is that nothing is "handed" to a request whose client has gone.
var _ = fw.Register(fw.Check{
	ID: "LP-GAP-003", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A client that goes away in the middle of a hold loses nothing: an event published after it left is returned by its next poll with the same cursor.",
	Spec:        "operational: sockjs-protocol (an aborted receiving request is detected, not silently fed)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		p := start(t, cur)
		time.Sleep(500 * time.Millisecond)
		p.cancel() // the client goes away mid-hold
		<-p.done
		time.Sleep(200 * time.Millisecond)
		t.Publish(t.Payload(1))
		time.Sleep(300 * time.Millisecond) // let a server that still holds the dead request "deliver" to it
		r := poll(t, cur)
		got := seqsOf(t, r)
		t.Measure("next poll", "seqs %v after %s", got, r.Elapsed().Round(time.Millisecond))
		if !slices.Equal(got, []int{1}) {
			t.Violation("event 1 on the next poll with the same cursor", fmt.Sprintf("seqs %v after %s: the event went to the abandoned request", got, r.Elapsed().Round(time.Millisecond)))
		}
	},
})

// batchSize is the declared batch (most events per response), or a default of 20 to judge
// "everything pending in one answer" by when none is declared.
func batchSize(t *fw.T) (n int, declared bool) {
	if b := t.Target().LongPoll.Batch; b > 0 {
		return b, true
	}
	return 20, false
}

// One event per response makes a client that fell behind by N events need N round trips.
var _ = fw.Register(fw.Check{
	ID: "LP-BATCH-001", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Pending events come back together: a backlog of up to the declared batch size (and the retention) is returned in one response.",
	Spec:        "operational: the profile's longpoll.batch; RFC 6202 §2.2 (maximal latency: every response needs a new request)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		b, _ := batchSize(t)
		n := min(b, 100)
		if keep := t.Target().Retention; keep > 0 {
			n = min(n, keep)
		}
		cur := bootstrap(t)
		for i := 1; i <= n; i++ {
			t.Publish(t.Payload(i))
		}
		r := poll(t, cur)
		t.Measure("first response", "%d of %d pending events (batch %d)", len(r.Events), n, b)
		if len(r.Events) < n {
			t.Violation(fmt.Sprintf("all %d pending events in one response", n), fmt.Sprintf("%d events", len(r.Events)))
		}
	},
})

// A backlog that needs several responses: the cursor of a truncated batch must point at its
// last event, not at the head of the log.
var _ = fw.Register(fw.Check{
	ID: "LP-BATCH-002", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A backlog drained over several responses arrives complete and in order, no response carrying more than the declared batch.",
	Spec:        "operational: the profile's longpoll.batch; cursor semantics across batch boundaries",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		b, declared := batchSize(t)
		n := b + 10
		if keep := t.Target().Retention; keep > 0 && n > keep {
			// A larger backlog would overrun retention (a reset, judged by LP-CURSOR-004);
			// the batch boundary is then crossed only by targets that batch below it.
			n = keep
		}
		n = min(n, 500)
		cur := bootstrap(t)
		for i := 1; i <= n; i++ {
			t.Publish(t.Payload(i))
		}
		var seqs, sizes []int
		for polls := 0; len(seqs) < n && polls < n+2; polls++ {
			r := poll(t, cur)
			sizes = append(sizes, len(r.Events))
			seqs = append(seqs, seqsOf(t, r)...)
			cur = r.Cursor
			if declared && len(r.Events) > b {
				t.Violation(fmt.Sprintf("at most %d events per response (longpoll.batch)", b), fmt.Sprintf("a response with %d events", len(r.Events)))
			}
			if len(r.Events) == 0 {
				break
			}
		}
		t.Measure("response sizes", "%v for a backlog of %d", sizes, n)
		if want := upto(1, n); !slices.Equal(seqs, want) {
			t.Violation(fmt.Sprintf("seqs 1-%d in order over %d response(s)", n, len(sizes)), fmt.Sprintf("%d events: %s", len(seqs), diagnose(seqs, want)))
		}
	},
})

// followPause is the time a follower takes between a response and its next poll.
const followPause = 50 * time.Millisecond

// follower re-polls in the background with each returned cursor, as a client does.
type follower struct {
	mu    sync.Mutex
	seqs  []int
	polls int
	err   error
	more  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
}

func follow(t *fw.T, cursor string) *follower {
	ctx, cancel := context.WithCancel(t.Context())
	f := &follower{more: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	url, sh, d := endpoint(t, 0), shape(t), hold(t)+slack
	go func() {
		defer close(f.done)
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, d)
			r, err := pollclient.Poll(pctx, t.HTTP(), url, cursor, sh)
			pcancel()
			if ctx.Err() != nil {
				return
			}
			f.mu.Lock()
			f.polls++
			switch {
			case err != nil:
				f.err = fmt.Errorf("poll %d failed: %v", f.polls, err)
			case r.Status != 200 || r.DecodeErr != nil:
				f.err = fmt.Errorf("poll %d: status %d, %v, body %.200q", f.polls, r.Status, r.DecodeErr, r.Body)
			default:
				f.seqs = append(f.seqs, seqsOf(t, r)...)
				cursor = r.Cursor
			}
			failed := f.err != nil
			f.mu.Unlock()
			select {
			case f.more <- struct{}{}:
			default:
			}
			if failed {
				return
			}
			// The client handles the batch before it polls again: events published meanwhile
			// fall into the gap between two polls.
			select {
			case <-time.After(followPause):
			case <-ctx.Done():
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// until waits until n events arrived, a poll failed, or d passed; then it
// stops the follower and returns what it received.
func (f *follower) until(t *fw.T, n int, d time.Duration) ([]int, int, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
wait:
	for {
		f.mu.Lock()
		got, err := len(f.seqs), f.err
		f.mu.Unlock()
		if got >= n || err != nil {
			break
		}
		select {
		case <-f.more:
		case <-timer.C:
			break wait
		case <-t.Context().Done():
			break wait
		}
	}
	// A little longer, so duplicates after the last expected event show too.
	time.Sleep(200 * time.Millisecond)
	f.stop()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seqs), f.polls, f.err
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
