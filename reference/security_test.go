package reference

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtconform/rtconform/reference/eventlog"
)

// rawRequest sends one raw HTTP/1.1 request head on a new connection and returns the
// response (its body read) and the connection, still open.
func rawRequest(t *testing.T, addr, head string) (*http.Response, string, net.Conn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(nc, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	var body string
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	return resp, body, nc
}

func wsHead(path, origin, extra string) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: rt.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if origin != "" {
		h += "Origin: " + origin + "\r\n"
	}
	return h + extra + "\r\n"
}

// TestWSOriginPolicy: cross-site WebSocket hijacking is refused with 403 on both WebSocket
// routes, including origins that only look like an allowed one; the request's own host and
// the allow-list (path.Match patterns) are accepted.
func TestWSOriginPolicy(t *testing.T) {
	s := startServer(t, Config{AllowedOrigins: []string{"app.example", "*.trusted.example"}, Logf: func(string, ...any) {}})
	for _, path := range []string{"/ws/o", "/echo"} {
		for origin, want := range map[string]int{
			"":                                  101, // not a browser
			"https://rt.example":                101, // same host as the Host header
			"https://app.example":               101,
			"https://a.trusted.example":         101,
			"https://evil.example":              403,
			"https://app.example.evil.example":  403,
			"https://evilapp.example":           403,
			"https://trusted.example.evil":      403,
			"null":                              403, // sandboxed iframes, file: pages
			"https://rt.example.evil.example":   403,
			"https://a.b.trusted.example:8443x": 403,
		} {
			resp, body, _ := rawRequest(t, s.Addr(), wsHead(path, origin, ""))
			if resp.StatusCode != want {
				t.Errorf("%s Origin %q: %d %q, want %d", path, origin, resp.StatusCode, body, want)
			}
		}
	}
}

// TestCORSPolicy: only allowed origins get CORS headers, on answers and preflights, and never
// "*"; a request without Origin gets none.
func TestCORSPolicy(t *testing.T) {
	s := startServer(t, Config{AllowedOrigins: []string{"*.app.example"}})
	mustPublish(t, s, "c", "x")
	do := func(method, path, origin string, h ...string) *http.Response {
		req, _ := http.NewRequestWithContext(ctxT(t), method, s.URL()+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/sse/c", "/poll/c?cursor=x-0", "/stream/c", "/publish/c"} {
		method := http.MethodGet
		if strings.HasPrefix(path, "/publish/") {
			method = http.MethodPost
		}
		if method == http.MethodGet {
			method = http.MethodHead // no held stream
		}
		ok := do(method, path, "https://w.app.example")
		if ok.Header.Get("Access-Control-Allow-Origin") != "https://w.app.example" || ok.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s %s allowed origin: %v", method, path, ok.Header)
		}
		if !strings.Contains(strings.Join(ok.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%s %s: no Vary: Origin: %v", method, path, ok.Header)
		}
		for _, origin := range []string{"https://evil.example", "https://app.example.evil.example", "null"} {
			r := do(method, path, origin)
			if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s %s Origin %q: Access-Control-Allow-Origin %q", method, path, origin, v)
			}
			pre := do(http.MethodOptions, path, origin, "Access-Control-Request-Method", "GET")
			if pre.Header.Get("Access-Control-Allow-Origin") != "" || pre.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight %s from %q answered with CORS headers: %v", path, origin, pre.Header)
			}
		}
		if r := do(method, path, ""); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s without Origin: %v", method, path, r.Header)
		}
	}
}

