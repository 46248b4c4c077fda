package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
)

// Verdict is the outcome of one check.
type Verdict string

// The verdicts. ERROR is a harness fault (the target could not be driven), distinct from FAIL.
const (
	PASS         Verdict = "PASS"
	FAIL         Verdict = "FAIL"
	WARN         Verdict = "WARN"
	NOTSUPPORTED Verdict = "NOT_SUPPORTED"
	INFOV        Verdict = "INFO"
	ERROR        Verdict = "ERROR"
	// BLOCKED: not judged, because a root cause established for the check's transport (a
	// path that buffers the stream, refuses the upgrade) makes it unjudgeable; the result
	// names the cause. A BLOCKED MUST check fails the run: the requirement does not hold for
	// a client of the deployment.
	BLOCKED Verdict = "BLOCKED"
	// INTERRUPTED: the run was stopped (SIGINT, SIGTERM, the run's global timeout) while the
	// check ran. Not judged, never a FAIL: what the check saw when its context was cancelled
	// says nothing about the target. The run exits 130.
	INTERRUPTED Verdict = "INTERRUPTED"
)

// ExitInterrupted is the exit code of an interrupted run (128 + SIGINT, as shells report it).
const ExitInterrupted = 130

// interruptedBy names why Ginkgo cancelled a spec's context when the whole run was stopped
// (a signal, or the suite's global timeout), and "" when it was not: the check's own timeout
// and a normal end are not interruptions.
func interruptedBy(ctx context.Context) string {
	if ctx.Err() == nil {
		return ""
	}
	cause := context.Cause(ctx)
	if cause == nil {
		return ""
	}
	switch msg := cause.Error(); {
	case strings.HasPrefix(msg, "Interrupted by"): // Ginkgo's interrupt handler (SIGINT, SIGTERM)
		return msg
	case msg == "suite timeout occurred": // the run's global timeout
		return "the run's global timeout"
	}
	return ""
}

// Measurement is one observed value a check reports (a header, a time, a count).
type Measurement struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Result is the verdict of one check with what was observed; one per check in
// conformance-report.json.
type Result struct {
	ID           string        `json:"id"`
	Cell         string        `json:"cell,omitempty"`
	Level        Level         `json:"level"`
	Transport    Transport     `json:"transport"`
	Area         string        `json:"area"`
	Requirement  string        `json:"requirement"`
	Spec         string        `json:"spec"`
	Verdict      Verdict       `json:"verdict"`
	Message      string        `json:"message,omitempty"`
	Expected     string        `json:"expected,omitempty"`
	Observed     string        `json:"observed,omitempty"`
	Measurements []Measurement `json:"measurements,omitempty"`
	Missing      []Capability  `json:"missing_capabilities,omitempty"`
	DurationMS   int64         `json:"duration_ms"`
	History      string        `json:"history,omitempty"`
	// Remedy is what to change so the check passes (the proxy suite: a directive or header).
	Remedy string `json:"remedy,omitempty"`
	// Cause is the diagnosed root cause of a FAIL or WARN, when the check could name one.
	Cause *Cause `json:"cause,omitempty"`
}

// Key is the result's check key: ID, or ID@cell.
func (r Result) Key() string {
	if r.Cell == "" {
		return r.ID
	}
	return r.ID + "@" + r.Cell
}

// entryName is the Ginkgo report entry that carries a Result from the spec to the suite report.
const entryName = "rtconform"

// T is what a check's Run receives: the target, a context bounded by the spec timeout, a topic
// of its own, and the ways to report. Violation and Harness stop the check (like t.FailNow).
type T struct {
	Check Check
	Run   *Run

	ctx      context.Context
	mu       sync.Mutex
	measured []Measurement
	cleanups []func()
	g        gomega.Gomega
	history  string
	remedy   string
	cause    *Cause
	client   *http.Client
	resume   ResumeState
	attempt  int  // earlier judgings of this check in this run (Check.Timed)
	timing   bool // the violation reported breaks time bounds only (TimingOnly)
}

// ResumeState holds the connect-reply fields (target.connect.fields) the check's streams
// have seen, for the resume templates of its later connections.
func (t *T) ResumeState() *ResumeState { return &t.resume }

// Cause is a diagnosed root cause a check names when it fails: checks that fail for the same
// cause (the same Key) are reported together, so one bug reads as one finding.
type Cause struct {
	// Key identifies the cause across checks and transports, e.g. "resume-inclusive".
	Key string `json:"key"`
	// Text says what is wrong in a sentence a user can act on.
	Text string `json:"text"`
}

