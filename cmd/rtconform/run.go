package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/htmlreport"

	_ "github.com/rtconform/rtconform/suites/all" // registers every check
)

// DefaultConfig is read by run when --config is not given and the file exists.
const DefaultConfig = "ginkgo.yaml"

// failer is the GinkgoTestingT of a run outside go test.
type failer struct{ failed bool }

func (f *failer) Fail() { f.failed = true }

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	config := fs.String("config", "", "target profile (YAML); default ./"+DefaultConfig+" if present, else the built-in reference profile")
	target := fs.String("target", "", "base URL of the target (overrides target.url)")
	preset := fs.String("preset", "", presetUsage)
	labels := fs.String("label-filter", "", "Ginkgo label filter, e.g. 'sse && must' or 'id:SSE-RESUME-001'; the chaos and proxy suites run only when it names them ('chaos', 'proxy')")
	reportDir := fs.String("report-dir", "", "directory for conformance-report.json and junit.xml (overrides report.dir)")
	strict := fs.Bool("strict", false, "SHOULD violations fail the run (overrides strict)")
	faults := fs.String("faults", "", "Toxiproxy backend of the chaos suites: embedded, container or external (overrides faults.backend)")
	verbose := fs.Bool("v", false, "print every check as it runs")
	concurrency := concurrencyFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform run [flags]\n\nRuns the conformance suites against the target of a profile.\n"+
			"Exit: 0 every MUST check passed; 1 a conformance failure; 2 usage, configuration or harness error.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
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
		case "strict":
			o.Strict = strict
		case "faults":
			o.Faults = faults
		}
	})
	if o.Target != nil && *config == "" && o.Preset == nil {
		if _, err := os.Stat(DefaultConfig); err != nil {
			// The built-in profile describes the reference; a user's server is not it.
			fmt.Fprintf(stderr, "rtconform run: --target %s without a profile: rtconform does not guess what a server supports, "+
				"and the reference server's capabilities are not borrowed. Write a profile of what it answers with "+
				"rtconform init --target %s [--publish /publish/{topic}], or by hand (README \"Point it at your own server\"), and run with --config FILE; "+
				"or use a known server's preset: --preset NAME (rtconform list --presets)\n", *target, *target)
			return exitHarness
		}
	}
	profile, ok := loadProfile("run", *config, o, stderr)
	if !ok {
		return exitHarness
	}
	if *labels != "" {
		if _, err := types.ParseLabelFilter(*labels); err != nil {
			fmt.Fprintf(stderr, "rtconform run: --label-filter: %v\n", err)
			return exitHarness
		}
	}
	filter := fw.EffectiveLabelFilter(*labels)
	if *labels == "" && profile.Target.Has(fw.CapEngineIO) {
		// The Engine.IO checks are fallback checks (opt-in), but for a target whose only
		// declared protocol may be Engine.IO they are the point of the run: a preset socketio
		// run without a filter must not judge nothing and exit 0.
		filter = "(" + filter + ") || engineio"
	}
	doc, code := execute("run", profile, filter, runOpts{verbose: *verbose, concurrency: *concurrency}, stdout, stderr)
	if doc != nil {
		fw.PrintSummary(stdout, *doc, profile.Report.Dir)
		fmt.Fprintf(stdout, "junit: %s\n", filepath.Join(profile.Report.Dir, "junit.xml"))
		hintTimeouts(stdout, *doc, profile)
	}
	return code
}

// presetUsage documents the --preset flag of run, deploy, probe and list.
const presetUsage = "a known server's profile (mercure, centrifugo-uni-sse, socketio …; rtconform list --presets), refined by --config (./ginkgo.yaml is not read with it); give the server's URL with --target"

// loadProfile loads the profile of a command: config, else ./ginkgo.yaml when present, else the
// built-in defaults, with the flags' overrides; a mistake is printed naming file and key.
func loadProfile(cmd, config string, o fw.Overrides, stderr io.Writer) (fw.Profile, bool) {
	path := config
	if path == "" && o.Preset == nil { // --preset is refined by an explicit --config only
		if _, err := os.Stat(DefaultConfig); err == nil {
			path = DefaultConfig
		}
	}
	profile, err := fw.Load(path, o)
	if err != nil {
		fmt.Fprintf(stderr, "rtconform %s: configuration error: %v\n", cmd, err)
		return profile, false
	}
	return profile, true
}

// concurrencyFlag declares --concurrency of run and deploy.
func concurrencyFlag(fs *flag.FlagSet) *int {
	return fs.Int("concurrency", fw.DefaultConcurrency, fmt.Sprintf("how many checks are judged at once (1 to %d; 1: one after the other). "+
		"Checks that need the machine to themselves (a restart, a latency budget) are always judged alone", fw.MaxConcurrency))
}

// runOpts are the flags execute takes.
type runOpts struct {
	verbose     bool
	concurrency int
}

