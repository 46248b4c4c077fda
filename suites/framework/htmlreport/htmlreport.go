// Package htmlreport renders a run's conformance-report.json as one self-contained HTML file
// (index.html in the report directory): no external assets, so it opens from disk and as a CI
// artifact. It shows the verdict in the summary's words, the checks per area and transport
// with failures first (filterable by verdict), the proxy compatibility matrix as a coloured
// grid with the remedy on each failing cell, and for every check that saved a history (the
// chaos and fallback checks) an SVG timeline per client: connections as bars, disconnects
// with their cause, fault windows shaded, each event a tick and the checker's violations in
// red — small for passes, large for failures.
package htmlreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// File is the name of the HTML report in the report directory.
const File = "index.html"

// Load reads conformance-report.json from a report directory.
func Load(dir string) (fw.Conformance, error) {
	var doc fw.Conformance
	b, err := os.ReadFile(filepath.Join(dir, fw.ReportFile))
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("%s: %w", filepath.Join(dir, fw.ReportFile), err)
	}
	return doc, nil
}

// Write renders doc into dir/index.html; histories named by results are read relative to dir.
func Write(dir string, doc fw.Conformance) error {
	var b bytes.Buffer
	if err := Render(&b, doc, dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, File), b.Bytes(), 0o644)
}

// maxTimelines bounds the histories drawn (each is read and analysed).
const maxTimelines = 200

// Render writes the HTML report of doc to w.
func Render(w io.Writer, doc fw.Conformance, dir string) error {
	v := view{Doc: doc, Verdict: verdictWords(doc), Exit: doc.Summary.Exit()}
	byArea := map[string]*area{}
	drawn := 0
	for _, r := range doc.Checks {
		if r.Cell != "" {
			continue // the matrix shows them
		}
		key := r.Area + " · " + string(r.Transport)
		a := byArea[key]
		if a == nil {
			a = &area{Name: r.Area, Transport: string(r.Transport), Counts: map[fw.Verdict]int{}}
			byArea[key] = a
		}
		a.Counts[r.Verdict]++
		c := check{Result: r, Bad: bad(r.Verdict), Spec: specLinks(r.Spec), Chart: template.HTML(distribution(r.Measurements))} // #nosec: numbers and escaped names
		if r.History != "" && drawn < maxTimelines {
			drawn++
			c.Timeline = timeline(resolve(dir, r.History), c.Bad)
		}
		a.Checks = append(a.Checks, c)
		if c.Bad {
			a.Bad++
		}
	}
	for _, a := range byArea {
		sort.SliceStable(a.Checks, func(i, j int) bool {
			if a.Checks[i].Bad != a.Checks[j].Bad {
				return a.Checks[i].Bad
			}
			return a.Checks[i].Result.Key() < a.Checks[j].Result.Key()
		})
		v.Areas = append(v.Areas, a)
	}
	sort.Slice(v.Areas, func(i, j int) bool {
		if (v.Areas[i].Bad > 0) != (v.Areas[j].Bad > 0) {
			return v.Areas[i].Bad > 0
		}
		return v.Areas[i].Name+v.Areas[i].Transport < v.Areas[j].Name+v.Areas[j].Transport
	})
	v.Matrix = matrix(doc)
	for _, vd := range []fw.Verdict{fw.FAIL, fw.WARN, fw.ERROR, fw.BLOCKED, fw.INTERRUPTED, fw.PASS, fw.INFOV, fw.NOTSUPPORTED} {
		v.Verdicts = append(v.Verdicts, string(vd))
	}
	return page.Execute(w, v)
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(dir, p)
}

// bad reports whether a verdict is a finding (listed first, drawn large).
func bad(v fw.Verdict) bool {
	switch v {
	case fw.FAIL, fw.WARN, fw.ERROR, fw.BLOCKED, fw.INTERRUPTED:
		return true
	}
	return false
}

