package longpoll

import (
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

// A cached poll answer is replayed to the next poller: events are duplicated, or a stale
// empty batch hides new ones. "no-store" forbids storing; "no-cache" forces revalidation.
var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Every poll response carries Cache-Control: no-store (or no-cache), so no browser, proxy or CDN cache replays it.",
	Quote:       "The no-store response directive indicates that a cache MUST NOT store any part of either the immediate request or the response",
	Spec:        "RFC 9111 §5.2.2.5; RFC 6202 §2.2 (long polling and caches)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		r := poll(t, cur)
		cc := strings.Join(r.Header.Values("Cache-Control"), ", ")
		t.Measure("Cache-Control", "%q", cc)
		ok := false
		for _, d := range strings.Split(cc, ",") {
			d, _, _ = strings.Cut(strings.TrimSpace(strings.ToLower(d)), "=")
			if d == "no-store" || d == "no-cache" {
				ok = true
			}
		}
		if !ok {
			t.Violation("Cache-Control: no-store (or no-cache)", fmt.Sprintf("Cache-Control: %q", cc))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-002", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Poll responses are labelled application/json (or a +json type).",
	Spec:        "RFC 8259 §11; operational (proxies and browsers sniff or transform unlabelled bodies)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		r := poll(t, cur)
		ct := r.Header.Get("Content-Type")
		t.Measure("Content-Type", "%q", ct)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			t.Violation("Content-Type: application/json", fmt.Sprintf("Content-Type: %q", ct))
		}
	},
})