type violation struct{ expected, observed, msg string }
type harnessFault struct{ msg string }
type notSupported struct{ msg string }

// Context is bounded by the check's timeout (and cancelled on interrupt).
func (t *T) Context() context.Context { return t.ctx }

// Target is the profile's description of the server under test.
func (t *T) Target() *Target { return &t.Run.Profile.Target }

// Topic is a topic name of this check's own, unique per run, so checks never see each other's events.
func (t *T) Topic() string { return t.TopicN(0) }

// TopicN returns the n-th private topic of this check (for checks that need several).
func (t *T) TopicN(n int) string {
	s := "rtc-" + strings.ToLower(t.Check.ID) + "-" + t.Run.ID[:8]
	if t.Check.Cell != "" {
		s += "-" + strings.NewReplacer("/", "-", ":", "-").Replace(strings.ToLower(t.Check.Cell))
	}
	if n > 0 {
		s += fmt.Sprintf("-%d", n)
	}
	if t.attempt > 0 { // a second judging must not read the first one's events
		s += fmt.Sprintf("-again%d", t.attempt)
	}
	return s
}

// URL renders a path template of the target for this check's topic into an absolute URL.
func (t *T) URL(template string) string { return t.Run.BaseURL + Path(template, t.Topic()) }

// Measure records an observed value; it appears in the report and in a failure message.
func (t *T) Measure(name, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.measured) < 64 {
		t.measured = append(t.measured, Measurement{Name: name, Value: fmt.Sprintf(format, args...)})
	}
}

// Violation reports that the target does not meet the requirement and ends the check. The
// verdict is FAIL for a MUST check and WARN for a SHOULD check (FAIL under strict).
func (t *T) Violation(expected, observed string) {
	panic(violation{expected: expected, observed: observed})
}

// Violationf is Violation with a free-form explanation instead of expected/observed.
func (t *T) Violationf(format string, args ...any) {
	panic(violation{msg: fmt.Sprintf(format, args...)})
}

// NotSupported ends the check with verdict NOT_SUPPORTED: the profile does not declare what
// the check needs (beyond the capabilities, which the framework checks itself).
func (t *T) NotSupported(format string, args ...any) {
	panic(notSupported{msg: fmt.Sprintf(format, args...)})
}

// Harness reports a harness fault (cannot reach the target, publish hook failed) and ends the
// check with verdict ERROR: the check could not judge the target.
func (t *T) Harness(format string, args ...any) {
	panic(harnessFault{msg: fmt.Sprintf(format, args...)})
}

// Expect is Gomega's Expect; a failed assertion is a Violation.
func (t *T) Expect(actual any, extra ...any) types.Assertion { return t.g.Expect(actual, extra...) }

// Cleanup registers f to run when the check ends, last registered first.
func (t *T) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// Remedy records what to change so the check would pass; it is shown with a failure and in
// the matrix.
func (t *T) Remedy(format string, args ...any) { t.remedy = fmt.Sprintf(format, args...) }

// TimingOnly says that the violation the check is about to report breaks nothing but time
// bounds (a lag, a publish answered late): a Check.Timed check is then judged once more.
// Call it before Violation.
func (t *T) TimingOnly() { t.timing = true }

// SetHistory records the path of a saved history file for the report and the failure message.
func (t *T) SetHistory(path string) { t.history = path }

// Diagnose names the root cause of the violation the check is about to report (see Cause);
// the report groups failing checks by it. Call it before Violation.
func (t *T) Diagnose(key, format string, args ...any) {
	t.cause = &Cause{Key: key, Text: fmt.Sprintf(format, args...)}
}

// HTTP is the check's own HTTP client: no transparent decompression (checks see the wire),
// bounded response headers, no overall timeout (streams are bounded by contexts instead). Its
// connection pool belongs to this check and is closed when the check ends, so no check
// inherits another's connection state (a keep-alive connection a server left unusable after
// a HEAD of a stream, say).
func (t *T) HTTP() *http.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client == nil {
		t.client = newHTTPClient()
	}
	return t.client
}

// Get sends a GET with the check's context; a transport error is a harness fault only when
// the target cannot be reached at all, so it is returned for the check to judge.
func (t *T) Get(ctx context.Context, url string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Harness("bad request URL %q: %v", url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return t.HTTP().Do(req)
}

// Within returns a context that ends after d or with the check, whichever is first.
func (t *T) Within(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, d)
}

