package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/proxy"
)

// deployFilter is what a deployment run selects: the wire suites and the proxy suite's
// deployment cell (never the chaos suites, never the local proxy cells).
const deployFilter = "!chaos && !fallback && (!proxy || " + proxy.Deployment + ")"

func cmdDeploy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	config := fs.String("config", "", "target profile (YAML) describing the server's endpoints; default ./"+DefaultConfig+" if present, else the reference server's endpoints")
	target := fs.String("target", "", "the public URL clients use, through the proxies or CDN (required unless deploy.public is in the profile)")
	preset := fs.String("preset", "", presetUsage)
	origin := fs.String("origin", "", "the origin server behind it, reachable from here: the wire suites judge it, and delivery through the public URL is compared with it")
	latency := fs.Duration("latency", 0, "per-event latency the path may add (median); above it the latency checks FAIL (default: a SHOULD of 100ms)")
	idle := fs.Duration("idle", 0, "the path's idle limit (the shortest proxy/CDN idle timeout); default: detected from the intermediary's headers")
	idleWait := fs.Duration("max-idle-wait", fw.DefaultMaxIdleWait, "wait out the idle limit only when it is at most this long; beyond it, measure the heartbeat and report the margin")
	labels := fs.String("label-filter", "", "narrow the run further, e.g. 'sse' or 'id:PX-SSE-002'")
	reportDir := fs.String("report-dir", "", "directory for the reports (overrides report.dir)")
	strict := fs.Bool("strict", false, "SHOULD violations fail the run")
	verbose := fs.Bool("v", false, "print every check as it runs")
	concurrency := concurrencyFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform deploy --target https://public [--origin http://origin:8080] [flags]\n\n"+
			"Validates a deployment: the wire suites judge the server (on --origin when given, else through --target, where the\n"+
			"rules a proxy legitimately changes are INFO), and the proxy suite's deployment cell judges the path in front of it.\n"+
			"Each finding says whether the server or the path is responsible.\n"+
			"Exit: 0 no MUST failed; 1 a failure (of the server or the path); 2 usage, configuration or harness error.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	var o fw.Overrides
	dur := func(d time.Duration) *fw.Duration { v := fw.Duration(d); return &v }
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "target":
			o.Public = target
		case "origin":
			o.Origin = origin
		case "preset":
			o.Preset = preset
		case "latency":
			o.Latency = dur(*latency)
		case "idle":
			o.Idle = dur(*idle)
		case "max-idle-wait":
			o.IdleWait = dur(*idleWait)
		case "report-dir":
			o.ReportDir = reportDir
		case "strict":
			o.Strict = strict
		}
	})
	profile, ok := loadProfile("deploy", *config, o, stderr)
	if !ok {
		return exitHarness
	}
	if !profile.Deploy.Enabled() {
		fmt.Fprintf(stderr, "rtconform deploy: --target is required: the public URL of the deployment (or deploy.public in the profile)\n")
		return exitHarness
	}
	filter := deployFilter
	if *labels != "" {
		if _, err := types.ParseLabelFilter(*labels); err != nil {
			fmt.Fprintf(stderr, "rtconform deploy: --label-filter: %v\n", err)
			return exitHarness
		}
		filter = "(" + *labels + ") && " + deployFilter
	}
	if profile.Deploy.Origin == "" {
		fmt.Fprintf(stdout, "rtconform: no --origin: the wire suites judge the server through %s; rules a proxy legitimately changes are INFO, "+
			"and a transport the path breaks is BLOCKED under one cause\n", profile.Deploy.Public)
	}
	doc, code := execute("deploy", profile, filter, runOpts{verbose: *verbose, concurrency: *concurrency}, stdout, stderr)
	if doc == nil {
		return code
	}
	fw.PrintSummary(stdout, *doc, profile.Report.Dir)
	printAttribution(stdout, *doc, profile.Deploy)
	fmt.Fprintf(stdout, "junit: %s\n", filepath.Join(profile.Report.Dir, "junit.xml"))
	return code
}

// printAttribution says who is responsible for each finding: the server (the wire suites)
// or the path in front of it (the deployment cell, the wire checks whose diagnosed cause is a
// fault of the path, and the checks such a cause blocked).
func printAttribution(w io.Writer, doc fw.Conformance, d fw.Deploy) {
	var server, path, blocked []string
	for _, r := range doc.Checks {
		bad := r.Verdict == fw.FAIL || r.Verdict == fw.WARN || r.Verdict == fw.ERROR
		switch {
		case r.Verdict == fw.BLOCKED:
			blocked = append(blocked, r.Key())
		case bad && (r.Cell == proxy.Deployment || pathCause(r.Cause)):
			path = append(path, fmt.Sprintf("%s %s", r.Verdict, r.Key()))
		case bad:
			server = append(server, fmt.Sprintf("%s %s", r.Verdict, r.Key()))
		}
	}
	where := "through " + d.Public
	if d.Origin != "" {
		where = "on the origin " + d.Origin
	}
	fmt.Fprintf(w, "\ndeployment %s:\n", d.Public)
	fmt.Fprintf(w, "  the server (judged %s): %s\n", where, findings(server))
	fmt.Fprintf(w, "  the path in front of it (proxies/CDN): %s\n", findings(path))
	if len(blocked) > 0 {
		fmt.Fprintf(w, "  not judged, blocked by a fault of the path (see causes): %d of the server's checks\n", len(blocked))
	}
}

// pathCause reports whether a wire check's diagnosed cause is a fault of the path in front of
// the server (the problem part of "<problem>:<transport>" is one the proxy suite knows, or a
// connection the path refused), not of the server.
func pathCause(c *fw.Cause) bool {
	if c == nil {
		return false
	}
	problem, _, ok := strings.Cut(c.Key, ":")
	return ok && (slices.Contains(proxyrun.Problems(), problem) || problem == "connection-limit")
}

func findings(f []string) string {
	if len(f) == 0 {
		return "no findings"
	}
	n := fmt.Sprintf("%d findings", len(f))
	if len(f) == 1 {
		n = "1 finding"
	}
	return n + ": " + clip(strings.Join(f, ", "), 400)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
