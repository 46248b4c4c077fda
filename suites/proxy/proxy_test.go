package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// Every problem a naive config is known to cause (proxyrun.NaiveBreaks) is caught by a check
// the matrix expects to fail for it, or explained in NotObserved; every expected failure is a
// registered check that can detect one of the proxy's problems.
func TestNaiveBreaksCoverProxyrun(t *testing.T) {
	for _, name := range append(proxyrun.Names(), proxyrun.EdgeNames()...) {
		breaks, ok := NaiveBreaks[name]
		if !ok {
			t.Errorf("%s: no NaiveBreaks entry", name)
		}
		for _, id := range breaks {
			if _, ok := fw.Lookup(id + "@" + name + ":naive"); !ok {
				t.Errorf("%s: %s is not a registered check of cell %s:naive", name, id, name)
			}
		}
		for _, problem := range proxyrun.NaiveBreaks(name) {
			if NotObserved[name][problem] != "" {
				continue
			}
			caught := slices.ContainsFunc(breaks, func(id string) bool { return slices.Contains(detects[id], problem) })
			if !caught {
				t.Errorf("%s: proxyrun reports %q, but no check in NaiveBreaks detects it and NotObserved does not explain why", name, problem)
			}
		}
	}
}

// Every check is registered in every cell with the cell's labels (an edge: "edge", its kind
// and its own label; "cdn" for the CDNs only), and each cell's problems have a remedy naming
// something to change.
func TestCellsAndRemedies(t *testing.T) {
	for _, e := range proxyrun.Edges() {
		if !strings.HasPrefix(e.Label, e.Kind+":") || !slices.Contains([]string{"cdn", "lb", "router"}, e.Kind) {
			t.Errorf("edge %s: kind %q, label %q", e.Name, e.Kind, e.Label)
		}
	}
	cells := Cells()
	if len(cells) != (len(proxyrun.Names())+len(proxyrun.EdgeNames())+len(proxyrun.TLSNames()))*len(proxyrun.Variants())+1 || cells[len(cells)-1] != Deployment {
		t.Fatalf("cells %v", cells)
	}
	for id, problems := range detects {
		if len(problems) == 0 {
			t.Errorf("%s detects no problem (no remedy to give)", id)
		}
		for _, cell := range cells {
			c, ok := fw.Lookup(id + "@" + cell)
			if (IsH2(cell) && !slices.Contains(H2Checks, id)) || (h2Only[id] && !IsH2(cell) && cell != Deployment) {
				if ok {
					t.Errorf("%s is registered for the h2 cell %s", id, cell)
				}
				continue
			}
			if !ok {
				t.Errorf("%s is not registered for %s", id, cell)
				continue
			}
			name, variant := splitCell(cell)
			want := []string{"proxy", Deployment}
			if name != "" {
				want = []string{"proxy", "proxy:" + name, "config:" + variant}
			}
			if IsH2(cell) {
				want = []string{"proxy", "h2", "h2:" + name, "config:" + variant}
			}
			if e, ok := proxyrun.EdgeOf(name); ok {
				want = append(want, "edge", e.Kind, e.Label)
			}
			if !slices.Equal(c.Labels, want) || c.Enabled == nil {
				t.Errorf("%s@%s: labels %v (want %v), enabled set: %v", id, cell, c.Labels, want, c.Enabled != nil)
			}
			e := &env{proxy: name}
			for _, p := range problems {
				if r := e.remedy(p); r == "" || strings.Contains(r, "no known remedy") {
					t.Errorf("%s@%s: no remedy for %s", id, cell, p)
				}
			}
		}
	}
}