// execution is what judging a check produced, before it is reported to Ginkgo: judging may
// happen on another goroutine (see Run.Schedule), reporting happens in the check's spec.
type execution struct {
	res Result // identity filled; the verdict when decided before running (early)
	// disabled: the profile does not select the spec (Check.Enabled).
	disabled bool
	// early: NOT_SUPPORTED or BLOCKED, decided without running the check.
	early bool
	// interrupted names why the run was stopped while the check ran ("" when it was not).
	interrupted string
	// hung: the check did not return within its timeout plus Grace.
	hung bool
	// expired: the check's own timeout expired while it ran.
	expired bool
	outcome any // nil: completed; violation, notSupported, harnessFault, or a crash
	remedy  string
	cause   *Cause
	timing  bool // the violation breaks time bounds only (T.TimingOnly)
}

func baseResult(c Check) Result {
	return Result{ID: c.ID, Cell: c.Cell, Level: c.Level, Transport: c.Transport, Area: c.Area(),
		Requirement: c.Requirement, Spec: c.Spec}
}

// evaluate judges c against run, its context bounded by the check's timeout.
func evaluate(ctx context.Context, run *Run, c Check, attempt int) *execution {
	ex := &execution{res: baseResult(c)}
	if c.Enabled != nil && !c.Enabled(run) {
		ex.disabled = true
		return ex
	}
	if missing := run.Profile.Target.Missing(c.Requires); len(missing) > 0 {
		ex.early = true
		ex.res.Verdict = NOTSUPPORTED
		ex.res.Missing = missing
		ex.res.Message = fmt.Sprintf("NOT_SUPPORTED: the target does not declare capability %s", joinCaps(missing))
		return ex
	}
	if c.blockable() {
		if cause := run.BlockedBy(c.Transport); cause != nil {
			ex.early = true
			ex.res.Verdict = BLOCKED
			ex.res.Cause = cause
			ex.res.Message = fmt.Sprintf("[%s] BLOCKED (not judged): %s", c.Key(), cause.Text)
			return ex
		}
	}
	t := &T{Check: c, Run: run, ctx: ctx, attempt: attempt}
	t.g = gomega.NewGomega(func(message string, _ ...int) { panic(violation{msg: message}) })
	start := time.Now()
	ex.outcome = t.execute()
	ex.res.DurationMS = time.Since(start).Milliseconds()
	ex.res.Measurements = t.measured
	ex.res.History = t.history
	ex.remedy, ex.cause, ex.timing = t.remedy, t.cause, t.timing
	ex.interrupted = interruptedBy(ctx)
	ex.expired = ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded)
	return ex
}

// runSpec is the body of every check's Ginkgo spec: it reports the check's verdict.
func runSpec(ctx ginkgo.SpecContext, c Check) {
	run := Current()
	if run == nil {
		panic("rtconform: no target resolved; call framework.Setup before RunSpecs")
	}
	report(run, c, run.scheduler().result(ctx, c))
}