// verdictWords is the run's verdict in the summary's words.
func verdictWords(doc fw.Conformance) string {
	s := doc.Summary
	switch {
	case s.Interrupted != "":
		return "interrupted: " + s.Interrupted + " (the report is partial)"
	case len(s.Errors) > 0:
		return fmt.Sprintf("harness error: %d checks could not be judged", len(s.Errors))
	case s.Exit() == 1:
		return fmt.Sprintf("conformance failures: %d failed, %d blocked", len(s.Failed), len(s.Blocked))
	case len(s.Warned) > 0:
		return fmt.Sprintf("every MUST check passed; %d SHOULD warnings", len(s.Warned))
	}
	return "every check it judged passed"
}

type view struct {
	Doc      fw.Conformance
	Verdict  string
	Exit     int
	Areas    []*area
	Matrix   *grid
	Verdicts []string
}

type area struct {
	Name, Transport string
	Counts          map[fw.Verdict]int
	Bad             int
	Checks          []check
}

type check struct {
	Result   fw.Result
	Bad      bool
	Spec     template.HTML
	Timeline template.HTML
	// Chart is the distribution of the check's timing measurements (three or more).
	Chart template.HTML
}

// grid is the compatibility matrix: one row per cell, one column per check.
type grid struct {
	IDs  []string
	Rows []gridRow
}

type gridRow struct {
	Cell     string
	Protocol string         // what the cell's clients speak ("http/1.1", "h2")
	Cells    []fw.MatrixRow // aligned with IDs; zero Verdict: not run
}

