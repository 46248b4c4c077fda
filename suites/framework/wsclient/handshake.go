// Package wsclient is a frame-level WebSocket client (RFC 6455) for
// conformance checks.
//
// It performs the opening handshake itself over a plain net.Conn so that it
// can record exactly what was sent and what came back, validates nothing a
// check should judge (status, Sec-WebSocket-Accept, server frame bits), and
// can write arbitrary, even malformed, frames. Frame encoding uses
// github.com/gobwas/ws; frame headers are decoded here so that details such
// as a non-minimal length encoding are visible.
//
// Every buffer is bounded (handshake headers, frame and message payloads,
// the frame history) and every read takes a context whose deadline and
// cancellation interrupt it. Writes are bounded by DialOptions.WriteTimeout.
package wsclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxHandshakeHeader bounds the response status line and headers.
const MaxHandshakeHeader = 64 << 10

// DefaultWriteTimeout bounds every write when DialOptions.WriteTimeout is zero.
const DefaultWriteTimeout = 10 * time.Second

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value expected for key:
// base64(SHA-1(key + the RFC 6455 GUID)).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Handshake records one opening handshake.
type Handshake struct {
	// Request is the raw request sent.
	Request []byte
	// Key is the Sec-WebSocket-Key sent (empty for RawHandshake).
	Key string
	// Response is the raw status line and headers received, up to and
	// including the blank line (bounded by MaxHandshakeHeader).
	Response []byte
	// StatusLine is the first response line, without its terminator.
	StatusLine string
	// Status is the status code parsed from the status line.
	Status int
	// Header holds the response headers (canonical keys, repeated headers
	// kept in order).
	Header http.Header
}

// HandshakeError reports a response other than 101 Switching Protocols.
type HandshakeError struct {
	// Status is the response status code.
	Status int
	// StatusLine is the response status line.
	StatusLine string
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("wsclient: handshake refused: %q", e.StatusLine)
}

// DialOptions configures Dial.
type DialOptions struct {
	// Header holds extra request headers. A header that Dial sets itself
	// (Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version,
	// Origin, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions) is replaced
	// by the value given here.
	Header http.Header
	// Origin, when set, is sent as the Origin header.
	Origin string
	// Protocols are offered in Sec-WebSocket-Protocol.
	Protocols []string
	// Extensions are offered in Sec-WebSocket-Extensions (nothing is
	// negotiated or decoded by the client itself).
	Extensions []string
	// Limits bounds frame and message sizes.
	Limits Limits
	// TLSConfig is used for wss:// and https:// (nil: defaults with the
	// URL host as server name).
	TLSConfig *tls.Config
	// NetDial replaces the TCP dialer (e.g. to go through a fault proxy).
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// WriteTimeout bounds each write (default DefaultWriteTimeout).
	WriteTimeout time.Duration
}

