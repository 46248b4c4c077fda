package framework

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
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
	// LabelFilter is the filter the run used (see EffectiveLabelFilter).
	LabelFilter string   `json:"label_filter,omitempty"`
	Summary     Summary  `json:"summary"`
	Checks      []Result `json:"checks"`
	// Matrix holds the results of matrix checks (the proxy suite), one row per cell and check.
	Matrix []MatrixRow `json:"matrix,omitempty"`
	// NotEmulated lists, per cell of the matrix, the documented behaviours of what the cell
	// stands for (a CDN, a load balancer) that it does not reproduce: the checks' verdicts
	// say nothing about them (see RegisterNotEmulated).
	NotEmulated map[string][]string `json:"not_emulated,omitempty"`
}

var (
	notEmulatedMu sync.Mutex
	notEmulated   = map[string][]string{}
)

// RegisterNotEmulated records the behaviours a matrix cell does not emulate; the reports
// print them under the cell's row as NOT_EMULATED, whenever the cell ran.
func RegisterNotEmulated(cell string, what []string) {
	notEmulatedMu.Lock()
	defer notEmulatedMu.Unlock()
	notEmulated[cell] = append([]string(nil), what...)
}

var (
	cellProtocolMu sync.Mutex
	cellProtocol   = map[string]string{}
)

// RegisterCellProtocol records the protocol a matrix cell's clients speak ("http/1.1", "h2"):
// the matrix's protocol column. A cell learns it at run time when it depends on the target
// (the deployment cell: what its public URL negotiates); the last call wins.
func RegisterCellProtocol(cell, protocol string) {
	cellProtocolMu.Lock()
	defer cellProtocolMu.Unlock()
	cellProtocol[cell] = protocol
}

// MatrixRow is one cell × check of a compatibility matrix: "nginx:naive" × PX-SSE-002.
type MatrixRow struct {
	Cell string `json:"cell"`
	// Protocol is what the cell's clients speak to it ("http/1.1", "h2"; "" when not known):
	// the matrix's protocol column.
	Protocol  string    `json:"protocol,omitempty"`
	Transport Transport `json:"transport"`
	ID        string    `json:"id"`
	Verdict   Verdict   `json:"verdict"`
	// Measured is the check's measurements, joined ("first_byte=12ms").
	Measured string `json:"measured,omitempty"`
	Remedy   string `json:"remedy,omitempty"`
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
	Blocked      int `json:"blocked,omitempty"`
	Interrupted  int `json:"interrupted,omitempty"`
}

// Summary counts verdicts per level; Exit is the CLI exit code they imply.
type Summary struct {
	MUST   Counts `json:"must"`
	SHOULD Counts `json:"should"`
	INFO   Counts `json:"info"`
	// Failed lists FAIL check keys, Errors ERROR check keys, Warned WARN check keys (a key is
	// the ID, or ID@cell for a matrix cell).
	Failed []string `json:"failed,omitempty"`
	Errors []string `json:"errors,omitempty"`
	Warned []string `json:"warned,omitempty"`
	// Blocked lists BLOCKED check keys: not judged because of an established root cause.
	Blocked []string `json:"blocked,omitempty"`
	// Interrupted, when set, says why the run was stopped before it ended (a signal, the
	// global timeout): the report is partial, and the checks that were running are
	// INTERRUPTED.
	Interrupted string `json:"interrupted,omitempty"`
	// Causes groups the FAIL, WARN and BLOCKED checks that named the same diagnosed cause, largest
	// group first: one bug reads as one finding, not as one failure per check it breaks.
	Causes []CauseGroup `json:"causes,omitempty"`
}

// CauseGroup is one diagnosed cause and the checks (keys) that failed, warned or were
// blocked for it.
type CauseGroup struct {
	Cause
	Checks []string `json:"checks"`
}

// groupCauses fills s.Causes from the results.
func (s *Summary) groupCauses(rs []Result) {
	idx := map[string]int{}
	for _, r := range rs {
		if r.Cause == nil || (r.Verdict != FAIL && r.Verdict != WARN && r.Verdict != BLOCKED) {
			continue
		}
		i, ok := idx[r.Cause.Key]
		if !ok {
			i = len(s.Causes)
			idx[r.Cause.Key] = i
			s.Causes = append(s.Causes, CauseGroup{Cause: *r.Cause})
		}
		s.Causes[i].Checks = append(s.Causes[i].Checks, r.Key())
	}
	sort.SliceStable(s.Causes, func(i, j int) bool { return len(s.Causes[i].Checks) > len(s.Causes[j].Checks) })
}

