package main

import (
	"bytes"
	"strings"
	"testing"

	fw "github.com/rtconform/rtconform/suites/framework"
)

func TestRunPointsTimeoutsOnARemoteTargetAtDeploy(t *testing.T) {
	timedOut := fw.Result{ID: "SSE-RESP-001", Verdict: fw.FAIL, Observed: "no headers (the check's 30s timeout expired)"}
	doc := fw.Conformance{Checks: []fw.Result{timedOut, timedOut, timedOut}}
	var b bytes.Buffer
	hintTimeouts(&b, doc, fw.Profile{Target: fw.Target{URL: "https://rt.example.com"}})
	if !strings.Contains(b.String(), "rtconform deploy --target https://rt.example.com") {
		t.Errorf("no deploy hint for three timeouts on a remote URL: %q", b.String())
	}
	b.Reset()
	hintTimeouts(&b, fw.Conformance{Checks: []fw.Result{timedOut}}, fw.Profile{Target: fw.Target{URL: "https://rt.example.com"}})
	hintTimeouts(&b, doc, fw.Profile{}) // the in-process reference
	if b.Len() != 0 {
		t.Errorf("a hint without cause: %q", b.String())
	}
}

func TestAttributionNamesServerAndPath(t *testing.T) {
	doc := fw.Conformance{Checks: []fw.Result{
		{ID: "WS-HS-001", Verdict: fw.FAIL},
		{ID: "PX-SSE-002", Cell: "deployment", Verdict: fw.FAIL},
		{ID: "LP-HOLD-001", Verdict: fw.FAIL, Cause: &fw.Cause{Key: "idle-timeout:longpoll"}},
		{ID: "SSE-RESUME-001", Verdict: fw.FAIL, Cause: &fw.Cause{Key: "resume-inclusive"}},
		{ID: "SSE-RESP-001", Verdict: fw.BLOCKED},
		{ID: "SSE-RESP-002", Verdict: fw.PASS},
	}}
	var b bytes.Buffer
	printAttribution(&b, doc, fw.Deploy{Public: "https://p", Origin: "http://o"})
	out := b.String()
	for _, want := range []string{"judged on the origin http://o): 2 findings: FAIL WS-HS-001, FAIL SSE-RESUME-001", "(proxies/CDN): 2 findings: FAIL PX-SSE-002@deployment, FAIL LP-HOLD-001", "blocked by a fault of the path (see causes): 1 of the server's checks"} {
		if !strings.Contains(out, want) {
			t.Errorf("attribution lacks %q:\n%s", want, out)
		}
	}
}
