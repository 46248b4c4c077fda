package main

// rtconform probe: what a fallback client meets on a real deployment.
//
// Decisions:
//   - No fault is injected: the probe runs the reference client (package reference/client)
//     through the path as it is, once per declared transport (Order [tr], so every failure of
//     that transport shows, not only the first) and once with a browser-like preference order
//     (client.DefaultOrder), which is what settles the exit code. All four clients run at the
//     same time on topics of their own, so the whole probe takes one bound (--duration).
//   - Delivery is timed from the publish request leaving (publish-invoke) to the event
//     arriving: through a path that is also what a user's publish takes, and never negative
//     (a server may deliver before it answers the publish).
//   - Bursts are cheap to see: events published over at least three publish intervals that
//     arrive within a few milliseconds of each other were held and released together.
//   - The remedies are the deployment remedies of the proxy suite (one directive per common
//     intermediary); when the path's answers name a proxy the matrix knows (Server, Via), that
//     proxy's own remedy is added.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	"github.com/rtconform/rtconform/reference/client"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/proxy"
)

const (
	// publishEvery is the probe publisher's interval.
	publishEvery = 250 * time.Millisecond
	// maxProbeDuration bounds --duration.
	maxProbeDuration = 5 * time.Minute
	// burstGap is the largest gap between two receipts of one burst.
	burstGap = 15 * time.Millisecond
	// negotiation is the name of the client with the default order.
	negotiation = "negotiation"
)

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	config := fs.String("config", "", "target profile (YAML) describing the endpoints; default ./"+DefaultConfig+" if present, else the reference server's endpoints")
	window := fs.Duration("window", 0, "probe window of streams: how long a connection may deliver nothing at all (default: 2 × the declared heartbeat + 1s)")
	duration := fs.Duration("duration", 0, "how long each client runs (default: 2 × the longest window, 10s to 90s; at most 5m)")
	reportDir := fs.String("report-dir", "", "directory for probe.txt and probe.json (overrides report.dir)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform probe [flags] <url | profile.yaml>\n\n"+
			"Runs the reference client through the path as it is (no faults): once per declared transport, publishing every %s through\n"+
			"the profile's publish hook, and once with a browser's order (websocket, sse, longpoll). Prints what each transport did,\n"+
			"the transport the client settles on and how long that took, and the remedies for what broke.\n"+
			"A URL is described by ./%s if present, else by the reference server's endpoints (as deploy --target does).\n"+
			"The same output goes to <report dir>/probe.txt, and probe.json holds every attempt and the settled transport.\n"+
			"Exit: 0 the preferred transport works; 1 the client had to fall back; 2 usage, configuration or harness error (nothing reachable).\n\nFlags:\n",
			publishEvery, DefaultConfig)
		fs.PrintDefaults()
	}
	arg, code, stop := parseOneArg(fs, args, stderr)
	if stop {
		return code
	}
	var o fw.Overrides
	if d := *reportDir; d != "" {
		o.ReportDir = &d
	}
	switch {
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		o.Public = &arg // a deployment's public URL, as deploy --target takes it
	case *config != "":
		fmt.Fprintf(stderr, "rtconform probe: give either a profile (%s) or --config, not both\n", arg)
		return exitHarness
	default:
		*config = arg
	}
	if *duration < 0 || *duration > maxProbeDuration || *window < 0 {
		fmt.Fprintf(stderr, "rtconform probe: --duration must be at most %s and --window positive\n", maxProbeDuration)
		return exitHarness
	}
	profile, ok := loadProfile("probe", *config, o, stderr)
	if !ok {
		return exitHarness
	}
	if err := os.MkdirAll(profile.Report.Dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "rtconform probe: report.dir: %v\n", err)
		return exitHarness
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	run, err := fw.Setup(ctx, profile)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "rtconform probe: %v\n", err)
		return exitHarness
	}
	defer run.Teardown()
	var out strings.Builder // (the profile's notes concern the suites' checks: not printed)
	w := io.MultiWriter(stdout, &out)
	rep, err := probe(run, *window, *duration, w)
	if err != nil {
		fmt.Fprintf(stderr, "rtconform probe: %v\n", err)
		return exitHarness
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"probe.txt", []byte(out.String())}, {"probe.json", mustJSON(rep)}} {
		if err := os.WriteFile(filepath.Join(profile.Report.Dir, f.name), f.data, 0o644); err != nil {
			fmt.Fprintf(stderr, "rtconform probe: %v\n", err)
			return exitHarness
		}
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(profile.Report.Dir, "probe.txt"))
	return rep.Exit
}