func matrix(doc fw.Conformance) *grid {
	if len(doc.Matrix) == 0 {
		return nil
	}
	ids, cells := map[string]bool{}, map[string]map[string]fw.MatrixRow{}
	for _, m := range doc.Matrix {
		ids[m.ID] = true
		if cells[m.Cell] == nil {
			cells[m.Cell] = map[string]fw.MatrixRow{}
		}
		cells[m.Cell][m.ID] = m
	}
	g := &grid{}
	for id := range ids {
		g.IDs = append(g.IDs, id)
	}
	sort.Strings(g.IDs)
	var names []string
	for c := range cells {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		row := gridRow{Cell: c}
		for _, id := range g.IDs {
			row.Cells = append(row.Cells, cells[c][id])
			if p := cells[c][id].Protocol; p != "" {
				row.Protocol = p
			}
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

var (
	rfcRef     = regexp.MustCompile(`RFC (\d{4})`)
	whatwgRef  = regexp.MustCompile(`WHATWG HTML`)
	githubRef  = regexp.MustCompile(`\b([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(\d+)\b`)
	whatwgLink = "https://html.spec.whatwg.org/multipage/server-sent-events.html"
)

// specLinks escapes a spec reference and links the RFCs, the WHATWG spec and GitHub issues.
func specLinks(s string) template.HTML {
	e := template.HTMLEscapeString(s)
	e = rfcRef.ReplaceAllString(e, `<a href="https://www.rfc-editor.org/rfc/rfc$1">RFC $1</a>`)
	e = whatwgRef.ReplaceAllString(e, `<a href="`+whatwgLink+`">WHATWG HTML</a>`)
	e = githubRef.ReplaceAllString(e, `<a href="https://github.com/$1/issues/$2">$1#$2</a>`)
	return template.HTML(e) // #nosec: built from escaped text and fixed markup
}

// timeline draws a history as an SVG: one row per client. Errors are said in place.
func timeline(path string, large bool) template.HTML {
	h, err := history.Load(path)
	if err != nil {
		return template.HTML(`<p class="note">history ` + template.HTMLEscapeString(path) + `: ` + template.HTMLEscapeString(err.Error()) + `</p>`)
	}
	rep := history.Analyze(h)
	return template.HTML(drawTimeline(h, rep, large)) // #nosec: drawTimeline escapes every text it embeds
}

// drawTimeline renders the SVG of a history and its checker report.
func drawTimeline(h history.History, rep history.Report, large bool) string {
	width, rowH := 360.0, 8.0
	if large {
		width, rowH = 900.0, 16.0
	}
	const left = 90.0
	var end time.Duration
	clients := []string{}
	seen := map[string]bool{}
	for _, op := range h.Ops {
		end = max(end, op.T)
		if op.Client != "" && !seen[op.Client] {
			seen[op.Client] = true
			clients = append(clients, op.Client)
		}
	}
	if end <= 0 || len(clients) == 0 {
		return `<p class="note">empty history</p>`
	}
	row := map[string]int{}
	for i, c := range clients {
		row[c] = i
	}
	x := func(t time.Duration) float64 { return left + (width-left-4)*float64(t)/float64(end) }
	y := func(c string) float64 { return 4 + float64(row[c])*(rowH+4) }
	height := 8 + float64(len(clients))*(rowH+4) + 12
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="history timeline">`, width, height)
	// Fault windows, shaded across every row.
	open := map[string]time.Duration{}
	for _, op := range h.Ops {
		switch op.Kind {
		case history.KindFaultStart:
			open[op.Name] = op.T
		case history.KindFaultStop:
			if t0, ok := open[op.Name]; ok {
				fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="0" width="%.1f" height="%.0f"><title>fault %s %s</title></rect>`,
					x(t0), max(x(op.T)-x(t0), 1), height-12, esc(op.Name), esc(op.Detail))
				delete(open, op.Name)
			}
		}
	}
	for name, t0 := range open {
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="0" width="%.1f" height="%.0f"><title>fault %s (not stopped)</title></rect>`,
			x(t0), max(x(end)-x(t0), 1), height-12, esc(name))
	}
	for _, c := range clients {
		fmt.Fprintf(&b, `<text class="label" x="2" y="%.1f">%s</text>`, y(c)+rowH-1, esc(c))
	}
	// Connections as bars, from connect to the next disconnect of the client.
	since := map[string]time.Duration{}
	connected := map[string]bool{}
	for _, op := range h.Ops {
		switch op.Kind {
		case history.KindConnect:
			since[op.Client], connected[op.Client] = op.T, true
		case history.KindDisconnect:
			if connected[op.Client] {
				fmt.Fprintf(&b, `<rect class="conn" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s connected %s–%s</title></rect>`,
					x(since[op.Client]), y(op.Client), max(x(op.T)-x(since[op.Client]), 1), rowH, esc(op.Client), esc(op.Transport), since[op.Client], op.T)
				connected[op.Client] = false
			}
			fmt.Fprintf(&b, `<line class="disc" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>%s disconnected at %s: %s</title></line>`,
				x(op.T), x(op.T), y(op.Client)-2, y(op.Client)+rowH+2, esc(op.Client), op.T, esc(op.Cause))
		}
	}
	for c, on := range connected {
		if on {
			fmt.Fprintf(&b, `<rect class="conn" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s connected from %s</title></rect>`,
				x(since[c]), y(c), max(x(end)-x(since[c]), 1), rowH, esc(c), since[c])
		}
	}
	for _, op := range h.Ops {
		if op.Kind == history.KindEvent && op.Client != "" {
			fmt.Fprintf(&b, `<line class="ev" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>%s seq %d at %s</title></line>`,
				x(op.T), x(op.T), y(op.Client)+1, y(op.Client)+rowH-1, esc(op.Client), op.Seq, op.T)
		}
	}
	// The checker's violations: gaps, duplicates and reorders, in red on their client's row.
	for _, v := range rep.Violations {
		yy := height - 10
		if _, ok := row[v.Client]; ok {
			yy = y(v.Client) + rowH/2
		}
		fmt.Fprintf(&b, `<circle class="violation" cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle>`, x(v.T), yy, rowH/3+1, esc(v.String()))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.0f" y="%.0f">0</text><text class="axis" x="%.0f" y="%.0f" text-anchor="end">%s</text>`,
		left, height-1, width-4, height-1, end.Round(time.Millisecond))
	b.WriteString(`</svg>`)
	return b.String()
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// leadingDuration reads the duration a measurement value starts with: "12ms", "1.5s (idle
// 4s)", or the proxy suite's "12 ms" and "1.23 s".
var leadingDuration = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s?(ns|µs|us|ms|s|m)\b`)

func parseLeading(v string) (time.Duration, bool) {
	m := leadingDuration.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1] + m[2])
	return d, err == nil
}

// distribution draws the timing measurements of a check (three or more values that are
// durations, such as per-event latencies) as small bars, with their p50, p99 and max.
func distribution(ms []fw.Measurement) string {
	type point struct {
		name string
		d    time.Duration
	}
	var pts []point
	for _, m := range ms {
		if d, ok := parseLeading(m.Value); ok {
			pts = append(pts, point{m.Name, d})
		}
	}
	if len(pts) < 3 {
		return ""
	}
	sorted := make([]time.Duration, len(pts))
	for i, p := range pts {
		sorted[i] = p.d
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	q := func(f float64) time.Duration { return sorted[min(len(sorted)-1, int(f*float64(len(sorted))))] }
	top := max(sorted[len(sorted)-1], time.Microsecond)
	const w, barH = 240.0, 6.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="dist" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="timing distribution">`, w, float64(len(pts))*(barH+2)+12)
	for i, p := range pts {
		fmt.Fprintf(&b, `<rect x="0" y="%.0f" width="%.1f" height="%.0f"><title>%s: %s</title></rect>`,
			float64(i)*(barH+2), max(w*float64(p.d)/float64(top), 1), barH, esc(p.name), p.d)
	}
	fmt.Fprintf(&b, `<text x="0" y="%.0f">p50 %s · p99 %s · max %s</text></svg>`, float64(len(pts))*(barH+2)+10, q(0.5), q(0.99), sorted[len(sorted)-1])
	return b.String()
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"join":  strings.Join,
	"lower": func(v fw.Verdict) string { return strings.ToLower(strings.ReplaceAll(string(v), "_", "-")) },
	"count": func(a *area, v string) int { return a.Counts[fw.Verdict(v)] },
	"ms":    func(n int64) string { return (time.Duration(n) * time.Millisecond).String() },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtconform: {{.Doc.Target.Name}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.15em;margin:1.4em 0 .4em} h3{font-size:1em;margin:1em 0 .3em}
