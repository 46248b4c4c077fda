package sse

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// oneShot is an HTTP client of the check's own that never reuses a connection: each request
// gets a fresh one, closed after the answer. Requests after which a server may leave the
// connection unusable (a HEAD of a stream whose handler keeps running) use it.
func oneShot(t *fw.T) *http.Client {
	base, ok := t.HTTP().Transport.(*http.Transport)
	var tr *http.Transport
	if ok {
		tr = base.Clone()
	} else {
		tr = &http.Transport{Proxy: nil, DisableCompression: true}
	}
	tr.DisableKeepAlives = true
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: t.HTTP().CheckRedirect}
}

// keepAliveWait bounds how long SSE-RESP-012 waits for the answer to the second request.
const keepAliveWait = 3 * time.Second

// RFC 9112 §9.3: HTTP/1.1 connections are persistent unless "close" is sent; a server that
// does not keep a connection usable must say so. Many SSE servers (r3labs/sse, Mercure, go-sse)
// answer a HEAD of the stream with headers and keep their stream handler running, so the
// connection never reads another request: a pooling client that reuses it (a health checker
// followed by a fetch, an HTTP library's keep-alive pool) waits forever. That is measured and
// reported here, with no verdict: browsers open an EventSource with GET, and a client can
// protect itself (this suite gives every HEAD a connection of its own).
var _ = fw.Register(fw.Check{
	ID: "SSE-RESP-012", Level: fw.INFO, Transport: fw.SSE, Requires: sseCaps,
	Requirement: "After answering a HEAD of the stream without Connection: close, the server reads and answers the next request on that connection (within 3 s).",
	Quote:       "A server that does not support persistent connections MUST send the \"close\" connection option in every response message that does not have a 1xx (Informational) status code.",
	Spec:        "RFC 9112 §9.3; RFC 9110 §9.3.2",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		u, err := url.Parse(t.URL(t.Target().SSE.Path))
		if err != nil {
			t.Harness("the stream URL: %v", err)
		}
		conn := dialRaw(t, u)
		defer conn.Close()
		br := bufio.NewReader(conn)
		ask := func(n int) (*http.Response, error) {
			_ = conn.SetDeadline(time.Now().Add(keepAliveWait))
			req := fmt.Sprintf("HEAD %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nUser-Agent: rtconform\r\n\r\n", u.RequestURI(), u.Host)
			if _, err := conn.Write([]byte(req)); err != nil {
				return nil, fmt.Errorf("writing HEAD %d: %w", n, err)
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			return resp, nil
		}
		first, err := ask(1)
		if err != nil {
			t.Violation("an answer to HEAD", fmt.Sprintf("%v", err))
		}
		t.Measure("first HEAD", "status %d, Connection %q", first.StatusCode, first.Header.Get("Connection"))
		if first.Close {
			return // the server said it closes: nothing is promised
		}
		start := time.Now()
		second, err := ask(2)
		switch {
		case err == nil:
			t.Measure("second HEAD on the same connection", "status %d after %s", second.StatusCode, time.Since(start).Round(time.Millisecond))
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Measure("second HEAD on the same connection", "no answer within %s", keepAliveWait)
			t.Diagnose("head-holds-connection", "the stream handler keeps running after answering a HEAD, so that keep-alive connection never serves another request")
			t.Remedy("end the handler after answering HEAD (headers only), or send Connection: close with the answer")
			t.Violation("an answer to a second request on the connection (or Connection: close on the first answer)",
				fmt.Sprintf("no answer within %s: the connection was left open but unusable, and a client that reuses it hangs", keepAliveWait))
		default:
			// The server closed the connection: a client retries on a new one (RFC 9112 §9.3.1).
			t.Measure("second HEAD on the same connection", "the server closed the connection: %v", err)
		}
	},
})

// dialRaw opens a TCP (or TLS, for https) connection to the URL's host, bounded by the check.
func dialRaw(t *fw.T, u *url.URL) net.Conn {
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	var conn net.Conn
	var err error
	if u.Scheme == "https" {
		d := &tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}}
		conn, err = d.DialContext(ctx, "tcp", host)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", host)
	}
	if err != nil {
		t.Violation("a connection to "+host, err.Error())
	}
	return conn
}
