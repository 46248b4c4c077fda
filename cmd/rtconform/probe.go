package main

// rtconform probe: what a fallback client meets on a real deployment.
//
// Decisions:
//   - No fault is injected: the probe runs the reference client (package reference/client)
//     through the path as it is, once per declared transport (Order [tr], so every failure of
//     that transport shows, not only the first) and once with a browser-like preference order
//     (client.DefaultOrder, then httpstream: see negotiationOrder), which is what settles the
//     exit code. All the clients (up to five) run at the same time on topics of their own, so
//     the whole probe takes one bound (--duration).
//   - The HTTP stream of JSON lines (httpstream) is followed like the other transports when the
//     target declares it (target.httpstream and the capability), and judged as a stream, as
//     SSE is (buffered, delivers in bursts, ok). The negotiation client tries it last, after
//     client.DefaultOrder (which stays the browser's order: the fallback suite depends on it):
//     a browser reaches an NDJSON stream only through fetch, after the transports it knows, and
//     a target that declares only httpstream (the centrifugo-uni-http-stream preset) still
//     settles on it, without counting as a fallback (it is the preferred transport left).
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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// negotiationOrder is the preference order of the negotiation client: the browser's
// (client.DefaultOrder), then the HTTP stream of JSON lines; the client keeps the declared ones.
var negotiationOrder = append(slices.Clone(client.DefaultOrder), fw.HTTPStream)

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	config := fs.String("config", "", "target profile (YAML) describing the endpoints; default ./"+DefaultConfig+" if present, else the reference server's endpoints")
	preset := fs.String("preset", "", presetUsage)
	window := fs.Duration("window", 0, "probe window of streams: how long a connection may deliver nothing at all (default: 2 × the declared heartbeat + 1s)")
	duration := fs.Duration("duration", 0, "how long each client runs (default: 2 × the longest window, 10s to 90s; at most 5m)")
	reportDir := fs.String("report-dir", "", "directory for probe.txt and probe.json (overrides report.dir)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform probe [flags] <url | profile.yaml>\n\n"+
			"Runs the reference client through the path as it is (no faults): once per declared transport, publishing every %s through\n"+
			"the profile's publish hook, and once with a browser's order (websocket, sse, longpoll, then httpstream). Prints what each\n"+
			"transport did, the transport the client settles on and how long that took, and the remedies for what broke.\n"+
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
	if *preset != "" {
		o.Preset = preset
	}
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
	rep := probeReport{Target: base, Profile: profileName(run.Profile), Publish: publish}
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
	neg, err := start(negotiation, negotiationOrder)
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
