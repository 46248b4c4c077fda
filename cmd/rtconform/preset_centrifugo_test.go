package main

// The centrifugo-uni-sse, centrifugo-uni-ws and centrifugo-uni-http-stream presets against the real server: Centrifugo
// v6.9.1 built from its Go module with go install, cached under
// os.UserCacheDir()/rtconform/thirdparty/centrifugo-v6.9.1 (cold, module downloads included:
// about 5 minutes on the 2-core machine; cached: no build, each preset run about 2 minutes),
// started on a free loopback port with a config that enables uni_sse, uni_websocket, uni_http_stream and the
// namespace hist, and each preset run against it with --preset and --target. The verdicts
// must match the tables below exactly; each finding's reason is read in Centrifugo's source
// (internal/unisse, internal/uniws, internal/unihttpstream and internal/websocket of
// github.com/centrifugal/centrifugo/v6 v6.9.1). The namespace keeps history with
// force_recovery, so the presets' resume (target.connect: the epoch from the connect reply, the
// replay inside it, "recovered" as the loss signal) is judged too: SSE-RESUME-001/005/007/008/009,
// WS-RESUME-001 and HS-RESUME-001/002 pass.

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/proxy"
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

// centrifugoUniHTTPStreamFindings are the checks the centrifugo-uni-http-stream preset fails
// or warns on with the default label filter, exactly.
var centrifugoUniHTTPStreamFindings = struct{ fail, warn []string }{
	warn: []string{
		// internal/unihttpstream/handler.go sets no Content-Type: net/http sniffs the first
		// line and labels the stream text/plain; charset=utf-8.
		"HS-RESP-003",
		// It sends Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0 —
		// no-transform missing, so a transforming intermediary may buffer the stream.
		"HS-RESP-006",
	},
}

// centrifugoResumes are the resume checks each preset must pass: recovery through the connect
// request (epoch and offset), the replay inside the connect reply, and "recovered" missing as
// the loss signal for an offset beyond the head.
var centrifugoResumes = map[string][]string{
	"centrifugo-uni-sse":         {"SSE-RESUME-001", "SSE-RESUME-005", "SSE-RESUME-007", "SSE-RESUME-008", "SSE-RESUME-009", "SSE-WIRE-010", "SSE-WIRE-011"},
	"centrifugo-uni-ws":          {"WS-RESUME-001", "WS-RESUME-002"},
	"centrifugo-uni-http-stream": {"HS-RESUME-001", "HS-RESUME-002"},
	centrifugoWSOpen:             {"WS-RESUME-001", "WS-RESUME-002", "WS-DELIVER-001"},
}

// centrifugoWSOpen is fixtures/profiles/centrifugo-uni-ws-open.yaml: uni_websocket with the
// connect request sent as the first message (websocket.open), the resume carried in it.
const centrifugoWSOpen = "fixtures/profiles/centrifugo-uni-ws-open.yaml"

// centrifugoChaos are chaos checks each preset must pass against the real server: a cut in
// the middle of an event (limit-data) and a 3 s outage, each followed by a resume through the
// connect request under the fault proxy. (The whole chaos suite, run by hand against v6.9.1:
// every RC-/ORD- check passes on uni_sse and uni_websocket; on uni_http_stream ORD-HS-005
// fails — a subscriber 91 events of 64 KiB behind resumes into an empty 200 response, again
// and again, and never catches up — and RC-HS-006 needs the 5-minute bound of a 25 s heartbeat.)
var centrifugoChaos = map[string]string{
	"centrifugo-uni-sse":         "id:RC-SSE-004 || id:RC-SSE-008",
	"centrifugo-uni-ws":          "id:RC-WS-004 || id:RC-WS-008",
	"centrifugo-uni-http-stream": "id:RC-HS-004 || id:RC-HS-008",
	centrifugoWSOpen:             "id:RC-WS-004 || id:RC-WS-008",
}

func TestPresetCentrifugoUniSSE(t *testing.T) {
	testCentrifugoPreset(t, "centrifugo-uni-sse", centrifugoUniSSEFindings.fail, centrifugoUniSSEFindings.warn, 40)
}

func TestPresetCentrifugoUniHTTPStream(t *testing.T) {
	testCentrifugoPreset(t, "centrifugo-uni-http-stream", centrifugoUniHTTPStreamFindings.fail, centrifugoUniHTTPStreamFindings.warn, 10)
}

func TestPresetCentrifugoUniWS(t *testing.T) {
	testCentrifugoPreset(t, "centrifugo-uni-ws", centrifugoUniWSFindings.fail, centrifugoUniWSFindings.warn, 250)
}

// The same server and findings with the connect request as the first message instead of in
// the URL: websocket.open proved against the real server (without it uni_websocket waits for
// the connect and delivers nothing).
func TestPresetCentrifugoUniWSOpen(t *testing.T) {
	testCentrifugoPreset(t, centrifugoWSOpen, centrifugoUniWSFindings.fail, centrifugoUniWSFindings.warn, 250)
}