// Exit is 0 when no check failed, 1 on a conformance failure (a BLOCKED MUST check counts:
// its requirement does not hold for a client), 2 on a harness error (which takes
// precedence: a run with errors did not judge everything), and ExitInterrupted when the run
// was stopped before it ended (which takes precedence over all: it judged only part).
func (s Summary) Exit() int {
	switch {
	case s.Interrupted != "":
		return ExitInterrupted
	case len(s.Errors) > 0:
		return 2
	case len(s.Failed) > 0 || s.MUST.Blocked > 0:
		return 1
	}
	return 0
}

// Total is the number of checks judged.
func (s Summary) Total() int {
	n := 0
	for _, c := range []Counts{s.MUST, s.SHOULD, s.INFO} {
		n += c.Passed + c.Failed + c.Warned + c.Info + c.NotSupported + c.Errors + c.Blocked + c.Interrupted
	}
	return n
}

// Line is the one-line console summary.
func (s Summary) Line() string {
	ns := s.MUST.NotSupported + s.SHOULD.NotSupported + s.INFO.NotSupported
	errs := s.MUST.Errors + s.SHOULD.Errors + s.INFO.Errors
	line := fmt.Sprintf("MUST: %d passed, %d failed; SHOULD: %d passed, %d warned, %d failed; INFO: %d measured; NOT_SUPPORTED: %d; ERROR: %d",
		s.MUST.Passed, s.MUST.Failed, s.SHOULD.Passed, s.SHOULD.Warned, s.SHOULD.Failed, s.INFO.Info, ns, errs)
	if s.Interrupted != "" {
		line += fmt.Sprintf("; INTERRUPTED: %d (the run was stopped: %s; the report is partial)",
			s.MUST.Interrupted+s.SHOULD.Interrupted+s.INFO.Interrupted, s.Interrupted)
	}
	if b := s.MUST.Blocked + s.SHOULD.Blocked + s.INFO.Blocked; b > 0 {
		line += fmt.Sprintf("; BLOCKED: %d (%d MUST)", b, s.MUST.Blocked)
	}
	return line
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
		LabelFilter:  rep.SuiteConfig.LabelFilter,
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
	sort.Slice(doc.Checks, func(i, j int) bool { return doc.Checks[i].Key() < doc.Checks[j].Key() })
	for _, r := range doc.Checks {
		c := doc.Summary.level(r.Level)
		switch r.Verdict {
		case PASS:
			c.Passed++
		case FAIL:
			c.Failed++
			doc.Summary.Failed = append(doc.Summary.Failed, r.Key())
		case WARN:
			c.Warned++
			doc.Summary.Warned = append(doc.Summary.Warned, r.Key())
		case INFOV:
			c.Info++
		case NOTSUPPORTED:
			c.NotSupported++
		case ERROR:
			c.Errors++
			doc.Summary.Errors = append(doc.Summary.Errors, r.Key())
		case BLOCKED:
			c.Blocked++
			doc.Summary.Blocked = append(doc.Summary.Blocked, r.Key())
		case INTERRUPTED:
			c.Interrupted++
			if doc.Summary.Interrupted == "" {
				doc.Summary.Interrupted = "a check was interrupted"
			}
		}
		if r.Cell != "" {
			doc.Matrix = append(doc.Matrix, matrixRow(r))
		}
	}
	if why := interruption(rep); why != "" {
		doc.Summary.Interrupted = why
	}
	doc.Summary.groupCauses(doc.Checks)
	sort.SliceStable(doc.Matrix, func(i, j int) bool {
		a, b := doc.Matrix[i], doc.Matrix[j]
		if a.Cell != b.Cell {
			return a.Cell < b.Cell
		}
		return a.ID < b.ID
	})
	notEmulatedMu.Lock()
	for _, m := range doc.Matrix {
		if what, ok := notEmulated[m.Cell]; ok {
			if doc.NotEmulated == nil {
				doc.NotEmulated = map[string][]string{}
			}
			doc.NotEmulated[m.Cell] = what
		}
	}
	notEmulatedMu.Unlock()
	cellProtocolMu.Lock()
	for i := range doc.Matrix {
		doc.Matrix[i].Protocol = cellProtocol[doc.Matrix[i].Cell]
	}
	cellProtocolMu.Unlock()
	return doc
}

