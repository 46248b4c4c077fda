package main

// The judgement half of rtconform probe: what the clients' attempts and histories say about
// each transport (refused, buffered, bursts, delivery times), where the browser-like client
// settled, and which proxy the path names. The streams (SSE, WebSocket and the HTTP stream of
// JSON lines, httpstream) are judged alike: buffered when a connection (or its headers) brings
// nothing within the window, "delivers in bursts" when held events arrive together, ok
// otherwise; only the long-poll's answered poll counts as working without an event.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	"github.com/rtconform/rtconform/reference/client"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// probeSeq reads the seq of one of the named client's payloads.
func probeSeq(run, name string) func(string) (int, bool) {
	return func(data string) (int, bool) {
		var p struct {
			Run   string `json:"run"`
			Probe string `json:"probe"`
			Seq   *int   `json:"seq"`
		}
		if json.Unmarshal([]byte(data), &p) != nil || p.Seq == nil || p.Run != run || p.Probe != name {
			return 0, false
		}
		return *p.Seq, true
	}
}

// delivery is what the history of a client says about its events: the delivery time of each
// seq received (first receipt minus publish-invoke) and the bursts.
type delivery struct {
	lat    []time.Duration // sorted
	bursts int
	most   int           // events in the largest burst
	span   time.Duration // how long their publishes took
}

func deliveries(h history.History) delivery {
	invoked := map[int64]time.Duration{}
	var d delivery
	seen := map[int64]bool{}
	var run []int64 // the seqs of the current group of receipts
	var last time.Duration
	closeRun := func() {
		if len(run) >= 3 {
			if span := invoked[run[len(run)-1]] - invoked[run[0]]; span >= 3*publishEvery {
				d.bursts++
				if len(run) > d.most {
					d.most, d.span = len(run), span
				}
			}
		}
		run = run[:0]
	}
	for _, op := range h.Ops {
		switch {
		case op.Kind == history.KindPublishInvoke:
			invoked[op.Seq] = op.T
		case op.Kind != history.KindEvent || op.Seq == history.NoSeq || seen[op.Seq]:
		default:
			seen[op.Seq] = true
			if t, ok := invoked[op.Seq]; ok {
				d.lat = append(d.lat, op.T-t)
			}
			if len(run) > 0 && op.T-last > burstGap {
				closeRun()
			}
			run, last = append(run, op.Seq), op.T
		}
	}
	closeRun()
	slices.Sort(d.lat)
	return d
}