// execute resolves the profile's target and runs the specs the label filter selects; it
// returns the report (nil when the suite produced none) and the exit code.
func execute(cmd string, profile fw.Profile, labelFilter string, opts runOpts, stdout, stderr io.Writer) (*fw.Conformance, int) {
	defer selfCheck(stderr)() // after Teardown: what the run leaves behind
	verbose := opts.verbose
	if opts.concurrency < 1 || opts.concurrency > fw.MaxConcurrency {
		fmt.Fprintf(stderr, "rtconform %s: --concurrency %d: give 1 to %d\n", cmd, opts.concurrency, fw.MaxConcurrency)
		return nil, exitHarness
	}
	if err := os.MkdirAll(profile.Report.Dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "rtconform %s: report.dir: %v\n", cmd, err)
		return nil, exitHarness
	}
	for _, n := range profile.Notes {
		fmt.Fprintf(stdout, "rtconform: note: %s\n", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	run, err := fw.Setup(ctx, profile)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "rtconform %s: %v\n", cmd, err)
		return nil, exitHarness
	}
	defer run.Teardown()
	fmt.Fprintf(stdout, "rtconform: target %s at %s (profile %s)\n", profile.Target.Name, run.BaseURL, profileName(profile))

	// Progress: one line per area as it finishes, instead of Ginkgo's dot per spec (and S per
	// spec the label filter left out); -v keeps Ginkgo's per-check lines. The failures come
	// after the run in the summary, so nothing is lost by silencing the dots.
	progress, err := fw.NewProgress(stdout, run, labelFilter)
	if err != nil {
		fmt.Fprintf(stderr, "rtconform %s: label filter: %v\n", cmd, err)
		return nil, exitHarness
	}
	areas := "areas"
	if progress.Areas() == 1 {
		areas = "area"
	}
	fmt.Fprintf(stdout, "rtconform: %d checks in %d %s\n", progress.Total(), progress.Areas(), areas)
	progress.Live = isTerminal(os.Stdout) && os.Getenv("CI") == ""
	fw.SetProgress(progress)
	defer fw.SetProgress(nil)
	if err := run.Schedule(labelFilter, opts.concurrency); err != nil {
		fmt.Fprintf(stderr, "rtconform %s: %v\n", cmd, err)
		return nil, exitHarness
	}
	if !verbose {
		out := formatter.ColorableStdOut
		formatter.ColorableStdOut = io.Discard
		defer func() { formatter.ColorableStdOut = out }()
	}
	suiteCfg, repCfg := ginkgo.GinkgoConfiguration()
	suiteCfg.LabelFilter = labelFilter
	suiteCfg.Timeout = 2 * time.Hour
	suiteCfg.RandomizeAllSpecs = false
	repCfg.JUnitReport = filepath.Join(profile.Report.Dir, "junit.xml")
	repCfg.NoColor = os.Getenv("NO_COLOR") != "" || !isTerminal(os.Stdout)
	repCfg.Verbose = verbose
	repCfg.Succinct = !verbose
	repCfg.SilenceSkips = true
	f := &failer{}
	ginkgo.RunSpecs(f, "rtconform", suiteCfg, repCfg)
	progress.Finish()
	doc := fw.LastReport()
	if doc == nil {
		fmt.Fprintf(stderr, "rtconform %s: the suite produced no report (interrupted?)\n", cmd)
		return nil, exitHarness
	}
	if err := htmlreport.Write(profile.Report.Dir, *doc); err != nil {
		fmt.Fprintf(stderr, "rtconform %s: the HTML report: %v\n", cmd, err)
	}
	return doc, doc.Summary.Exit()
}

// hintTimeouts points a run against a remote URL whose checks keep timing out at deploy:
// that is what a buffering proxy in front of a correct server looks like.
func hintTimeouts(w io.Writer, doc fw.Conformance, p fw.Profile) {
	if p.Deploy.Enabled() || p.Target.URL == "" || p.Target.Start != nil {
		return
	}
	n := 0
	for _, r := range doc.Checks {
		if strings.Contains(r.Observed, "timeout expired") || strings.Contains(r.Message, "no verdict within the check's") {
			n++
		}
	}
	if n >= 3 {
		fmt.Fprintf(w, "hint: %d checks ran into their timeout. If a proxy or CDN is in front of %s, validate it as a deployment, which "+
			"names the intermediary's fault once instead: rtconform deploy --target %s [--origin <the server behind it>]\n", n, p.Target.URL, p.Target.URL)
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// profileName says where a profile came from: its file, its preset, or both.
func profileName(p fw.Profile) string {
	switch {
	case p.Preset != "" && p.Source != "":
		return p.Source + " on preset " + p.Preset
	case p.Preset != "":
		return "preset " + p.Preset
	}
	return orDefault(p.Source)
}

func orDefault(s string) string {
	if s == "" {
		return "built-in defaults"
	}
	return s
}
