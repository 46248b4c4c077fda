package longpoll

import (
	"fmt"
	"slices"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

// Two tabs sharing a cursor, or a client retrying a poll whose first request is still held
// by a proxy: Engine.IO refuses the duplicate (400) and SockJS answers c[2010]; a stateless
// cursor server answers both. A poll that is silently answered empty (displaced, or never
// woken) leaves one client behind, and two displacing each other spin in a busy loop.
var _ = fw.Register(fw.Check{
	ID: "LP-CONC-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Two concurrent polls with the same cursor both receive the event published during their hold (or one of them is refused with an explicit 4xx), neither is silently answered empty.",
	Spec:        "operational: engine.io-protocol test-suite (a duplicate concurrent poll is rejected), sockjs-protocol (a second receiver gets c[2010])",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		ps := []*pending{start(t, cur), start(t, cur)}
		time.Sleep(settle)
		sent := time.Now()
		t.Publish(t.Payload(1))
		delivered, refused := 0, 0
		var seen []string
		for i, p := range ps {
			<-p.done
			if p.err != nil {
				t.Violation("both polls answered within the hold", fmt.Sprintf("poll %d: %v", i+1, p.err))
			}
			r := followEarly(t, p.resp, sent)
			switch {
			case r.Status >= 400 && r.Status < 500:
				refused++
				seen = append(seen, fmt.Sprintf("poll %d: refused %d after %s", i+1, r.Status, r.Done.Sub(r.Sent).Round(time.Millisecond)))
				continue
			case r.Status != 200 || r.DecodeErr != nil:
				t.Violation("200 with the declared JSON body, or a 4xx refusal", fmt.Sprintf("poll %d: status %d, %v, body %.200q", i+1, r.Status, r.DecodeErr, r.Body))
			}
			got := seqsOf(t, r)
			seen = append(seen, fmt.Sprintf("poll %d: seqs %v %s after the publish", i+1, got, r.Done.Sub(sent).Round(time.Millisecond)))
			if slices.Equal(got, []int{1}) {
				delivered++
			}
		}
		t.Measure("answers", "%s", strings.Join(seen, "; "))
		if delivered+refused != 2 || delivered == 0 {
			t.Violation("both polls answered with event 1 (or one refused explicitly and the other with event 1)", strings.Join(seen, "; "))
		}
	},
})

// One held poll per worker (PHP-FPM pm.max_children, a Puma/Gunicorn thread pool, a
// connection-pool slot held while waiting) means a handful of idle clients starve everyone.
var _ = fw.Register(fw.Check{
	ID: "LP-CONC-002", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Held polls do not block other clients: with 10 polls held on other topics, a poll whose events are pending is answered within 1 s.",
	Spec:        "RFC 6202 §2.2 (allocated resources); operational: thread- and process-per-request servers",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		const others, limit = 10, time.Second
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		for i := 1; i <= others; i++ {
			startOn(t, i, "")
		}
		time.Sleep(500 * time.Millisecond)
		r := rawPoll(t, cur, hold(t)+slack)
		requireOK(t, r)
		got := seqsOf(t, r)
		t.Measure("answer with 10 polls held elsewhere", "seqs %v after %s", got, r.Elapsed().Round(time.Millisecond))
		if !slices.Equal(got, []int{1}) {
			t.Violation("the pending event 1", fmt.Sprintf("seqs %v after %s", got, r.Elapsed().Round(time.Millisecond)))
		}
		if r.Elapsed() > limit {
			t.Violation(fmt.Sprintf("an answer within %s (the event was pending)", limit), fmt.Sprintf("answered after %s, queued behind the held polls", r.Elapsed().Round(time.Millisecond)))
		}
	},
})

// Fan-out to many held polls on one topic: a notifier that wakes one waiter (sync.Cond.Signal,
// a single-slot channel) instead of all of them leaves the rest to time out.
var _ = fw.Register(fw.Check{
	ID: "LP-CONC-003", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "An event published while 20 clients hold a poll on the topic completes all 20 polls with it, the slowest within 1.5 s.",
	Spec:        "RFC 6202 §2.1; operational: fan-out latency",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		const clients = 20
		limit := max(1500*time.Millisecond, hold(t)/2)
		cur := bootstrap(t)
		ps := make([]*pending, clients)
		for i := range ps {
			ps[i] = start(t, cur)
		}
		time.Sleep(500 * time.Millisecond)
		sent := time.Now()
		t.Publish(t.Payload(1))
		var lats []time.Duration
		bad := 0
		var first string
		for i, p := range ps {
			<-p.done
			if p.err == nil {
				p.resp = followEarly(t, p.resp, sent)
			}
			if p.err != nil || p.resp.Status != 200 || !slices.Equal(seqsOf(t, p.resp), []int{1}) {
				bad++
				if first == "" {
					first = describe(t, i, p)
				}
				continue
			}
			lats = append(lats, p.resp.Done.Sub(sent))
		}
		slices.Sort(lats)
		if len(lats) > 0 {
			t.Measure("latency", "median %s, slowest %s over %d polls", lats[len(lats)/2].Round(time.Millisecond), lats[len(lats)-1].Round(time.Millisecond), len(lats))
		}
		if bad > 0 {
			t.Violation(fmt.Sprintf("all %d polls answered with event 1", clients), fmt.Sprintf("%d were not, e.g. %s", bad, first))
		}
		if worst := lats[len(lats)-1]; worst > limit {
			t.Violation(fmt.Sprintf("every poll answered within %s of the publish", limit), fmt.Sprintf("the slowest after %s", worst.Round(time.Millisecond)))
		}
	},
})

func describe(t *fw.T, i int, p *pending) string {
	switch {
	case p.err != nil:
		return fmt.Sprintf("poll %d failed: %v", i+1, p.err)
	case p.resp.Status != 200:
		return fmt.Sprintf("poll %d: status %d", i+1, p.resp.Status)
	}
	return fmt.Sprintf("poll %d: seqs %v after %s", i+1, seqsOf(t, p.resp), p.resp.Elapsed().Round(time.Millisecond))
}

// followEarly follows an empty answer that came before the publish (a target that does not
// hold, judged by LP-HOLD-001) with one more poll from its cursor, so that only what happens
// after the publish is judged here.
func followEarly(t *fw.T, r *pollclient.Response, sent time.Time) *pollclient.Response {
	if r.Status != 200 || r.DecodeErr != nil || len(r.Events) > 0 || !r.Done.Before(sent) {
		return r
	}
	return rawPoll(t, r.Cursor, hold(t)+slack)
}
