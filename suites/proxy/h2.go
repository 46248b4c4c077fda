package proxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// The h2 column (issue 18 part 2): the proxies and edges that can listen with TLS and HTTP/2
// (proxyrun.TLSNames(): nginx, haproxy, caddy, cloudflare-like) get a cell "<name>:<variant>:h2" of their
// own, in front of the same origin, whose clients speak HTTP/2 over TLS to the proxy (the
// run's own CA, trusted by these clients only) while the proxy speaks HTTP/1.1 to the origin.
// Only the SSE, HTTP-stream and long-poll checks that matter through intermediaries run
// there: first byte, per-event delivery, idle survival, resume passed, no caching,
// compression, the held poll and the uncached poll. A cell whose proxy does not negotiate h2 is a harness error.
//
// Labels: "proxy", "h2", "h2:<name>", "config:<variant>" and, for an edge, "edge", its kind
// and its own label, so 'proxy && h2' selects the column and 'proxy && proxy:nginx' stays the
// HTTP/1.1 cells. Selection (proxies.cells): an empty list selects the h2 cells of a local
// target like every local cell; otherwise the list must name the h2 cell ("nginx:naive:h2")
// or "h2" (a bare proxy name selects its HTTP/1.1 cells only).

// H2 is the suffix of an h2 cell ("nginx:naive:h2") and its label.
const H2 = "h2"

// H2Checks are the checks registered in the h2 cells.
// PX-H2-001 (many streams on one connection) runs in the h2 cells only.
var H2Checks = []string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-004", "PX-SSE-005", "PX-SSE-007", "PX-SSE-008",
	"PX-HS-001", "PX-HS-003", "PX-HS-004", "PX-HS-006", "PX-HS-007", "PX-LP-001", "PX-LP-002", "PX-H2-001"}

// h2Cells returns the h2 cells, in order.
func h2Cells() []string {
	var out []string
	for _, n := range proxyrun.TLSNames() {
		for _, v := range proxyrun.Variants() {
			out = append(out, n+":"+v+":"+H2)
		}
	}
	return out
}

// IsH2 reports whether cell is an h2 cell.
func IsH2(cell string) bool { return strings.HasSuffix(cell, ":"+H2) }

// H2NaiveBreaks is what the naive h2 cell of name fails: what its HTTP/1.1 cell fails among
// H2Checks (the same causes, NaiveCauses[name]).
func H2NaiveBreaks(name string) []string {
	var out []string
	for _, id := range NaiveBreaks[name] {
		if slices.Contains(H2Checks, id) {
			out = append(out, id)
		}
	}
	return out
}

// runTLS is the run's CA and certificate, made on first use under the report directory.
func runTLS(r *fw.Run) (*proxyrun.TLS, error) {
	v, err := r.Shared("proxy:tls", func() (any, func(), error) {
		c, err := proxyrun.NewTLS(filepath.Join(r.Profile.Report.Dir, "proxies", "tls"))
		return c, func() {}, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*proxyrun.TLS), nil
}

// h2Client is the h2 cells' HTTP client: the framework client's settings, trusting the run's
// CA and offering h2 by ALPN. It speaks plain HTTP/1.1 to the origin (direct).
func h2Client(r *fw.Run, c *proxyrun.TLS) *http.Client {
	v, _ := r.Shared("proxy:h2client", func() (any, func(), error) {
		cl := fw.NewTLSHTTPClient(c.ClientConfig())
		return cl, cl.CloseIdleConnections, nil
	})
	return v.(*http.Client)
}

// client is the HTTP client of the check's requests: the framework's, or in an h2 cell the
// h2 client.
func (e *env) client() *http.Client {
	if e.h2 {
		if c := e.inst.TLS(); c != nil {
			return h2Client(e.t.Run, c)
		}
	}
	return e.t.HTTP()
}

// negotiated requires the h2 cell's proxy to answer over HTTP/2 (ALPN h2), once per cell, and
// measures the protocol.
func (e *env) negotiated() {
	t := e.t
	v, err := t.Run.Shared("proxy:h2check:"+e.cell, func() (any, func(), error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.base+"/", nil)
		if err != nil {
			return nil, nil, err
		}
		resp, err := e.client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		resp.Body.Close()
		alpn := ""
		if resp.TLS != nil {
			alpn = resp.TLS.NegotiatedProtocol
		}
		if resp.ProtoMajor != 2 || alpn != "h2" {
			return nil, nil, fmt.Errorf("answered over %s (ALPN %q), not HTTP/2", resp.Proto, alpn)
		}
		return fmt.Sprintf("%s over TLS %s (ALPN %s)", resp.Proto, tls.VersionName(resp.TLS.Version), alpn), func() {}, nil
	})
	if err != nil {
		t.Harness("the h2 cell %s: %s does not speak HTTP/2 over TLS to the client: %v", e.cell, e.base, err)
	}
	t.Measure("client protocol", "%s", v)
}