// parseOneArg parses flags around exactly one positional argument (flags may come before or
// after it); it returns (arg, exit code, true) when the command must stop.
func parseOneArg(fs *flag.FlagSet, args []string, stderr io.Writer) (string, int, bool) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", exitOK, true
			}
			return "", exitHarness, true
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "rtconform probe: want one URL or profile, got %d arguments\n\n", len(pos))
		fs.Usage()
		return "", exitHarness, true
	}
	return pos[0], 0, false
}

// probeReport is probe.json.
type probeReport struct {
	Target     string            `json:"target"`
	Profile    string            `json:"profile"`
	DurationMS float64           `json:"duration_ms"`
	Publish    bool              `json:"publish"`
	Transports []transportResult `json:"transports"`
	// Negotiation is the client with the browser-like order.
	Negotiation negotiationResult `json:"negotiation"`
	Problems    []problemRemedy   `json:"problems"`
	Exit        int               `json:"exit"`
}

type transportResult struct {
	Transport    fw.Transport  `json:"transport"`
	Works        bool          `json:"works"`
	Outcome      string        `json:"outcome"`
	Line         string        `json:"line"`
	WindowMS     float64       `json:"window_ms"`
	Events       int           `json:"events"`
	DeliveryP50  float64       `json:"delivery_p50_ms,omitempty"`
	DeliveryP99  float64       `json:"delivery_p99_ms,omitempty"`
	Bursts       int           `json:"bursts"`
	Attempts     []attemptJSON `json:"attempts"`
	PublishFails int           `json:"publish_fails"`
}

type negotiationResult struct {
	Order    []fw.Transport `json:"order"`
	Settled  fw.Transport   `json:"settled"` // "" when it never settled
	AfterMS  float64        `json:"after_ms"`
	Fallback bool           `json:"fallback"`
	Line     string         `json:"line"`
	Attempts []attemptJSON  `json:"attempts"`
}

type attemptJSON struct {
	Transport    fw.Transport `json:"transport"`
	StartMS      float64      `json:"start_ms"`
	ConnectedMS  float64      `json:"connected_ms"`
	FirstEventMS float64      `json:"first_event_ms"`
	Events       int          `json:"events"`
	DurationMS   float64      `json:"duration_ms"`
	Outcome      string       `json:"outcome"`
	Detail       string       `json:"detail,omitempty"`
}

type problemRemedy struct {
	Problem string `json:"problem"`
	Remedy  string `json:"remedy"`
}

// follower is one client of the probe with its publisher and history.
type follower struct {
	name        string
	c           *client.Client
	rec         *history.Recorder
	mu          sync.Mutex
	sent, fails int   // publishes answered, failed
	err         error // the first publish error
}

