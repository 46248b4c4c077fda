package htmlreport

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rtconform/rtconform/internal/need"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// sample is a report with a failure, a warning, a pass, a matrix of two cells and a failing
// chaos check whose history has a duplicate (a violation the timeline draws in red).
func sample(t *testing.T) (fw.Conformance, string) {
	t.Helper()
	dir := t.TempDir()
	rec := history.NewRecorder(0, map[string]string{"check": "RC-SSE-001"}, history.Rules{Unique: true})
	rec.PublishInvoke("pub", "t", 1)
	rec.PublishOK("pub", "t", 1)
	rec.Connect("sse-1", "sse", "t", "", 0, nil)
	rec.Event("sse-1", "1", 1)
	rec.FaultStart("reset_peer", "cut")
	rec.Disconnect("sse-1", "eof")
	rec.FaultStop("reset_peer", "")
	rec.Connect("sse-1", "sse", "t", "1", 0, nil)
	rec.Event("sse-1", "1", 1) // a duplicate
	hpath, err := rec.History().SaveReport(dir, "RC-SSE-001", "")
	if err != nil {
		t.Fatal(err)
	}
	doc := fw.Conformance{Tool: "rtconform test", Target: fw.ReportTarget{Name: "sample", URL: "http://127.0.0.1:1"},
		Capabilities: []fw.Capability{fw.CapSSE}, Started: time.Now(), DurationMS: 1234,
		Checks: []fw.Result{
			{ID: "SSE-RESUME-001", Level: fw.MUST, Transport: fw.SSE, Area: "SSE-RESUME", Requirement: "resume <exactly>", Spec: "WHATWG HTML §9.2.4; RFC 9110",
				Verdict: fw.FAIL, Expected: "[2 3]", Observed: "[1 2 3]", Remedy: "replay after the id", Cause: &fw.Cause{Key: "resume-inclusive", Text: "inclusive"}},
			{ID: "SSE-WIRE-001", Level: fw.SHOULD, Transport: fw.SSE, Area: "SSE-WIRE", Requirement: "a should", Verdict: fw.WARN, Expected: "x", Observed: "y"},
			{ID: "SSE-WIRE-002", Level: fw.MUST, Transport: fw.SSE, Area: "SSE-WIRE", Requirement: "a must", Verdict: fw.PASS,
				Measurements: []fw.Measurement{{Name: "latency", Value: "3 ms"}}},
			{ID: "SSE-TIME-002", Level: fw.MUST, Transport: fw.SSE, Area: "SSE-TIME", Requirement: "timely", Verdict: fw.PASS,
				Measurements: []fw.Measurement{{Name: "event 1 latency", Value: "2ms"}, {Name: "event 2 latency", Value: "4ms"},
					{Name: "event 3 latency", Value: "1.5 s"}, {Name: "note", Value: "not a time"}}},
			{ID: "RC-SSE-001", Level: fw.MUST, Transport: fw.SSE, Area: "RC-SSE", Requirement: "no gap", Verdict: fw.FAIL, History: hpath},
			{ID: "PX-SSE-002", Cell: "nginx:naive", Level: fw.MUST, Transport: fw.SSE, Area: "PX-SSE", Verdict: fw.FAIL, Remedy: "proxy_buffering off"},
			{ID: "PX-SSE-002", Cell: "nginx:recommended", Level: fw.MUST, Transport: fw.SSE, Area: "PX-SSE", Verdict: fw.PASS},
		},
		Matrix: []fw.MatrixRow{
			{Cell: "nginx:naive", Protocol: "http/1.1", Transport: fw.SSE, ID: "PX-SSE-002", Verdict: fw.FAIL, Measured: "held 4.2 KiB", Remedy: "proxy_buffering off"},
			{Cell: "nginx:recommended", Transport: fw.SSE, ID: "PX-SSE-002", Verdict: fw.PASS, Measured: "3 ms"},
		},
		NotEmulated: map[string][]string{"nginx:naive": {"request collapsing", "a 60 s cap"}},
	}
	doc.Summary.Failed = []string{"SSE-RESUME-001", "RC-SSE-001", "PX-SSE-002@nginx:naive"}
	doc.Summary.Warned = []string{"SSE-WIRE-001"}
	doc.Summary.MUST.Failed, doc.Summary.MUST.Passed = 3, 3
	return doc, dir
}