// report turns an execution into the check's Result entry and the spec's Ginkgo outcome.
func report(run *Run, c Check, ex *execution) {
	res := ex.res
	switch {
	case ex.disabled:
		ginkgo.Skip("not selected by the profile")
	case ex.early && res.Verdict == NOTSUPPORTED:
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		ginkgo.Skip(res.Message)
	case ex.early: // BLOCKED
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		if c.Level == MUST {
			ginkgo.Fail(res.Message)
		}
		ginkgo.Skip(res.Message)
	case ex.interrupted != "":
		// Whatever the check concluded, it concluded with its context cancelled under it: a
		// violation came from the interruption, and a pass judged only part of the scenario.
		res.Verdict = INTERRUPTED
		res.Message = fmt.Sprintf("[%s] INTERRUPTED (not judged): the run was stopped (%s) while this check ran", c.Key(), ex.interrupted)
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		return
	case ex.hung:
		res.Verdict = FAIL
		if c.Level == SHOULD && !run.Profile.Strict {
			res.Verdict = WARN
		}
		res.Message = fmt.Sprintf("[%s] no verdict within the check's %s timeout: the target did not answer in time "+
			"(the check did not return within %s after its timeout and was abandoned)", c.Key(), c.Timeout, Grace)
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		if res.Verdict == FAIL {
			ginkgo.Fail(res.Message)
		}
		return
	}
	switch o := ex.outcome.(type) {
	case nil:
		res.Verdict = PASS
		if c.Level == INFO {
			res.Verdict = INFOV
		}
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
	case violation:
		res.Expected, res.Observed = o.expected, o.observed
		res.Remedy = ex.remedy
		res.Cause = ex.cause
		if ex.expired {
			res.Observed += fmt.Sprintf(" (the check's %s timeout expired)", c.Timeout)
		}
		res.Message = failureText(c, o, res.Measurements, res.History, ex.remedy, ex.cause)
		switch {
		case c.Intermediary != "" && run.ViaIntermediary():
			// Judged through the deployment's proxies, which legitimately change what this
			// rule looks at: report what was seen, never a verdict on the server.
			res.Verdict = INFOV
			res.Cause = nil
			res.Message = fmt.Sprintf("[%s] INFO (judged through %s, not on the origin): an intermediary legitimately %s. Observed: %s. "+
				"Give the origin (--origin, deploy.origin) to judge the server itself.", c.Key(), run.PublicURL(), c.Intermediary, o.observed)
			addEntry(res, ginkgo.ReportEntryVisibilityNever)
		case c.Level == MUST || (c.Level == SHOULD && run.Profile.Strict):
			res.Verdict = FAIL
			addEntry(res, ginkgo.ReportEntryVisibilityNever)
			ginkgo.Fail(res.Message)
		case c.Level == SHOULD:
			res.Verdict = WARN
			addEntry(res, ginkgo.ReportEntryVisibilityNever)
			ginkgo.AddReportEntry("WARN (SHOULD not met; a failure under strict)", res.Message)
		default:
			res.Verdict = INFOV
			addEntry(res, ginkgo.ReportEntryVisibilityNever)
		}
	case notSupported:
		res.Verdict = NOTSUPPORTED
		res.Message = "NOT_SUPPORTED: " + o.msg
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		ginkgo.Skip(res.Message)
	case harnessFault:
		res.Verdict = ERROR
		res.Message = fmt.Sprintf("[%s] harness error (the target could not be judged): %s", c.Key(), o.msg)
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		// A panic makes Ginkgo record the spec as an error, not a failure (JUnit <error>).
		panic(res.Message)
	default:
		res.Verdict = ERROR
		res.Message = fmt.Sprintf("[%s] the check itself crashed: %v", c.Key(), o)
		addEntry(res, ginkgo.ReportEntryVisibilityNever)
		panic(res.Message)
	}
}

// execute runs the check and its cleanups and returns what stopped it (nil: completed).
func (t *T) execute() (outcome any) {
	defer func() {
		t.mu.Lock()
		c := t.client
		t.mu.Unlock()
		if c != nil {
			c.CloseIdleConnections()
		}
	}()
	defer func() {
		for i := len(t.cleanups) - 1; i >= 0; i-- {
			func() {
				defer func() { _ = recover() }()
				t.cleanups[i]()
			}()
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			switch r.(type) {
			case violation, harnessFault, notSupported:
				outcome = r
			default:
				outcome = fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
		}
	}()
	t.Check.Run(t)
	return nil
}

func failureText(c Check, v violation, ms []Measurement, history, remedy string, cause *Cause) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s: %s\n", c.Key(), c.Level, c.Requirement)
	fmt.Fprintf(&b, "  spec: %s", c.Spec)
	if c.Quote != "" {
		fmt.Fprintf(&b, " — %q", c.Quote)
	}
	b.WriteString("\n")
	if v.expected != "" {
		fmt.Fprintf(&b, "  expected: %s\n", v.expected)
	}
	if v.observed != "" {
		fmt.Fprintf(&b, "  observed: %s\n", v.observed)
	}
	if v.msg != "" {
		fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(strings.TrimSpace(v.msg), "\n", "\n  "))
	}
	for _, m := range ms {
		fmt.Fprintf(&b, "  measured %s: %s\n", m.Name, m.Value)
	}
	if history != "" {
		fmt.Fprintf(&b, "  history: %s (re-check offline: rtconform recheck %s)\n", history, history)
	}
	if cause != nil {
		fmt.Fprintf(&b, "  cause: %s\n", cause.Text)
	}
	if remedy != "" {
		fmt.Fprintf(&b, "  remedy: %s\n", remedy)
	}
	return b.String()
}

func addEntry(r Result, vis ginkgo.ReportEntryVisibility) {
	b, _ := json.Marshal(r)
	ginkgo.AddReportEntry(entryName, string(b), vis)
}

func joinCaps(cs []Capability) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%q", c))
	}
	return strings.Join(s, ", ")
}
