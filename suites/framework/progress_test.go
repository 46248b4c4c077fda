package framework

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// An area's line comes when its last check is judged, with its counts; on a terminal a
// status line of the areas under way is rewritten in place before it.
func TestProgressLines(t *testing.T) {
	for _, live := range []bool{false, true} {
		var b bytes.Buffer
		p := &Progress{w: &b, Live: live, start: time.Now(), areas: map[string]*areaProgress{
			"SSE-WIRE": {name: "SSE-WIRE", transport: "sse", total: 3},
			"WS-HS":    {name: "WS-HS", transport: "websocket", total: 1},
		}}
		p.done(Result{Area: "SSE-WIRE", Verdict: PASS})
		p.done(Result{Area: "SSE-WIRE", Verdict: FAIL})
		p.done(Result{Area: "WS-HS", Verdict: BLOCKED})
		p.done(Result{Area: "SSE-WIRE", Verdict: WARN})
		p.done(Result{Area: "OTHER", Verdict: PASS}) // not counted: not in the run's areas
		p.Finish()
		out := b.String()
		for _, want := range []string{"area WS-HS (websocket): 1/1 done, 1 blocked, ", "area SSE-WIRE (sse): 3/3 done, 1 failed, 1 warned, "} {
			if !strings.Contains(out, want) {
				t.Errorf("live=%v: no %q in %q", live, want, out)
			}
		}
		if got := strings.Contains(out, "\r\033[K"); got != live {
			t.Errorf("live=%v: status line rewriting %v in %q", live, got, out)
		}
		if live && !strings.Contains(out, "SSE-WIRE 2/3 (1 failed)") {
			t.Errorf("no live status of the area under way in %q", out)
		}
		if strings.Index(out, "WS-HS (websocket)") > strings.Index(out, "SSE-WIRE (sse): 3/3") {
			t.Errorf("lines not in the order the areas finished: %q", out)
		}
		if !live && strings.Count(out, "\n") != 2 {
			t.Errorf("want exactly the two area lines, got %q", out)
		}
	}
}