// interruption says why the suite was stopped before its end ("" when it ran to the end):
// Ginkgo's special failure reasons name a signal ("Interrupted by User") or the global timeout.
func interruption(rep ginkgo.Report) string {
	for _, why := range rep.SpecialSuiteFailureReasons {
		if strings.Contains(why, "Interrupted") || strings.Contains(why, "Timeout") {
			return why
		}
	}
	return ""
}

func matrixRow(r Result) MatrixRow {
	var ms []string
	for _, m := range r.Measurements {
		ms = append(ms, m.Name+"="+m.Value)
	}
	return MatrixRow{Cell: r.Cell, Transport: r.Transport, ID: r.ID, Verdict: r.Verdict,
		Measured: strings.Join(ms, "; "), Remedy: r.Remedy}
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
	key := ""
	for _, l := range sr.Labels() {
		if strings.HasPrefix(l, "id:") {
			key = strings.TrimPrefix(l, "id:") + key
		}
		if strings.HasPrefix(l, "cell:") {
			key += "@" + strings.TrimPrefix(l, "cell:")
		}
	}
	c, known := Lookup(key)
	if !known || sr.State == types.SpecStateSkipped || sr.State == types.SpecStatePending {
		return Result{}, false
	}
	r := Result{ID: c.ID, Cell: c.Cell, Level: c.Level, Transport: c.Transport, Area: c.Area(), Requirement: c.Requirement,
		Spec: c.Spec, DurationMS: sr.RunTime.Milliseconds(), Message: sr.Failure.Message}
	switch {
	case sr.State == types.SpecStateInterrupted ||
		(sr.State == types.SpecStateTimedout && strings.Contains(sr.Failure.Message, "suite timeout")):
		r.Verdict = INTERRUPTED
		r.Message = fmt.Sprintf("[%s] INTERRUPTED (not judged): the run was stopped (%s) while this check ran", c.Key(), sr.Failure.Message)
	case sr.State == types.SpecStateTimedout:
		r.Verdict = FAIL
		if c.Level == SHOULD {
			r.Verdict = WARN
		}
		r.Message = fmt.Sprintf("[%s] no verdict within the check's %s timeout: the target did not answer in time. %s", c.Key(), c.Timeout, sr.Failure.Message)
	case sr.State == types.SpecStatePassed:
		r.Verdict = PASS
	default:
		r.Verdict = ERROR
		r.Message = fmt.Sprintf("[%s] ended %s without a verdict: %s", c.Key(), sr.State, sr.Failure.Message)
	}
	return r, true
}

// HumanReportFile is the Markdown report written next to the JSON one.
const HumanReportFile = "report.md"

// WriteReport writes conformance-report.json and the human report.md into dir.
func WriteReport(dir string, doc Conformance) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	WriteMarkdown(&md, doc)
	return os.WriteFile(filepath.Join(dir, HumanReportFile), []byte(md.String()), 0o644)
}

// MarkdownFailureLimit bounds the failures report.md lists in full; the rest are counted.
const MarkdownFailureLimit = 200

// markdownTextLimit bounds one message, expected or observed text in report.md (characters).
const markdownTextLimit = 1000

// WriteMarkdown renders the human report, meant to be pasted into a CI job summary as is: the
// header and summary line, every check that did not pass (failures first: FAIL, WARN, ERROR,
// BLOCKED, INTERRUPTED, at most MarkdownFailureLimit in full), the causes, a table per area
// and transport with the count of each verdict and the time spent, and the compatibility
// matrix with remedies.
func WriteMarkdown(w io.Writer, doc Conformance) {
	fmt.Fprintf(w, "# rtconform report: %s\n\n", doc.Target.Name)
	fmt.Fprintf(w, "Target %s, started %s, %d checks in %.1f s", doc.Target.URL, doc.Started.UTC().Format(time.RFC3339),
		doc.Summary.Total(), float64(doc.DurationMS)/1000)
	if doc.LabelFilter != "" {
		fmt.Fprintf(w, ", label filter `%s`", doc.LabelFilter)
	}
	fmt.Fprintf(w, ".\n\n%s\n\n", doc.Summary.Line())
	var bad []Result
	for _, r := range doc.Checks {
		switch r.Verdict {
		case FAIL, ERROR, WARN, BLOCKED, INTERRUPTED:
			bad = append(bad, r)
		}
	}
	writeMarkdownFailures(w, bad)
	if len(doc.Summary.Causes) > 0 {
		fmt.Fprintf(w, "## Causes\n\n")
		for _, g := range doc.Summary.Causes {
			fmt.Fprintf(w, "- **%s** (%s): %s\n", g.Text, plural(len(g.Checks), "check"), strings.Join(g.Checks, ", "))
		}
		fmt.Fprintln(w)
	}
	writeMarkdownAreas(w, doc.Checks)
	if len(doc.Matrix) > 0 {
		fmt.Fprintf(w, "## Compatibility matrix\n\n| cell | protocol | transport | check | verdict | measured | remedy |\n|---|---|---|---|---|---|---|\n")
		for _, m := range doc.Matrix {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(m.Cell), mdCell(m.Protocol), m.Transport, mdCell(m.ID), m.Verdict,
				mdCell(m.Measured), mdCell(m.Remedy))
		}
		fmt.Fprintln(w)
		for _, cell := range slices.Sorted(maps.Keys(doc.NotEmulated)) {
			fmt.Fprintf(w, "- `%s` NOT_EMULATED: %s\n", cell, oneLine(strings.Join(doc.NotEmulated[cell], "; ")))
		}
		if len(doc.NotEmulated) > 0 {
			fmt.Fprintln(w)
		}
	}
}

