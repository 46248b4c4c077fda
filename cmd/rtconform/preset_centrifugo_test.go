package main

// The centrifugo-uni-sse and centrifugo-uni-ws presets against the real server: Centrifugo
// v6.9.1 built from its Go module with go install, cached under
// os.UserCacheDir()/rtconform/thirdparty/centrifugo-v6.9.1 (cold, module downloads included:
// about 5 minutes on the 2-core machine; cached: no build, each preset run about 2 minutes),
// started on a free loopback port with a config that enables uni_sse, uni_websocket and the
// namespace hist, and each preset run against it with --preset and --target. The verdicts
// must match the tables below exactly; each finding's reason is read in Centrifugo's source
// (internal/unisse, internal/uniws and internal/websocket of
// github.com/centrifugal/centrifugo/v6 v6.9.1).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

const centrifugoVersion = "v6.9.1"

// centrifugoUniSSEFindings are the checks the centrifugo-uni-sse preset fails (FAIL) or warns
// on (WARN) with the default label filter, exactly.
var centrifugoUniSSEFindings = struct{ fail, warn []string }{
	fail: []string{
		// ServeHTTP answers any method but GET and POST with a bare
		// w.WriteHeader(http.StatusMethodNotAllowed): no Allow header (RFC 9110 §15.5.6).
		"SSE-RESP-010",
	},
	warn: []string{
		// The ping interval (client.ping_interval) defaults to 25s: the preset declares it,
		// SSE-HB-002 measures it kept, and WHATWG's advice is 15 s or so.
		"SSE-HB-001",
		// The body starts with w.Write([]byte("\r\n")) and every frame then ends with "\n\n":
		// two kinds of line terminator in one stream.
		"SSE-WIRE-003",
	},
}

// centrifugoUniWSFindings are the checks the centrifugo-uni-ws preset fails or warns on. The
// uni_websocket transport runs on Centrifugo's copy of gorilla/websocket
// (internal/websocket), so it shares gorilla's findings (TestThirdPartyWebSocketServers).
var centrifugoUniWSFindings = struct{ fail, warn []string }{
	fail: slices.Concat(
		// Conn.ReadMessage does not validate UTF-8, and the handler reads client messages
		// after the connect only to discard them (uniws/handler.go): invalid text is not failed.
		idRange("WS-UTF8", 101, 170), idRange("WS-UTF8", 201, 205),
		// advanceFrame reads a close code only when len(payload) >= 2: a 1-byte close body
		// is answered as "no status", not with 1002.
		[]string{"WS-CLOSE-003"},
		// Upgrader.Upgrade neither checks the HTTP version (HTTP/1.0 is upgraded) nor refuses
		// a repeated Sec-WebSocket-Key (Header.Get takes the first).
		[]string{"WS-HS-014", "WS-HS-035"},
		// isValidChallengeKey (internal/websocket/util.go) decodes a 24-character key into a
		// 16-byte buffer: a 17-byte key (24 characters with padding) panics in
		// base64.Decode, and the client gets no HTTP answer instead of a 400.
		[]string{"WS-HS-012"},
	),
	warn: slices.Concat(
		// Invalid UTF-8 is not failed fast (it is not failed at all, see above).
		idRange("WS-UTF8", 301, 304),
		// An unsupported Sec-WebSocket-Version gets 400, not 426 (SHOULD).
		[]string{"WS-HS-004"},
	),
}

func TestPresetCentrifugoUniSSE(t *testing.T) {
	testCentrifugoPreset(t, "centrifugo-uni-sse", centrifugoUniSSEFindings.fail, centrifugoUniSSEFindings.warn, 30)
}

func TestPresetCentrifugoUniWS(t *testing.T) {
	testCentrifugoPreset(t, "centrifugo-uni-ws", centrifugoUniWSFindings.fail, centrifugoUniWSFindings.warn, 200)
}

// testCentrifugoPreset starts Centrifugo on a free loopback port, runs preset against it with
// the default label filter and requires exactly the FAIL and WARN sets, no ERROR, at least
// minPass passes and exit 1 when a MUST check fails.
func testCentrifugoPreset(t *testing.T, preset string, wantFail, wantWarn []string, minPass int) {
	bin := centrifugoBinary(t)
	port := centrifugoFreePort(t)
	dir := t.TempDir()
	cfg := map[string]any{
		"http_server":   map[string]any{"address": "127.0.0.1", "port": port},
		"log":           map[string]any{"level": "error"},
		"client":        map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":      map[string]any{"insecure": true},
		"health":        map[string]any{"enabled": true},
		"uni_sse":       map[string]any{"enabled": true},
		"uni_websocket": map[string]any{"enabled": true},
		"channel": map[string]any{"namespaces": []any{map[string]any{
			"name": "hist", "history_size": 10000, "history_ttl": "600s", "force_recovery": true,
			"allow_subscribe_for_anonymous": true,
		}}},
	}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", filepath.Join(dir, "config.json"))
	cmd.Dir = dir
	logf, _ := os.Create(filepath.Join(dir, "centrifugo.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	centrifugoWaitHealthy(t, base+"/health", 30*time.Second)

	r := cliEnv(t, 10*time.Minute, nil, "run", "--preset", preset, "--target", base, "--report-dir", filepath.Join(dir, "report"))
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var failed, warned []string
	passed := 0
	for _, c := range r.report.Checks {
		switch c.Verdict {
		case fw.PASS:
			passed++
		case fw.FAIL:
			failed = append(failed, c.ID)
		case fw.WARN:
			warned = append(warned, c.ID)
		case fw.ERROR:
			t.Errorf("%s: harness error against Centrifugo: %s", c.ID, c.Message)
		}
	}
	if passed < minPass {
		t.Errorf("%d checks passed, want >= %d", passed, minPass)
	}
	for _, v := range []struct {
		verdict   string
		got, want []string
	}{{"FAIL", failed, wantFail}, {"WARN", warned, wantWarn}} {
		got, want := slices.Sorted(slices.Values(v.got)), slices.Sorted(slices.Values(v.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s checks differ from the documented findings:\n  unexpected: %v\n  no longer %s: %v",
				v.verdict, diff(got, want), v.verdict, diff(want, got))
		}
	}
	if want := 1; len(wantFail) > 0 && r.code != want {
		t.Errorf("exit %d with failing MUST checks, want %d", r.code, want)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}
	t.Logf("%s: %d passed, %d failed, %d warned: %s", preset, passed, len(failed), len(warned), summaryLine(r.stdout))
}

// centrifugoBinary builds Centrifugo from its module once per machine (go install into the
// user cache) and returns the binary's path.
func centrifugoBinary(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no user cache directory: %v", err)
	}
	dir := filepath.Join(cache, "rtconform", "thirdparty", "centrifugo-"+centrifugoVersion)
	bin := filepath.Join(dir, "centrifugo")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("go", "install", "github.com/centrifugal/centrifugo/v6@"+centrifugoVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building Centrifugo %s: %v\n%s", centrifugoVersion, err, out)
	}
	t.Logf("built Centrifugo %s in %s (cached in %s)", centrifugoVersion, time.Since(start).Round(time.Second), dir)
	return bin
}

func centrifugoFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func centrifugoWaitHealthy(t *testing.T, u string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within %s", u, bound)
}
