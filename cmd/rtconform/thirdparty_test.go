package main

// The WebSocket suite against third-party servers (fixtures/thirdparty): plain echo servers
// built on gorilla/websocket, coder/websocket and golang.org/x/net/websocket. The verdicts must
// match what is known of those libraries; the table is in the suites/websocket package doc
// ("Validation against third-party servers").

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// idRange returns area-NNN for n in [from, to].
func idRange(area string, from, to int) []string {
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, fmt.Sprintf("%s-%03d", area, n))
	}
	return out
}

// utf8Unchecked are the checks a server fails when it does not validate the UTF-8 of text
// messages (Autobahn 6.x): invalid text is accepted (FAIL), so it is not failed fast (WARN).
var utf8Unchecked = slices.Concat(idRange("WS-UTF8", 101, 170), idRange("WS-UTF8", 201, 205), idRange("WS-UTF8", 301, 304))

// thirdPartyExceptions are the checks (FAIL or WARN) each echo server is known not to pass,
// with the reason; every group is documented in the suites/websocket package doc.
var thirdPartyExceptions = map[string][]string{
	"gorilla": slices.Concat(
		// Conn.ReadMessage does not validate UTF-8: gorilla leaves it to the application
		// (its examples/autobahn server checks utf8.Valid itself; examples/echo does not).
		utf8Unchecked,
		// advanceFrame reads a close code only when len(payload) >= 2: a 1-byte close body
		// is taken as "no status" and answered with an empty close frame, not 1002.
		[]string{"WS-CLOSE-003"},
		// Upgrader.Upgrade neither checks the HTTP version (an HTTP/1.0 request is
		// upgraded) nor refuses a repeated Sec-WebSocket-Key (Header.Get takes the first).
		[]string{"WS-HS-014", "WS-HS-035"},
		// An unsupported Sec-WebSocket-Version gets 400, not 426 (SHOULD).
		[]string{"WS-HS-004"},
	),
	"coder": slices.Concat(
		// coder/websocket does not validate UTF-8, neither in text messages nor in close
		// reasons: its own Autobahn run excludes "6.*" and "7.5.1".
		utf8Unchecked,
		[]string{"WS-CLOSE-006"},
		// The read limit counts payload bytes as they are read, not the length a frame
		// header declares: a header declaring 2 GiB is refused only after maxMessage+1
		// payload bytes have arrived, not at once.
		[]string{"WS-LIMIT-004"},
		// An unsupported Sec-WebSocket-Version gets 400, not 426 (SHOULD).
		[]string{"WS-HS-004"},
	),
}

// thirdPartyFailingGroups are the check groups in which x/net/websocket must fail at least one
// check: it ignores RSV bits and reserved opcodes, does not validate UTF-8 and answers every
// close with 1000.
var thirdPartyFailingGroups = []string{"WS-RSV-", "WS-OPCODE-", "WS-UTF8-", "WS-CLOSE-"}

// thirdPartyPassingGroups are groups x/net/websocket gets right (lengths, ping/pong): they
// prove that its failures are its own and not a run that could not talk to it at all.
var thirdPartyPassingGroups = []string{"WS-LEN-", "WS-PING-"}

func TestThirdPartyWebSocketServers(t *testing.T) {
	// The profile starts the server with go run: build it once so parallel runs only link.
	warm := exec.Command("go", "build", "-o", os.DevNull, "./fixtures/thirdparty/cmd/thirdparty")
	warm.Dir = root
	if out, err := warm.CombinedOutput(); err != nil {
		t.Fatalf("building the third-party servers: %v\n%s", err, out)
	}
	for _, name := range []string{"gorilla", "coder", "xnet"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			profile := filepath.Join("fixtures", "profiles", "thirdparty.yaml")
			r := cliEnv(t, 5*time.Minute, []string{"RTCONFORM_THIRDPARTY=" + name},
				"run", "--config", profile, "--label-filter", "websocket", "--report-dir", dir)
			if r.report == nil {
				t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if len(r.report.Checks) < 250 {
				t.Errorf("%d checks ran, want >= 250", len(r.report.Checks))
			}
			var broken, failed []string
			passed := 0
			for _, c := range r.report.Checks {
				switch c.Verdict {
				case fw.PASS:
					passed++
				case fw.FAIL:
					failed = append(failed, c.ID)
					broken = append(broken, c.ID)
				case fw.WARN:
					broken = append(broken, c.ID)
				case fw.ERROR:
					t.Errorf("%s: harness error against %s: %s", c.ID, name, c.Message)
				}
			}
			slices.Sort(broken)
			if want, ok := thirdPartyExceptions[name]; ok {
				want = slices.Sorted(slices.Values(want))
				if !slices.Equal(broken, want) {
					extra, missing := diff(broken, want), diff(want, broken)
					t.Errorf("%s: failing or warning checks differ from the documented exceptions:\n  unexpected: %v\n  no longer failing: %v\nstdout:\n%s",
						name, extra, missing, r.stdout)
				}
			} else {
				for _, group := range thirdPartyFailingGroups {
					if !slices.ContainsFunc(failed, func(id string) bool { return strings.HasPrefix(id, group) }) {
						t.Errorf("%s: no %s* check failed, want the group to fail; failing: %v", name, group, failed)
					}
				}
				for _, group := range thirdPartyPassingGroups {
					if bad := slices.DeleteFunc(slices.Clone(broken), func(id string) bool { return !strings.HasPrefix(id, group) }); len(bad) > 0 {
						t.Errorf("%s: %v did not pass, want the %s* group to pass", name, bad, group)
					}
				}
			}
			if len(failed) > 0 && r.code != 1 {
				t.Errorf("exit %d with %d failing MUST checks, want 1", r.code, len(failed))
			}
			t.Logf("%s: %d passed, %d failed, %d failing or warning: %s", name, passed, len(failed), len(broken), summaryLine(r.stdout))
		})
	}
}

// diff returns the elements of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// summaryLine returns the run's "MUST: ..." summary line.
func summaryLine(stdout string) string {
	for line := range strings.SplitSeq(stdout, "\n") {
		if strings.HasPrefix(line, "MUST: ") {
			return line
		}
	}
	return "(no summary line)"
}
