package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
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
// PX-H2-001 (many streams on one connection), PX-H2-003 (no connection-specific header) and
// PX-WS-008 (WebSocket over HTTP/2, RFC 8441) run in the h2 cells only; PX-H2-002 (the protocol a browser gets) runs in every cell.
var H2Checks = []string{"PX-SSE-001", "PX-SSE-002", "PX-SSE-004", "PX-SSE-005", "PX-SSE-007", "PX-SSE-008",
	"PX-HS-001", "PX-HS-003", "PX-HS-004", "PX-HS-006", "PX-HS-007", "PX-LP-001", "PX-LP-002", "PX-WS-008", "PX-H2-001", "PX-H2-002", "PX-H2-003"}

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

// H2Only reports whether the check of id runs in the h2 cells only (and the deployment's,
// where it is NOT_SUPPORTED unless the deployment negotiates h2).
func H2Only(id string) bool { return h2Only[id] }

// IsH2 reports whether cell is an h2 cell.
func IsH2(cell string) bool { return strings.HasSuffix(cell, ":"+H2) }

// H2NaiveBreaks is what the naive h2 cell of name fails: what its HTTP/1.1 cell fails among
// H2Checks (the same causes, NaiveCauses[name]), and PX-H2-001 where that cell buffers SSE
// (PX-SSE-002: the 8 concurrent streams hold their events too; fastly-like).
func H2NaiveBreaks(name string) []string {
	var out []string
	for _, id := range NaiveBreaks[name] {
		if slices.Contains(H2Checks, id) {
			out = append(out, id)
		}
	}
	if slices.Contains(NaiveBreaks[name], "PX-SSE-002") {
		out = append(out, "PX-H2-001")
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
		if e.inst == nil { // the deployment: the system's roots (SSL_CERT_FILE, SSL_CERT_DIR)
			v, _ := e.t.Run.Shared("proxy:h2client:system", func() (any, func(), error) {
				cl := fw.NewTLSHTTPClient(nil)
				return cl, cl.CloseIdleConnections, nil
			})
			return v.(*http.Client)
		}
		if c := e.inst.TLS(); c != nil {
			return h2Client(e.t.Run, c)
		}
	}
	return e.t.HTTP()
}

