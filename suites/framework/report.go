package framework

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// ReportFile is the machine-readable conformance report written into the report directory.
const ReportFile = "conformance-report.json"

// Conformance is the machine-readable report of one run.
type Conformance struct {
	Tool         string       `json:"tool"`
	Target       ReportTarget `json:"target"`
	Capabilities []Capability `json:"capabilities"`
	Strict       bool         `json:"strict"`
	Started      time.Time    `json:"started"`
	DurationMS   int64        `json:"duration_ms"`
	Summary      Summary      `json:"summary"`
	Checks       []Result     `json:"checks"`
}

// ReportTarget identifies the target in the report.
type ReportTarget struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Profile string `json:"profile,omitempty"`
}

// Counts are the verdicts of one level.
type Counts struct {
	Passed       int `json:"passed"`
	Failed       int `json:"failed"`
	Warned       int `json:"warned,omitempty"`
	Info         int `json:"info,omitempty"`
	NotSupported int `json:"not_supported"`
	Errors       int `json:"errors"`
}

// Summary counts verdicts per level; Exit is the CLI exit code they imply.
type Summary struct {
	MUST   Counts `json:"must"`
	SHOULD Counts `json:"should"`
	INFO   Counts `json:"info"`
	// Failed lists FAIL and ERROR check IDs; Warned lists WARN check IDs.
	Failed []string `json:"failed,omitempty"`
	Errors []string `json:"errors,omitempty"`
	Warned []string `json:"warned,omitempty"`
}

// Exit is 0 when no check failed, 1 on a conformance failure, 2 on a harness error (which
// takes precedence: a run with errors did not judge everything).
func (s Summary) Exit() int {
	switch {
	case len(s.Errors) > 0:
		return 2
	case len(s.Failed) > 0:
		return 1
	}
	return 0
}

// Total is the number of checks judged.
func (s Summary) Total() int {
	n := 0
	for _, c := range []Counts{s.MUST, s.SHOULD, s.INFO} {
		n += c.Passed + c.Failed + c.Warned + c.Info + c.NotSupported + c.Errors
	}
	return n
}

// Line is the one-line console summary.
func (s Summary) Line() string {
	ns := s.MUST.NotSupported + s.SHOULD.NotSupported + s.INFO.NotSupported
	errs := s.MUST.Errors + s.SHOULD.Errors + s.INFO.Errors
	return fmt.Sprintf("MUST: %d passed, %d failed; SHOULD: %d passed, %d warned, %d failed; INFO: %d measured; NOT_SUPPORTED: %d; ERROR: %d",
		s.MUST.Passed, s.MUST.Failed, s.SHOULD.Passed, s.SHOULD.Warned, s.SHOULD.Failed, s.INFO.Info, ns, errs)
}

var lastReport *Conformance

// LastReport is the conformance report of the suite that ran in this process (nil before it
// ends). Print it with PrintSummary.
func LastReport() *Conformance { return lastReport }

var _ = ginkgo.ReportAfterSuite("rtconform conformance report", func(rep ginkgo.Report) {
	run := Current()
	if run == nil {
		return
	}
	doc := Collect(run, rep)
	lastReport = &doc
	if err := WriteReport(run.Profile.Report.Dir, doc); err != nil {
		fmt.Fprintf(os.Stderr, "rtconform: writing the report: %v\n", err)
	}
})

