package framework

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Failures that name the same diagnosed cause are one finding: grouped in the summary, the
// console and report.md, largest group first, before the checks are listed one by one.
func TestFailuresAreGroupedByCause(t *testing.T) {
	inclusive := &Cause{Key: "resume-inclusive", Text: "the resume was inclusive: the event of the Last-Event-ID was replayed"}
	gap := &Cause{Key: "resume-gap", Text: "events after the resume token were missing"}
	rs := []Result{
		{ID: "SSE-RESUME-001", Level: MUST, Verdict: FAIL, Cause: inclusive},
		{ID: "SSE-RESUME-002", Level: MUST, Verdict: FAIL, Cause: inclusive},
		{ID: "RC-SSE-001", Level: MUST, Verdict: FAIL, Cause: inclusive},
		{ID: "WS-RESUME-001", Level: MUST, Verdict: FAIL, Cause: gap},
		{ID: "SSE-RESP-004", Level: SHOULD, Verdict: WARN},
		{ID: "SSE-RESUME-003", Level: MUST, Verdict: PASS, Cause: gap}, // a pass never joins a group
	}
	var s Summary
	s.groupCauses(rs)
	if len(s.Causes) != 2 || s.Causes[0].Key != "resume-inclusive" || len(s.Causes[0].Checks) != 3 ||
		s.Causes[1].Key != "resume-gap" || strings.Join(s.Causes[1].Checks, ",") != "WS-RESUME-001" {
		t.Fatalf("causes = %+v, want resume-inclusive (3 checks) then resume-gap (WS-RESUME-001)", s.Causes)
	}

	doc := Conformance{Target: ReportTarget{Name: "t", URL: "http://x"}, Checks: rs, Summary: s}
	var out bytes.Buffer
	PrintSummary(&out, doc, "dir")
	console := out.String()
	if !strings.Contains(console, "3 checks: "+inclusive.Text) || !strings.Contains(console, "SSE-RESUME-001 SSE-RESUME-002 RC-SSE-001") {
		t.Errorf("the console does not group by cause:\n%s", console)
	}
	if strings.Index(console, "causes") > strings.Index(console, "FAIL  SSE-RESUME-001") {
		t.Errorf("the causes come after the single failures:\n%s", console)
	}
	var md strings.Builder
	WriteMarkdown(&md, doc)
	if !strings.Contains(md.String(), "## Causes") || !strings.Contains(md.String(), "**"+inclusive.Text+"** (3 checks)") {
		t.Errorf("report.md has no causes section:\n%s", md.String())
	}
}

