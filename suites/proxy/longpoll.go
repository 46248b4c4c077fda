package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

var (
	lpCaps    = []fw.Capability{fw.CapLongPoll}
	lpPublish = []fw.Capability{fw.CapLongPoll, fw.CapPublish}
)

func hold(t *fw.T) time.Duration { return t.Target().LongPoll.Timeout.D() }

func shape(t *fw.T) pollclient.Shape {
	lp := t.Target().LongPoll
	return pollclient.Shape{CursorParam: lp.Cursor.Query, Events: lp.Events, Next: lp.Next,
		ID: t.Target().Envelope.ID, Data: t.Target().Envelope.Data}
}

// pendingPoll is a poll running in the background.
type pendingPoll struct {
	label string
	sent  time.Time
	done  chan struct{}
	resp  *pollclient.Response
	err   error
}

// pollAsync starts one poll of the check's topic on base, bounded by d.
func (e *env) pollAsync(label, base, cursor string, d time.Duration) *pendingPoll {
	t := e.t
	p := &pendingPoll{label: label, sent: time.Now(), done: make(chan struct{})}
	ctx, cancel := t.Within(d)
	u := base + fw.Path(t.Target().LongPoll.Path, t.Topic())
	go func() {
		defer close(p.done)
		defer cancel()
		p.resp, p.err = pollclient.Poll(ctx, e.client(), u, cursor, shape(t))
	}()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func (p *pendingPoll) wait() *pendingPoll { <-p.done; return p }

// elapsed is how long the poll took (to its failure, for an error).
func (p *pendingPoll) elapsed() time.Duration {
	if p.resp != nil {
		return p.resp.Elapsed()
	}
	return time.Since(p.sent)
}

// String renders the outcome: "200 after 6.00 s, 1 event" or the error.
func (p *pendingPoll) String() string {
	if p.err != nil {
		if ctxErr(p.err) {
			return fmt.Sprintf("no answer within %s", ms(p.elapsed()))
		}
		return fmt.Sprintf("failed after %s: %v", ms(p.elapsed()), p.err)
	}
	s := fmt.Sprintf("%d after %s", p.resp.Status, ms(p.elapsed()))
	if p.resp.Status == http.StatusOK {
		s += fmt.Sprintf(", %d events", len(p.resp.Events))
	} else {
		s += fmt.Sprintf(" %.60q", strings.TrimSpace(string(p.resp.Body)))
	}
	return s
}

func ctxErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded)
}

// poll runs one poll on base and waits for it; a poll through the proxy that does not come
// back 200 is a violation, one directly from the origin a harness error.
func (e *env) poll(label, base, cursor string) *pollclient.Response {
	p := e.pollAsync(label, base, cursor, hold(e.t)+e.window()).wait()
	if p.err != nil || p.resp.Status != http.StatusOK || p.resp.DecodeErr != nil {
		obs := p.String()
		if p.err == nil && p.resp.DecodeErr != nil {
			obs += fmt.Sprintf(" (body: %v)", p.resp.DecodeErr)
		}
		if base != e.base {
			e.t.Harness("the origin's poll (%s) failed: %s", label, obs)
		}
		status := 0
		if p.resp != nil {
			status = p.resp.Status
		}
		problem := statusProblem(status)
		if why, ok := e.cursorLost(p, cursor); ok {
			obs += "; " + why
			problem = problemResumeHeader
		}
		e.fail("a 200 poll answer ("+label+")", obs, problem)
	}
	return p.resp
}