// negotiated requires the h2 cell's proxy to answer over HTTP/2 (ALPN h2), once per cell, and
// measures the protocol. A deployment that does not (plain HTTP, no h2 by ALPN) makes the
// check NOT_SUPPORTED: HTTP/1.1 at the edge is legitimate, and PX-H2-002 says what it means.
func (e *env) negotiated() {
	t := e.t
	v, err := t.Run.Shared("proxy:h2check:"+e.cell, func() (any, func(), error) {
		if !strings.HasPrefix(e.base, "https://") {
			return nil, nil, errors.New("plain HTTP")
		}
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
		return fmt.Sprintf("%s over %s (ALPN %s)", resp.Proto, tls.VersionName(resp.TLS.Version), alpn), func() {}, nil
	})
	if err != nil && e.inst == nil {
		t.NotSupported("the deployment (%s) does not speak HTTP/2 to its clients (%v): nothing over h2 to judge; PX-H2-002 reports what browsers get", e.base, err)
	}
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

// problemH2WebSocket is this suite's problem key for a WebSocket over HTTP/2 (RFC 8441) that
// the proxy offers but does not carry.
const problemH2WebSocket = "h2-websocket"

// h2WebSocketRemedy fixes a WebSocket over HTTP/2 that is offered but broken.
const h2WebSocketRemedy = "the proxy offers WebSocket over HTTP/2 (SETTINGS_ENABLE_CONNECT_PROTOCOL) but does not carry it: give the extended-CONNECT " +
	"stream the same tunnel treatment and timeouts as an HTTP/1.1 WebSocket (HAProxy `timeout tunnel`, the route to a backend that answers the upgrade), " +
	"or stop offering it so browsers use HTTP/1.1 (HAProxy `option h2-workaround-bogus-websocket-clients` on the bind's frontend)"

// dialWSH2 opens a WebSocket over HTTP/2 on e.base (RFC 8441), trusting the cell's CA, and
// sends the target's first messages. ErrNoExtendedConnect is returned as is; another refusal
// fails the check.
func (e *env) dialWSH2() (*wsclient.Conn, *wsclient.Handshake, error) {
	t := e.t
	fields := t.ResumeState().Fields(t.Topic())
	path, err := t.Target().WebSocketPath(t.Topic(), "", fields)
	if err != nil {
		t.Harness("%v", err)
	}
	u := e.wsEndpoint(e.base, path, "")
	var o wsclient.DialOptions
	if e.inst != nil && e.inst.TLS() != nil {
		o.TLSConfig = e.inst.TLS().ClientConfig()
	}
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	start := time.Now()
	c, hs, err := wsclient.DialH2(ctx, u, o)
	if errors.Is(err, wsclient.ErrNoExtendedConnect) {
		return nil, nil, err
	}
	if err != nil {
		obs := err.Error()
		if hs != nil {
			obs = fmt.Sprintf("%s after %s", hs.StatusLine, ms(time.Since(start)))
		}
		e.fail("an extended CONNECT (:protocol websocket) to "+u+" is answered 200", obs, problemH2WebSocket)
	}
	t.Measure("handshake", "extended CONNECT answered %d in %s", hs.Status, ms(time.Since(start)))
	t.Cleanup(func() { _ = c.Close() })
	e.sendFirst(c, "", fields, problemH2WebSocket)
	return c, hs, nil
}

// RFC 8441 §4: WebSocket over HTTP/2 where the proxy offers it; browsers fall back to
// HTTP/1.1 where it does not (Chrome and Firefox use it only after the SETTINGS).
var _ = register(check{
	id: "PX-WS-008", level: fw.MUST, transport: fw.WebSocket, requires: wsPublish, h2only: true,
	requirement: "Over HTTP/2 through the proxy, when the proxy advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, a WebSocket opened with an extended CONNECT (:protocol websocket) is answered 200 and each published event arrives on it within 1 s; when it does not, the check reports that browsers open their WebSocket over HTTP/1.1 (which the HTTP/1.1 cell's PX-WS checks judge).",
	quote:       "Upon receiving SETTINGS_ENABLE_CONNECT_PROTOCOL with a value of 1, a client MAY use the Extended CONNECT as defined in this document when creating new streams.",
	spec:        "RFC 8441 §3, §4, §5; operational: HAProxy h2 WebSocket (2.4+), nginx and Caddy do not offer it (measured)",
	problems:    []string{problemH2WebSocket, proxyrun.ProblemBuffering},
	run: func(e *env) {
		t := e.t
		c, _, err := e.dialWSH2()
		if err != nil { // ErrNoExtendedConnect
			t.Measure("websocket over h2", "not offered (no SETTINGS_ENABLE_CONNECT_PROTOCOL): a browser opens its WebSocket over HTTP/1.1, on a connection of its own")
			return
		}
		t.Measure("websocket over h2", "offered (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)")
		e.wsOnTime(c, "stream", " on the WebSocket over HTTP/2", problemH2WebSocket)
	},
})

// browserConnections is how many HTTP/1.1 connections a browser opens to one origin.
const browserConnections = 6

// clientProtocol describes what a browser gets from base: HTTP/1.1 in plain text, or over
// TLS whatever ALPN picks between h2 and http/1.1, and over h2 the proxy's
// SETTINGS_MAX_CONCURRENT_STREAMS. cfg nil trusts the system roots.
func clientProtocol(ctx context.Context, base string, cfg *tls.Config) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" {
		return fmt.Sprintf("HTTP/1.1 in plain text (browsers speak HTTP/2 over TLS only): a browser opens at most %d connections to this origin, so a %dth EventSource, held poll or stream in it waits until one closes", browserConnections, browserConnections+1), nil
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	tc := nc.(*tls.Conn)
	st := tc.ConnectionState()
	version := tls.VersionName(st.Version)
	if st.NegotiatedProtocol != "h2" {
		tc.Close()
		return fmt.Sprintf("HTTP/1.1 over %s (ALPN %q, no h2): a browser opens at most %d connections to this origin, so a %dth EventSource, held poll or stream in it waits until one closes", version, st.NegotiatedProtocol, browserConnections, browserConnections+1), nil
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		tc.Close()
		return "", err
	}
	defer cc.Close()
	if err := cc.Ping(ctx); err != nil { // the server's SETTINGS come before its PING ack
		return "", err
	}
	n := cc.State().MaxConcurrentStreams
	return fmt.Sprintf("HTTP/2 over %s (ALPN h2): a browser's EventSources, polls and streams to this origin share one connection, up to %d at once (SETTINGS_MAX_CONCURRENT_STREAMS)", version, n), nil
}

