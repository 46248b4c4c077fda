package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// added is how a path delivered a set of publishes, compared with the origin when known.
type added struct {
	via, direct delivery
	// diff is, per event both received, the delay through the path minus the origin's.
	diff latency
	// compared: the origin was measured at the same time (diff is meaningful).
	compared bool
}

// originOK ends the check with a harness error when the origin itself delivered late or not
// at all: the path cannot be judged against it.
func (e *env) originOK(d delivery) {
	if d.held() {
		e.t.Harness("the origin itself delivered late or not at all (%s): the proxy cannot be judged", d)
	}
}

// budget is the declared per-event latency the path may add (deploy.latency, --latency);
// without one the budget checks are NOT_SUPPORTED (PX-SSE-003 keeps its SHOULD of 100 ms).
func budget(t *fw.T) time.Duration {
	d := t.Run.Profile.Deploy.Latency.D()
	if d <= 0 {
		t.NotSupported("no latency budget declared: --latency or deploy.latency")
	}
	return d
}

// judgeBudget compares the median latency the path added (with the origin), or the median
// publish-to-delivery time through it (without), with the declared budget.
func (e *env) judgeBudget(b time.Duration, a added) {
	t := e.t
	med, what := a.via.lat.median(), "publish to delivery through the path (median; no origin to compare: absolute)"
	if a.compared {
		med, what = a.diff.median(), "added by the path (median, compared with the origin)"
	}
	t.Measure("budget", "%s (--latency / deploy.latency)", ms(b))
	t.Measure("latency", "%s %s", ms(med), what)
	if len(a.via.missing) > 0 {
		e.fail(fmt.Sprintf("every event through the path within the budget %s", ms(b)),
			fmt.Sprintf("%s (held: see the buffering checks)", a.via), proxyrun.ProblemBuffering)
	}
	if med > b {
		problem := proxyrun.ProblemWriteDelay
		if a.via.lat.max() > late {
			problem = proxyrun.ProblemBuffering
		}
		e.fail(fmt.Sprintf("at most %s per event (the declared latency budget)", ms(b)),
			fmt.Sprintf("%s %s; through the path %s", ms(med), what, a.via.lat), problem)
	}
	t.Measure("within budget", "%s ≤ %s", ms(med), ms(b))
}

const budgetQuote = "HAProxy without option http-no-delay delays every SSE write (the first byte included) by about 200 ms."

const budgetSpec = "operational: the deployment's declared latency budget (deploy.latency, --latency); HAProxy option http-no-delay, measured with Debian 12's HAProxy 2.6 (shared/notes/proxy-facts.md)"

var budgetProblems = []string{proxyrun.ProblemWriteDelay, proxyrun.ProblemBuffering}

var _ = register(check{
	id: "PX-SSE-010", serial: true, level: fw.MUST, transport: fw.SSE, requires: ssePublish,
	requirement: "The path adds at most the declared latency budget (deploy.latency, --latency) to an event stream's events (median over 5 events, compared with the origin when it is given, else publish to delivery).",
	quote:       budgetQuote, spec: budgetSpec, problems: budgetProblems,
	run: runBudget,
})

// runBudget is PX-SSE-010 for the check's stream transport (SSE or an HTTP stream).
func runBudget(e *env) {
	b := budget(e.t)
	e.judgeBudget(b, e.streamAdded(late+b))
}

var _ = register(check{
	id: "PX-WS-006", serial: true, level: fw.MUST, transport: fw.WebSocket, requires: wsPublish,
	requirement: "The path adds at most the declared latency budget (deploy.latency, --latency) to a WebSocket's events (median over 5 events, compared with the origin when it is given, else publish to delivery).",
	quote:       budgetQuote, spec: budgetSpec, problems: budgetProblems,
	run: func(e *env) {
		t := e.t
		b := budget(t)
		w := e.readWS(first(e.dialWS(e.base, "", "")))
		var d *wsTap
		if e.direct != "" {
			d = e.readWS(first(e.dialWS(e.direct, "", "")))
		}
		time.Sleep(300 * time.Millisecond) // let the subscriptions reach the origin
		pubs := publishSpaced(t, []int{1, 2, 3, 4, 5}, 200*time.Millisecond, 0)
		last := pubs[len(pubs)-1].at
		w.waitSeqs(seqsOf(pubs), last.Add(late+b))
		a := added{via: w.delivery(pubs)}
		t.Measure("latency via proxy", "%s", a.via)
		if d != nil {
			d.waitSeqs(seqsOf(pubs), last.Add(late))
			a.direct, a.compared = d.delivery(pubs), true
			t.Measure("latency direct", "%s", a.direct)
			e.originOK(a.direct)
			for _, p := range pubs {
				if via, ok := w.arrival(p.seq); ok {
					dir, _ := d.arrival(p.seq)
					a.diff = append(a.diff, via.Sub(dir))
				}
			}
		}
		e.judgeBudget(b, a)
	},
})

var _ = register(check{
	id: "PX-LP-004", serial: true, level: fw.MUST, transport: fw.LongPoll, requires: lpPublish, timeout: 2 * time.Minute,
	requirement: "The path adds at most the declared latency budget (deploy.latency, --latency) to the answer of a held long-poll (median over 3 events, compared with the origin when it is given, else publish to answer).",
	quote:       budgetQuote, spec: budgetSpec, problems: budgetProblems,
	run: func(e *env) {
		t := e.t
		b := budget(t)
		c := e.bootstrap()
		bound := hold(t) + e.window()
		var a added
		for seq := 1; seq <= 3; seq++ {
			via := e.pollAsync("via proxy", e.base, c, bound)
			var dir *pendingPoll
			if e.direct != "" {
				dir = e.pollAsync("direct", e.direct, c, bound)
			}
			time.Sleep(300 * time.Millisecond)
			pub := publishSpaced(t, []int{seq}, 0, 0)[0]
			answered := func(p *pendingPoll) (time.Time, bool) {
				p.wait()
				ok := p.err == nil && p.resp.Status == http.StatusOK && slices.Contains(seqsIn(t, p.resp), seq)
				if !ok {
					return time.Time{}, false
				}
				return p.resp.Done, true
			}
			at, ok := answered(via)
			if dir != nil {
				dat, dok := answered(dir)
				if !dok {
					t.Harness("the origin's own held poll was not answered with event %d: %s", seq, dir)
				}
				a.direct.lat = append(a.direct.lat, dat.Sub(pub.at))
				a.compared = true
				if ok {
					a.diff = append(a.diff, at.Sub(dat))
				}
			}
			if !ok {
				// Not answered with the event through the path: judged below, no more rounds.
				a.via.missing = append(a.via.missing, seq)
				t.Measure(fmt.Sprintf("poll %d via proxy", seq), "%s", via)
				break
			}
			a.via.lat = append(a.via.lat, at.Sub(pub.at))
			c = via.resp.Cursor
		}
		t.Measure("latency via proxy", "%s", a.via)
		if a.compared {
			t.Measure("latency direct", "%s", a.direct)
		}
		e.judgeBudget(b, a)
	},
})

// first drops the handshake and its duration from dialWS's results.
func first[A, B, C any](a A, _ B, _ C) A { return a }

// arrival is when the event with seq arrived (false when it did not).
func (w *wsTap) arrival(seq int) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range w.events {
		if ev.seq == seq {
			return ev.at, true
		}
	}
	return time.Time{}, false
}
