package loadgen

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// Report is load-report.json: the workload, what was published and delivered, latency,
// connections, the checker's verdict and the load process's resources.
type Report struct {
	Target    string `json:"target"`
	URL       string `json:"url"`
	Profile   string `json:"profile"`
	InProcess bool   `json:"in_process"` // the reference ran in this process: CPU and memory include it
	Started   string `json:"started"`

	Workload struct {
		Subscribers int      `json:"subscribers"`
		Topics      int      `json:"topics"`
		Transports  []string `json:"transports"`
		RatePerTop  float64  `json:"rate_per_topic"`
		Duration    string   `json:"duration"`
		Ramp        string   `json:"ramp"`
	} `json:"workload"`

	Throughput struct {
		Published       int64    `json:"published"` // acknowledged publishes
		PublishFailed   int64    `json:"publish_failed"`
		PublishUnknown  int64    `json:"publish_unknown"`
		Delivered       int64    `json:"delivered"` // events of this run received, all subscribers
		Expected        int64    `json:"expected"`  // acknowledged publishes × subscribers of their topic
		PublishedPerSec float64  `json:"published_per_s"`
		DeliveredPerSec float64  `json:"delivered_per_s"` // from the first publish to the last event received
		PublishErrors   []string `json:"publish_errors,omitempty"`
		// PublishP50Ms and PublishP99Ms: publish request to acknowledgement.
		PublishP50Ms float64 `json:"publish_p50_ms"`
		PublishP99Ms float64 `json:"publish_p99_ms"`
	} `json:"throughput"`

	Latency struct {
		Count  uint64  `json:"count"`
		MeanMs float64 `json:"mean_ms"`
		P50Ms  float64 `json:"p50_ms"`
		P99Ms  float64 `json:"p99_ms"`
		P999Ms float64 `json:"p999_ms"`
		MaxMs  float64 `json:"max_ms"`
	} `json:"latency"`

	Connections struct {
		Subscribers   int      `json:"subscribers"`
		NotSubscribed int      `json:"not_subscribed_when_publishing_began"`
		ConnectErrors int      `json:"connect_errors"` // failed connect attempts
		Disconnects   int      `json:"unexpected_disconnects"`
		Failed        int      `json:"failed_subscribers"` // never connected, or a connect error or disconnect
		Examples      []string `json:"examples,omitempty"`
		ReadyAfterMs  float64  `json:"ready_after_ms"`
	} `json:"connections"`

	Checker Verdict `json:"checker"`
	CheckMs float64 `json:"check_ms"` // the checker's own time

	Process struct {
		CPUUser    float64 `json:"cpu_user_s"`
		CPUSys     float64 `json:"cpu_sys_s"`
		CPUCores   float64 `json:"cpu_cores"` // (user+sys) / wall time of the run
		PeakRSS    uint64  `json:"peak_rss_bytes"`
		PeakGoHeap uint64  `json:"peak_go_heap_bytes"`
		PeakGoMem  uint64  `json:"peak_go_mem_bytes"`
		NoFile     uint64  `json:"rlimit_nofile"`
	} `json:"process"`

	Exit int `json:"exit"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newReport(res *result, run *fw.Run, p fw.Profile, nofile uint64) *Report {
	r := &Report{Target: p.Target.Name, URL: run.BaseURL, Profile: p.Source, InProcess: run.InProcess,
		Started: run.Started.UTC().Format(time.RFC3339)}
	if p.Preset != "" {
		r.Profile = strings.TrimPrefix(r.Profile+" preset "+p.Preset, " ")
	}
	w := &r.Workload
	w.Subscribers, w.Topics, w.RatePerTop = res.cfg.Subscribers, res.cfg.Topics, res.cfg.Rate
	for _, tr := range res.cfg.Transports {
		w.Transports = append(w.Transports, string(tr))
	}
	w.Duration, w.Ramp = res.cfg.Duration.String(), res.cfg.Ramp.String()

	t := &r.Throughput
	t.Published, t.PublishFailed, t.PublishUnknown = res.published[0], res.published[1], res.published[2]
	t.Delivered, t.Expected, t.PublishErrors = res.delivered, res.expected, res.pubErrs
	t.PublishP50Ms, t.PublishP99Ms = ms(res.pubLat.Quantile(0.5)), ms(res.pubLat.Quantile(0.99))
	if d := (res.lastPub - res.firstPub).Seconds(); d > 0 {
		t.PublishedPerSec = float64(t.Published) / d
	}
	if d := (res.lastRecv - res.firstPub).Seconds(); d > 0 {
		t.DeliveredPerSec = float64(t.Delivered) / d
	}

	l := &r.Latency
	l.Count, l.MeanMs, l.MaxMs = res.lat.Count(), ms(res.lat.Mean()), ms(res.lat.Max())
	l.P50Ms, l.P99Ms, l.P999Ms = ms(res.lat.Quantile(0.5)), ms(res.lat.Quantile(0.99)), ms(res.lat.Quantile(0.999))

	c := &r.Connections
	c.Subscribers, c.NotSubscribed, c.ReadyAfterMs = len(res.subs), res.notReady, ms(res.readyAfter)
	causes := map[string]int{}
	for _, s := range res.subs {
		connects, errs, drops, cause := s.counts()
		c.ConnectErrors += errs
		c.Disconnects += drops
		if connects == 0 || errs > 0 || drops > 0 {
			c.Failed++
			if cause == "" {
				cause = "never connected"
			}
			causes[cause]++
		}
	}
	for cause, n := range causes {
		c.Examples = append(c.Examples, fmt.Sprintf("%d× %s", n, clip(cause, 200)))
	}
	sort.Strings(c.Examples)
	if len(c.Examples) > 10 {
		c.Examples = c.Examples[:10]
	}

	r.Checker, r.CheckMs = res.verdict, ms(res.checkTime)
	r.Process.NoFile = nofile
	if r.Checker.Failed() || c.Failed > 0 {
		r.Exit = ExitFail
	}
	return r
}

// print writes the human summary.
func (r *Report) print(w io.Writer) {
	t, l, c := r.Throughput, r.Latency, r.Connections
	fmt.Fprintf(w, "published   %d ok, %d refused, %d unknown (%.1f/s; acknowledged after p50 %.2f ms, p99 %.2f ms)\n",
		t.Published, t.PublishFailed, t.PublishUnknown, t.PublishedPerSec, t.PublishP50Ms, t.PublishP99Ms)
	fmt.Fprintf(w, "delivered   %d of %d expected (%.1f events/s)\n", t.Delivered, t.Expected, t.DeliveredPerSec)
	fmt.Fprintf(w, "latency     p50 %.2f ms  p99 %.2f ms  p999 %.2f ms  max %.2f ms  (%d events)\n", l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.Count)
	fmt.Fprintf(w, "connections %d subscribers, %d connect errors, %d unexpected disconnects, %d failed subscribers\n",
		c.Subscribers, c.ConnectErrors, c.Disconnects, c.Failed)
	for _, e := range c.Examples {
		fmt.Fprintf(w, "            %s\n", e)
	}
	v := r.Checker
	fmt.Fprintf(w, "checker     %d events checked in %.0f ms: %s; lost %d, duplicates %d, foreign %d, excused by reset %d\n",
		v.Events, r.CheckMs, violations(v), v.Lost, v.Duplicates, v.Foreign, v.Excused)
	for _, e := range v.Examples {
		fmt.Fprintf(w, "            %s\n", e)
	}
	p := r.Process
	who := "load process"
	if r.InProcess {
		who = "load process (with the in-process reference)"
	}
	fmt.Fprintf(w, "%s: cpu %.1f s user + %.1f s sys (%.2f cores), peak RSS %s, peak Go heap %s\n",
		who, p.CPUUser, p.CPUSys, p.CPUCores, mib(p.PeakRSS), mib(p.PeakGoHeap))
	verdict := "PASS"
	if r.Exit != ExitOK {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "load: %s\n", verdict)
}

func violations(v Verdict) string {
	if len(v.Violations) == 0 {
		return "no violation"
	}
	var parts []string
	for rule, n := range v.Violations {
		parts = append(parts, fmt.Sprintf("%s %d", rule, n))
	}
	sort.Strings(parts)
	return "violations " + strings.Join(parts, ", ")
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// write writes load-report.json and load-report.md into dir.
func (r *Report) write(dir string) error {
	if err := writeJSON(filepath.Join(dir, "load-report.json"), r); err != nil {
		return err
	}
	var b strings.Builder
	w := r.Workload
	fmt.Fprintf(&b, "# rtconform load\n\nTarget %s at %s (%s), %s.\n\n", r.Target, r.URL, orDefault(r.Profile), r.Started)
	fmt.Fprintf(&b, "Workload: %d subscribers (%s) on %d topics, %g events/s per topic for %s, ramp %s.\n\n```\n",
		w.Subscribers, strings.Join(w.Transports, ", "), w.Topics, w.RatePerTop, w.Duration, w.Ramp)
	r.print(&b)
	b.WriteString("```\n")
	return os.WriteFile(filepath.Join(dir, "load-report.md"), []byte(b.String()), 0o644)
}

func orDefault(s string) string {
	if s == "" {
		return "built-in profile"
	}
	return s
}