// cursorLost tells a poll through the proxy that was held and then cut (a gateway timeout,
// or no answer at all) because its cursor did not reach the origin from one the proxy cut
// for its own idle limit: the origin, asked directly with the same cursor, answers at once
// with events, so it would not have held the poll. A CDN that forwards no query string
// (CloudFront by default) turns a poll from a cursor into a cursor-less poll, which the
// origin holds until the next event. It needs the origin's own URL.
func (e *env) cursorLost(p *pendingPoll, cursor string) (string, bool) {
	held := p.elapsed() > late && (p.err != nil || p.resp.Status == http.StatusGatewayTimeout ||
		p.resp.Status == http.StatusBadGateway || p.resp.Status == http.StatusServiceUnavailable || p.resp.Status >= 520)
	if !held || cursor == "" || e.direct == "" {
		return "", false
	}
	d := e.pollAsync("origin, same cursor", e.direct, cursor, late).wait()
	if d.err != nil || d.resp.Status != http.StatusOK || len(d.resp.Events) == 0 || d.elapsed() > late {
		return "", false
	}
	e.t.Measure("origin, same cursor", "%s", d)
	return fmt.Sprintf("the origin answers the same cursor at once (%s): the cursor did not reach it, and it held a poll without one", d), true
}

// origin is where a check learns cursors: the origin when known, else base.
func (e *env) origin() string {
	if e.direct != "" {
		return e.direct
	}
	return e.base
}

// bootstrap obtains a cursor at the head of the topic the way a client does: a poll without
// a cursor, completed by a publish of seq 0. It returns the cursor after event 0.
func (e *env) bootstrap() string {
	t := e.t
	p := e.pollAsync("bootstrap", e.origin(), "", hold(t)+e.window())
	time.Sleep(300 * time.Millisecond)
	t.Publish(t.Payload(0))
	p.wait()
	if p.err != nil || p.resp.Status != http.StatusOK {
		t.Harness("a cursor-less poll of %s completed by a publish: %s", e.origin(), p.String())
	}
	if len(p.resp.Events) > 0 {
		return p.resp.Cursor
	}
	// Answered before the publish: the next poll from its cursor returns event 0.
	return e.poll("bootstrap", e.origin(), p.resp.Cursor).Cursor
}

func seqsIn(t *fw.T, r *pollclient.Response) []int {
	var out []int
	for _, ev := range r.Events {
		if s, ok := t.Seq(ev.Data); ok {
			out = append(out, s)
		} else {
			out = append(out, -1)
		}
	}
	return out
}