// Dial connects to rawURL (ws, wss, http or https), performs the opening
// handshake and returns the connection and the handshake record.
//
// Nothing is validated beyond parsing: a 101 response with a wrong
// Sec-WebSocket-Accept still yields a Conn (compare Handshake.Header with
// AcceptKey(Handshake.Key)). For any other status Dial returns the
// Handshake, a nil Conn and a *HandshakeError. ctx bounds the dial and the
// handshake only.
func Dial(ctx context.Context, rawURL string, o DialOptions) (*Conn, *Handshake, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("wsclient: unsupported scheme %q", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])

	path := u.RequestURI()
	hdr := []struct{ k, v string }{
		{"Host", u.Host},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Key", key},
		{"Sec-WebSocket-Version", "13"},
	}
	if o.Origin != "" {
		hdr = append(hdr, struct{ k, v string }{"Origin", o.Origin})
	}
	if len(o.Protocols) > 0 {
		hdr = append(hdr, struct{ k, v string }{"Sec-WebSocket-Protocol", strings.Join(o.Protocols, ", ")})
	}
	if len(o.Extensions) > 0 {
		hdr = append(hdr, struct{ k, v string }{"Sec-WebSocket-Extensions", strings.Join(o.Extensions, ", ")})
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\n", path)
	for _, h := range hdr {
		if vs, ok := o.Header[textproto.CanonicalMIMEHeaderKey(h.k)]; ok {
			if h.k == "Sec-WebSocket-Key" && len(vs) > 0 {
				key = vs[0]
			}
			for _, v := range vs {
				fmt.Fprintf(&req, "%s: %s\r\n", h.k, v)
			}
			continue
		}
		fmt.Fprintf(&req, "%s: %s\r\n", h.k, h.v)
	}
	for k, vs := range o.Header {
		if isDialHeader(k) {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")

	dial := o.NetDial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if secure {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tc
	}
	hs, br, err := handshake(ctx, nc, req.Bytes())
	if hs != nil {
		hs.Key = key
	}
	if err != nil {
		nc.Close()
		return nil, hs, err
	}
	if hs.Status != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, hs, &HandshakeError{Status: hs.Status, StatusLine: hs.StatusLine}
	}
	c := newConn(nc, br, o)
	c.extensions = hs.Header.Get("Sec-WebSocket-Extensions") != ""
	return c, hs, nil
}

var dialHeaders = map[string]bool{
	"Host": true, "Upgrade": true, "Connection": true, "Sec-Websocket-Key": true,
	"Sec-Websocket-Version": true, "Origin": true, "Sec-Websocket-Protocol": true,
	"Sec-Websocket-Extensions": true,
}

func isDialHeader(k string) bool { return dialHeaders[textproto.CanonicalMIMEHeaderKey(k)] }

// RawHandshake connects to addr (host:port, plain TCP), sends rawRequest
// unchanged (a bad version, a missing key, a POST...) and parses the
// response status line and headers (at most MaxHandshakeHeader bytes). It
// returns the connection for whatever follows (its reads start right after
// the headers); the caller closes it. The handshake is bounded by ctx and by
// timeout (when > 0). On a parse error the partial Handshake is returned with
// the error and the connection is closed.
func RawHandshake(ctx context.Context, addr string, rawRequest []byte, timeout time.Duration) (*Handshake, net.Conn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	hs, br, err := handshake(ctx, nc, rawRequest)
	if err != nil {
		nc.Close()
		return hs, nil, err
	}
	return hs, &bufConn{Conn: nc, r: br}, nil
}

// bufConn is a net.Conn whose reads start with bytes already buffered.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// watchCtx makes ctx's deadline and cancellation interrupt blocking I/O on
// nc, by setting deadlines (read, write or both). The returned stop function
// must be called when the operation ends; after it returns, no deadline
// change from this watch is pending.
func watchCtx(ctx context.Context, set func(time.Time) error) (stop func()) {
	dl, _ := ctx.Deadline()
	_ = set(dl)
	var (
		mu      sync.Mutex
		stopped bool
	)
	unregister := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped { // a late run must not disturb a later operation
			_ = set(time.Unix(1, 0))
		}
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		unregister()
	}
}

// ctxErr maps an I/O error caused by watchCtx to the context's error.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
	}
	return err
}

// handshake writes req and reads the response head.
func handshake(ctx context.Context, nc net.Conn, req []byte) (*Handshake, *bufio.Reader, error) {
	stop := watchCtx(ctx, nc.SetDeadline)
	defer func() {
		stop()
		_ = nc.SetDeadline(time.Time{})
	}()
	hs := &Handshake{Request: append([]byte(nil), req...), Header: http.Header{}}
	if _, err := nc.Write(req); err != nil {
		return hs, nil, ctxErr(ctx, err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	first := true
	for {
		line, err := readLine(br, MaxHandshakeHeader-len(hs.Response))
		hs.Response = append(hs.Response, line...)
		if err != nil {
			return hs, nil, ctxErr(ctx, err)
		}
		text := strings.TrimRight(string(line), "\r\n")
		if first {
			first = false
			hs.StatusLine = text
			proto, rest, _ := strings.Cut(text, " ")
			code, _, _ := strings.Cut(rest, " ")
			st, err := strconv.Atoi(code)
			if !strings.HasPrefix(proto, "HTTP/") || len(code) != 3 || err != nil {
				return hs, nil, fmt.Errorf("wsclient: malformed status line %q", text)
			}
			hs.Status = st
			continue
		}
		if text == "" {
			return hs, br, nil
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			return hs, nil, fmt.Errorf("wsclient: malformed header line %q", text)
		}
		k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		hs.Header[k] = append(hs.Header[k], strings.TrimSpace(v))
	}
}

// readLine reads one line including its LF, failing when longer than max.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return line, fmt.Errorf("wsclient: handshake response headers exceed %d bytes", MaxHandshakeHeader)
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}