// The protocol a browser gets, and what it means for concurrent streams (issue 18: the
// browser's 6-connection limit is an HTTP/1.1 fact, reported per cell).
var _ = register(check{
	id: "PX-H2-002", level: fw.INFO, transport: fw.SSE,
	requirement: "Reports the protocol a browser gets through the path (HTTP/1.1 or HTTP/2, TLS) and how many event streams it can hold open to the origin at once: 6 connections over HTTP/1.1, the proxy's SETTINGS_MAX_CONCURRENT_STREAMS over HTTP/2.",
	quote:       "Clients that support HTTP's per-server connection limitation might run into trouble when opening multiple pages from a site if each page has an EventSource to the same domain. Authors can avoid this using the relatively complex mechanism of using unique domain names per connection, or by allowing the user to enable or disable the EventSource functionality on a per-page basis, or by sharing a single EventSource object using a shared worker.",
	spec:        "WHATWG HTML §9.2.9 (EventSource, authoring notes); RFC 9113 §5.1.2, §6.5.2 (SETTINGS_MAX_CONCURRENT_STREAMS)",
	problems:    []string{problemH2Streams},
	run: func(e *env) {
		t := e.t
		var cfg *tls.Config
		if e.inst != nil && e.inst.TLS() != nil {
			cfg = e.inst.TLS().ClientConfig()
		}
		ctx, cancel := t.Within(15 * time.Second)
		defer cancel()
		s, err := clientProtocol(ctx, e.base, cfg)
		if err != nil {
			t.Harness("probing the protocol of %s: %v", e.base, err)
		}
		if e.inst == nil { // the deployment's protocol column
			p := "http/1.1"
			if strings.HasPrefix(s, "HTTP/2") {
				p = "h2"
			}
			fw.RegisterCellProtocol(e.cell, p)
		}
		t.Measure("streams per origin", "%s", s)
	},
})

// connectionSpecific are the header fields RFC 9113 §8.2.2 forbids in an HTTP/2 message.
var connectionSpecific = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// RFC 9113 §8.2.2: what the origin's HTTP/1.1 response carries about its own connection
// (Connection, Transfer-Encoding: chunked for a stream) must not reach an HTTP/2 client; Go's
// client passes such fields through, so they are seen, where a browser fails the response.
var _ = register(check{
	id: "PX-H2-003", level: fw.MUST, transport: fw.SSE, requires: sseCaps, h2only: true,
	requirement: "Over HTTP/2 through the proxy, neither an event stream's response nor a plain response carries a connection-specific header field (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade).",
	quote:       "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific header fields. This includes the Connection header field and those listed as having connection-specific semantics in Section 7.6.1 of [HTTP] (that is, Proxy-Connection, Keep-Alive, Transfer-Encoding, and Upgrade). Any message containing connection-specific header fields MUST be treated as malformed (Section 8.1.1).",
	spec:        "RFC 9113 §8.2.2",
	problems:    []string{problemH2Headers},
	run: func(e *env) {
		t := e.t
		var bad []string
		look := func(what, u string, h http.Header) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				t.Harness("request for %s: %v", u, err)
			}
			for k, v := range h {
				req.Header[k] = v
			}
			resp, err := e.client().Do(req)
			if err != nil {
				e.fail(fmt.Sprintf("%s (%s) is answered over HTTP/2", what, u), err.Error(), problemH2Headers)
			}
			resp.Body.Close()
			var found []string
			for _, k := range connectionSpecific {
				if vs, ok := resp.Header[k]; ok {
					found = append(found, fmt.Sprintf("%s: %s", k, strings.Join(vs, ", ")))
				}
			}
			t.Measure(what, "%d over %s, %s", resp.StatusCode, resp.Proto, connFields(found))
			if len(found) > 0 {
				bad = append(bad, fmt.Sprintf("%s carries %s", what, strings.Join(found, "; ")))
			}
		}
		look("event stream", e.base+fw.Path(t.Target().SSE.Path, t.Topic()), http.Header{"Accept": {"text/event-stream"}})
		look("plain response", e.base+"/", nil)
		if len(bad) > 0 {
			e.fail("no connection-specific header field in an HTTP/2 response", strings.Join(bad, "; "), problemH2Headers)
		}
	},
})

// connFields joins the connection-specific fields found, or says there is none.
func connFields(found []string) string {
	if len(found) == 0 {
		return "no connection-specific field"
	}
	return strings.Join(found, "; ")
}

// problemH2Headers is this suite's problem key for connection-specific header fields in an
// HTTP/2 response.
const problemH2Headers = "h2-connection-headers"

// h2HeadersRemedy fixes connection-specific fields over HTTP/2.
const h2HeadersRemedy = "do not add connection-specific header fields to responses (an `add_header Connection …`, `http-response set-header Upgrade …` or the like): " +
	"HTTP/2 forbids Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding and Upgrade, and browsers fail such a response (net::ERR_HTTP2_PROTOCOL_ERROR)"