func TestRender(t *testing.T) {
	doc, dir := sample(t)
	var b bytes.Buffer
	if err := Render(&b, doc, dir); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{
		`id="verdict"`, "exit 1: conformance failures: 3 failed",
		`id="matrix"`, `class="c-fail" title="PX-SSE-002@FAIL: held 4.2 KiB — fix: proxy_buffering off"`,
		`<li><b>nginx:naive</b> NOT_EMULATED: request collapsing; a 60 s cap</li>`,
		`<tr><th>cell</th><th>protocol</th>`, `<tr><th>nginx:naive</th><td>http/1.1</td>`,
		`<svg class="timeline"`, `class="violation"`, `class="fault"`, `class="conn"`,
		`<a href="https://www.rfc-editor.org/rfc/rfc9110">RFC 9110</a>`,
		"resume &lt;exactly&gt;", "remedy: replay after the id", `<svg class="dist"`, "p50 4ms · p99 1.5s · max 1.5s", "cause: resume-inclusive", "latency: 3 ms",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Failures first: the failing areas come before the passing parts.
	if i, j := strings.Index(html, `id="check-SSE-RESUME-001"`), strings.Index(html, `id="check-SSE-WIRE-002"`); i < 0 || j < 0 || i > j {
		t.Errorf("the failure is not listed before the pass (%d, %d)", i, j)
	}
	// Self-contained: nothing to fetch.
	for _, ext := range []string{"<link ", "<script src", "<img src", "@import", "url(http"} {
		if strings.Contains(html, ext) {
			t.Errorf("an external asset: %q", ext)
		}
	}
}

// The report in a real browser (Debian's Chromium through chromedp): it loads from disk, the
// verdict, the matrix's failing cell and the timeline's violation are there, the verdict
// filter hides the passing rows, and a screenshot is kept (its path is logged).
func TestReportInChromium(t *testing.T) {
	need.Require(t, "chromium")
	browser, _ := need.ChromiumPath()
	doc, dir := sample(t)
	if err := Write(dir, doc); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(dir, File)), chromedp.WaitVisible("#verdict")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	visible := `[...document.querySelectorAll('tr.check[data-verdict="PASS"]')].filter(r => r.offsetParent !== null).length`
	verdict, err := chromedp.Run(ctx, chromedp.Text("#verdict"))
	failCells, err2 := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#matrix td.c-fail').length`))
	violations, err3 := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.timeline circle.violation').length`))
	visiblePass, err4 := chromedp.Run(ctx, chromedp.Evaluate[int](visible))
	shot, err5 := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	err6 := chromedp.Do(ctx, chromedp.Click(`#filters input[data-v="PASS"]`))
	visibleAfter, err7 := chromedp.Run(ctx, chromedp.Evaluate[int](visible))
	for _, e := range []error{err, err2, err3, err4, err5, err6, err7} {
		if e != nil {
			t.Fatalf("chromium: %v", e)
		}
	}
	if !strings.Contains(verdict, "exit 1") || failCells != 1 || violations < 1 || visiblePass != 2 || visibleAfter != 0 {
		t.Errorf("in the browser: verdict %q, %d failing matrix cells (want 1), %d violations drawn (want ≥ 1), %d passing rows shown, %d after unticking PASS (want 2, 0)",
			verdict, failCells, violations, visiblePass, visibleAfter)
	}
	out := filepath.Join(os.TempDir(), "rtconform-html-report.jpeg")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
}