// The profile's proxies.cells selects cells; an empty list selects the local cells for a
// local target and the deployment cell for a remote one.
func TestEnabled(t *testing.T) {
	run := func(url, name string, start bool, cells ...string) *fw.Run {
		r := &fw.Run{BaseURL: url}
		r.Profile.Target.Name = name
		// Setup marks the reference it starts in this process (no url in the profile).
		r.InProcess = name == "reference" && strings.HasPrefix(url, "http://127.0.0.1")
		if start {
			r.Profile.Target.Start = &fw.StartHook{Command: "./server --listen {port}"}
		}
		r.Profile.Proxies.Cells = cells
		return r
	}
	all := Cells()
	locals := all[:len(all)-1]
	for _, c := range []struct {
		name string
		r    *fw.Run
		want []string
	}{
		// Setup replaces the reference's empty url with its loopback address.
		{"in-process reference", run("http://127.0.0.1:4000", "reference", false), locals},
		{"target.start", run("http://127.0.0.1:4000", "mine", true), locals},
		{"remote url", run("https://rt.example.com", "https://rt.example.com", false), []string{Deployment}},
		{"remote url named reference", run("https://rt.example.com", "reference", false), []string{Deployment}},
		{"bare proxy name", run("http://127.0.0.1:4000", "reference", false, "nginx"), []string{"nginx:naive", "nginx:recommended"}},
		{"one cell, remote", run("https://rt.example.com", "x", false, "varnish:naive"), []string{"varnish:naive"}},
		{"deployment listed", run("https://rt.example.com", "x", false, "deployment", "caddy"), []string{"caddy:naive", "caddy:recommended", Deployment}},
		{"deployment listed, local", run("http://127.0.0.1:4000", "reference", false, "deployment"), nil},
		{"h2 column", run("http://127.0.0.1:4000", "reference", false, "h2"), h2Cells()},
		{"one h2 cell and nginx", run("http://127.0.0.1:4000", "reference", false, "nginx", "cloudflare-like:naive:h2"),
			[]string{"nginx:naive", "nginx:recommended", "cloudflare-like:naive:h2"}},
	} {
		var got []string
		for _, cell := range all {
			if enabled(cell)(c.r) {
				got = append(got, cell)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: enabled %v, want %v", c.name, got, c.want)
		}
	}
}

// The intermediary is recognised from its response headers, and the shortest default idle
// limit of those recognised wins; Caddy alone has none.
func TestDetectLimit(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
		who  string
	}{
		{"nginx", h("Server", "nginx/1.22.1"), 60 * time.Second, true, "nginx"},
		{"varnish via", h("Via", "1.1 varnish (Varnish/7.1)"), 60 * time.Second, true, "Varnish"},
		{"x-varnish", h("X-Varnish", "32770"), 60 * time.Second, true, "Varnish"},
		{"apache", h("Server", "Apache/2.4.62 (Debian)"), 60 * time.Second, true, "Apache"},
		{"cloudflare", h("Cf-Ray", "8a1b-AMS", "Server", "cloudflare"), 100 * time.Second, true, "Cloudflare"},
		{"alb", h("X-Amzn-Trace-Id", "Root=1-67"), 60 * time.Second, true, "AWS ALB"},
		{"heroku", h("Via", "1.1 vegur"), 55 * time.Second, true, "Heroku"},
		{"caddy", h("Server", "Caddy"), 0, true, "Caddy"},
		{"cloudflare in front of heroku", h("Cf-Ray", "x", "Via", "1.1 vegur"), 55 * time.Second, true, "Cloudflare, Heroku"},
		{"caddy in front of nginx", h("Server", "Caddy", "Via", "1.1 Caddy", "X-Served-By", "nginx"), 0, true, "Caddy"},
		{"unknown", h("Server", "gunicorn"), 0, false, ""},
		{"nil", nil, 0, false, ""},
	} {
		l, ok := detectLimit(c.h)
		if ok != c.ok || l.d != c.want || (ok && !strings.Contains(l.source, c.who)) {
			t.Errorf("%s: %v %v, want %v %v naming %q", c.name, l, ok, c.want, c.ok, c.who)
		}
	}
}

// The margin reads as the issue asks ("heartbeat 15 s < limit 60 s: safe by 4×").
func TestMargin(t *testing.T) {
	if got, want := margin("heartbeat", 15*time.Second, limit{d: time.Minute}), "heartbeat 15.00 s < limit 60.00 s: safe by 4×"; got != want {
		t.Errorf("margin %q, want %q", got, want)
	}
	if got := margin("keepalive", 6*time.Second, limit{d: 20 * time.Second}); !strings.HasSuffix(got, "safe by 3.3×") {
		t.Errorf("margin %q", got)
	}
	if got := margin("hold", 6*time.Second, limit{source: "Caddy"}); !strings.Contains(got, "no idle limit") {
		t.Errorf("margin without a limit %q", got)
	}
}

// headerDiff names what the path consumed, added and changed, and ignores per-response
// headers.
func TestHeaderDiff(t *testing.T) {
	origin := http.Header{"Content-Type": {"text/event-stream"}, "X-Accel-Buffering": {"no"}, "Date": {"a"}, "Cache-Control": {"no-cache"}}
	path := http.Header{"Content-Type": {"text/event-stream"}, "Server": {"nginx/1.22.1"}, "Date": {"b"}, "Cache-Control": {"no-cache, no-transform"}}
	got := headerDiff(origin, path)
	want := []string{"changed Cache-Control: no-cache → no-cache, no-transform", "added Server: nginx/1.22.1", "consumed X-Accel-Buffering: no"}
	if len(got) != len(want) {
		t.Fatalf("diff %q, want %d entries", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("entry %d %q, want %q…", i, got[i], want[i])
		}
	}
}

// A failure's cause key is "<problem>:<transport>", the key the wire suites' probes use, and
// its text names who is responsible.
func TestCauses(t *testing.T) {
	if k := CauseKey(proxyrun.ProblemBuffering, fw.SSE); k != "buffering:sse" {
		t.Errorf("key %q", k)
	}
	dep, local := &env{}, &env{proxy: "nginx", config: "naive"}
	for _, p := range append(proxyrun.Problems(), problemResumeHeader) {
		for _, tr := range []fw.Transport{fw.SSE, fw.WebSocket, fw.LongPoll} {
			d, l := dep.causeText(p, tr), local.causeText(p, tr)
			if !strings.Contains(strings.ToLower(d), "the path") || !strings.Contains(l, "nginx (naive config)") || strings.Contains(d, "%!") || !strings.HasSuffix(d, ".") {
				t.Errorf("%s on %s: %q / %q", p, tr, d, l)
			}
		}
	}
}

