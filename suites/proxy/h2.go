package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// The h2 column (issue 18 part 2): the proxies and edges that can listen with TLS and HTTP/2
// (proxyrun.TLSNames(): nginx, cloudflare-like) get a cell "<name>:<variant>:h2" of their
// own, in front of the same origin, whose clients speak HTTP/2 over TLS to the proxy (the
// run's own CA, trusted by these clients only) while the proxy speaks HTTP/1.1 to the origin.
// Only the SSE and long-poll checks that matter through intermediaries run there: first
// byte, per-event delivery, idle survival, resume passed, no caching, compression, the held
// poll and the uncached poll. A cell whose proxy does not negotiate h2 is a harness error.
//
// Labels: "proxy", "h2", "h2:<name>", "config:<variant>" and, for an edge, "edge", its kind
// and its own label, so 'proxy && h2' selects the column and 'proxy && proxy:nginx' stays the
// HTTP/1.1 cells. Selection (proxies.cells): an empty list selects the h2 cells of a local
// target like every local cell; otherwise the list must name the h2 cell ("nginx:naive:h2")
// or "h2" (a bare proxy name selects its HTTP/1.1 cells only).

// H2 is the suffix of an h2 cell ("nginx:naive:h2") and its label.
const H2 = "h2"

// H2Checks are the checks registered in the h2 cells.
var H2Checks = []string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-004", "PX-SSE-005", "PX-SSE-007", "PX-SSE-008", "PX-LP-001", "PX-LP-002"}

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
		tr := &http.Transport{
			Proxy:              nil,
			DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			DisableCompression: true, MaxResponseHeaderBytes: 64 << 10, MaxIdleConnsPerHost: 16,
			IdleConnTimeout: 30 * time.Second, TLSClientConfig: c.ClientConfig(), ForceAttemptHTTP2: true,
		}
		cl := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		return cl, tr.CloseIdleConnections, nil
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