// testCentrifugoPreset starts Centrifugo on a free loopback port, runs preset against it with
// the default label filter and requires exactly the FAIL and WARN sets, no ERROR, at least
// minPass passes and exit 1 when a MUST check fails.
func testCentrifugoPreset(t *testing.T, preset string, wantFail, wantWarn []string, minPass int) {
	// preset is a preset's name, or a profile file (relative to the repository root).
	profile := []string{"--preset", preset}
	if strings.HasSuffix(preset, ".yaml") {
		profile = []string{"--config", filepath.Join(root, preset)}
	}
	t.Parallel()
	base, dir := startCentrifugo(t)

	r := cliEnv(t, 10*time.Minute, nil, slices.Concat([]string{"run"}, profile, []string{"--target", base, "--report-dir", filepath.Join(dir, "report")})...)
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	verdicts, passed := requireFindings(t, preset, r, wantFail, wantWarn)
	for _, id := range centrifugoResumes[preset] {
		if v := verdicts[id]; v != fw.PASS {
			t.Errorf("%s: %s is %s, want PASS (the preset's resume through target.connect)", preset, id, v)
		}
	}
	if passed < minPass {
		t.Errorf("%d checks passed, want >= %d", passed, minPass)
	}
	c := cliEnv(t, 10*time.Minute, nil, slices.Concat([]string{"run"}, profile, []string{"--target", base, "--label-filter", centrifugoChaos[preset],
		"--report-dir", filepath.Join(dir, "report-chaos")})...)
	if c.report == nil {
		t.Fatalf("no chaos report (exit %d)\nstdout:\n%s\nstderr:\n%s", c.code, c.stdout, c.stderr)
	}
	if _, n := requireFindings(t, preset+" (chaos)", c, nil, nil); n != 2 || c.code != 0 {
		t.Errorf("%s: %d of the chaos checks %q passed (exit %d), want both and exit 0\n%s", preset, n, centrifugoChaos[preset], c.code, c.stdout)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}
}

// startCentrifugo starts Centrifugo (built once per machine) on a free loopback port with
// uni_sse, uni_websocket and uni_http_stream enabled and the namespace hist (history and
// recovery on, anonymous subscribers), and returns its base URL and a directory of the test's.
func startCentrifugo(t *testing.T) (base, dir string) {
	t.Helper()
	bin := centrifugoBinary(t)
	addr := freeAddr(t)
	dir = t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	cfg := map[string]any{
		"http_server": map[string]any{"address": host, "port": json.Number(port)},
		"log":         map[string]any{"level": "error"},
		// queue_max_size: Centrifugo disconnects a client as slow (DisconnectSlow) once its
		// outgoing queue holds more than this (default 1 MiB, centrifuge writer.enqueue), and
		// the suite's 1 MiB events (SSE-PAYLOAD-009, the WebSocket size checks) sit on that edge:
		// whether one is dropped depends on how fast the writer drains — CI saw SSE-PAYLOAD-009
		// WARN once under load. 16 MiB makes the verdict table the server's, not the machine's.
		"client":          map[string]any{"insecure": true, "allowed_origins": []string{"*"}, "queue_max_size": 16 << 20},
		"http_api":        map[string]any{"insecure": true},
		"health":          map[string]any{"enabled": true},
		"uni_sse":         map[string]any{"enabled": true},
		"uni_websocket":   map[string]any{"enabled": true},
		"uni_http_stream": map[string]any{"enabled": true},
		"channel": map[string]any{"namespaces": []any{map[string]any{
			"name": "hist", "history_size": 10000, "history_ttl": "600s", "force_recovery": true,
			"allow_subscribe_for_anonymous": true,
		}}},
	}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.json"))
	cmd.Dir = dir
	base = "http://" + addr
	serveReal(t, "centrifugo", cmd, dir, base+"/health", http.StatusOK, 30*time.Second)

	return base, dir
}

// centrifugoBinary builds Centrifugo from its module once per machine (go install into the
// user cache) and returns the binary's path.
func centrifugoBinary(t *testing.T) string {
	t.Helper()
	return cachedBinary(t, "centrifugo-"+centrifugoVersion, "centrifugo", func(out string) *exec.Cmd {
		// go install names the binary after the module; GOBIN is the temporary's directory.
		dir := out + ".d"
		cmd := exec.Command("sh", "-c", `go install "github.com/centrifugal/centrifugo/v6@$1" && mv "$GOBIN/centrifugo" "$2" && rmdir "$GOBIN"`,
			"sh", centrifugoVersion, out)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
		return cmd
	})
}