// NaiveCauses gives a cause key for exactly the checks of NaiveBreaks, each a problem the
// check detects (or the refused upgrade) on the check's transport.
func TestNaiveCauses(t *testing.T) {
	for name, breaks := range NaiveBreaks {
		causes := NaiveCauses[name]
		h2 := 0 // the naive h2 cell's own breaks (PX-H2-001 where the cell buffers)
		for _, id := range H2NaiveBreaks(name) {
			if h2Only[id] {
				h2++
				if _, ok := causes[id]; !ok {
					t.Errorf("%s: no cause for %s in its naive h2 cell", name, id)
				}
			}
		}
		if len(causes) != len(breaks)+h2 {
			t.Errorf("%s: %d causes for %d breaks (+%d in its h2 cell)", name, len(causes), len(breaks), h2)
		}
		for _, id := range breaks {
			c, ok := fw.Lookup(id + "@" + name + ":naive")
			key := causes[id]
			problem, tr, _ := strings.Cut(key, ":")
			// A CDN-like edge's fetch that ends at its timeout is a 503 (fastly-like): the checks
			// report that as bad-gateway, outside their usual detects.
			_, edge := proxyrun.EdgeOf(name)
			edgeCause := edge && problem == proxyrun.ProblemBadGateway
			if !ok || fw.Transport(tr) != c.Transport || (!slices.Contains(detects[id], problem) && key != wsRefused && !edgeCause) {
				t.Errorf("%s %s: cause %q does not fit the check", name, id, key)
			}
		}
	}
	for _, id := range Budgets {
		if c, ok := fw.Lookup(id + "@" + Deployment); !ok || c.Level != fw.MUST {
			t.Errorf("budget check %s: %+v", id, c.Level)
		}
	}
}

// A lost resume token gets the edge's own remedy where proxyrun has one (cloudfront-like:
// AllViewer), the generic one elsewhere.
func TestResumeRemedy(t *testing.T) {
	if r := (&env{proxy: "cloudfront-like"}).remedy(problemResumeHeader); !strings.Contains(r, "AllViewer") || r != proxyrun.Remedy("cloudfront-like", proxyrun.ProblemResumeHeaderEdge) {
		t.Errorf("cloudfront-like: %q, want proxyrun's remedy naming AllViewer", r)
	}
	for _, name := range []string{"nginx", "fastly-like", ""} {
		if r := (&env{proxy: name}).remedy(problemResumeHeader); r != resumeHeaderRemedy {
			t.Errorf("%q: %q, want the generic resume remedy", name, r)
		}
	}
}

// proxies.cells is validated against fw.ProxyNames: the proxies and edges proxyrun runs.
func TestCellNamesMatchProxyrun(t *testing.T) {
	if want := append(proxyrun.Names(), proxyrun.EdgeNames()...); !slices.Equal(fw.ProxyNames, want) {
		t.Errorf("fw.ProxyNames %v, want proxyrun's %v", fw.ProxyNames, want)
	}
	// Every cell, and the bare names and "h2", load as proxies.cells.
	cells := append(Cells(), append(proxyrun.Names(), H2)...)
	path := filepath.Join(t.TempDir(), "cells.yaml")
	if err := os.WriteFile(path, []byte("proxies: {cells: ['"+strings.Join(cells, "', '")+"']}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Load(path, fw.Overrides{}); err != nil {
		t.Errorf("proxies.cells naming every cell: %v", err)
	}
}

// The h2 column: one cell per TLS-capable proxy and variant, with the h2 checks only; a naive
// h2 cell is expected to fail what its HTTP/1.1 cell fails among them.
func TestH2Cells(t *testing.T) {
	var want []string
	for _, n := range []string{"nginx", "haproxy", "caddy", "varnish", "cloudflare-like", "fastly-like", "cloudfront-like", "alb-like", "heroku-like"} {
		want = append(want, n+":naive:h2", n+":recommended:h2")
	}
	if got := h2Cells(); !slices.Equal(got, want) {
		t.Errorf("h2 cells %v, want %v", got, want)
	}
	if n, v := splitCell("cloudflare-like:naive:h2"); n != "cloudflare-like" || v != proxyrun.Naive {
		t.Errorf("splitCell: %q %q", n, v)
	}
	for _, id := range H2Checks {
		if _, ok := fw.Lookup(id + "@nginx:naive:h2"); !ok {
			t.Errorf("%s is not registered for nginx:naive:h2", id)
		}
	}
	if got := H2NaiveBreaks("nginx"); !slices.Equal(got, []string{"PX-SSE-004", "PX-HS-003", "PX-LP-001"}) {
		t.Errorf("H2NaiveBreaks(nginx) = %v", got)
	}
}
