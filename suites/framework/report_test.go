package framework

import (
	"bytes"
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