// "A 3 s proxy_read_timeout (nginx) or timeout server/client (HAProxy) ... answers a held
// long-poll with 504" (shared/notes/proxy-facts.md, measured); Varnish answers 503 at
// first_byte_timeout and Apache 502 at ProxyTimeout.
var _ = register(check{
	id: "PX-LP-001", level: fw.MUST, transport: fw.LongPoll, requires: lpCaps, timeout: 3 * time.Minute,
	requirement: "An empty long-poll through the proxy is held for the declared longpoll.timeout and answered 200 by the origin, for each of two identical concurrent polls (no 502/503/504 cut, no request coalescing).",
	quote:       "timeout ... only between two successive read operations ... If the proxied server does not transmit anything within this time, the connection is closed.",
	spec:        "operational: nginx proxy_read_timeout, HAProxy timeout server, Varnish first_byte_timeout and waiting list, Apache ProxyTimeout (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemIdleTimeout, proxyrun.ProblemCoalescing, proxyrun.ProblemCaching},
	run: func(e *env) {
		t := e.t
		h := hold(t)
		bound := 2*h + e.window()
		t.Measure("declared hold", "%s", ms(h))
		var l limit
		if e.inst == nil {
			l = e.idleLimit(nil)
			limitMeasure(t, l)
			if h >= t.Run.MaxIdleWait() {
				// The hold is longer than the run may wait: judge the declared hold.
				t.Measure("mode", "the declared hold is not waited out (--max-idle-wait %s)", ms(t.Run.MaxIdleWait()))
				if l.d > 0 && h >= l.d {
					e.fail(fmt.Sprintf("a long-poll hold shorter than the idle limit %s", l),
						fmt.Sprintf("the declared hold %s: the path answers the held poll with 502/503/504 at %s", ms(h), ms(l.d)))
				}
				t.Measure("margin", "declared %s (not observed through the path)", margin("hold", h, l))
				return
			}
		}
		run := func(cursor string) (ps []*pendingPoll, d *pendingPoll) {
			ps = []*pendingPoll{e.pollAsync("client 1", e.base, cursor, bound), e.pollAsync("client 2", e.base, cursor, bound)}
			if e.direct != "" {
				d = e.pollAsync("direct", e.direct, cursor, bound)
			}
			for _, p := range append(ps, d) {
				if p != nil {
					p.wait()
				}
			}
			return ps, d
		}
		ps, d := run("")
		ref := d
		if ref == nil {
			ref = ps[0]
		}
		if ref.err == nil && ref.resp.Status == http.StatusOK && len(ref.resp.Events) == 0 && ref.resp.Cursor != "" && ref.elapsed() < h/2 {
			// This target answers a cursor-less poll at once with the head: hold from there.
			ps, d = run(ref.resp.Cursor)
		}
		if d != nil {
			t.Measure("direct", "%s", d)
			if d.err != nil || d.resp.Status != http.StatusOK {
				t.Harness("the origin's own empty poll failed: %s", d)
			}
		} else {
			t.Measure("comparison", "no proxies.direct: absolute bound only")
		}
		var cut, slow, early []string
		for _, p := range ps {
			t.Measure(p.label, "%s", p)
			switch {
			case p.err != nil || p.resp.Status != http.StatusOK:
				cut = append(cut, p.label+": "+p.String())
			case len(p.resp.Events) == 0 && p.elapsed() < h/2 && (d == nil || d.elapsed() >= h/2):
				early = append(early, fmt.Sprintf("%s: %s, not held although the origin holds %s (a stored answer)", p.label, p, ms(h)))
			case p.elapsed() > h+h/2+time.Second:
				slow = append(slow, fmt.Sprintf("%s: %s, held %s beyond the declared %s (it waited behind the other: request coalescing)", p.label, p, ms(p.elapsed()-h), ms(h)))
			}
		}
		switch {
		case len(cut) > 0:
			problems := []string{proxyrun.ProblemIdleTimeout}
			if len(slow) > 0 {
				problems = append(problems, proxyrun.ProblemCoalescing)
			}
			e.fail(fmt.Sprintf("200 after the origin's hold (%s)", ms(h)), strings.Join(append(cut, slow...), "; "), problems...)
		case len(slow) > 0:
			e.fail(fmt.Sprintf("both polls answered after about %s", ms(h)), strings.Join(slow, "; "), proxyrun.ProblemCoalescing)
		case len(early) > 0:
			e.fail(fmt.Sprintf("both polls held for about %s", ms(h)), strings.Join(early, "; "), proxyrun.ProblemCaching)
		}
		if e.inst == nil && l.d > 0 {
			held := max(ps[0].elapsed(), ps[1].elapsed())
			if held >= l.d {
				t.Measure("margin", "held %s through the path, beyond the assumed limit %s: the path's limit is higher (declare it with --idle)", ms(held), ms(l.d))
			} else {
				t.Measure("margin", "%s", margin("hold", held, l))
			}
		}
	},
})

