// Package loadgen is rtconform load: N subscribers (SSE, WebSocket, long-poll, HTTP stream, or a
// mix) on M topics against any profile's target, one publisher per topic at a fixed rate, for a
// fixed duration. Every received event goes through the history checker (loss, duplicates,
// order: history.SafetyRules), and the publish→receive latency of every event is recorded.
//
// The subscribers are the chaos suites' reconnecting clients (package subscriber). Each records
// into a recorder of its own that keeps an event in 16 bytes (not a history.Op); after the run
// the checker judges each topic's history (its publishes and its subscribers' ops merged in time
// order) one topic at a time, a large topic in groups of subscribers of at most a million received
// events each (see judge). Memory therefore grows with the events received: a run whose expected
// deliveries ((subscribers + topics) × rate × duration) exceed --max-events, or whose topics get
// more than MaxPerTopic publishes, is refused up front rather than truncated, so every received
// event is checked. Latencies go into a fixed-size
// log-linear histogram (≤ 1.6 % error).
//
// Payloads are {"run":…,"seq":N,"ts":<publish time, Unix ns>}; load and subscribers share one
// clock, so the latency includes the publish request, the target's fan-out and the client's
// parsing. With the in-process reference (a profile without url), the CPU and memory reported
// are the load process's and the server's together.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// Exit codes of Command.
const (
	ExitOK      = 0 // the checker found nothing and every subscriber stayed connected
	ExitFail    = 1 // loss, duplicates, disorder, or a subscriber that failed
	ExitHarness = 2 // usage, configuration or harness error
)

// Bounds of a load run.
const (
	MaxSubscribers = 20000
	MaxDuration    = time.Hour
	MaxTopics      = 20000
	MaxRate        = 1000.0 // events per second per topic
	// MaxPerTopic bounds the publishes of one topic (rate × duration).
	MaxPerTopic = 1_000_000
	// DefaultMaxEvents bounds the received events a run keeps for the checker (16 bytes each,
	// plus the checker's working set for one topic).
	DefaultMaxEvents = 50_000_000
)

// DefaultConfig is read when --config and --preset are not given and the file exists (as run does).
const DefaultConfig = "ginkgo.yaml"

const usage = `Usage: rtconform load [flags]

Runs a load against the target of a profile (the in-process reference server when the profile has no url):
--subscribers subscribers spread over --topics topics, their transports alternating over --transports, one
publisher per topic publishing --rate events/s for --duration. Every received event goes through the history
checker (loss, duplicates, order); publish→receive latency is measured per event. Prints throughput, latency
percentiles, connection errors, the checker's verdict and the load process's CPU and memory; writes
load-report.json and load-report.md to the report dir.

Exit: 0 nothing lost, duplicated or reordered and every subscriber stayed connected; 1 the checker found a
violation or a subscriber failed to connect or was disconnected; 2 usage, configuration or harness error.

Flags:
`

// Command runs rtconform load with args (the flags after "load") and returns the exit code.
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "target profile (YAML); default ./"+DefaultConfig+" if present, else the built-in reference profile")
	target := fs.String("target", "", "base URL of the target (overrides target.url)")
	preset := fs.String("preset", "", "a known server's profile (reference, centrifugo-uni-sse, centrifugo-uni-ws, …); give its URL with --target")
	reportDir := fs.String("report-dir", "", "directory for load-report.json and load-report.md (overrides report.dir)")
	subs := fs.Int("subscribers", 100, fmt.Sprintf("subscribers (1 to %d)", MaxSubscribers))
	topics := fs.Int("topics", 10, "topics; subscriber i follows topic i mod topics")
	transports := fs.String("transports", "sse", "comma-separated transports the subscribers alternate over: sse, websocket, longpoll, httpstream")
	rate := fs.Float64("rate", 1, "events per second per topic")
	duration := fs.Duration("duration", 10*time.Second, "how long to publish (at most 1h)")
	ramp := fs.Duration("ramp", 0, "spread the subscribers' connects over this long (default: 1s per 2000 subscribers, at least 1s)")
	drain := fs.Duration("drain", 10*time.Second, "after the last publish, wait at most this long for deliveries")
	idle := fs.Duration("idle", 0, "hold the connected subscribers idle this long before publishing (to measure the target's memory per idle connection)")
	ready := fs.Duration("ready", 30*time.Second, "after the ramp, wait at most this long for every subscriber to be subscribed")
	maxEvents := fs.Int64("max-events", DefaultMaxEvents, "refuse a run expected to deliver more events than this (memory bound: every event is kept for the checker)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitHarness
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rtconform load: unexpected argument %q\n", fs.Arg(0))
		return ExitHarness
	}
	if *ramp == 0 {
		*ramp = max(time.Second, time.Duration(*subs)*time.Second/2000)
	}
	cfg := Config{Subscribers: *subs, Topics: *topics, Rate: *rate, Duration: *duration, Ramp: *ramp, Drain: *drain, Ready: *ready, Idle: *idle}
	var err error
	if cfg.Transports, err = parseTransports(*transports); err == nil {
		err = validate(cfg, *maxEvents)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rtconform load: %v\n", err)
		return ExitHarness
	}
	var o fw.Overrides
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "target":
			o.Target = target
		case "preset":
			o.Preset = preset
		case "report-dir":
			o.ReportDir = reportDir
		}
	})
	path := *config
	if path == "" && o.Preset == nil {
		if _, err := os.Stat(DefaultConfig); err == nil {
			path = DefaultConfig
		}
	}
	if o.Target != nil && path == "" && o.Preset == nil {
		fmt.Fprintf(stderr, "rtconform load: --target without a profile: give --config FILE or --preset NAME describing the server\n")
		return ExitHarness
	}
	profile, err := fw.Load(path, o)
	if err != nil {
		fmt.Fprintf(stderr, "rtconform load: configuration error: %v\n", err)
		return ExitHarness
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Load(ctx, profile, cfg, stdout, stderr)
}

