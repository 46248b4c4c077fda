package main

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	"github.com/rtconform/rtconform/proxies/front"
	"github.com/rtconform/rtconform/proxies/proxyrun"
	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// probeReference starts the reference with ginkgo.yaml's timings (heartbeat and ping 1 s, hold
// 3 s), which is what describes a URL given to probe from the repository root: the probe
// window is 3 s, and each client runs 10 s.
func probeReference(t *testing.T) string {
	t.Helper()
	cfg := reference.Config{Heartbeat: time.Second, PingInterval: time.Second, PollTimeout: 3 * time.Second,
		Retry: 3 * time.Second, AllowedOrigins: []string{"app.example"}}
	cfg.Log.MaxEvents = 150
	return fwtest.Reference(t, cfg)
}

func probeFront(t *testing.T, m front.Mode) string {
	t.Helper()
	f, err := front.Start(probeReference(t), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f.URL()
}

// noPublishProfile is ginkgo.yaml (the in-process reference) without the publish capability.
func noPublishProfile(t *testing.T) string {
	t.Helper()
	return capsProfile(t, "sse, websocket, longpoll, httpstream, heartbeat")
}

// streamOnlyProfile is ginkgo.yaml declaring only the HTTP stream of the transports, as the
// centrifugo-uni-http-stream preset does.
func streamOnlyProfile(t *testing.T) string {
	t.Helper()
	return capsProfile(t, "httpstream, heartbeat, publish")
}

// capsProfile is ginkgo.yaml with target.capabilities [caps].
func capsProfile(t *testing.T, caps string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, DefaultConfig))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^  capabilities: \[.*\]`)
	if !re.Match(b) {
		t.Fatalf("%s has no one-line target.capabilities", DefaultConfig)
	}
	p := filepath.Join(t.TempDir(), "caps.yaml")
	if err := os.WriteFile(p, re.ReplaceAll(b, []byte("  capabilities: ["+caps+"]")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ndjsonHold is a path in front of origin that holds every JSON-lines body (and so its
// headers) until front.BufferSize bytes accumulate, X-Accel-Buffering or not: what
// front.BufferAlways does to event streams (it passes application/x-ndjson as it is).
func ndjsonHold(t *testing.T, origin string) string {
	t.Helper()
	u, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &holdNDJSON{ResponseWriter: w}
		defer hw.finish()
		rp.ServeHTTP(hw, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type holdNDJSON struct {
	http.ResponseWriter
	decided, hold bool
	buf           []byte
}

func (h *holdNDJSON) decide() {
	if !h.decided {
		h.decided = true
		h.hold = strings.HasPrefix(strings.ToLower(h.Header().Get("Content-Type")), "application/x-ndjson")
	}
}

func (h *holdNDJSON) WriteHeader(code int) {
	h.decide()
	h.ResponseWriter.WriteHeader(code)
}

func (h *holdNDJSON) Write(p []byte) (int, error) {
	h.decide()
	if !h.hold {
		return h.ResponseWriter.Write(p)
	}
	h.buf = append(h.buf, p...)
	for len(h.buf) >= front.BufferSize {
		if _, err := h.ResponseWriter.Write(h.buf[:front.BufferSize]); err != nil {
			return 0, err
		}
		h.buf = h.buf[front.BufferSize:]
		_ = http.NewResponseController(h.ResponseWriter).Flush()
	}
	return len(p), nil
}

// Flush sends nothing of a held stream.
func (h *holdNDJSON) Flush() {
	h.decide()
	if !h.hold {
		_ = http.NewResponseController(h.ResponseWriter).Flush()
	}
}

func (h *holdNDJSON) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *holdNDJSON) finish() {
	if len(h.buf) > 0 {
		_, _ = h.ResponseWriter.Write(h.buf)
	}
}

// rtconform probe through the actual path: the reference alone (websocket works, exit 0),
// behind a front that strips the upgrade (refused, settles on SSE, exit 1), behind one that
// also buffers every event stream (SSE buffered, settles on long-poll) and behind nginx's
// naive config (the origin answers the stripped handshake 426; nginx's own remedy); and,
// with a window longer than the buffer takes to fill, SSE delivering in bursts behind the
// buffering front. The reference declares the HTTP stream too: it gets through each front
// (front.BufferAlways holds only text/event-stream), is buffered behind a path that holds
// JSON lines, and is where a target that declares no other transport settles. They run in
// parallel, 10 s each (buffer-bursts 25 s).
func TestProbe(t *testing.T) {
	cases := []struct {
		name    string
		path    func(t *testing.T) string
		flags   []string
		code    int
		settled fw.Transport
		want    []string // in the output
		ntr     int      // transports judged (0: the reference's four)
	}{
		{"reference", probeReference, nil, 0, fw.WebSocket,
			[]string{"websocket: ok — first event after", "sse: ok", "longpoll: ok", "httpstream: ok — first event after", "settles on: websocket after"}, 0},
		{"strip-upgrade", func(t *testing.T) string { return probeFront(t, front.StripUpgrade) }, nil, 1, fw.SSE,
			[]string{"websocket: refused (", "the Upgrade header did not reach the origin?", "sse: ok", "httpstream: ok", "settles on: sse after",
				"(websocket refused)", "remedy (websocket-upgrade): ", "proxy_set_header Upgrade"}, 0},
		{"strip-upgrade+buffer", func(t *testing.T) string { return probeFront(t, front.StripUpgrade|front.BufferAlways) }, nil, 1, fw.LongPoll,
			[]string{"websocket: refused (", "sse: buffered — ", "longpoll: ok", "httpstream: ok — first event after", "settles on: longpoll after",
				"(websocket refused, sse buffered)", "remedy (websocket-upgrade): ", "remedy (buffering): "}, 0},
		{"nginx-naive", func(t *testing.T) string {
			need.Require(t, "nginx")
			return startProxy(t, "nginx", proxyrun.Naive, probeReference(t)).URL()
		}, nil, 1, fw.SSE,
			[]string{"websocket: refused (426 Upgrade Required after ", "httpstream: ok", "settles on: sse after", "remedy (websocket-upgrade): ",
				"the path answers as nginx: nginx does not pass the hop-by-hop Upgrade header"}, 0},
		// A profile without a publish hook (the in-process reference): connection checks only.
		{"no-publish", noPublishProfile, []string{"--duration", "8s"}, 0, fw.WebSocket,
			[]string{"no publish hook: only connection checks", "websocket: ok — connected after ", "longpoll: ok — the first poll answered after ",
				"httpstream: ok — connected after ", "settles on: websocket after"}, 0},
		// A window longer than the buffer takes to fill: the stream delivers, in 4 KiB bursts.
		{"buffer-bursts", func(t *testing.T) string { return probeFront(t, front.BufferAlways) }, []string{"--window", "25s", "--duration", "25s"},
			0, fw.WebSocket, []string{"websocket: ok", "sse: delivers in bursts — first event after ", "the largest", "httpstream: ok",
				"— an intermediary buffers the stream", "settles on: websocket", "remedy (buffering): "}, 0},
		// A path that holds JSON lines: the HTTP stream is buffered like an event stream.
		{"buffer-ndjson", func(t *testing.T) string { return ndjsonHold(t, probeReference(t)) }, nil, 0, fw.WebSocket,
			[]string{"websocket: ok", "sse: ok", "longpoll: ok", "httpstream: buffered — ", "— an intermediary holds the stream",
				"settles on: websocket after", "remedy (buffering): "}, 0},
		// A target that declares only the HTTP stream settles on it (tried last, but the only one).
		{"httpstream-only", streamOnlyProfile, nil, 0, fw.HTTPStream,
			[]string{"httpstream: ok — first event after", "settles on: httpstream after"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			start := time.Now()
			r := cli(t, 2*time.Minute, append([]string{"probe", tc.path(t), "--report-dir", dir}, tc.flags...)...)
			t.Logf("%s in %s:\n%s", tc.name, time.Since(start).Round(time.Second), r.stdout)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", r.code, tc.code, r.stderr)
			}
			for _, s := range tc.want {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("the output lacks %q", s)
				}
			}
			txt, err := os.ReadFile(filepath.Join(dir, "probe.txt"))
			if err != nil || !strings.HasPrefix(r.stdout, string(txt)) || !strings.Contains(string(txt), "settles on: ") {
				t.Errorf("probe.txt is not the output (%v):\n%s", err, txt)
			}
			var rep probeReport
			b, err := os.ReadFile(filepath.Join(dir, "probe.json"))
			if err == nil {
				err = json.Unmarshal(b, &rep)
			}
			if err != nil {
				t.Fatalf("probe.json: %v", err)
			}
			if rep.Negotiation.Settled != tc.settled || rep.Negotiation.Fallback != (tc.code == 1) || rep.Exit != tc.code {
				t.Errorf("probe.json: settled %q, fallback %v, exit %d; want %q, %v, %d", rep.Negotiation.Settled,
					rep.Negotiation.Fallback, rep.Exit, tc.settled, tc.code == 1, tc.code)
			}
			if len(rep.Transports) != cmp.Or(tc.ntr, 4) || len(rep.Negotiation.Attempts) == 0 {
				t.Errorf("probe.json: %d transports, %d negotiation attempts", len(rep.Transports), len(rep.Negotiation.Attempts))
			}
			for _, tr := range rep.Transports {
				if rep.Publish && tr.Works && tr.Bursts == 0 && (tr.Events < 20 || tr.DeliveryP50 <= 0) {
					t.Errorf("%s works with %d events, p50 %v ms: want ≥ 20 events in 10 s, timed", tr.Transport, tr.Events, tr.DeliveryP50)
				}
			}
		})
	}
}

// A configuration mistake, an unreachable target and one that answers every path 404 are
// harness errors (exit 2), named.
func TestProbeHarnessErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("target:\n  sse: {heartbeat: soon}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notFound := httptest.NewServer(http.NotFoundHandler()) // wrong paths: nothing but 404
	defer notFound.Close()
	for _, tc := range []struct {
		args      []string
		want, out string // in stderr, in stdout
	}{
		{[]string{"probe"}, "want one URL or profile", ""},
		{[]string{"probe", "missing.yaml"}, "missing.yaml", ""},
		{[]string{"probe", bad}, "heartbeat", ""},
		{[]string{"probe", "--duration", "1h", "http://127.0.0.1:1"}, "--duration", ""},
		{[]string{"probe", "http://127.0.0.1:1", "--report-dir", t.TempDir()}, "cannot reach the target", ""},
		{[]string{"probe", "--duration", "4s", notFound.URL, "--report-dir", t.TempDir()}, "", "nothing reachable"},
		// A proxy whose upstream is gone: every transport and every publish 502.
		{[]string{"probe", "--duration", "4s", fwtest.BadGatewayProxy(t), "--report-dir", t.TempDir()}, "",
			"remedy (bad-gateway): "},
	} {
		r := cli(t, time.Minute, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stdout, tc.out) {
			t.Errorf("rtconform %v: exit %d, want 2, %q in stderr and %q in stdout\nstdout:\n%s\nstderr:\n%s", tc.args, r.code, tc.want, tc.out, r.stdout, r.stderr)
		}
	}
}

// deliveries times each first receipt from its publish-invoke and sees a burst only where
// events published over at least three intervals arrive together.
func TestProbeDeliveriesAndBursts(t *testing.T) {
	at := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var pubs []history.Op
	for seq := range 8 { // published every 250 ms
		pubs = append(pubs, history.Op{T: at(250 * seq), Kind: history.KindPublishInvoke, Seq: int64(seq)})
	}
	event := func(ms int, seq int64) history.Op { return history.Op{T: at(ms), Kind: history.KindEvent, Seq: seq} }
	// 0 and 1 arrive 5 ms after their publish; 2..6 are held and arrive at once at 1.6 s;
	// 1 again (a duplicate) and a foreign event are ignored; 7 is never received.
	ops := append(slices.Clone(pubs), event(5, 0), event(255, 1), event(256, history.NoSeq), event(1600, 2), event(1601, 3),
		event(1602, 1), event(1603, 4), event(1604, 5), event(1605, 6))
	d := deliveries(history.History{Ops: ops})
	want := []time.Duration{at(5), at(5), at(105), at(354), at(603), at(851), at(1100)}
	if !slices.Equal(d.lat, want) {
		t.Errorf("latencies %v, want %v", d.lat, want)
	}
	if p50, p99 := pct(d.lat, 0.5), pct(d.lat, 0.99); p50 != at(354) || p99 != at(1100) {
		t.Errorf("p50 %s, p99 %s; want 354ms, 1.1s", p50, p99)
	}
	if d.bursts != 1 || d.most != 5 || d.span != at(1000) {
		t.Errorf("%d bursts of up to %d published over %s, want 1 of 5 over 1s", d.bursts, d.most, d.span)
	}
	// Three events published over 500 ms arriving together, or two over a second: no burst.
	for _, evs := range [][]history.Op{{event(600, 0), event(601, 1), event(602, 2)}, {event(1800, 3), event(1801, 7)}} {
		if d := deliveries(history.History{Ops: append(slices.Clone(pubs), evs...)}); d.bursts != 0 {
			t.Errorf("%v: %d bursts, want none", evs, d.bursts)
		}
	}
}