// "`proxy_cache` with `proxy_ignore_headers Cache-Control` on a poll URL replays stale
// batches for the same cursor" (shared/notes/proxy-facts.md, measured); Varnish caches a GET
// without Cache-Control for default_ttl.
var _ = register(check{
	id: "PX-LP-002", level: fw.MUST, transport: fw.LongPoll, requires: lpPublish,
	requirement: "Through the proxy, polls with different cursors get different events, and a repeated poll with the same cursor gets the events published since (no poll answer is served from a cache).",
	quote:       "proxy_cache with proxy_ignore_headers Cache-Control on a poll URL replays stale batches for the same cursor.",
	spec:        "RFC 9111 §5.2.2.5 (no-store); operational: nginx proxy_cache, varnish-cache builtin.vcl default_ttl (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCaching, problemResumeHeader},
	run: func(e *env) {
		t := e.t
		c0 := e.bootstrap()
		t.Publish(t.Payload(1))
		first := e.poll("origin from the bootstrap cursor", e.origin(), c0)
		if !slices.Contains(seqsIn(t, first), 1) {
			t.Harness("the origin's poll after event 0 did not return event 1: %v", seqsIn(t, first))
		}
		c1 := first.Cursor
		t.Publish(t.Payload(2))
		t.Publish(t.Payload(3))
		a := seqsIn(t, e.poll("poll from cursor 0", e.base, c0))
		b := seqsIn(t, e.poll("poll from cursor 1", e.base, c1))
		t.Publish(t.Payload(4))
		c := seqsIn(t, e.poll("repeated poll from cursor 1", e.base, c1))
		t.Measure("from cursor 0", "%v", a)
		t.Measure("from cursor 1", "%v", b)
		t.Measure("from cursor 1 again, after event 4", "%v", c)
		switch {
		case len(a) == 0 || a[0] != 1:
			e.fail("events from 1 for the poll from cursor 0", fmt.Sprintf("%v", a), proxyrun.ProblemCaching, problemResumeHeader)
		case slices.Equal(a, b):
			e.fail("events from 2 for the poll from cursor 1", fmt.Sprintf("%v, the answer to cursor 0: served from a cache", b))
		case len(b) == 0 || b[0] != 2:
			e.fail("events from 2 for the poll from cursor 1", fmt.Sprintf("%v", b), proxyrun.ProblemCaching, problemResumeHeader)
		case slices.Equal(b, []int{2, 3}) && !slices.Contains(c, 4):
			e.fail("event 4 in the repeated poll from cursor 1", fmt.Sprintf("%v, the earlier answer: served from a cache", c))
		}
	},
})

// A held poll is answered the moment an event is published; a proxy that holds or
// serialises it adds latency (Varnish's waiting list, shared/notes/proxy-facts.md).
var _ = register(check{
	id: "PX-LP-003", level: fw.MUST, transport: fw.LongPoll, requires: lpPublish, timeout: 2 * time.Minute,
	requirement: "Two identical polls held through the proxy are both answered with an event within 1 s of its publish, as a poll held directly by the origin is.",
	quote:       "request coalescing (the waiting list) and caching apply to SSE too",
	spec:        "operational: varnish-cache waiting list; long-poll delivery (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCoalescing, proxyrun.ProblemBuffering},
	run: func(e *env) {
		t := e.t
		c := e.bootstrap()
		bound := hold(t) + e.window()
		ps := []*pendingPoll{e.pollAsync("client 1", e.base, c, bound), e.pollAsync("client 2", e.base, c, bound)}
		var d *pendingPoll
		if e.direct != "" {
			d = e.pollAsync("direct", e.direct, c, bound)
		}
		time.Sleep(300 * time.Millisecond)
		pub := publishSpaced(t, []int{1}, 0, 0)[0]
		lat := func(p *pendingPoll) (time.Duration, bool) {
			p.wait()
			if p.err != nil || p.resp.Status != http.StatusOK || !slices.Contains(seqsIn(t, p.resp), 1) {
				return 0, false
			}
			return p.resp.Done.Sub(pub.at), true
		}
		if d != nil {
			l, ok := lat(d)
			if !ok || l > late {
				t.Harness("the origin's own held poll was not answered with the event within %s: %s", ms(late), d)
			}
			t.Measure("latency direct", "%s", ms(l))
		} else {
			t.Measure("comparison", "no proxies.direct: absolute bound only")
		}
		var bad []string
		for _, p := range ps {
			l, ok := lat(p)
			if ok {
				t.Measure(p.label, "%s", ms(l))
			} else {
				t.Measure(p.label, "%s", p)
			}
			if !ok || l > late {
				bad = append(bad, fmt.Sprintf("%s: %s (event 1 after %s)", p.label, p, ms(l)))
			}
		}
		if len(bad) > 0 {
			problems := []string{proxyrun.ProblemCoalescing}
			for _, p := range ps {
				if p.resp != nil && p.resp.Status >= 500 {
					problems = []string{statusProblem(p.resp.Status)}
				}
			}
			e.fail("both polls answered with event 1 within "+ms(late), strings.Join(bad, "; "), problems...)
		}
	},
})