// writeMarkdownFailures lists every check that did not pass, at most MarkdownFailureLimit in
// full, or says there were none.
func writeMarkdownFailures(w io.Writer, bad []Result) {
	if len(bad) == 0 {
		fmt.Fprintf(w, "No failures: no check failed, warned, errored, was blocked or was interrupted.\n\n")
		return
	}
	fmt.Fprintf(w, "## Not passed (%d)\n\n", len(bad))
	for i, r := range bad {
		if i == MarkdownFailureLimit {
			fmt.Fprintf(w, "… and %d more (see %s)\n\n", len(bad)-i, ReportFile)
			break
		}
		fmt.Fprintf(w, "### %s `%s` (%s", r.Verdict, r.Key(), r.Level)
		if r.Transport != "" {
			fmt.Fprintf(w, ", %s", r.Transport)
		}
		fmt.Fprintf(w, ")\n\n")
		line := func(name, v string) {
			if v = strings.TrimSpace(v); v != "" {
				fmt.Fprintf(w, "- %s: %s\n", name, oneLine(clipText(v, markdownTextLimit)))
			}
		}
		line("requirement", r.Requirement)
		line("expected", r.Expected)
		line("observed", r.Observed)
		line("remedy", r.Remedy)
		if r.Cause != nil {
			fmt.Fprintf(w, "- cause: `%s`\n", r.Cause.Key)
		}
		if msg := strings.TrimSpace(r.Message); msg != "" {
			msg = clipText(msg, markdownTextLimit)
			fence := "```"
			for strings.Contains(msg, fence) {
				fence += "`"
			}
			fmt.Fprintf(w, "\n%s\n%s\n%s\n", fence, msg, fence)
		}
		fmt.Fprintln(w)
	}
}

// areaRow is one row of report.md's area table.
type areaRow struct {
	area      string
	transport Transport
	checks    int
	verdicts  map[Verdict]int
	ms        int64
}

// areaVerdicts are the columns of report.md's area table; INTERRUPTED is added only when a
// check was interrupted (so "INTERRUPTED" in report.md always means the run was stopped).
var areaVerdicts = []Verdict{PASS, FAIL, WARN, NOTSUPPORTED, BLOCKED, ERROR, INFOV}

// resultArea is the result's area (its ID without the last part: SSE-WIRE for SSE-WIRE-001).
func resultArea(r Result) string {
	if r.Area != "" {
		return r.Area
	}
	return Check{ID: r.ID}.Area()
}

// writeMarkdownAreas writes one table row per area and transport: how many checks, each
// verdict's count, the time they took.
func writeMarkdownAreas(w io.Writer, rs []Result) {
	if len(rs) == 0 {
		return
	}
	type key struct {
		area      string
		transport Transport
	}
	rows := map[key]*areaRow{}
	columns := areaVerdicts
	for _, r := range rs {
		if r.Verdict == INTERRUPTED && len(columns) == len(areaVerdicts) {
			columns = append(columns[:len(columns):len(columns)], INTERRUPTED)
		}
		k := key{resultArea(r), r.Transport}
		row := rows[k]
		if row == nil {
			row = &areaRow{area: k.area, transport: k.transport, verdicts: map[Verdict]int{}}
			rows[k] = row
		}
		row.checks++
		row.verdicts[r.Verdict]++
		row.ms += r.DurationMS
	}
	var sorted []*areaRow
	for _, row := range rows {
		sorted = append(sorted, row)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].area != sorted[j].area {
			return sorted[i].area < sorted[j].area
		}
		return sorted[i].transport < sorted[j].transport
	})
	fmt.Fprintf(w, "## Areas\n\n| area | transport | checks |")
	for _, v := range columns {
		fmt.Fprintf(w, " %s |", v)
	}
	fmt.Fprintf(w, " duration |\n|---|---|---:|")
	for range columns {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintf(w, "---:|\n")
	for _, row := range sorted {
		fmt.Fprintf(w, "| %s | %s | %d |", mdCell(row.area), mdCell(string(row.transport)), row.checks)
		for _, v := range columns {
			fmt.Fprintf(w, " %d |", row.verdicts[v])
		}
		fmt.Fprintf(w, " %.1f s |\n", float64(row.ms)/1000)
	}
	fmt.Fprintln(w)
}

