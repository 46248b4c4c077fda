package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	"github.com/rtconform/rtconform/proxies/proxyrun"
	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
	"github.com/rtconform/rtconform/suites/proxy"
)

// The proxy matrix against the in-process reference (proxies/matrix.yaml), one run per proxy:
// every recommended cell passes, each naive cell fails exactly what proxy.NaiveBreaks
// documents with the causes proxy.NaiveCauses names, every failure carries a remedy, the INFO
// checks are INFO and the latency budget checks NOT_SUPPORTED (no budget declared), and the
// console shows the matrix. The "budget" subtest declares a 100 ms budget over the naive
// cells: HAProxy's ~200 ms per SSE event fails PX-SSE-010. A missing
// proxy FAILS with its install line. The "deployment-*" subtests check deployments end to end
// (the deployment cell): nginx's naive config in front of an origin that does not send
// X-Accel-Buffering (the buffering checks catch nginx's buffering), and Varnish's in front of
// one that sends no Cache-Control (the caching checks catch Varnish's cache). Each CDN-like
// edge (proxyrun.Edges(): cdn:, lb: and router: cells) runs like a proxy, its naive cell
// failing exactly proxy.NaiveBreaks[edge]; "cloudfront-like-ttl" shows CloudFront's 24 h
// default TTL on an origin without Cache-Control.
func TestProxyMatrix(t *testing.T) {
	for _, name := range proxyrun.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			need.Require(t, name)
			dir := t.TempDir()
			r := cli(t, 6*time.Minute, "run", "--config", filepath.Join("proxies", "matrix.yaml"), "--report-dir", dir,
				"--label-filter", "proxy && proxy:"+name)
			naive, recommended := name+":"+proxyrun.Naive, name+":"+proxyrun.Recommended
			want := map[string][]string{naive: proxy.NaiveBreaks[name], recommended: nil}
			judgeMatrix(t, r, want, false)
		})
	}
	// The CDN-like edges (proxies/cdn), selected by the edge label and their own.
	for _, e := range proxyrun.Edges() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			need.Require(t, e.Stock)
			dir := t.TempDir()
			r := cli(t, 6*time.Minute, "run", "--config", filepath.Join("proxies", "matrix.yaml"), "--report-dir", dir,
				"--label-filter", "proxy && edge && !h2 && "+e.Kind+" && "+e.Label)
			naive, recommended := e.Name+":"+proxyrun.Naive, e.Name+":"+proxyrun.Recommended
			judgeMatrix(t, r, map[string][]string{naive: proxy.NaiveBreaks[e.Name], recommended: nil}, false)
			judgeEdgeRemedies(t, r, e.Name)
			// What the edge does not emulate is in the report and under each of its rows.
			for _, cell := range []string{naive, recommended} {
				if got := r.report.NotEmulated[cell]; !slices.Equal(got, e.NotEmulated) {
					t.Errorf("%s: not_emulated %q, want %q", cell, got, e.NotEmulated)
				}
			}
			if n := strings.Count(r.stdout, "NOT_EMULATED: "+e.NotEmulated[0]); n != 2 {
				t.Errorf("%d NOT_EMULATED lines naming %q in the console matrix, want 2 (one per cell)", n, e.NotEmulated[0])
			}
		})
	}
	// The h2 column: the TLS-capable cells with HTTP/2 over TLS to the client; the naive cell
	// fails what its HTTP/1.1 cell fails among the h2 checks, with the same causes.
	for _, name := range proxyrun.TLSNames() {
		t.Run("h2-"+name, func(t *testing.T) {
			t.Parallel()
			stock := name
			if e, ok := proxyrun.EdgeOf(name); ok {
				stock = e.Stock
			}
			need.Require(t, stock)
			if stock == "varnish" {
				need.Require(t, "hitch")
			}
			dir := t.TempDir()
			r := cli(t, 6*time.Minute, "run", "--config", filepath.Join("proxies", "matrix.yaml"), "--report-dir", dir,
				"--label-filter", "proxy && h2:"+name)
			naive, recommended := name+":"+proxyrun.Naive+":h2", name+":"+proxyrun.Recommended+":h2"
			judgeMatrix(t, r, map[string][]string{naive: proxy.H2NaiveBreaks(name), recommended: nil}, false)
			// How an idle-cut stream ends over h2 is told apart: nginx resets it, HAProxy ends it.
			if end, ok := map[string]string{"nginx": "was reset (HTTP/2 RST_STREAM)", "cloudflare-like": "was reset (HTTP/2 RST_STREAM)",
				"haproxy": "ended cleanly (HTTP/2 END_STREAM)"}[name]; ok {
				for _, c := range r.report.Checks {
					if c.ID == "PX-SSE-004" && c.Cell == naive && !strings.Contains(c.Observed, end) {
						t.Errorf("%s: observed %q, want it to say the stream %s", c.Key(), c.Observed, end)
					}
				}
			}
			// The protocol column: "h2" in the JSON rows and beside the cell in the console.
			for _, m := range r.report.Matrix {
				if m.Protocol != "h2" {
					t.Errorf("matrix row %s@%s: protocol %q, want h2", m.ID, m.Cell, m.Protocol)
				}
			}
			if want := fmt.Sprintf("  %-30s %-8s PX-", naive, "h2"); !strings.Contains(r.stdout, want) {
				t.Errorf("the console matrix has no line starting %q:\n%s", want, r.stdout)
			}
			// HAProxy offers WebSocket over HTTP/2 (RFC 8441) and carries it; the others do not
			// offer it, and PX-WS-008 reports the HTTP/1.1 fallback.
			offer := "not offered"
			if name == "haproxy" {
				offer = "offered (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)"
			}
			for _, c := range r.report.Checks {
				if c.ID == "PX-WS-008" && !slices.ContainsFunc(c.Measurements, func(m fw.Measurement) bool {
					return m.Name == "websocket over h2" && strings.HasPrefix(m.Value, offer)
				}) {
					t.Errorf("%s: want the measurement \"websocket over h2: %s…\": %+v", c.Key(), offer, c.Measurements)
				}
				if c.ID == "PX-H2-002" && !slices.ContainsFunc(c.Measurements, func(m fw.Measurement) bool {
					return m.Name == "streams per origin" && strings.Contains(m.Value, "SETTINGS_MAX_CONCURRENT_STREAMS")
				}) {
					t.Errorf("%s: want the measurement \"streams per origin\" naming SETTINGS_MAX_CONCURRENT_STREAMS: %+v", c.Key(), c.Measurements)
				}
				if !slices.ContainsFunc(c.Measurements, func(m fw.Measurement) bool {
					return m.Name == "client protocol" && strings.HasPrefix(m.Value, "HTTP/2.0 over TLS")
				}) {
					t.Errorf("%s: no measurement \"client protocol: HTTP/2.0 over TLS …\": %+v", c.Key(), c.Measurements)
				}
			}
		})
	}
	t.Run("cloudfront-like-ttl", func(t *testing.T) {
		t.Parallel()
		need.Require(t, "nginx")
		judgeCloudFrontTTL(t)
	})
	t.Run("budget", func(t *testing.T) {
		t.Parallel()
		judgeBudgets(t)
	})
	for _, d := range deployments {
		t.Run("deployment-"+d.proxy, func(t *testing.T) {
			t.Parallel()
			need.Require(t, d.proxy)
			origin := strippedReference(t, d.strip...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			inst, err := proxyrun.Start(ctx, d.proxy, proxyrun.Naive, proxyrun.Options{
				Upstream: strings.TrimPrefix(origin, "http://"), Idle: 4 * time.Second, Heartbeat: 6 * time.Second, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Stop()
			dir := t.TempDir()
			profile := filepath.Join(dir, "deployment.yaml")
			body := "target:\n  name: " + d.proxy + "-naive-deployment\n  url: " + inst.URL() + "\n" +
				"  sse: {path: '/sse/{topic}', heartbeat: 6s}\n" +
				"  websocket: {path: '/ws/{topic}', echo: /echo, resume: {query: since}, keepalive: 6s}\n" +
				"  longpoll: {path: '/poll/{topic}', cursor: {query: cursor}, timeout: 6s}\n" +
				"  httpstream: {path: '/stream/{topic}', resume: {query: since}, heartbeat: 6s}\n" +
				"  publish: {path: '/publish/{topic}'}\n" +
				"  capabilities: [sse, websocket, longpoll, httpstream, resume, heartbeat, publish, echo]\n" +
				"proxies: {idle: 4s, direct: '" + origin + "'}\n"
			if err := os.WriteFile(profile, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			r := cli(t, 6*time.Minute, "run", "--config", profile, "--report-dir", dir, "--label-filter", "proxy && deployment")
			judgeMatrix(t, r, map[string][]string{proxy.Deployment: d.breaks}, false)
			for _, m := range r.report.Matrix {
				if m.ID == "PX-SSE-009" && m.Verdict != fw.NOTSUPPORTED {
					t.Errorf("PX-SSE-009 without capability restart: %s, want NOT_SUPPORTED", m.Verdict)
				}
				if slices.Contains(d.remedied, m.ID) && !strings.Contains(m.Remedy, d.remedy) {
					t.Errorf("%s: the deployment remedy does not name %q: %q", m.ID, d.remedy, m.Remedy)
				}
			}
		})
	}
}

// edgeRemedies names, per edge and cause problem, what a failing row's remedy must say: the
// edge's setting and the origin-side fix. A cloudfront-like resume failure (resume-header:
// no query string and no viewer header forwarded) gets CloudFront's own remedy.
var edgeRemedies = map[string]map[string][]string{
	"alb-like":    {"idle-timeout": {"idle_timeout.timeout_seconds", "heartbeat/ping every 15-30 s", "hold long-polls well under 60 s"}},
	"heroku-like": {"idle-timeout": {"not configurable", "ping every 25 s", "within 25 s", "headers (a first byte) at once"}},
	"cloudfront-like": {
		"idle-timeout":      {"OriginReadTimeout", "heartbeat/ping every 10-20 s", "hold long-polls under 30 s", "AllViewer"},
		"websocket-upgrade": {"AllViewer", "Sec-WebSocket-Key"},
		"resume-header":     {"AllViewer", "CachingDisabled", "resume query", "Last-Event-ID"},
	},
}

// judgeEdgeRemedies requires every failing row of the edge's naive cell to carry the remedy
// edgeRemedies names for its cause.
func judgeEdgeRemedies(t *testing.T, r result, edge string) {
	t.Helper()
	want := edgeRemedies[edge]
	if want == nil || r.report == nil {
		return
	}
	for _, m := range r.report.Matrix {
		if m.Cell != edge+":"+proxyrun.Naive || (m.Verdict != fw.FAIL && m.Verdict != fw.WARN) {
			continue
		}
		problem, _, _ := strings.Cut(proxy.NaiveCauses[edge][m.ID], ":")
		if len(want[problem]) == 0 {
			t.Errorf("%s@%s: no expected remedy for cause %q", m.ID, m.Cell, problem)
		}
		for _, w := range want[problem] {
			if !strings.Contains(m.Remedy, w) {
				t.Errorf("%s@%s: the remedy does not name %q: %q", m.ID, m.Cell, w, m.Remedy)
			}
		}
	}
}

// judgeCloudFrontTTL: in front of an origin that sends no Cache-Control (the reference
// without that header), the naive cloudfront-like edge caches a long-poll answer for its
// default TTL (24 h) and serves it to the next poll with another cursor (the query string is
// neither forwarded nor in the cache key) at once, with X-Cache "HIT from cloudfront", although
// a newer event exists; the recommended edge (CachingDisabled, AllViewer) forwards the cursor
// and caches nothing: a poll with the first answer's cursor gets the newer event, and a
// cursor-less poll is held by the origin.
func judgeCloudFrontTTL(t *testing.T) {
	origin := strippedReference(t, "Cache-Control")
	start := func(variant string) *proxyrun.Instance {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		inst, err := proxyrun.Start(ctx, "cloudfront-like", variant, proxyrun.Options{
			Upstream: strings.TrimPrefix(origin, "http://"), Idle: 4 * time.Second, Heartbeat: 6 * time.Second, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = inst.Stop() })
		return inst
	}
	naive, rec := start(proxyrun.Naive), start(proxyrun.Recommended)
	publish := func(payload string) {
		resp, err := http.Post(origin+"/publish/ttl", "text/plain", strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("publish %q: %s", payload, resp.Status)
		}
	}
	type answer struct {
		code         int
		body, xcache string
		cc           string
		took         time.Duration
		err          error
		Cursor       string                  `json:"cursor"`
		Events       []struct{ Data string } `json:"events"`
	}
	poll := func(base, cursor string, timeout time.Duration) answer {
		c := &http.Client{Timeout: timeout}
		began := time.Now()
		resp, err := c.Get(base + "/poll/ttl?cursor=" + url.QueryEscape(cursor))
		if err != nil {
			return answer{err: err, took: time.Since(began)}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		a := answer{code: resp.StatusCode, body: string(b), xcache: resp.Header.Get("X-Cache"), cc: resp.Header.Get("Cache-Control"), took: time.Since(began), err: err}
		if err == nil && resp.StatusCode == http.StatusOK {
			a.err = json.Unmarshal(b, &a)
		}
		return a
	}
	data := func(a answer) []string {
		var out []string
		for _, e := range a.Events {
			out = append(out, e.Data)
		}
		return out
	}
	publish("zero")
	// The edge forwards no cursor: the origin holds a cursor-less poll until the next event.
	first := make(chan answer, 1)
	go func() { first <- poll(naive.URL(), "0", 3*time.Second) }()
	// Publish "one" until the held poll answers (it may reach the origin after a publish).
	var a1 answer
	for tick := time.NewTicker(300 * time.Millisecond); ; {
		select {
		case a1 = <-first:
			tick.Stop()
		case <-tick.C:
			publish("one")
			continue
		}
		break
	}
	if a1.err != nil || a1.code != http.StatusOK || len(data(a1)) == 0 || slices.ContainsFunc(data(a1), func(d string) bool { return d != "one" }) || a1.cc != "" {
		t.Fatalf("naive: first poll %d %q (Cache-Control %q, err %v), want 200 with event one and no Cache-Control", a1.code, a1.body, a1.cc, a1.err)
	}
	publish("two")
	a2 := poll(naive.URL(), a1.Cursor, 2*time.Second)
	if a2.err != nil || a2.body != a1.body || !strings.HasPrefix(a2.xcache, "HIT") || a2.took > time.Second {
		t.Errorf("naive: poll from cursor %s after event two: %d %q X-Cache %q in %v (err %v), want the first answer again from the cache (HIT) at once",
			a1.Cursor, a2.code, a2.body, a2.xcache, a2.took, a2.err)
	}
	r1 := poll(rec.URL(), a1.Cursor, 2*time.Second)
	if r1.err != nil || r1.code != http.StatusOK || !slices.Contains(data(r1), "two") {
		t.Errorf("recommended: poll from cursor %s: %d %q (err %v), want event two (the cursor forwarded, nothing cached)", a1.Cursor, r1.code, r1.body, r1.err)
	}
	r2 := poll(rec.URL(), "", time.Second)
	if r2.err == nil {
		t.Errorf("recommended: a cursor-less poll was answered %d %q in %v, want it held by the origin (no cached answer)", r2.code, r2.body, r2.took)
	}
	t.Logf("naive: first poll %v %q; repeated poll %v X-Cache %q; recommended: %q, cursor-less poll held (%v)", a1.took, data(a1), a2.took, a2.xcache, data(r1), r2.err)
}

// deployments are end-to-end runs of the deployment cell: a naive proxy in front of the
// reference behind a Go proxy that strips a header many origins never send, which shows what
// the reference's own headers protect it from.
var deployments = []struct {
	proxy    string
	strip    []string // response headers the origin drops
	breaks   []string // the checks that must fail or warn
	remedied []string // checks whose remedy must name remedy
	remedy   string
}{
	{"nginx", []string{"X-Accel-Buffering"}, deploymentBreaks,
		[]string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-005", "PX-SSE-006", "PX-SSE-007", "PX-HS-001", "PX-HS-004", "PX-HS-005", "PX-HS-006"}, "proxy_buffering off"},
	{"varnish", []string{"Cache-Control"}, varnishCacheBreaks, []string{"PX-SSE-007", "PX-LP-002"}, "Cache-Control: no-store"},
}

// varnishCacheBreaks is what Varnish's naive config breaks for an origin that sends no
// Cache-Control: what it breaks for the reference, plus caching — the built-in VCL stores
// the answers (default_ttl), so a resumed stream and a repeated poll get another client's data
// (PX-SSE-007, PX-LP-002). The HTTP stream is not caught: its resume token is in the query,
// so each resumed stream is a URL of its own, and a live stream is cut (between_bytes_timeout)
// before it completes, so it is never stored (PX-HS-006 passes, measured).
var varnishCacheBreaks = append([]string{"PX-SSE-007", "PX-LP-002"}, proxy.NaiveBreaks["varnish"]...)

// deploymentBreaks is what nginx's naive config breaks for an origin without
// X-Accel-Buffering: no: what it breaks for the reference, plus buffering. The stream's
// bytes (headers too) are held until ~4 KiB accumulate (PX-SSE-001, PX-SSE-002) and are
// dropped when proxy_read_timeout ends the stream, so a resumed stream or two concurrent
// streams never see their few events (PX-SSE-005, -006, -007, with the buffering remedy). The
// HTTP stream, sent without X-Accel-Buffering too, is held the same way: its five events come
// out together once 4.2 KiB were published (PX-HS-001), and a resumed stream, two concurrent
// ones and the caching check's streams see none of theirs (PX-HS-004, -005, -006).
var deploymentBreaks = append([]string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-005", "PX-SSE-006", "PX-SSE-007",
	"PX-HS-001", "PX-HS-004", "PX-HS-005", "PX-HS-006"}, proxy.NaiveBreaks["nginx"]...)

// needsRestart are the checks the deployment run cannot judge: its profile has no restart hook.
var needsRestart = map[string]bool{"PX-SSE-009": true}

// judgeMatrix requires, for each cell of want, that the checks in want[cell] FAIL or WARN
// with a cause "<problem>:<transport>" (for a naive cell, exactly proxy.NaiveCauses) and every
// other check of the cell PASS — an INFO check INFO, and a latency budget check
// NOT_SUPPORTED naming --latency unless the run declares a budget; every registered check of the cell has a row
// with measurements; failing rows carry a remedy; the exit code and the console matrix
// match.
func judgeMatrix(t *testing.T, r result, want map[string][]string, budget bool) {
	t.Helper()
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rows := map[string]map[string]fw.MatrixRow{}
	for _, m := range r.report.Matrix {
		if rows[m.Cell] == nil {
			rows[m.Cell] = map[string]fw.MatrixRow{}
		}
		rows[m.Cell][m.ID] = m
	}
	res := map[string]map[string]fw.Result{}
	for _, c := range r.report.Checks {
		if res[c.Cell] == nil {
			res[c.Cell] = map[string]fw.Result{}
		}
		res[c.Cell][c.ID] = c
	}
	// A failure's cause is "<problem>:<transport>" (the key the wire suites' probes use).
	for cell := range want {
		for id, c := range res[cell] {
			if c.Verdict != fw.FAIL && c.Verdict != fw.WARN {
				continue
			}
			problem, tr, _ := strings.Cut(causeKey(c), ":")
			if fw.Transport(tr) != c.Transport || !slices.Contains(append(proxyrun.Problems(), "resume-header"), problem) || c.Cause.Text == "" {
				t.Errorf("%s@%s: %s with cause %+v, want <problem>:%s and a text", id, cell, c.Verdict, c.Cause, c.Transport)
			}
			if name, variant, _ := strings.Cut(strings.TrimSuffix(cell, ":h2"), ":"); variant == proxyrun.Naive {
				if exp := proxy.NaiveCauses[name][id]; causeKey(c) != exp {
					t.Errorf("%s@%s: cause %q, want %q", id, cell, causeKey(c), exp)
				}
			}
		}
	}
	wantCode := 0
	for cell, breaks := range want {
		var ids []string
		for _, c := range fw.Checks() {
			if c.Cell == cell {
				ids = append(ids, c.ID)
			}
		}
		if len(ids) == 0 {
			t.Fatalf("no check registered for cell %s", cell)
		}
		var broken []string
		for _, id := range ids {
			m, ok := rows[cell][id]
			switch {
			case !ok:
				t.Errorf("%s@%s: no matrix row", id, cell)
				continue
			case m.Verdict == fw.FAIL || m.Verdict == fw.WARN:
				broken = append(broken, id)
				if strings.TrimSpace(m.Remedy) == "" {
					t.Errorf("%s@%s: %s without a remedy", id, cell, m.Verdict)
				}
			case m.Verdict == fw.NOTSUPPORTED && cell == proxy.Deployment && needsRestart[id]:
				continue
			case cell == proxy.Deployment && proxy.H2Only(id):
				// These deployments are plain HTTP: nothing over h2 to judge (TestDeployH2 has
				// the deployments that speak it).
				if m.Verdict != fw.NOTSUPPORTED || !strings.Contains(res[cell][id].Message, "does not speak HTTP/2") {
					t.Errorf("%s@%s over plain HTTP: %s %q, want NOT_SUPPORTED saying it does not speak HTTP/2", id, cell, m.Verdict, res[cell][id].Message)
				}
				continue
			case slices.Contains(proxy.Budgets, id) && !budget:
				// No latency budget declared: the budget checks say how to declare one.
				if m.Verdict != fw.NOTSUPPORTED || !strings.Contains(res[cell][id].Message, "--latency or deploy.latency") {
					t.Errorf("%s@%s without a latency budget: %s %q, want NOT_SUPPORTED naming --latency", id, cell, m.Verdict, res[cell][id].Message)
				}
				continue
			case isInfo(id, cell):
				if m.Verdict != fw.INFOV {
					t.Errorf("%s@%s (an INFO check): %s, want INFO", id, cell, m.Verdict)
				}
			case m.Verdict != fw.PASS:
				t.Errorf("%s@%s: %s", id, cell, m.Verdict)
			}
			if m.Measured == "" && m.Verdict != fw.NOTSUPPORTED {
				t.Errorf("%s@%s measured nothing", id, cell)
			}
		}
		sort.Strings(broken)
		exp := slices.Sorted(slices.Values(breaks))
		if !slices.Equal(broken, exp) {
			t.Errorf("%s: failing checks %v, want exactly %v", cell, broken, exp)
		}
		for _, id := range exp {
			if c, ok := fw.Lookup(id + "@" + cell); ok && c.Level == fw.MUST {
				wantCode = 1
			}
		}
		if !strings.Contains(r.stdout, "  "+cell+" ") {
			t.Errorf("the console matrix has no line for %s", cell)
		}
	}
	for _, c := range r.report.Checks {
		if c.Verdict == fw.ERROR || c.Verdict == fw.FAIL {
			if _, ok := want[c.Cell]; !ok {
				t.Errorf("%s: %s outside the cells under test", c.Key(), c.Verdict)
			}
		}
		if c.Verdict == fw.ERROR {
			t.Errorf("%s: harness error: %s", c.Key(), c.Message)
		}
	}
	if !strings.Contains(r.stdout, "compatibility matrix") {
		t.Errorf("no compatibility matrix in the console output")
	}
	if r.code != wantCode {
		t.Errorf("exit %d, want %d", r.code, wantCode)
	}
	if t.Failed() {
		var b strings.Builder
		for _, m := range r.report.Matrix {
			fmt.Fprintf(&b, "%s %s %s: %s\n", m.Cell, m.ID, m.Verdict, m.Measured)
		}
		t.Logf("matrix:\n%s\nstdout:\n%s\nstderr:\n%s", b.String(), r.stdout, r.stderr)
	}
}

// judgeBudgets runs the latency budget checks of every naive cell with a declared budget of
// 100 ms (deploy.latency): HAProxy without http-no-delay adds ~200 ms to each SSE event and
// fails PX-SSE-010 (write-delay:sse); a config that refuses the WebSocket upgrade fails
// PX-WS-006 with that cause; every other budget check passes within the budget.
func judgeBudgets(t *testing.T) {
	need.Proxies(t)
	dir := t.TempDir()
	base, err := os.ReadFile(filepath.Join(root, "proxies", "matrix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "budget.yaml")
	if err := os.WriteFile(profile, append(base, "deploy: {latency: 100ms}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, 6*time.Minute, "run", "--config", profile, "--report-dir", dir, "--label-filter",
		"proxy && !edge && config:naive && (id:"+strings.Join(proxy.Budgets, " || id:")+")")
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := map[string]fw.Result{}
	for _, c := range r.report.Checks {
		got[c.Key()] = c
	}
	for _, name := range proxyrun.Names() {
		for _, id := range proxy.Budgets {
			key := id + "@" + name + ":" + proxyrun.Naive
			c, ok := got[key]
			want := ""
			switch {
			case name == "haproxy" && id == "PX-SSE-010":
				want = "write-delay:sse"
			case name == "haproxy" && id == "PX-HS-008":
				want = "write-delay:httpstream"
			case id == "PX-WS-006" && proxy.NaiveCauses[name]["PX-WS-001"] != "":
				want = proxy.NaiveCauses[name]["PX-WS-001"]
			}
			switch {
			case !ok:
				t.Errorf("%s: no result", key)
			case want == "" && (c.Verdict != fw.PASS || !slices.ContainsFunc(c.Measurements, func(m fw.Measurement) bool { return m.Name == "within budget" })):
				t.Errorf("%s: %s %s, want PASS within the 100 ms budget", key, c.Verdict, c.Message)
			case want != "" && (c.Verdict != fw.FAIL || causeKey(c) != want):
				t.Errorf("%s: %s (cause %q), want FAIL with cause %s", key, c.Verdict, causeKey(c), want)
			}
		}
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// causeKey is a result's cause key ("" without one).
func causeKey(r fw.Result) string {
	if r.Cause == nil {
		return ""
	}
	return r.Cause.Key
}

// isInfo reports whether the check is an INFO check (it measures; INFO is its only verdict).
func isInfo(id, cell string) bool {
	c, ok := fw.Lookup(id + "@" + cell)
	return ok && c.Level == fw.INFO
}

// strippedReference starts the reference (matrix.yaml's timings) behind a Go reverse proxy
// that drops the named response headers (X-Accel-Buffering, Cache-Control: many origins never
// send them); it returns the origin's URL.
func strippedReference(t *testing.T, strip ...string) string {
	t.Helper()
	u, _ := url.Parse(fwtest.Reference(t, reference.Config{Heartbeat: 6 * time.Second, PingInterval: 6 * time.Second,
		PollTimeout: 6 * time.Second}))
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		for _, h := range strip {
			resp.Header.Del(h)
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// The edges' labels select what issue 18's acceptance names: 'proxy && cdn' lists the CDN
// cells (cloudflare-like, fastly-like, cloudfront-like, with cloudflare-like's h2 cells), not
// the load balancer and the router; 'proxy && edge' lists every edge; 'proxy && !edge' only
// the stock proxies (their h2 cells and deployment included); 'proxy && h2' the h2 column.
func TestProxyEdgeLabels(t *testing.T) {
	cells := func(filter string) []string {
		r := cli(t, time.Minute, "list", "--format", "json", "--label-filter", filter)
		var rows []struct{ Cell string }
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 {
			t.Fatalf("list %q: exit %d, %v\n%s", filter, r.code, err, r.stderr)
		}
		set := map[string]bool{}
		for _, row := range rows {
			set[row.Cell] = true
		}
		return slices.Sorted(maps.Keys(set))
	}
	var cdn, edges, stock, h2 []string
	for _, cell := range proxy.Cells() {
		name, _, _ := strings.Cut(cell, ":")
		e, edge := proxyrun.EdgeOf(name)
		switch {
		case edge && e.Kind == "cdn":
			cdn = append(cdn, cell)
			edges = append(edges, cell)
		case edge:
			edges = append(edges, cell)
		default:
			stock = append(stock, cell)
		}
		if proxy.IsH2(cell) {
			h2 = append(h2, cell)
		}
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"proxy && cdn", cdn}, {"proxy && edge", edges}, {"proxy && !edge", stock},
		{"proxy && h2", h2},
		{"proxy && cdn && !h2", []string{"cloudflare-like:naive", "cloudflare-like:recommended", "fastly-like:naive", "fastly-like:recommended",
			"cloudfront-like:naive", "cloudfront-like:recommended"}},
		{"proxy && lb", []string{"alb-like:naive", "alb-like:recommended", "alb-like:naive:h2", "alb-like:recommended:h2"}},
		{"proxy && lb && !h2", []string{"alb-like:naive", "alb-like:recommended"}},
		{"proxy && router", []string{"heroku-like:naive", "heroku-like:recommended", "heroku-like:naive:h2", "heroku-like:recommended:h2"}},
	} {
		if got, want := cells(c.filter), slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
			t.Errorf("%q: cells %v, want %v", c.filter, got, want)
		}
	}
	if len(h2) != 18 {
		t.Errorf("h2 cells %v, want every proxy but Apache and every edge, naive and recommended", h2)
	}
}
