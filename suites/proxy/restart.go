package proxy

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// "if res's status is not 200 ... then fail the connection" (WHATWG HTML §9.2.3): a proxy
// that answers a reconnect with 502 or 504 ends a native EventSource for good
// (Yaffle/EventSource#88, #24).
var _ = register(check{
	id: "PX-SSE-009", level: fw.MUST, transport: fw.SSE, requires: sseRestart,
	requirement: "Once a restarted origin is back, a new event stream through the proxy is answered 200 within 3 s and never 5xx after a 1 s grace (a 5xx fails an EventSource for good).",
	quote:       "if res's status is not 200, or if res's Content-Type is not text/event-stream, then fail the connection",
	spec:        "WHATWG HTML §9.2.3; Yaffle/EventSource#88, #24 (shared/notes/sse-rules.md, proxy-facts.md)",
	problems:    []string{proxyrun.ProblemBadGateway},
	run:         restartCheck,
})

// attempt is one connection attempt: its outcome ("200", "502", "held", an error) and when.
type attempt struct {
	at      time.Time
	outcome string
	status  int
}

// tryStream opens the SSE URL of base and reports the status, "held" when no headers came
// within wait (a buffering proxy holding an accepted stream), or the error.
func (e *env) tryStream(base string, wait time.Duration) attempt {
	ctx, cancel := e.t.Within(wait)
	defer cancel()
	a := attempt{at: time.Now()}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+fw.Path(e.t.Target().SSE.Path, e.t.Topic()), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.t.HTTP().Do(req)
	switch {
	case err != nil && ctx.Err() != nil:
		a.outcome = "held"
	case err != nil:
		a.outcome = "error: " + err.Error()
	default:
		a.status = resp.StatusCode
		a.outcome = fmt.Sprint(resp.StatusCode)
		resp.Body.Close()
	}
	return a
}

func restartCheck(e *env) {
	t := e.t
	old := e.openTap("open stream", e.base, nil)
	old.waitReady(time.Now().Add(settleWait))
	// Probe through the proxy while the origin restarts: four clients back to back, so the
	// moment the origin is down (milliseconds for the in-process reference) is hit.
	stop := make(chan struct{})
	probed := make(chan []attempt, 4)
	for i := 0; i < 4; i++ {
		go func() {
			var out []attempt
			defer func() { probed <- out }()
			for len(out) < 500 {
				select {
				case <-stop:
					return
				default:
				}
				out = append(out, e.tryStream(e.base, 300*time.Millisecond))
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	began := time.Now()
	t.Restart()
	back := time.Now()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	var during []attempt
	for i := 0; i < 4; i++ {
		during = append(during, <-probed...)
	}
	sort.Slice(during, func(i, j int) bool { return during[i].at.Before(during[j].at) })
	t.Measure("restart took", "%s", ms(back.Sub(began)))
	t.Measure("answers while restarting", "%s", summarize(during, began))
	t.Measure("open stream", "%s", old.snap().describeEnd())
	// The restart hook returns once the target's url accepts connections; behind a
	// deployment's proxy that says nothing about the origin, so wait for the origin itself.
	bound, grace := 3*time.Second, time.Second
	if e.direct != "" {
		deadline := time.Now().Add(60 * time.Second)
		for {
			a := e.tryStream(e.direct, 2*time.Second)
			if a.status == http.StatusOK || a.outcome == "held" {
				break
			}
			if time.Now().After(deadline) {
				t.Harness("the origin itself is not back 60 s after the restart: %s", a.outcome)
			}
			time.Sleep(200 * time.Millisecond)
		}
		back = time.Now()
	} else if e.inst == nil {
		bound, grace = 30*time.Second, 30*time.Second
		t.Measure("comparison", "no proxies.direct: the origin's return is unknown, so only a 200 within 30 s is required")
	}
	// Reconnect through the proxy as an EventSource would, every 250 ms.
	var after []attempt
	ok := time.Time{}
	for time.Since(back) < bound {
		a := e.tryStream(e.base, time.Second)
		after = append(after, a)
		if ok.IsZero() && (a.status == http.StatusOK || a.outcome == "held") {
			ok = a.at
		}
		if !ok.IsZero() && time.Since(back) > min(grace+500*time.Millisecond, bound) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Measure("answers after the restart", "%s", summarize(after, back))
	var bad []string
	for _, a := range after {
		if a.status >= 500 && a.at.Sub(back) >= grace {
			bad = append(bad, fmt.Sprintf("%s at +%s", a.outcome, ms(a.at.Sub(back))))
		}
	}
	switch {
	case ok.IsZero():
		e.fail(fmt.Sprintf("200 within %s of the origin's return", ms(bound)), summarize(after, back))
	case len(bad) > 0:
		e.fail(fmt.Sprintf("no 5xx more than %s after the origin's return", ms(grace)), strings.Join(bad, ", "))
	}
	t.Measure("first 200 after the restart", "+%s", ms(ok.Sub(back)))
}

// summarize renders attempts as "502 ×3 (+0 ms…+150 ms), 200 (+400 ms)".
func summarize(as []attempt, from time.Time) string {
	if len(as) == 0 {
		return "none"
	}
	var parts []string
	for i := 0; i < len(as); {
		j := i
		for j+1 < len(as) && as[j+1].outcome == as[i].outcome {
			j++
		}
		p := as[i].outcome
		if j > i {
			p += fmt.Sprintf(" ×%d (%s…%s)", j-i+1, rel(as[i].at, from), rel(as[j].at, from))
		} else {
			p += fmt.Sprintf(" (%s)", rel(as[i].at, from))
		}
		parts = append(parts, p)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func rel(at, from time.Time) string {
	d := at.Sub(from)
	if d < 0 {
		return "-" + ms(-d)
	}
	return "+" + ms(d)
}