// clipText cuts s to at most n characters (runes), marking the cut.
func clipText(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n]) + "…"
}

// oneLine folds a text onto one line (a Markdown list item or table cell).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", " ")), " ")
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// printMatrix writes the matrix as one line per cell: the verdict of each check, then the
// remedies of its failures and what the cell does not emulate.
func printMatrix(w io.Writer, rows []MatrixRow, notEmulated map[string][]string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "compatibility matrix (cell, protocol: check=verdict …):")
	for i := 0; i < len(rows); {
		j := i
		var cells []string
		var fixes []string
		for ; j < len(rows) && rows[j].Cell == rows[i].Cell; j++ {
			cells = append(cells, rows[j].ID+"="+string(rows[j].Verdict))
			if rows[j].Verdict != PASS && rows[j].Verdict != INFOV && rows[j].Remedy != "" {
				fixes = append(fixes, rows[j].ID+": "+rows[j].Remedy)
			}
		}
		fmt.Fprintf(w, "  %-30s %-8s %s\n", rows[i].Cell, rows[i].Protocol, strings.Join(cells, " "))
		for _, f := range fixes {
			fmt.Fprintf(w, "  %-30s %-8s   fix %s\n", "", "", clip(f, 300))
		}
		if what := notEmulated[rows[i].Cell]; len(what) > 0 {
			fmt.Fprintf(w, "  %-30s %-8s   NOT_EMULATED: %s\n", "", "", clip(strings.Join(what, "; "), 300))
		}
		i = j
	}
}

// PrintSummary writes the human summary: the counts line, then each failing and warning check.
func PrintSummary(w io.Writer, doc Conformance, dir string) {
	fmt.Fprintf(w, "\nrtconform: %d checks against %s (%s)\n", doc.Summary.Total(), doc.Target.Name, doc.Target.URL)
	if len(doc.Summary.Causes) > 0 {
		fmt.Fprintln(w, "causes (one finding each; the checks are listed below, blocked ones only here):")
		for _, g := range doc.Summary.Causes {
			fmt.Fprintf(w, "  %s: %s\n        %s\n", plural(len(g.Checks), "check"), g.Text, clip(strings.Join(g.Checks, " "), 300))
		}
	}
	for _, r := range doc.Checks {
		switch r.Verdict {
		case FAIL, ERROR, WARN, INTERRUPTED:
			first, _, _ := strings.Cut(r.Message, "\n")
			fmt.Fprintf(w, "  %-5s %s %s\n", r.Verdict, r.Key(), strings.TrimPrefix(first, "["+r.Key()+"] "))
			if r.Expected != "" || r.Observed != "" {
				fmt.Fprintf(w, "        expected: %s\n        observed: %s\n", clip(r.Expected, 300), clip(r.Observed, 300))
			}
			if r.History != "" {
				fmt.Fprintf(w, "        history: %s\n", r.History)
			}
			if r.Remedy != "" {
				fmt.Fprintf(w, "        remedy: %s\n", clip(r.Remedy, 300))
			}
		}
	}
	printMatrix(w, doc.Matrix, doc.NotEmulated)
	fmt.Fprintln(w, doc.Summary.Line())
	if doc.LabelFilter != "" {
		fmt.Fprintf(w, "label filter: %s", doc.LabelFilter)
		if !strings.Contains(doc.LabelFilter, "id:") && strings.Contains(doc.LabelFilter, "!chaos") && strings.Contains(doc.LabelFilter, "!proxy") &&
			!strings.Contains(doc.LabelFilter, "deployment") {
			fmt.Fprint(w, " (the chaos, proxy and fallback suites are opt-in: --label-filter chaos, --label-filter proxy, --label-filter fallback)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "report: %s, %s\n", filepath.Join(dir, ReportFile), filepath.Join(dir, HumanReportFile))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