func TestWithQuery(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://h/sse/t", "http://h/sse/t?lastEventId=a+b%26c"},
		{"http://h/.well-known/mercure?topic=t", "http://h/.well-known/mercure?topic=t&lastEventId=a+b%26c"},
		{"ws://h/ws/t?x=1", "ws://h/ws/t?x=1&lastEventId=a+b%26c"},
	} {
		if got := WithQuery(c.in, "lastEventId", "a b&c"); got != c.want {
			t.Errorf("WithQuery(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// An interrupted run exits 130 whatever else it saw, and its summary says it is partial.
func TestInterruptedSummary(t *testing.T) {
	s := Summary{Failed: []string{"X-Y-001"}, Errors: []string{"X-Y-002"}, Interrupted: "Interrupted by User"}
	s.MUST.Interrupted = 1
	if s.Exit() != ExitInterrupted {
		t.Errorf("exit %d, want %d", s.Exit(), ExitInterrupted)
	}
	if l := s.Line(); !strings.Contains(l, "INTERRUPTED: 1") || !strings.Contains(l, "partial") {
		t.Errorf("summary line %q does not say the run was interrupted", l)
	}
	if s.Total() != 1 {
		t.Errorf("total %d, want the interrupted check counted", s.Total())
	}
}

// A passing run's report.md is still a CI job summary: the area table and a "no failures" line.
func TestMarkdownOnAPass(t *testing.T) {
	rs := []Result{
		{ID: "SSE-WIRE-001", Area: "SSE-WIRE", Level: MUST, Transport: "sse", Verdict: PASS, DurationMS: 1500},
		{ID: "SSE-WIRE-002", Area: "SSE-WIRE", Level: SHOULD, Transport: "sse", Verdict: PASS, DurationMS: 500},
		{ID: "WS-HS-001", Level: MUST, Transport: "websocket", Verdict: NOTSUPPORTED},
	}
	doc := Conformance{Target: ReportTarget{Name: "ref", URL: "http://x"}, Checks: rs}
	doc.Summary.MUST.Passed, doc.Summary.SHOULD.Passed, doc.Summary.MUST.NotSupported = 1, 1, 1
	var md strings.Builder
	WriteMarkdown(&md, doc)
	out := md.String()
	for _, want := range []string{
		"# rtconform report: ref", doc.Summary.Line(), "No failures",
		"| area | transport | checks | PASS | FAIL | WARN | NOT_SUPPORTED | BLOCKED | ERROR | INFO | duration |",
		"| SSE-WIRE | sse | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 2.0 s |",
		"| WS-HS | websocket | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0 | 0.0 s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report.md lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "## Not passed") || strings.Contains(out, "INTERRUPTED") {
		t.Errorf("a pass lists failures or mentions INTERRUPTED:\n%s", out)
	}
}

// Every failure is listed (ID@cell, level, requirement, expected/observed, remedy, cause) before
// the area table, whose counts are exact; the list is bounded.
func TestMarkdownFailuresAndAreas(t *testing.T) {
	cause := &Cause{Key: "buffered", Text: "the proxy buffered the stream"}
	rs := []Result{
		{ID: "PX-SSE-002", Cell: "nginx:naive", Area: "PX-SSE", Level: MUST, Transport: "sse", Verdict: FAIL,
			Requirement: "events are not buffered", Expected: "first byte < 1s", Observed: "first byte after 30s | never\nflushed",
			Remedy: "proxy_buffering off;", Cause: cause, Message: "[PX-SSE-002@nginx:naive] buffered", DurationMS: 2000},
		{ID: "PX-SSE-003", Cell: "nginx:naive", Area: "PX-SSE", Level: MUST, Transport: "sse", Verdict: BLOCKED, Cause: cause, DurationMS: 0},
		{ID: "PX-SSE-002", Cell: "nginx:recommended", Area: "PX-SSE", Level: MUST, Transport: "sse", Verdict: PASS, DurationMS: 1000},
		{ID: "WS-HS-001", Area: "WS-HS", Level: SHOULD, Transport: "websocket", Verdict: WARN,
			Requirement: "the handshake is quick", Observed: strings.Repeat("x", 3000), Message: "slow", DurationMS: 250},
		{ID: "WS-HS-002", Area: "WS-HS", Level: MUST, Transport: "websocket", Verdict: ERROR, Message: "could not connect"},
		{ID: "WS-HS-003", Area: "WS-HS", Level: INFO, Transport: "websocket", Verdict: INFOV},
		{ID: "WS-HS-004", Area: "WS-HS", Level: MUST, Transport: "websocket", Verdict: INTERRUPTED, Message: "stopped"},
	}
	doc := Conformance{Target: ReportTarget{Name: "t", URL: "http://x"}, Checks: rs}
	var md strings.Builder
	WriteMarkdown(&md, doc)
	out := md.String()
	for _, want := range []string{
		"## Not passed (5)",
		"### FAIL `PX-SSE-002@nginx:naive` (MUST, sse)", "- requirement: events are not buffered",
		"- expected: first byte < 1s", "- observed: first byte after 30s | never flushed",
		"- remedy: proxy_buffering off;", "- cause: `buffered`",
		"### BLOCKED `PX-SSE-003@nginx:naive`", "### WARN `WS-HS-001` (SHOULD, websocket)", "### ERROR `WS-HS-002`",
		"- observed: " + strings.Repeat("x", 1000) + "…\n",
		"### INTERRUPTED `WS-HS-004` (MUST, websocket)",
		"| area | transport | checks | PASS | FAIL | WARN | NOT_SUPPORTED | BLOCKED | ERROR | INFO | INTERRUPTED | duration |",
		"| PX-SSE | sse | 3 | 1 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 3.0 s |",
		"| WS-HS | websocket | 4 | 0 | 0 | 1 | 0 | 0 | 1 | 1 | 1 | 0.2 s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report.md lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.Repeat("x", 1001)) {
		t.Error("the observed text is not truncated to 1000 characters")
	}
	if strings.Contains(out, "No failures") {
		t.Error("says no failures")
	}
	if i, j := strings.Index(out, "## Not passed"), strings.Index(out, "## Areas"); i < 0 || j < 0 || i > j {
		t.Errorf("the failures do not come before the area table:\n%s", out)
	}
	if strings.Index(out, "## Not passed") < strings.Index(out, doc.Summary.Line()) {
		t.Error("the failures come before the summary line")
	}
	// Table cells: a | is escaped, no newline splits a row.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "|") && !strings.HasSuffix(l, "|") {
			t.Errorf("broken table row %q", l)
		}
	}

	var many []Result
	for i := 0; i < 250; i++ {
		many = append(many, Result{ID: fmt.Sprintf("SSE-WIRE-%03d", i), Area: "SSE-WIRE", Level: MUST, Transport: "sse", Verdict: FAIL, Message: "m"})
	}
	md.Reset()
	WriteMarkdown(&md, Conformance{Checks: many})
	out = md.String()
	if n := strings.Count(out, "### FAIL "); n != MarkdownFailureLimit {
		t.Errorf("%d failures listed in full, want %d", n, MarkdownFailureLimit)
	}
	if !strings.Contains(out, "… and 50 more (see conformance-report.json)") || !strings.Contains(out, "`SSE-WIRE-199`") || strings.Contains(out, "`SSE-WIRE-200`") {
		t.Errorf("the list is not bounded at 200 with a count of the rest:\n%s", out[len(out)-2000:])
	}
	if !strings.Contains(out, "| SSE-WIRE | sse | 250 | 0 | 250 |") {
		t.Error("the area table does not count all 250")
	}
}