// Load runs cfg against profile's target (starting it as Setup does), prints the summary to
// stdout, writes load-report.json and load-report.md into the profile's report dir and returns
// the exit code.
func Load(ctx context.Context, profile fw.Profile, cfg Config, stdout, stderr io.Writer) int {
	if err := validate(cfg, 0); err != nil {
		fmt.Fprintf(stderr, "rtconform load: %v\n", err)
		return ExitHarness
	}
	nofile, err := raiseNoFile()
	if err != nil {
		fmt.Fprintf(stderr, "rtconform load: RLIMIT_NOFILE: %v\n", err)
	}
	need := uint64(cfg.Subscribers) + 256
	if profile.Target.URL == "" { // the in-process reference holds the other end of every connection
		need += uint64(cfg.Subscribers)
	}
	if nofile > 0 && nofile < need {
		fmt.Fprintf(stderr, "rtconform load: %d subscribers need about %d file descriptors; the hard limit is %d "+
			"(with the in-process reference, both ends of every connection are this process's: start the reference on its own, "+
			"rtconform reference, and load it with --preset reference --target URL)\n", cfg.Subscribers, need, nofile)
		return ExitHarness
	}
	if err := os.MkdirAll(profile.Report.Dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "rtconform load: report dir: %v\n", err)
		return ExitHarness
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	run, err := fw.Setup(sctx, profile)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "rtconform load: %v\n", err)
		return ExitHarness
	}
	defer run.Teardown()
	fmt.Fprintf(stdout, "rtconform load: target %s at %s\n", profile.Target.Name, run.BaseURL)

	mem := newMemSampler()
	mctx, mcancel := context.WithCancel(ctx)
	go mem.run(mctx, 250*time.Millisecond)
	u0, s0 := cpuTime()
	t0 := time.Now()
	// Hard bound: the run stops by itself even if the target stalls every wait.
	rctx, rcancel := context.WithTimeout(ctx, cfg.Ramp+cfg.Ready+cfg.Idle+cfg.Duration+cfg.Drain+2*time.Minute)
	res, err := execute(rctx, run, cfg, stdout)
	rcancel()
	mcancel()
	if err != nil {
		fmt.Fprintf(stderr, "rtconform load: %v\n", err)
		return ExitHarness
	}
	u1, s1 := cpuTime()
	rep := newReport(res, run, profile, nofile)
	rep.Process.CPUUser, rep.Process.CPUSys = (u1 - u0).Seconds(), (s1 - s0).Seconds()
	rep.Process.CPUCores = (u1 - u0 + s1 - s0).Seconds() / time.Since(t0).Seconds()
	rep.Process.PeakRSS = maxRSS()
	rep.Process.PeakGoHeap, rep.Process.PeakGoMem = mem.peaks()
	rep.print(stdout)
	if err := rep.write(profile.Report.Dir); err != nil {
		fmt.Fprintf(stderr, "rtconform load: writing the report: %v\n", err)
		return ExitHarness
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(profile.Report.Dir, "load-report.json"))
	return rep.Exit
}

func parseTransports(s string) ([]fw.Transport, error) {
	var out []fw.Transport
	for _, f := range strings.Split(s, ",") {
		switch tr := fw.Transport(strings.TrimSpace(f)); tr {
		case fw.SSE, fw.WebSocket, fw.LongPoll, fw.HTTPStream:
			out = append(out, tr)
		default:
			return nil, fmt.Errorf("--transports: unknown transport %q (sse, websocket, longpoll, httpstream)", f)
		}
	}
	return out, nil
}

// validate checks cfg against the bounds; maxEvents > 0 also bounds the expected deliveries.
func validate(c Config, maxEvents int64) error {
	switch {
	case c.Subscribers < 1 || c.Subscribers > MaxSubscribers:
		return fmt.Errorf("--subscribers %d: give 1 to %d", c.Subscribers, MaxSubscribers)
	case c.Topics < 1 || c.Topics > MaxTopics || c.Topics > c.Subscribers:
		return fmt.Errorf("--topics %d: give 1 to min(%d, subscribers)", c.Topics, MaxTopics)
	case len(c.Transports) == 0:
		return errors.New("--transports: give at least one")
	case !(c.Rate > 0 && c.Rate <= MaxRate):
		return fmt.Errorf("--rate %g: give more than 0 and at most %g events/s per topic", c.Rate, MaxRate)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("--duration %s: give more than 0 and at most %s", c.Duration, MaxDuration)
	case c.Ramp < 0 || c.Ramp > 10*time.Minute || c.Drain < 0 || c.Drain > 10*time.Minute || c.Ready < 0 || c.Ready > 10*time.Minute ||
		c.Idle < 0 || c.Idle > 10*time.Minute:
		return errors.New("--ramp, --drain, --ready and --idle: give 0 to 10m")
	}
	perTopic := c.Rate * c.Duration.Seconds()
	if perTopic > MaxPerTopic {
		return fmt.Errorf("--rate × --duration is %.0f events per topic, more than %d: every topic's publishes are judged with each "+
			"group of its subscribers", perTopic, MaxPerTopic)
	}
	// Every received event (16 bytes) and every publish is kept until the checker has judged it.
	if expected := float64(c.Subscribers+c.Topics) * perTopic; maxEvents > 0 && expected > float64(maxEvents) {
		return fmt.Errorf("the run would deliver about %.0f events, more than --max-events %d (every event is kept for the checker, 16 bytes each): "+
			"shorten --duration, lower --rate or --subscribers, or raise --max-events", expected, maxEvents)
	}
	return nil
}

// writeJSON writes v indented to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
