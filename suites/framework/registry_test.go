package framework

import (
	"slices"
	"strings"
	"testing"
)

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), want) {
			t.Errorf("want a panic containing %q, got %v", want, r)
		}
	}()
	f()
}

func TestRegisterRejectsBadAndDuplicateIDs(t *testing.T) {
	ok := Check{ID: "TST-REG-001", Level: MUST, Transport: SSE, Requirement: "r", Spec: "s", Run: func(*T) {}}
	Register(ok)
	mustPanic(t, "duplicate check TST-REG-001", func() { Register(ok) })
	bad := ok
	bad.ID = "TST-REG-1"
	mustPanic(t, "not AREA-TOPIC-NNN", func() { Register(bad) })
	bad = ok
	bad.ID, bad.Level = "TST-REG-002", "MAY"
	mustPanic(t, "level", func() { Register(bad) })
	c, found := Lookup("TST-REG-001")
	if !found || c.Timeout != DefaultTimeout {
		t.Fatalf("lookup: %+v %v", c, found)
	}
	if got := c.AllLabels(); !slices.Equal(got, []string{"id:TST-REG-001", "sse", "tst-reg", "must"}) {
		t.Fatalf("labels %v", got)
	}
}

func TestSummaryExitCodes(t *testing.T) {
	if (Summary{}).Exit() != 0 {
		t.Error("empty summary")
	}
	if (Summary{Failed: []string{"A"}}).Exit() != 1 {
		t.Error("a failure is exit 1")
	}
	if (Summary{Failed: []string{"A"}, Errors: []string{"B"}}).Exit() != 2 {
		t.Error("a harness error takes precedence")
	}
	if (Summary{Warned: []string{"A"}}).Exit() != 0 {
		t.Error("a warning alone passes")
	}
}

func TestMatrixCellsShareAnIDButNotAKey(t *testing.T) {
	c := Check{ID: "TST-CELL-001", Level: MUST, Transport: SSE, Requirement: "r", Spec: "s", Run: func(*T) {},
		Cell: "nginx:naive", Labels: []string{"proxy", "proxy:nginx"}}
	Register(c)
	c2 := c
	c2.Cell = "nginx:recommended"
	Register(c2)
	mustPanic(t, "duplicate check TST-CELL-001@nginx:naive", func() { Register(c) })
	bad := c
	bad.Cell = "a b"
	mustPanic(t, "has cell", func() { Register(bad) })
	got, found := Lookup("TST-CELL-001@nginx:recommended")
	if !found || got.Cell != "nginx:recommended" {
		t.Fatalf("lookup by key: %+v %v", got, found)
	}
	if l := got.AllLabels(); !slices.Equal(l, []string{"id:TST-CELL-001", "sse", "tst-cell", "must", "cell:nginx:recommended", "proxy", "proxy:nginx"}) {
		t.Fatalf("labels %v", l)
	}
}

func TestEffectiveLabelFilterMakesChaosAndProxyOptIn(t *testing.T) {
	Register(Check{ID: "TST-REG-009", Level: MUST, Transport: SSE, Requirement: "r", Spec: "s", Run: func(*T) {}})
	Register(Check{ID: "TST-CELL-009", Level: MUST, Transport: SSE, Requirement: "r", Spec: "s", Run: func(*T) {}, Labels: []string{"proxy"}})
	for in, want := range map[string]string{
		"":                  "!chaos && !proxy && !fallback",
		"sse":               "(sse) && !chaos && !proxy && !fallback",
		"sse || websocket":  "(sse || websocket) && !chaos && !proxy && !fallback",
		"chaos":             "chaos",
		"fallback":          "fallback",
		"proxy && sse":      "proxy && sse",
		"id:RC-SSE-001":     "id:RC-SSE-001",
		" longpoll && must": "longpoll && must", // selects no check here: nothing to exclude
		"tst-reg":           "(tst-reg) && !chaos && !proxy && !fallback",
		"tst-cell":          "tst-cell", // selects only opt-in checks: asked for
		"sse &&":            "sse &&",   // a syntax error is the caller's to report
	} {
		if got := EffectiveLabelFilter(in); got != want {
			t.Errorf("EffectiveLabelFilter(%q) = %q, want %q", in, got, want)
		}
	}
}