// TestToken: with Config.Token, every route but /healthz requires the bearer token; the
// subscribe routes also take ?access_token=; publish does not (a query string is logged).
func TestToken(t *testing.T) {
	const tok = "s3cret-token"
	s := startServer(t, Config{Token: tok, AllowedOrigins: []string{"app.example"}, PollTimeout: 50 * time.Millisecond, Logf: func(string, ...any) {}})
	type tc struct {
		method, path, auth string
		want               int
	}
	var cases []tc
	for _, p := range []string{"/sse/t", "/poll/t", "/stream/t", "/metrics"} {
		method := http.MethodHead
		if p == "/metrics" || p == "/poll/t" {
			method = http.MethodGet
		}
		cases = append(cases,
			tc{method, p, "", 401},
			tc{method, p, "Bearer wrong", 401},
			tc{method, p, "Bearer " + tok[:len(tok)-1], 401},
			tc{method, p, "Basic " + tok, 401},
			tc{method, p, "Bearer " + tok, 200},
			tc{method, p, "bearer " + tok, 200},
		)
		if p != "/metrics" {
			cases = append(cases,
				tc{method, p + "?access_token=" + url.QueryEscape(tok), "", 200},
				tc{method, p + "?access_token=nope", "", 401},
				tc{method, p + "?access_token=", "", 401},
			)
		}
	}
	cases = append(cases,
		tc{http.MethodPost, "/publish/t", "", 401},
		tc{http.MethodPost, "/publish/t", "Bearer wrong", 401},
		tc{http.MethodPost, "/publish/t?access_token=" + tok, "", 401},
		tc{http.MethodPost, "/publish/t", "Bearer " + tok, 200},
		tc{http.MethodGet, "/healthz", "", 200},
	)
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(ctxT(t), c.method, s.URL()+c.path, strings.NewReader("x"))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s (Authorization %q): %d, want %d", c.method, c.path, c.auth, resp.StatusCode, c.want)
		}
		if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer: %v", c.method, c.path, resp.Header)
		}
	}
	// A CORS preflight carries no credentials: it is answered without the token.
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodOptions, s.URL()+"/sse/t", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Errorf("preflight with a token configured: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// WebSocket: header or query; refusals are HTTP 401 before the upgrade.
	for _, path := range []string{"/ws/t", "/echo"} {
		if resp, body, _ := rawRequest(t, s.Addr(), wsHead(path, "", "")); resp.StatusCode != 401 {
			t.Errorf("%s without a token: %d %q", path, resp.StatusCode, body)
		}
		if resp, _, _ := rawRequest(t, s.Addr(), wsHead(path, "", "Authorization: Bearer wrong\r\n")); resp.StatusCode != 401 {
			t.Errorf("%s with a wrong token: %d", path, resp.StatusCode)
		}
		if resp, body, _ := rawRequest(t, s.Addr(), wsHead(path, "", "Authorization: Bearer "+tok+"\r\n")); resp.StatusCode != 101 {
			t.Errorf("%s with the token: %d %q", path, resp.StatusCode, body)
		}
		c, _, err := websocket.Dial(ctxT(t), wsURL(s, path+"?access_token="+tok), nil)
		if err != nil {
			t.Errorf("%s?access_token=: %v", path, err)
		} else {
			c.CloseNow()
		}
	}
	// Refused requests create no topic.
	if n := s.Topics().Len(); n != 1 {
		t.Errorf("%d topics, want 1 (t, created by authorised requests only)", n)
	}
}

// TestMaxHeaderBytes: a request head over MaxHeaderBytes is answered 431 by net/http.
func TestMaxHeaderBytes(t *testing.T) {
	s := startServer(t, Config{MaxHeaderBytes: 8 << 10})
	// net/http allows 4096 bytes of slack over MaxHeaderBytes.
	big := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"
	if resp, body, _ := rawRequest(t, s.Addr(), big); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header with an 8 KiB bound: %d %q, want 431", resp.StatusCode, body)
	}
	ok := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 6<<10) + "\r\n\r\n"
	if resp, body, _ := rawRequest(t, s.Addr(), ok); resp.StatusCode != 200 {
		t.Errorf("6 KiB header with an 8 KiB bound: %d %q", resp.StatusCode, body)
	}
	if d := New(Config{}).Config().MaxHeaderBytes; d != DefaultMaxHeaderBytes {
		t.Errorf("default MaxHeaderBytes %d", d)
	}
}

// TestPublishAndMessageLimits: a publish body over MaxPublishBytes is 413, a WebSocket
// message over ReadLimit closes with 1009.
func TestPublishAndMessageLimits(t *testing.T) {
	s := startServer(t, Config{MaxPublishBytes: 100, ReadLimit: 100})
	for _, n := range []int{100, 101} {
		resp, err := http.Post(s.URL()+"/publish/l", "text/plain", strings.NewReader(strings.Repeat("a", n)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 200
		if n > 100 {
			want = 413
		}
		if resp.StatusCode != want {
			t.Errorf("publish %d bytes (limit 100): %d %q", n, resp.StatusCode, b)
		}
	}
	c := dialWS(t, wsURL(s, "/ws/l"))
	if err := c.Write(ctxT(t), websocket.MessageText, []byte(strings.Repeat("a", 101))); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctxT(t))
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("a 101-byte message (limit 100): %v, want close 1009", err)
	}
}

