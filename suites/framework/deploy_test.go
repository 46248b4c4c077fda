package framework

import (
	"context"
	"strings"
	"testing"
)

func TestLoadDeployPointsTheTargetAtTheOrigin(t *testing.T) {
	pub, origin := "https://rt.example.com", "http://127.0.0.1:8080"
	p, err := Load("", Overrides{Public: &pub, Origin: &origin})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.URL != origin || !p.Deploy.Enabled() || p.Target.Has(CapRestart) || len(p.Notes) != 1 {
		t.Fatalf("with an origin the wire suites judge it, restart is dropped with a note: url %q caps %v notes %q", p.Target.URL, p.Target.Capabilities, p.Notes)
	}
	p, err = Load("", Overrides{Public: &pub})
	if err != nil || p.Target.URL != pub {
		t.Fatalf("without an origin the wire suites go through the public URL: %q %v", p.Target.URL, err)
	}
	bad := "ftp://x"
	if _, err := Load("", Overrides{Public: &pub, Origin: &bad}); err == nil || !strings.Contains(err.Error(), "deploy.origin") {
		t.Fatalf("a bad origin must name deploy.origin: %v", err)
	}
	if _, err := Load(write(t, "deploy: {origin: 'http://a:1'}\n"), Overrides{}); err == nil || !strings.Contains(err.Error(), "deploy.public") {
		t.Fatalf("an origin without a public URL must name deploy.public: %v", err)
	}
	path := write(t, "target:\n  url: http://elsewhere:1\n  capabilities: [sse]\ndeploy: {public: 'http://pub:1'}\n")
	if _, err := Load(path, Overrides{}); err == nil || !strings.Contains(err.Error(), "target.url") || !strings.Contains(err.Error(), path) {
		t.Fatalf("a target.url that is neither public nor origin must be refused naming file and key: %v", err)
	}
}

func TestBlockedMustChecksFailTheRunUnderOneCause(t *testing.T) {
	c := &Cause{Key: "buffering:sse", Text: "the path buffers SSE"}
	rs := []Result{
		{ID: "PX-SSE-002", Cell: "deployment", Level: MUST, Verdict: FAIL, Cause: c},
		{ID: "SSE-RESP-001", Level: MUST, Verdict: BLOCKED, Cause: c},
		{ID: "SSE-RESP-002", Level: SHOULD, Verdict: BLOCKED, Cause: c},
	}
	var s Summary
	for _, r := range rs {
		switch r.Verdict {
		case BLOCKED:
			s.level(r.Level).Blocked++
		case FAIL:
			s.Failed = append(s.Failed, r.Key())
		}
	}
	s.groupCauses(rs)
	if len(s.Causes) != 1 || len(s.Causes[0].Checks) != 3 {
		t.Fatalf("one cause with three checks, got %+v", s.Causes)
	}
	s.Failed = nil
	if s.Exit() != 1 {
		t.Fatalf("a BLOCKED MUST check alone exits %d, want 1", s.Exit())
	}
	if !strings.Contains(s.Line(), "BLOCKED: 2 (1 MUST)") {
		t.Fatalf("summary line: %s", s.Line())
	}
}

func TestProbeRunsOnceAndOnlyThroughAnIntermediary(t *testing.T) {
	calls := 0
	probesMu.Lock()
	probes["probe-test"] = func(context.Context, *Run) *Cause { calls++; return &Cause{Key: "k", Text: "t"} }
	probesMu.Unlock()
	defer func() { probesMu.Lock(); delete(probes, "probe-test"); probesMu.Unlock() }()
	r := &Run{Profile: Profile{Target: Target{Capabilities: []Capability{"probe-test"}}}}
	if r.BlockedBy("probe-test") != nil || calls != 0 {
		t.Fatal("not a deployment run: no probe, nothing blocked")
	}
	r = &Run{Profile: Profile{Deploy: Deploy{Public: "http://p"}, Target: Target{Capabilities: []Capability{"probe-test"}}}}
	for range 3 {
		if c := r.BlockedBy("probe-test"); c == nil || c.Key != "k" {
			t.Fatalf("blocked by %v", c)
		}
	}
	if calls != 1 {
		t.Fatalf("the probe ran %d times, want once", calls)
	}
}