// Centrifugo's uni_http_stream behind the proxies of the matrix, naive and recommended (the
// preset with proxies.cells naming them, proxies.idle 4 s): the HTTP stream checks of the
// proxy suite against a server nobody here wrote. Measured: every proxy passes it through
// live, a resume through the connect request (epoch and offset in the POST body) gets exactly
// the missed publications, two identical streams both get every event, nothing is cached and
// gzip holds nothing; HAProxy's naive config adds ~200 ms to every line (PX-HS-002 WARN, no
// http-no-delay) — the same finding as for the reference. PX-HS-003 (the idle check) is left
// out: Centrifugo's 25 s ping outlasts the naive configs' 4 s idle by design, and the
// recommended configs' limit (3 × 25 s) would be waited out for minutes; the reference's
// matrix judges it. PX-HS-008 is NOT_SUPPORTED (no latency budget declared).
//
// Caddy is left out of the exact table: behind Caddy 2.6 (either config), about one run in
// twelve, the first stream through a fresh proxy ends right after Centrifugo's connect reply
// (200, 252 bytes, EOF within 3 ms; Caddy logs "reading from backend: use of closed network
// connection" on the keep-alive connection its readiness request left), and PX-HS-005 fails.
// Directly and behind the other proxies it never did (15 and 12 runs). An intermittent
// finding cannot be asserted exactly, and which side closes that connection is not
// established yet.
var centrifugoProxies = []string{"nginx", "haproxy", "varnish", "apache"}

// centrifugoBehind runs the preset centrifugo-uni-http-stream against a Centrifugo of its own
// with proxies.cells naming cells (proxies.idle 4 s) and the label filter; it runs in
// parallel with the other tests from there on.
func centrifugoBehind(t *testing.T, cells []string, filter string) result {
	t.Helper()
	base, dir := startCentrifugo(t)
	t.Parallel()
	profile := filepath.Join(dir, "behind-proxies.yaml")
	body := "preset: centrifugo-uni-http-stream\nproxies:\n  cells: [" + strings.Join(cells, ", ") + "]\n  idle: 4s\n"
	if err := os.WriteFile(profile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, 6*time.Minute, "run", "--config", profile, "--target", base, "--label-filter", filter,
		"--report-dir", filepath.Join(dir, "report"))
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestPresetCentrifugoUniHTTPStreamBehindProxies(t *testing.T) {
	need.Require(t, centrifugoProxies...)
	r := centrifugoBehind(t, centrifugoProxies, "proxy && !id:PX-HS-003")
	judged := 0
	for _, c := range r.report.Checks {
		want := fw.NOTSUPPORTED // the preset declares no SSE, WebSocket or long-poll
		switch {
		case c.ID == "PX-H2-002": // what the path gives a browser, whatever the transports
			want = fw.INFOV
		case c.Transport != fw.HTTPStream:
		case c.ID == "PX-HS-008":
		case c.ID == "PX-HS-002" && c.Cell == "haproxy:"+proxyrun.Naive:
			want = fw.WARN
		default:
			want = fw.PASS
			judged++
		}
		if c.Verdict != want {
			t.Errorf("%s: %s %s, want %s", c.Key(), c.Verdict, c.Message, want)
		}
	}
	if cells := len(centrifugoProxies) * len(proxyrun.Variants()); judged != 6*cells-1 {
		t.Errorf("%d PX-HS checks passed, want %d (6 per cell, HAProxy naive's PX-HS-002 a warning)", judged, 6*cells-1)
	}
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}
}

// The same behind the h2 cells of those proxies (Apache has none): the HTTP stream checks of
// the h2 column (PX-HS-001, -004, -006, -007) pass over HTTP/2 in front of Centrifugo too, and
// PX-H2-002 reports HTTP/2; the SSE and WebSocket checks of the column are NOT_SUPPORTED (the
// preset declares neither).
func TestPresetCentrifugoUniHTTPStreamOverH2(t *testing.T) {
	var cells []string
	for _, p := range centrifugoProxies {
		if proxyrun.SupportsTLS(p) {
			for _, v := range proxyrun.Variants() {
				cells = append(cells, p+":"+v+":"+proxy.H2)
			}
		}
	}
	need.Require(t, centrifugoProxies...)
	need.Require(t, "hitch")
	r := centrifugoBehind(t, cells, "proxy && h2 && !id:PX-HS-003")
	passed := 0
	for _, c := range r.report.Checks {
		want := fw.NOTSUPPORTED
		switch {
		case c.ID == "PX-H2-002":
			want = fw.INFOV
			if !slices.ContainsFunc(c.Measurements, func(m fw.Measurement) bool { return strings.HasPrefix(m.Value, "HTTP/2 over TLS") }) {
				t.Errorf("%s: %+v, want HTTP/2 over TLS", c.Key(), c.Measurements)
			}
		case c.Transport == fw.HTTPStream:
			want = fw.PASS
			passed++
		}
		if c.Verdict != want {
			t.Errorf("%s: %s %s, want %s", c.Key(), c.Verdict, c.Message, want)
		}
	}
	if passed != 4*len(cells) {
		t.Errorf("%d PX-HS checks passed over h2, want %d (4 per cell)", passed, 4*len(cells))
	}
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}
}