// Collect turns Ginkgo's suite report into the conformance report.
func Collect(run *Run, rep ginkgo.Report) Conformance {
	doc := Conformance{
		Tool:         "rtconform",
		Target:       ReportTarget{Name: run.Profile.Target.Name, URL: run.BaseURL, Profile: run.Profile.Source},
		Capabilities: run.Profile.Target.Capabilities,
		Strict:       run.Profile.Strict,
		Started:      run.Started,
		DurationMS:   time.Since(run.Started).Milliseconds(),
		Checks:       []Result{},
	}
	for _, sr := range rep.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		r, ok := resultOf(sr)
		if !ok {
			continue // not selected by the label filter
		}
		doc.Checks = append(doc.Checks, r)
	}
	sort.Slice(doc.Checks, func(i, j int) bool { return doc.Checks[i].ID < doc.Checks[j].ID })
	for _, r := range doc.Checks {
		c := doc.Summary.level(r.Level)
		switch r.Verdict {
		case PASS:
			c.Passed++
		case FAIL:
			c.Failed++
			doc.Summary.Failed = append(doc.Summary.Failed, r.ID)
		case WARN:
			c.Warned++
			doc.Summary.Warned = append(doc.Summary.Warned, r.ID)
		case INFOV:
			c.Info++
		case NOTSUPPORTED:
			c.NotSupported++
		case ERROR:
			c.Errors++
			doc.Summary.Errors = append(doc.Summary.Errors, r.ID)
		}
	}
	return doc
}

func (s *Summary) level(l Level) *Counts {
	switch l {
	case MUST:
		return &s.MUST
	case SHOULD:
		return &s.SHOULD
	}
	return &s.INFO
}

// resultOf reads the Result a spec recorded; a spec that ended without one (timed out,
// interrupted) gets a verdict from its state. ok is false for specs that did not run.
func resultOf(sr types.SpecReport) (Result, bool) {
	for _, e := range sr.ReportEntries {
		if e.Name != entryName {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(e.StringRepresentation()), &r); err == nil && r.ID != "" {
			return r, true
		}
	}
	id := ""
	for _, l := range sr.Labels() {
		if strings.HasPrefix(l, "id:") {
			id = strings.TrimPrefix(l, "id:")
		}
	}
	c, known := Lookup(id)
	if !known || sr.State == types.SpecStateSkipped || sr.State == types.SpecStatePending {
		return Result{}, false
	}
	r := Result{ID: c.ID, Level: c.Level, Transport: c.Transport, Area: c.Area(), Requirement: c.Requirement,
		Spec: c.Spec, DurationMS: sr.RunTime.Milliseconds(), Message: sr.Failure.Message}
	switch sr.State {
	case types.SpecStateTimedout:
		r.Verdict = FAIL
		if c.Level == SHOULD {
			r.Verdict = WARN
		}
		r.Message = fmt.Sprintf("[%s] no verdict within the check's %s timeout: the target did not answer in time. %s", c.ID, c.Timeout, sr.Failure.Message)
	case types.SpecStatePassed:
		r.Verdict = PASS
	default:
		r.Verdict = ERROR
		r.Message = fmt.Sprintf("[%s] ended %s without a verdict: %s", c.ID, sr.State, sr.Failure.Message)
	}
	return r, true
}

// WriteReport writes conformance-report.json into dir.
func WriteReport(dir string, doc Conformance) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReportFile), append(b, '\n'), 0o644)
}

// PrintSummary writes the human summary: the counts line, then each failing and warning check.
func PrintSummary(w io.Writer, doc Conformance, dir string) {
	fmt.Fprintf(w, "\nrtconform: %d checks against %s (%s)\n", doc.Summary.Total(), doc.Target.Name, doc.Target.URL)
	for _, r := range doc.Checks {
		switch r.Verdict {
		case FAIL, ERROR, WARN:
			first, _, _ := strings.Cut(r.Message, "\n")
			fmt.Fprintf(w, "  %-5s %s %s\n", r.Verdict, r.ID, strings.TrimPrefix(first, "["+r.ID+"] "))
			if r.Expected != "" || r.Observed != "" {
				fmt.Fprintf(w, "        expected: %s\n        observed: %s\n", clip(r.Expected, 300), clip(r.Observed, 300))
			}
			if r.History != "" {
				fmt.Fprintf(w, "        history: %s\n", r.History)
			}
		}
	}
	fmt.Fprintln(w, doc.Summary.Line())
	fmt.Fprintf(w, "report: %s\n", filepath.Join(dir, ReportFile))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