// problemH2Streams is this suite's problem key for concurrent streams that do not share one
// HTTP/2 connection through the proxy.
const problemH2Streams = "h2-multiplexing"

// h2StreamsRemedy fixes streams that do not share an HTTP/2 connection.
const h2StreamsRemedy = "let concurrent streams share one HTTP/2 connection: allow enough concurrent streams per connection " +
	"(nginx `http2_max_concurrent_streams`, default 128; HAProxy `tune.h2.max-concurrent-streams`; Caddy and Cloudflare negotiate 100 or more) " +
	"and keep HTTP/2 enabled to the client (nginx `http2`, HAProxy `alpn h2,http/1.1`); over HTTP/1.1 a browser opens at most 6 connections per origin, " +
	"so a seventh EventSource waits"

// h2Streams is how many event streams PX-H2-001 opens at once: more than a browser's 6
// HTTP/1.1 connections per origin.
const h2Streams = 8

// RFC 9113 §5: "A single HTTP/2 connection can contain multiple concurrently open streams";
// the 6-connection limit per origin of browsers is an HTTP/1.1 fact (WHATWG HTML §9.2
// EventSource: "clients that support HTTP/1.1 ... per-server connection limitation").
var _ = register(check{
	id: "PX-H2-001", level: fw.MUST, transport: fw.SSE, requires: ssePublish, h2only: true,
	requirement: "Over HTTP/2 through the proxy, 8 event streams opened at once share one connection and each receives an event within 1 s of its publish (more than the 6 connections per origin a browser opens over HTTP/1.1).",
	quote:       "A single HTTP/2 connection can contain multiple concurrently open streams, with either endpoint interleaving frames from multiple streams.",
	spec:        "RFC 9113 §5; WHATWG HTML §9.2.9 (EventSource and the per-server connection limit of HTTP/1.1); operational: nginx http2_max_concurrent_streams",
	problems:    []string{problemH2Streams, proxyrun.ProblemBuffering},
	run: func(e *env) {
		t := e.t
		var mu sync.Mutex
		conns := map[string]bool{}
		e.trace = &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			conns[info.Conn.LocalAddr().String()] = true
			mu.Unlock()
		}}
		var taps []*tap
		for i := range h2Streams {
			taps = append(taps, e.openTap(fmt.Sprintf("stream %d", i+1), e.base, nil))
		}
		e.trace = nil
		settle(taps...)
		pubs := publishSpaced(t, []int{1}, 0, 0)
		var bad []string
		var worst time.Duration
		for _, tp := range taps {
			tp.waitSeqs(t, []int{1}, pubs[0].at.Add(late))
			d := deliveryOf(t, tp, pubs)
			worst = max(worst, d.lat.max())
			if d.held() {
				bad = append(bad, fmt.Sprintf("%s: %s (stream %s)", tp.label, d, tp.snap().describeEnd()))
			}
		}
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		t.Measure("streams", "%d opened at once", h2Streams)
		t.Measure("connections", "%d", n)
		t.Measure("latency", "max %s over the %d streams", ms(worst), h2Streams)
		if len(bad) > 0 {
			e.fail(fmt.Sprintf("event 1 on each of the %d streams within %s", h2Streams, ms(late)), strings.Join(bad, "; "), proxyrun.ProblemBuffering)
		}
		if n != 1 {
			e.fail(fmt.Sprintf("the %d streams on one HTTP/2 connection", h2Streams), fmt.Sprintf("%d connections", n))
		}
	},
})
