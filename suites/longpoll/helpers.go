// Package longpoll holds the long-polling conformance checks: cursor semantics, holding, no
// loss between polls, and the HTTP headers a poll needs to pass proxies. The target's
// response shape (event array, next cursor, id and payload) comes from the profile.
package longpoll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

var (
	lpCaps      = []fw.Capability{fw.CapLongPoll}
	publishCaps = []fw.Capability{fw.CapLongPoll, fw.CapPublish}
)

// slack is added to the declared hold timeout before a poll counts as never answered.
const slack = 5 * time.Second

func hold(t *fw.T) time.Duration { return t.Target().LongPoll.Timeout.D() }

func shape(t *fw.T) pollclient.Shape {
	lp := t.Target().LongPoll
	return pollclient.Shape{CursorParam: lp.Cursor.Query, Events: lp.Events, Next: lp.Next,
		ID: t.Target().Envelope.ID, Data: t.Target().Envelope.Data}
}

// poll sends one poll and requires a well-formed 200 answer within the hold timeout + slack.
func poll(t *fw.T, cursor string) *pollclient.Response {
	r := rawPoll(t, cursor, hold(t)+slack)
	if r.Status != 200 {
		t.Violation("200 with the declared JSON body", fmt.Sprintf("status %d, body %.200q", r.Status, r.Body))
	}
	if r.DecodeErr != nil {
		t.Violation("a JSON body with the event array at "+t.Target().LongPoll.Events+" and the next cursor at "+t.Target().LongPoll.Next,
			fmt.Sprintf("%v; body %.300q", r.DecodeErr, r.Body))
	}
	return r
}

// rawPoll sends one poll bounded by d; a poll that is not answered in d is a violation.
func rawPoll(t *fw.T, cursor string, d time.Duration) *pollclient.Response {
	ctx, cancel := t.Within(d)
	defer cancel()
	r, err := pollclient.Poll(ctx, t.HTTP(), t.URL(t.Target().LongPoll.Path), cursor, shape(t))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Violation(fmt.Sprintf("an answer within the declared hold (%s) + %s", hold(t), slack), fmt.Sprintf("no answer within %s", d))
		}
		t.Violation("a poll answer", fmt.Sprintf("request failed: %v", err))
	}
	return r
}

// pending is a poll running in the background.
type pending struct {
	done chan struct{}
	resp *pollclient.Response
	err  error
}

func start(t *fw.T, cursor string) *pending {
	p := &pending{done: make(chan struct{})}
	ctx, cancel := t.Within(hold(t) + slack)
	go func() {
		defer close(p.done)
		defer cancel()
		p.resp, p.err = pollclient.Poll(ctx, t.HTTP(), t.URL(t.Target().LongPoll.Path), cursor, shape(t))
	}()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func (p *pending) wait(t *fw.T) *pollclient.Response {
	<-p.done
	if p.err != nil {
		t.Violation(fmt.Sprintf("an answer within the declared hold (%s) + %s", hold(t), slack), fmt.Sprintf("poll failed: %v", p.err))
	}
	if p.resp.Status != 200 || p.resp.DecodeErr != nil {
		t.Violation("200 with the declared JSON body", fmt.Sprintf("status %d, %v, body %.300q", p.resp.Status, p.resp.DecodeErr, p.resp.Body))
	}
	return p.resp
}

// bootstrap obtains a cursor the way a client does: a poll without a cursor is held, an event
// published meanwhile completes it. It returns the cursor after that event.
func bootstrap(t *fw.T) string {
	for attempt := 0; attempt < 2; attempt++ {
		p := start(t, "")
		time.Sleep(300 * time.Millisecond)
		t.Publish(t.Payload(0))
		r := p.wait(t)
		if len(r.Events) > 0 {
			return r.Cursor
		}
		if r.Cursor != "" {
			// Answered before the publish (a short hold): use the cursor it gave and let
			// the next poll pick up event 0.
			r2 := poll(t, r.Cursor)
			if len(r2.Events) > 0 {
				return r2.Cursor
			}
		}
	}
	t.Violation("a poll without a cursor to start at now and deliver the next published event", "two attempts returned no event")
	return ""
}

// drain polls from cursor until n events arrived (or a poll comes back empty after a hold),
// returning the events' seqs in arrival order and the final cursor.
func drain(t *fw.T, cursor string, n int) ([]int, string) {
	var seqs []int
	for polls := 0; len(seqs) < n && polls < n+3; polls++ {
		r := poll(t, cursor)
		for _, e := range r.Events {
			seqs = append(seqs, seqOf(t, e.Data))
		}
		cursor = r.Cursor
		if len(r.Events) == 0 {
			break
		}
	}
	return seqs, cursor
}

func seqOf(t *fw.T, data string) int {
	if s, ok := t.Seq(data); ok {
		return s
	}
	return -1
}

func upto(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func diagnose(got, want []int) string {
	seen := map[int]int{}
	for _, s := range got {
		seen[s]++
	}
	var missing, dup []int
	for _, w := range want {
		if seen[w] == 0 {
			missing = append(missing, w)
		}
	}
	for s, n := range seen {
		if n > 1 {
			dup = append(dup, s)
		}
	}
	slices.Sort(dup)
	switch {
	case len(missing) > 0 && len(dup) > 0:
		return fmt.Sprintf("lost %v and duplicated %v", missing, dup)
	case len(missing) > 0:
		return fmt.Sprintf("lost %v", missing)
	case len(dup) > 0:
		return fmt.Sprintf("duplicated %v", dup)
	}
	return "out of order"
}