// probe runs the clients for the bound and prints and returns what they saw.
func probe(run *fw.Run, window, bound time.Duration, w io.Writer) (probeReport, error) {
	tg := &run.Profile.Target
	base := run.PublicURL()
	publish := tg.Has(fw.CapPublish) && tg.Publish != nil
	rep := probeReport{Target: base, Profile: orDefault(run.Profile.Source), Publish: publish}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(name string, order []fw.Transport) (*follower, error) {
		f := &follower{name: name, rec: history.NewRecorder(0, map[string]string{"client": name, "url": base}, history.SafetyRules())}
		topic := "rtc-probe-" + name + "-" + run.ID[:8]
		c, err := client.Start(ctx, client.Options{Base: base, Topic: topic, Target: tg, Order: order, Name: name, Rec: f.rec,
			Seq: probeSeq(run.ID[:8], name), Window: window, Delay: time.Second})
		if err != nil {
			return nil, err
		}
		f.c = c
		if publish {
			go f.publish(ctx, run, topic)
		}
		return f, nil
	}
	neg, err := start(negotiation, client.DefaultOrder)
	if err != nil {
		return rep, err
	}
	fols := []*follower{neg}
	for _, tr := range neg.c.Order() {
		f, err := start(string(tr), []fw.Transport{tr})
		if err != nil {
			return rep, err
		}
		fols = append(fols, f)
	}
	if bound == 0 {
		for _, tr := range neg.c.Order() {
			bound = max(bound, 2*neg.c.Window(tr))
		}
		bound = min(max(bound, 10*time.Second), 90*time.Second)
	}
	rep.DurationMS = msf(bound)
	how := "publishing every " + publishEvery.String() + " through the publish hook"
	if !publish {
		how = "no publish hook: only connection checks"
	}
	fmt.Fprintf(w, "rtconform probe: %s (profile %s), %s per client, %s\n", base, rep.Profile, bound, how)
	time.Sleep(bound)
	cancel()
	for _, f := range fols {
		f.c.Stop()
	}

	var problems []string
	reached, publishes, pubFails := false, 0, 0
	var pubErr error
	for _, f := range fols[1:] {
		tr := fw.Transport(f.name)
		res, probs := judgeTransport(f, tr, neg.c.Window(tr), bound, publish)
		fmt.Fprintf(w, "%s\n", res.Line)
		rep.Transports = append(rep.Transports, res)
		problems = appendNew(problems, probs...)
		for _, a := range f.c.Attempts() { // an answer, a 404 aside (a wrong path), is the path reached
			_, status := short(a)
			reached = reached || a.Connected > 0 || a.Events > 0 || status != "" && status != "404"
		}
	}
	for _, f := range fols {
		f.mu.Lock()
		publishes, pubFails = publishes+f.sent, pubFails+f.fails
		if pubErr == nil {
			pubErr = f.err
		}
		f.mu.Unlock()
	}
	rep.Negotiation = judgeNegotiation(neg, bound, publish)
	fmt.Fprintf(w, "settles on: %s\n", rep.Negotiation.Line)
	server := identify(run)
	for _, p := range problems {
		r := problemRemedy{Problem: p, Remedy: proxy.DeploymentRemedy(p)}
		fmt.Fprintf(w, "remedy (%s): %s\n", p, r.Remedy)
		if server != "" {
			if own := proxyrun.Remedy(server, p); !strings.Contains(own, "no known remedy") {
				r.Remedy += "\n" + server + ": " + own
				fmt.Fprintf(w, "  the path answers as %s: %s\n", server, own)
			}
		}
		rep.Problems = append(rep.Problems, r)
	}
	switch {
	case !reached:
		fmt.Fprintf(w, "nothing reachable: no transport of %s was answered but with 404, if at all (check the URL and the profile's paths)\n", base)
		rep.Exit = exitHarness
	case publish && pubFails > 0 && pubFails == publishes:
		fmt.Fprintf(w, "publish hook: all %d publishes failed (%v); delivery was not measured\n", pubFails, pubErr)
		rep.Exit = exitHarness
	case rep.Negotiation.Settled == "" || rep.Negotiation.Fallback:
		rep.Exit = exitFail
	}
	if publish && pubFails > 0 && rep.Exit != exitHarness {
		fmt.Fprintf(w, "note: %d of %d publishes failed (first: %v)\n", pubFails, publishes, pubErr)
	}
	fmt.Fprintf(w, "exit %d: %s\n", rep.Exit, map[int]string{exitOK: "the preferred transport works", exitFail: "the client had to fall back",
		exitHarness: "harness error"}[rep.Exit])
	return rep, nil
}

// publish publishes a numbered payload every publishEvery until ctx ends.
func (f *follower) publish(ctx context.Context, run *fw.Run, topic string) {
	t := time.NewTicker(publishEvery)
	defer t.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.rec.PublishInvoke("probe", topic, int64(seq))
		payload := fmt.Appendf(nil, `{"run":%q,"probe":%q,"seq":%d}`, run.ID[:8], f.name, seq)
		err := run.Publish(ctx, topic, payload)
		if err != nil && ctx.Err() != nil {
			return // cut short by the end of the probe: no outcome
		}
		f.mu.Lock()
		f.sent++
		if err == nil {
			f.rec.PublishOK("probe", topic, int64(seq))
		} else {
			f.rec.PublishFail("probe", topic, int64(seq), err)
			f.fails++
			f.err = cmp.Or(f.err, err)
		}
		f.mu.Unlock()
	}
}

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