// RFC 6202 §1 defines long polling by the hold; an immediate empty answer turns it into a
// busy loop of requests.
var _ = fw.Register(fw.Check{
	ID: "LP-HOLD-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll with nothing pending is held open (not answered within the first second, or half the declared hold if shorter).",
	Quote:       holdQuote,
	Spec:        "RFC 6202 §1, §2.1",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		minHold := min(time.Second, hold(t)/2)
		r := poll(t, cur)
		t.Measure("answered after", "%s", r.Elapsed().Round(time.Millisecond))
		if len(r.Events) > 0 {
			t.Violation("no events (nothing was published)", fmt.Sprintf("%d events", len(r.Events)))
		}
		if r.Elapsed() < minHold {
			t.Violation(fmt.Sprintf("the poll held for at least %s", minHold), fmt.Sprintf("answered after %s with an empty batch", r.Elapsed().Round(time.Millisecond)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-HOLD-002", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A held poll with nothing to deliver is answered within the declared hold timeout with an empty batch and a cursor that still delivers the next event.",
	Spec:        "RFC 6202 §2.1, §2.2; the profile's longpoll.timeout",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		r := poll(t, cur)
		t.Measure("hold", "%s (declared %s)", r.Elapsed().Round(time.Millisecond), hold(t))
		if len(r.Events) != 0 {
			t.Violation("an empty batch", fmt.Sprintf("%d events", len(r.Events)))
		}
		if r.Elapsed() > hold(t)+2*time.Second {
			t.Violation(fmt.Sprintf("an answer within the declared %s", hold(t)), fmt.Sprintf("answered after %s", r.Elapsed().Round(time.Millisecond)))
		}
		if r.Cursor == "" {
			t.Violation("a cursor in the empty answer", "an empty cursor")
		}
		t.Publish(t.Payload(1))
		seqs, _ := drain(t, r.Cursor, 1)
		if !slices.Equal(seqs, []int{1}) {
			t.Violation("event 1 from the cursor of the empty answer", fmt.Sprintf("seqs %v", seqs))
		}
	},
})

// Heroku's router closes a request without a first byte after 30 s, AWS ALB and nginx
// (proxy_read_timeout) after 60 s, Cloudflare after 100 s: a hold must end below all of them.
var _ = fw.Register(fw.Check{
	ID: "LP-HOLD-003", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A held poll is answered within 25 s, below common proxy limits (Heroku 30 s, nginx and AWS ALB 60 s, Cloudflare 100 s).",
	Quote:       "Requests ... have an initial 30 second window in which the app process must return at least some response data.",
	Spec:        "operational: Heroku HTTP routing (30 s to first byte, H12), nginx proxy_read_timeout (60 s), AWS ALB idle timeout (60 s), Cloudflare Proxy Read Timeout (100 s, error 524); RFC 6202 §5.5",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		const limit = 25 * time.Second
		if hold(t) > limit {
			t.Violation(fmt.Sprintf("a declared hold of at most %s", limit), fmt.Sprintf("longpoll.timeout %s", hold(t)))
		}
		cur := bootstrap(t)
		ctx, cancel := t.Within(limit + slack)
		defer cancel()
		r, err := pollclient.Poll(ctx, t.HTTP(), t.URL(t.Target().LongPoll.Path), cur, shape(t))
		if err != nil {
			t.Violation(fmt.Sprintf("an answer within %s", limit), fmt.Sprintf("no answer within %s (%v)", limit+slack, err))
		}
		t.Measure("hold", "%s (status %d)", r.Elapsed().Round(time.Millisecond), r.Status)
		if r.Elapsed() > limit+time.Second {
			t.Violation(fmt.Sprintf("an answer within %s", limit), fmt.Sprintf("answered after %s", r.Elapsed().Round(time.Millisecond)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-DELIVER-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "An event published while a poll is held completes that poll with the event promptly: within half the declared hold, but never more than 2 s (bound at least 1 s).",
	Quote:       holdQuote,
	Spec:        "RFC 6202 §1, §2.1",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		p := start(t, cur)
		time.Sleep(300 * time.Millisecond)
		sent := time.Now()
		t.Publish(t.Payload(1))
		r := p.wait(t)
		lat := r.Done.Sub(sent)
		t.Measure("latency", "%s", lat.Round(time.Millisecond))
		seqs := seqsOf(t, r)
		if !slices.Equal(seqs, []int{1}) {
			t.Violation("the held poll answered with event 1", fmt.Sprintf("seqs %v after %s", seqs, lat.Round(time.Millisecond)))
		}
		if limit := max(time.Second, min(hold(t)/2, 2*time.Second)); lat > limit {
			t.Violation(fmt.Sprintf("delivery within %s", limit), fmt.Sprintf("delivered after %s", lat.Round(time.Millisecond)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll with a cursor returns exactly the events after it, in publish order, across as many polls as the batch size needs.",
	Spec:        "operational: cursor semantics shared by long-poll protocols (Engine.IO, SockJS, Bayeux)",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		for i := 1; i <= 5; i++ {
			t.Publish(t.Payload(i))
		}
		seqs, _ := drain(t, cur, 5)
		t.Measure("seqs", "%v", seqs)
		if !slices.Equal(seqs, upto(1, 5)) {
			t.Violation("seqs [1 2 3 4 5]", fmt.Sprintf("%v: %s", seqs, diagnose(seqs, upto(1, 5))))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-002", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll with the cursor returned after an event never returns that event again.",
	Spec:        "operational: cursor semantics (a duplicate after every poll is the classic off-by-one)",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		t.Publish(t.Payload(2))
		seqs, next := drain(t, cur, 2)
		if !slices.Equal(seqs, []int{1, 2}) {
			t.Violation("seqs [1 2]", fmt.Sprintf("%v", seqs))
		}
		p := start(t, next)
		time.Sleep(300 * time.Millisecond)
		t.Publish(t.Payload(3))
		r := p.wait(t)
		// A target that answers before the publish (no hold) is judged by LP-HOLD-001; here
		// only what the cursor returns matters, so follow empty answers a few times.
		for i := 0; i < 3 && len(r.Events) == 0; i++ {
			r = poll(t, r.Cursor)
		}
		var got []int
		for _, e := range r.Events {
			got = append(got, seqOf(t, e.Data))
		}
		t.Measure("seqs after the cursor", "%v", got)
		if !slices.Equal(got, []int{3}) {
			t.Violation("only event 3 after the cursor returned with event 2", fmt.Sprintf("seqs %v", got))
		}
	},
})

// The gap between one response and the next request is where long-polling loses events.
var _ = fw.Register(fw.Check{
	ID: "LP-GAP-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Events published between a response and the next poll are delivered by that poll: a client re-polling with each cursor gets every event exactly once, in order.",
	Spec:        "RFC 6202 §2.2 (message ordering and reliability)",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		var seqs []int
		next := 1
		for round := 0; round < 5; round++ {
			// One or two events published while no poll is outstanding.
			t.Publish(t.Payload(next))
			next++
			if round%2 == 1 {
				t.Publish(t.Payload(next))
				next++
			}
			r := poll(t, cur)
			for _, e := range r.Events {
				seqs = append(seqs, seqOf(t, e.Data))
			}
			if len(r.Events) == 0 {
				t.Violation(fmt.Sprintf("events published before the poll (up to %d) delivered at once", next-1),
					fmt.Sprintf("the poll was held %s and came back empty; so far received %v", r.Elapsed().Round(time.Millisecond), seqs))
			}
			cur = r.Cursor
		}
		// Whatever is still pending (batch limits) comes with the next polls.
		if len(seqs) < next-1 {
			more, _ := drain(t, cur, next-1-len(seqs))
			seqs = append(seqs, more...)
		}
		t.Measure("seqs", "%v", seqs)
		if want := upto(1, next-1); !slices.Equal(seqs, want) {
			t.Violation(fmt.Sprintf("seqs %v", want), fmt.Sprintf("%v: %s", seqs, diagnose(seqs, want)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "LP-PAYLOAD-001", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A payload with quotes, backslashes, line breaks, non-ASCII and control characters round-trips exactly through the response envelope.",
	Spec:        "RFC 8259 §7 (string escaping); the profile's envelope.data",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		want := fmt.Sprintf("{\"run\":%q,\"check\":%q,\"seq\":1,\"x\":\"q\\\"b\\\\ \\u2028\"}\nline 2\r\n\ttab \u00e9 \u2713 \U0001F600 </script>", t.Run.ID[:8], t.Check.ID)
		t.PublishCorner([]byte(want), "a payload with quotes, line breaks (CR LF and a bare LF), a tab and non-ASCII")
		r := poll(t, cur)
		if len(r.Events) != 1 {
			t.Violation("exactly one event", fmt.Sprintf("%d events", len(r.Events)))
		}
		if got := r.Events[0].Data; got != want {
			t.Violation(fmt.Sprintf("data %q", want), fmt.Sprintf("data %q", got))
		}
	},
})