// TestMaxTopics: a new topic beyond Log.MaxTopics is 503 with Retry-After on every route;
// existing topics keep working.
func TestMaxTopics(t *testing.T) {
	s := startServer(t, Config{Log: eventlog.Options{MaxTopics: 2}, Logf: func(string, ...any) {}})
	mustPublish(t, s, "a", "1")
	mustPublish(t, s, "b", "1")
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/publish/c"}, {http.MethodHead, "/sse/c"}, {http.MethodHead, "/poll/c"}, {http.MethodHead, "/stream/c"}, {http.MethodGet, "/ws/c"},
	} {
		req, _ := http.NewRequestWithContext(ctxT(t), r.method, s.URL()+r.path, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s beyond MaxTopics: %d %v, want 503 with Retry-After", r.method, r.path, resp.StatusCode, resp.Header)
		}
	}
	if _, err := s.Publish("a", []byte("2")); err != nil {
		t.Errorf("existing topic: %v", err)
	}
}

// TestMaxConnsPerIP: beyond MaxConnsPerIP connections from one address (WebSockets counted
// until they close) a request is answered 429 with Retry-After and its connection closed;
// beyond twice the bound connections are closed at once; closing connections frees slots.
// Loopback is exempt by default.
func TestMaxConnsPerIP(t *testing.T) {
	const max = 4
	s := startServer(t, Config{MaxConnsPerIP: max, LimitLoopback: true, Logf: func(string, ...any) {}})
	ip := func() int { return s.conns.count(mustAddr(t, "127.0.0.1")) }
	var held []*websocket.Conn
	for i := 0; i < max-1; i++ {
		held = append(held, dialWS(t, wsURL(s, fmt.Sprintf("/ws/c%d", i))))
	}
	sse := openSSE(t, s.URL()+"/sse/c", nil)
	waitFor(t, "4 counted connections", func() bool { return ip() == max })

	resp, body, nc := rawRequest(t, s.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("connection %d: %d %v %q, want 429 with Retry-After", max+1, resp.StatusCode, resp.Header, body)
	}
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Errorf("the refused connection stays open")
	}
	if resp, _, _ := rawRequest(t, s.Addr(), wsHead("/ws/x", "", "")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("WebSocket over the bound: %d, want 429", resp.StatusCode)
	}
	// Fill up to twice the bound with idle connections: the next one is closed unanswered.
	var idle []net.Conn
	waitFor(t, "refused connections uncounted", func() bool { return ip() == max })
	for i := 0; i < max; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		t.Cleanup(func() { c.Close() })
	}
	waitFor(t, "8 counted connections", func() bool { return ip() == 2*max })
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Errorf("connection beyond twice the bound: read %d, %v, want closed", n, err)
	}
	for _, c := range idle {
		c.Close()
	}
	// Closing a WebSocket (hijacked) frees its slot.
	held[0].CloseNow()
	sse.resp.Body.Close()
	waitFor(t, "closed connections uncounted", func() bool { return ip() == max-2 })
	if resp, _ := httpGet(t, s.URL()+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("after closing: %d", resp.StatusCode)
	}
	for _, c := range held[1:] {
		c.CloseNow()
	}
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, "every connection uncounted", func() bool { return ip() == 0 })
	if got := metricValue(t, s, "rtconform_connections_refused_total"); got < 3 {
		t.Errorf("rtconform_connections_refused_total %d, want >= 3", got)
	}

	// Loopback is exempt by default.
	d := startServer(t, Config{MaxConnsPerIP: 1, Logf: func(string, ...any) {}})
	a := dialWS(t, wsURL(d, "/ws/a"))
	defer a.CloseNow()
	if resp, _ := httpGet(t, d.URL()+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("loopback with MaxConnsPerIP 1 and LimitLoopback unset: %d", resp.StatusCode)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// metricValue reads one metric from /metrics (on a connection of its own, closed after).
func metricValue(t *testing.T, s *Server, name string) int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, s.URL()+"/metrics", nil)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no metric %s in %s", name, b)
	return 0
}