.verdict{font-size:1.1em;font-weight:600;padding:.3em .6em;border-radius:4px;display:inline-block}
.exit0{background:#d9f2d9} .exit1{background:#f8d4d4} .exit2,.exit130{background:#f8ecc8}
table{border-collapse:collapse;margin:.3em 0} td,th{border:1px solid #ccc;padding:.2em .4em;vertical-align:top;text-align:left}
.v{font-weight:600;white-space:nowrap} .v-pass{color:#1a7f1a} .v-fail,.v-error{color:#b00} .v-warn{color:#a60} .v-blocked,.v-interrupted{color:#7a3e9d} .v-not-supported,.v-info{color:#666}
tr.bad td{background:#fff4f4} .req{max-width:40em} .obs{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;max-width:50em}
.grid td{font-size:11px;text-align:center;min-width:3.2em} .grid .c-pass{background:#c8ecc8} .grid .c-fail{background:#f2b6b6} .grid .c-warn{background:#f6deb0}
.grid .c-not-supported{background:#eee;color:#999} .grid .c-info{background:#dde8f6} .grid .c-error,.grid .c-blocked,.grid .c-interrupted{background:#e2c9ef}
.timeline .conn{fill:#9cc3e6} .timeline .fault{fill:#f2d0a6;opacity:.6} .timeline .ev{stroke:#1f4e79;stroke-width:1} .timeline .disc{stroke:#555;stroke-width:1.5}
.timeline .violation{fill:#d00} .timeline .label,.timeline .axis{font-size:9px;fill:#444}
.dist rect{fill:#6a9fd4} .dist text{font-size:9px;fill:#444}
.note{color:#666;font-size:12px} .filters label{margin-right:1em}
</style></head><body>
<h1>rtconform report: {{.Doc.Target.Name}}</h1>
<p>Target <code>{{.Doc.Target.URL}}</code> · {{.Doc.Tool}} · started {{date .Doc.Started}} · {{ms .Doc.DurationMS}}{{if .Doc.LabelFilter}} · label filter <code>{{.Doc.LabelFilter}}</code>{{end}}{{if .Doc.Strict}} · strict{{end}}</p>
<p>Capabilities: {{range $i, $c := .Doc.Capabilities}}{{if $i}}, {{end}}<code>{{$c}}</code>{{end}}</p>
<p class="verdict exit{{.Exit}}" id="verdict">exit {{.Exit}}: {{.Verdict}}</p>
<p id="summary">{{.Doc.Summary.Line}}</p>
{{if .Doc.Summary.Causes}}<h2>Causes</h2><ul id="causes">{{range .Doc.Summary.Causes}}<li><b>{{.Key}}</b>: {{.Text}} <span class="note">({{len .Checks}} checks)</span></li>{{end}}</ul>{{end}}
<div class="filters" id="filters">Show: {{range .Verdicts}}<label><input type="checkbox" data-v="{{.}}" checked> {{.}}</label>{{end}}</div>
{{if .Matrix}}<h2>Compatibility matrix</h2>
<table class="grid" id="matrix"><tr><th>cell</th><th>protocol</th>{{range .Matrix.IDs}}<th>{{.}}</th>{{end}}</tr>
{{range .Matrix.Rows}}<tr><th>{{.Cell}}</th><td>{{.Protocol}}</td>{{range .Cells}}{{if .Verdict}}<td class="c-{{lower .Verdict}}" title="{{.ID}}@{{.Verdict}}: {{.Measured}}{{if .Remedy}} — fix: {{.Remedy}}{{end}}">{{.Verdict}}</td>{{else}}<td></td>{{end}}{{end}}</tr>
{{end}}</table>
{{if .Doc.NotEmulated}}<ul class="note" id="not-emulated">{{range $cell, $what := .Doc.NotEmulated}}<li><b>{{$cell}}</b> NOT_EMULATED: {{join $what "; "}}</li>{{end}}</ul>{{end}}{{end}}
<h2>Checks by area</h2>
{{range .Areas}}<h3 class="area" id="area-{{.Name}}-{{.Transport}}">{{.Name}} <span class="note">({{.Transport}}; {{len .Checks}} checks{{if .Bad}}, {{.Bad}} findings{{end}})</span></h3>
<table><tr><th>check</th><th>level</th><th>verdict</th><th>requirement</th><th>what was seen</th><th>time</th></tr>
{{range .Checks}}<tr class="check{{if .Bad}} bad{{end}}" data-verdict="{{.Result.Verdict}}" id="check-{{.Result.Key}}">
<td><b>{{.Result.Key}}</b><br><span class="note">{{.Spec}}</span></td><td>{{.Result.Level}}</td><td class="v v-{{lower .Result.Verdict}}">{{.Result.Verdict}}</td>
<td class="req">{{.Result.Requirement}}</td>
<td class="obs">{{if .Result.Expected}}expected: {{.Result.Expected}}
observed: {{.Result.Observed}}
{{else if and .Bad .Result.Message}}{{.Result.Message}}
{{end}}{{range .Result.Measurements}}{{.Name}}: {{.Value}}
{{end}}{{if .Result.Remedy}}remedy: {{.Result.Remedy}}
{{end}}{{if .Result.Cause}}cause: {{.Result.Cause.Key}}
{{end}}{{.Chart}}{{.Timeline}}</td><td>{{ms .Result.DurationMS}}</td></tr>
{{end}}</table>{{end}}
<script>
document.querySelectorAll('#filters input').forEach(function(cb){cb.addEventListener('change',function(){
var on={};document.querySelectorAll('#filters input').forEach(function(c){on[c.dataset.v]=c.checked});
document.querySelectorAll('tr.check').forEach(function(tr){tr.style.display=on[tr.dataset.verdict]?'':'none'})})});
</script>
</body></html>
`))