// pct is the q-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, q float64) time.Duration {
	return sorted[max(0, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// statusRE finds the status an attempt was refused with in its detail ("status 502",
// "HTTP/1.1 426 Upgrade Required: …").
var statusRE = regexp.MustCompile(`HTTP/[\d.]+ ([1-5]\d\d)([^":]*)|status ([1-5]\d\d)`)

// short is an attempt's detail with the status and the time only, when it names a status:
// "426 Upgrade Required after 2.1ms".
func short(a client.Attempt) (string, string) {
	m := statusRE.FindStringSubmatch(a.Detail)
	if m == nil {
		return a.Detail, ""
	}
	code := m[1] + m[3]
	return fmt.Sprintf("%s after %s", strings.TrimSpace(code+m[2]), ms(a.Duration)), code
}

// judgeTransport summarises the attempts of the client that followed tr alone, and names the
// problems they show.
func judgeTransport(f *follower, tr fw.Transport, window, bound time.Duration, publish bool) (transportResult, []string) {
	atts := f.c.Attempts()
	res := transportResult{Transport: tr, WindowMS: msf(window), Attempts: attemptsJSON(atts)}
	f.mu.Lock()
	res.PublishFails = f.fails
	f.mu.Unlock()
	d := deliveries(f.rec.History())
	res.Events, res.Bursts = len(d.lat), d.bursts
	var first *client.Attempt  // the first attempt that delivered, or (no publish hook) held up
	var failed *client.Attempt // the first failed attempt
	fails := map[client.Outcome]int{}
	nfails := 0
	for i := range atts {
		a := &atts[i]
		up := a.Outcome == client.OK || a.Outcome == client.Cut
		if !up {
			fails[a.Outcome]++
			nfails++
			failed = cmp.Or(failed, a)
		}
		if first == nil && (a.Events > 0 || up && !publish && a.Connected > 0 && (tr == fw.LongPoll || a.Duration >= window)) {
			first = a
		}
	}
	var main, hint string
	var extra, probs []string
	switch {
	case first != nil && first.Events > 0:
		res.Works = true
		main = "ok"
		if d.bursts > 0 {
			main = "delivers in bursts"
		}
		main += fmt.Sprintf(" — first event after %s", ms(first.Start+first.FirstEvent))
		if len(d.lat) > 0 {
			res.DeliveryP50, res.DeliveryP99 = msf(pct(d.lat, 0.5)), msf(pct(d.lat, 0.99))
			main += fmt.Sprintf(", p50 delivery %s, p99 %s", ms(pct(d.lat, 0.5)), ms(pct(d.lat, 0.99)))
		}
		main += fmt.Sprintf(", %d events", len(d.lat))
	case first != nil:
		res.Works = true
		main = fmt.Sprintf("ok — connected after %s and stayed up (no events to time: no publish hook)", ms(first.Connected))
		if tr == fw.LongPoll {
			main = strings.Replace(main, "connected after", "the first poll answered after", 1)
		}
	case failed != nil && failed.Outcome == client.Buffered && failed.Connected > 0:
		main = fmt.Sprintf("buffered — connected after %s, nothing delivered in %s (no event, no heartbeat)", ms(failed.Connected), ms(window))
	case failed != nil && failed.Outcome == client.Buffered:
		main = fmt.Sprintf("buffered — no response, not even the headers, within %s", ms(window))
	case failed != nil:
		detail, _ := short(*failed)
		main = fmt.Sprintf("%s (%s)", failed.Outcome, detail)
	case len(atts) > 0 && atts[len(atts)-1].Connected > 0:
		// Open the whole bound, nothing delivered and nothing failed: the window is longer
		// than the bound.
		a := atts[len(atts)-1]
		main = fmt.Sprintf("buffered? — connected after %s, nothing delivered in %s (its window, %s, is longer than the probe)",
			ms(a.Connected), ms(bound-a.Start), ms(window))
		fails[client.Buffered]++
		failed = &a
	default:
		main = fmt.Sprintf("no attempt completed within %s", ms(bound))
	}
	res.Outcome = "no-answer"
	switch {
	case res.Works && d.bursts > 0:
		res.Outcome = "bursts"
	case res.Works:
		res.Outcome = string(client.OK)
	case failed != nil:
		res.Outcome = string(failed.Outcome)
	}
	if n := len(atts); n > 1 && nfails > 0 {
		extra = append(extra, fmt.Sprintf("%d of %d attempts failed", nfails, n))
	} else if n > 1 {
		extra = append(extra, fmt.Sprintf("%d connections", n))
	}
	if d.bursts > 0 {
		extra = append(extra, fmt.Sprintf("%d burst(s), the largest %d events published over %s arriving at once", d.bursts, d.most, ms(d.span)))
		hint = "an intermediary buffers the stream"
		probs = appendNew(probs, proxyrun.ProblemBuffering)
	}
	for _, o := range []client.Outcome{client.Refused, client.Buffered, client.Held, client.Silent} {
		if fails[o] == 0 || res.Works && o == client.Refused {
			continue // a working transport refused once is not a problem of the path
		}
		if res.Works {
			extra = append(extra, fmt.Sprintf("%d %s", fails[o], o))
		}
		var p, h string
		_, status := short(*failed)
		switch {
		case o == client.Refused && status == "504":
			p, h = proxyrun.ProblemIdleTimeout, "an intermediary gave up waiting on the server (a held poll, a quiet stream)"
		case o == client.Refused && strings.HasPrefix(status, "5"):
			p, h = proxyrun.ProblemBadGateway, "the path in front of the server does not reach it"
		case o == client.Refused && status == "404":
			h = "no such path: is the profile's path right?"
		case o == client.Refused && tr == fw.WebSocket:
			p, h = proxyrun.ProblemWebSocketUpgrade, "the Upgrade header did not reach the origin?"
		case o == client.Refused:
			h = "is the profile's path right, and does the path in front of the server pass it?"
		case o == client.Buffered:
			p, h = proxyrun.ProblemBuffering, "an intermediary holds the stream"
		default:
			p, h = proxyrun.ProblemIdleTimeout, "an intermediary holds or cuts quiet connections"
		}
		if !res.Works && string(o) == res.Outcome {
			hint = h
		}
		if p != "" {
			probs = appendNew(probs, p)
		}
	}
	res.Line = fmt.Sprintf("%s: %s", tr, strings.Join(append([]string{main}, extra...), ", "))
	if hint != "" {
		res.Line += " — " + hint
	}
	return res, probs
}

// judgeNegotiation says where the client with the browser-like order settled: the first
// attempt that delivered (or, without a publish hook, stayed up for its window).
func judgeNegotiation(f *follower, bound time.Duration, publish bool) negotiationResult {
	atts := f.c.Attempts()
	order := f.c.Order()
	res := negotiationResult{Order: order, Attempts: attemptsJSON(atts)}
	var before []string
	for _, a := range atts {
		works := a.Events > 0 || !publish && a.Connected > 0 && (a.Transport == fw.LongPoll || a.Duration >= f.c.Window(a.Transport))
		if works && a.Outcome != client.Refused {
			res.Settled, res.Fallback = a.Transport, a.Transport != order[0]
			at := a.Start + a.FirstEvent
			if a.Events == 0 {
				at = a.Start + a.Connected
			}
			res.AfterMS = msf(at)
			res.Line = fmt.Sprintf("%s after %s", a.Transport, ms(at))
			if len(before) > 0 {
				res.Line += " (" + strings.Join(before, ", ") + ")"
			}
			if last := atts[len(atts)-1].Transport; last != a.Transport {
				res.Line += fmt.Sprintf("; it was on %s when the probe ended", last)
			}
			return res
		}
		if a.Outcome != client.OK && a.Outcome != client.Cut {
			before = appendNew(before, fmt.Sprintf("%s %s", a.Transport, a.Outcome))
		}
	}
	res.Line = fmt.Sprintf("nothing within %s", ms(bound))
	if len(before) > 0 {
		res.Line += " (" + strings.Join(before, ", ") + ")"
	}
	return res
}

// identify names the proxy of the matrix the path's answers come from (Server or Via), "" when
// none says so.
func identify(run *fw.Run) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, run.PublicURL()+"/", nil)
	if err != nil {
		return ""
	}
	resp, err := run.HTTP.Do(req)
	if err != nil {
		return ""
	}
	_ = resp.Body.Close()
	says := strings.ToLower(resp.Header.Get("Server") + " " + resp.Header.Get("Via"))
	for _, name := range proxyrun.Names() {
		if strings.Contains(says, name) {
			return name
		}
	}
	return ""
}

func attemptsJSON(atts []client.Attempt) []attemptJSON {
	out := make([]attemptJSON, len(atts))
	for i, a := range atts {
		out[i] = attemptJSON{Transport: a.Transport, StartMS: msf(a.Start), ConnectedMS: msf(a.Connected), FirstEventMS: msf(a.FirstEvent),
			Events: a.Events, DurationMS: msf(a.Duration), Outcome: string(a.Outcome), Detail: a.Detail}
	}
	return out
}

func appendNew(s []string, v ...string) []string {
	for _, x := range v {
		if !slices.Contains(s, x) {
			s = append(s, x)
		}
	}
	return s
}

func msf(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(errors.Join(errors.New("probe.json"), err))
	}
	return append(b, '\n')
}
