package main

// The SSE suite against third-party servers (fixtures/thirdparty/ssesrv): r3labs/sse and
// tmaxmax/go-sse set up as their READMEs show, with replay on. The verdicts must match what is
// known of those libraries; the table, with the reason for each finding read in the library's
// source, is in the fixtures/thirdparty/ssesrv package doc.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// thirdPartySSEFindings are the checks each SSE server fails (FAIL) or warns on (WARN) under
// --label-filter 'sse && !chaos && !proxy' (the wire checks and the fallback checks of SSE),
// exactly; every group is explained in the ssesrv package doc.
var thirdPartySSEFindings = map[string]struct{ fail, warn []string }{
	"r3labs": {
		fail: slices.Concat(
			// EventLog.Replay sends every event whose id >= Last-Event-ID: the event of
			// the resume id itself is delivered again (inclusive resume).
			[]string{"SSE-RESUME-001", "SSE-RESUME-007", "SSE-RESUME-008", "SSE-RESUME-009"},
			// A numeric Last-Event-ID it never issued replays nothing and the stream goes
			// on with live events: no signal (a non-numeric one is refused with 400).
			[]string{"SSE-RESUME-005"},
			// ServeHTTP writes the whole payload after one "data: " (SplitData is off by
			// default): its line breaks end the field, so later lines become fields, comments
			// or a new event, and a trailing blank line ends the event early.
			[]string{"SSE-WIRE-002", "SSE-WIRE-005", "SSE-PAYLOAD-005", "SSE-PAYLOAD-006", "SSE-PAYLOAD-007", "SSE-PAYLOAD-011"},
			// ServeHTTP ends the stream on an event with empty data and no comment.
			[]string{"SSE-PAYLOAD-001"},
			// ServeHTTP serves any method: a DELETE opens an event stream.
			[]string{"SSE-RESP-010"},
		),
		warn: []string{
			// The 1 MiB multi-line payload: the same single data: line as above.
			"SSE-PAYLOAD-009",
			// A subscriber without Last-Event-ID starts at id 0: the whole EventLog is
			// replayed to every new connection.
			"SSE-DELIVER-003",
			// No X-Accel-Buffering header by default (Server.Headers can add one): behind
			// nginx's default buffering nothing arrives.
			"SSE-RESP-005", "FB-SSE-002",
			// Headers are flushed at once, but no body byte (comment, retry) until an event.
			"SSE-TIME-001",
		},
	},
	"gosse": {
		fail: []string{
			// Session sends the status and headers only with the first Send/Flush: a quiet
			// topic gets no response head at all.
			"SSE-RESP-001",
			// findIDInQueue (auto ids) does not stop at the end of the buffer: a resume from
			// the newest id replays the whole buffer.
			"SSE-RESUME-009",
			// An id that does not parse is ignored without a signal (Subscription.LastEventID:
			// "If the ID is invalid replaying events will be omitted"): a silent restart
			// from now.
			"SSE-RESUME-005",
			// Message.AppendData("") appends no data field (the event is not dispatched),
			// and a trailing line break is dropped.
			"SSE-PAYLOAD-001", "SSE-PAYLOAD-007",
			// ServeHTTP subscribes any method: a DELETE becomes a (headerless) stream.
			"SSE-RESP-010",
		},
		warn: []string{
			// Headers and first byte only with the first event (see SSE-RESP-001).
			"SSE-TIME-001",
			// HEAD is subscribed like GET: no answer until an event is published.
			"SSE-RESP-009",
			// Upgrade sets Content-Type only: no Cache-Control, no X-Accel-Buffering (so
			// nothing arrives behind nginx's default buffering).
			"SSE-RESP-004", "SSE-RESP-005", "FB-SSE-002",
		},
	},
}

func TestThirdPartySSEServers(t *testing.T) {
	// The profile starts the server with go run: build it once so parallel runs only link.
	warm := exec.Command("go", "build", "-o", os.DevNull, "./fixtures/thirdparty/cmd/thirdparty-sse")
	warm.Dir = root
	if out, err := warm.CombinedOutput(); err != nil {
		t.Fatalf("building the third-party SSE servers: %v\n%s", err, out)
	}
	for _, name := range []string{"r3labs", "gosse"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			profile := filepath.Join("fixtures", "profiles", "thirdparty-sse.yaml")
			r := cliEnv(t, 6*time.Minute, []string{"RTCONFORM_THIRDPARTY_SSE=" + name},
				"run", "--config", profile, "--label-filter", "sse && !chaos && !proxy", "--report-dir", dir)
			if r.report == nil {
				t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if len(r.report.Checks) < 50 {
				t.Errorf("%d checks ran, want >= 50", len(r.report.Checks))
			}
			want := thirdPartySSEFindings[name]
			requireFindings(t, name, r, want.fail, want.warn)
			if t.Failed() {
				t.Logf("stdout:\n%s", r.stdout)
			}
		})
	}
}
