package wsclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// ErrNoExtendedConnect: the server did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC
// 8441 §3), so a WebSocket cannot be opened over its HTTP/2 connection; a browser then opens
// it over HTTP/1.1.
var ErrNoExtendedConnect = errors.New("wsclient: the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (no WebSocket over HTTP/2)")

// noExtendedConnect is x/net/http2's error for a server without SETTINGS_ENABLE_CONNECT_PROTOCOL
// (unexported there; TestDialH2 fails if its text changes).
const noExtendedConnect = "extended connect not supported by peer"

// DialH2 opens a WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with :protocol
// websocket on a new TLS connection to rawURL (https or wss) negotiated as h2. The frames on
// the stream are RFC 6455's, so the returned Conn reads and writes as one from Dial does.
//
// The Handshake records the request's and the response's header fields (pseudo-headers
// first, as text); Status is the response's status, 200 on success (RFC 8441 §5: not 101).
// For another status DialH2 returns the Handshake and a *HandshakeError; when the server
// does not offer extended CONNECT, ErrNoExtendedConnect.
//
// A read or write interrupted by its context or deadline ends the stream (an HTTP/2 stream
// has no deadline of its own); o.NetDial and o.Protocols/Extensions apply as for Dial.
func DialH2(ctx context.Context, rawURL string, o DialOptions) (*Conn, *Handshake, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	switch strings.ToLower(u.Scheme) {
	case "wss", "https":
	default:
		return nil, nil, fmt.Errorf("wsclient: WebSocket over HTTP/2 needs https or wss, not %q", u.Scheme)
	}
	u.Scheme = "https"
	cfg := o.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: u.Hostname()}
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg.ServerName = u.Hostname()
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	dial := o.NetDial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		return nil, nil, fmt.Errorf("wsclient: the server negotiated %q, not h2", p)
	}
	tr := &http2.Transport{}
	cc, err := tr.NewClientConn(tc)
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodConnect, u.String(), pr)
	if err != nil {
		cc.Close()
		return nil, nil, err
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	if o.Origin != "" {
		req.Header.Set("Origin", o.Origin)
	}
	if len(o.Protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(o.Protocols, ", "))
	}
	if len(o.Extensions) > 0 {
		req.Header.Set("Sec-WebSocket-Extensions", strings.Join(o.Extensions, ", "))
	}
	for k, vs := range o.Header {
		req.Header[k] = vs
	}
	hs := &Handshake{Request: []byte(fmt.Sprintf(":method: CONNECT\n:protocol: websocket\n:scheme: https\n:authority: %s\n:path: %s\n", u.Host, u.RequestURI()))}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := cc.RoundTrip(req)
		done <- result{resp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		cc.Close()
		pw.Close()
		return nil, nil, ctx.Err()
	}
	if res.err != nil {
		cc.Close()
		pw.Close()
		if strings.Contains(res.err.Error(), noExtendedConnect) {
			return nil, nil, ErrNoExtendedConnect
		}
		return nil, nil, res.err
	}
	resp := res.resp
	hs.Status = resp.StatusCode
	hs.StatusLine = fmt.Sprintf(":status: %d", resp.StatusCode)
	hs.Header = resp.Header
	var b strings.Builder
	b.WriteString(hs.StatusLine + "\n")
	_ = resp.Header.Write(&b)
	hs.Response = []byte(b.String())
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		pw.Close()
		cc.Close()
		return nil, hs, &HandshakeError{Status: resp.StatusCode, StatusLine: hs.StatusLine}
	}
	sc := &streamConn{body: resp.Body, w: pw, cc: cc, local: tc.LocalAddr(), remote: tc.RemoteAddr()}
	return newConn(sc, bufio.NewReader(sc), o), hs, nil
}

// streamConn is an HTTP/2 stream as a net.Conn for Conn: reads from the response body,
// writes into the request body. A deadline that passes closes the stream, since an HTTP/2
// stream cannot interrupt a read and go on.
type streamConn struct {
	body          io.ReadCloser
	w             *io.PipeWriter
	cc            *http2.ClientConn
	local, remote net.Addr

	mu     sync.Mutex
	timers [2]*time.Timer // read, write
	once   sync.Once
}

func (s *streamConn) Read(p []byte) (int, error)  { return s.body.Read(p) }
func (s *streamConn) Write(p []byte) (int, error) { return s.w.Write(p) }

// Close ends the stream and its connection.
func (s *streamConn) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		for _, t := range s.timers {
			if t != nil {
				t.Stop()
			}
		}
		s.mu.Unlock()
		s.w.Close()
		s.body.Close()
		s.cc.Close()
	})
	return nil
}

func (s *streamConn) LocalAddr() net.Addr  { return s.local }
func (s *streamConn) RemoteAddr() net.Addr { return s.remote }

func (s *streamConn) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}
func (s *streamConn) SetReadDeadline(t time.Time) error  { s.deadline(0, t); return nil }
func (s *streamConn) SetWriteDeadline(t time.Time) error { s.deadline(1, t); return nil }

func (s *streamConn) deadline(i int, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timers[i] != nil {
		s.timers[i].Stop()
		s.timers[i] = nil
	}
	if t.IsZero() {
		return
	}
	s.timers[i] = time.AfterFunc(time.Until(t), func() { _ = s.Close() })
}
