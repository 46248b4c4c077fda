// Package front is a small HTTP reverse proxy that breaks a realtime transport the way real
// intermediaries do, for the fallback suite, the reference client's tests and `rtconform
// probe`'s tests: it strips the WebSocket upgrade (a proxy without `proxy_set_header Upgrade`:
// the origin sees a plain GET and answers 4xx), resets the connection of every upgrade request
// (a middlebox that kills what it does not understand), or holds text/event-stream bodies
// until 4 KiB accumulate (nginx's default proxy_buffering), honouring `X-Accel-Buffering: no`
// as nginx does or not at all.
//
// Why not a Toxiproxy toxic: Toxiproxy works on TCP bytes and cannot tell an upgrade request
// from a poll, or an event stream from a JSON answer; every toxic hits all transports on the
// link alike, while a fallback check must break exactly one transport and leave the next one
// working. The real-proxy matrix (package proxyrun) covers the real nginx, HAProxy, Varnish,
// Apache and Caddy; this front lets a check switch a fault on and off in the middle of a
// stream (SetMode), which no proxy reload does without cutting connections.
//
// It listens on loopback only and forwards to one upstream.
package front

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is a set of faults the front applies; modes combine with |.
type Mode uint32

const (
	// Pass forwards everything (upgrades included) unchanged.
	Pass Mode = 0
	// StripUpgrade removes Upgrade and Connection from requests: a WebSocket handshake
	// reaches the origin as a plain GET.
	StripUpgrade Mode = 1 << iota
	// ResetUpgrade resets (TCP RST) the connection of any request asking for an upgrade.
	ResetUpgrade
	// BufferStreams holds a text/event-stream body until BufferSize bytes accumulate (or the
	// response ends), unless the response carries X-Accel-Buffering: no, as nginx does.
	BufferStreams
	// BufferAlways is BufferStreams that ignores X-Accel-Buffering (an intermediary the
	// origin cannot talk out of buffering: a corporate proxy, a CDN without streaming).
	BufferAlways
)

// BufferSize is how many bytes of an event stream a buffering front holds before it sends
// them (one nginx proxy buffer on most platforms).
const BufferSize = 4096

func (m Mode) String() string {
	if m == Pass {
		return "pass"
	}
	var parts []string
	for _, x := range []struct {
		m Mode
		s string
	}{{StripUpgrade, "strip-upgrade"}, {ResetUpgrade, "reset-upgrade"}, {BufferStreams, "buffer-streams"}, {BufferAlways, "buffer-always"}} {
		if m&x.m != 0 {
			parts = append(parts, x.s)
		}
	}
	return strings.Join(parts, "+")
}

// Front is one running front.
type Front struct {
	mode  atomic.Uint32
	ln    net.Listener
	srv   *http.Server
	proxy *httputil.ReverseProxy
	once  sync.Once

	mu    sync.Mutex
	conns map[net.Conn]struct{} // the client connections open now
}

// Start starts a front on a loopback port in front of upstream (scheme://host:port).
func Start(upstream string, m Mode) (*Front, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("front: upstream %q is not scheme://host:port", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	f := &Front{ln: ln, conns: map[net.Conn]struct{}{}}
	f.mode.Store(uint32(m))
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16,
			ResponseHeaderTimeout: 0, IdleConnTimeout: 30 * time.Second},
		ErrorLog: nil,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				http.Error(w, "front: "+err.Error(), http.StatusBadGateway)
			}
		},
	}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		ConnState: f.track}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// URL is http://<the front's address>.
func (f *Front) URL() string { return "http://" + f.ln.Addr().String() }

// Mode returns the faults in effect.
func (f *Front) Mode() Mode { return Mode(f.mode.Load()) }

// SetMode changes the faults for requests that arrive from now on (connections already
// upgraded or streaming keep what they had).
func (f *Front) SetMode(m Mode) { f.mode.Store(uint32(m)) }

// track keeps the set of open client connections (Cut).
func (f *Front) track(c net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch s {
	case http.StateNew:
		f.conns[c] = struct{}{}
	case http.StateClosed:
		delete(f.conns, c)
	} // a hijacked (upgraded) connection stays until Cut or Close: it is a WebSocket
}

// Cut closes every client connection open now (streams, polls and WebSockets), as a network
// blip or a proxy reload does: the clients reconnect, and meet the mode in effect.
func (f *Front) Cut() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.conns)
	for c := range f.conns {
		_ = c.Close()
		delete(f.conns, c)
	}
	return n
}

// Close stops the front and closes every connection through it.
func (f *Front) Close() error {
	var err error
	f.once.Do(func() {
		err = f.srv.Close()
		f.Cut() // the upgraded connections, which the server no longer tracks
	})
	return err
}

func upgrading(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// ServeHTTP applies the mode to one request.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := f.Mode()
	if upgrading(r) {
		switch {
		case m&ResetUpgrade != 0:
			reset(w)
			return
		case m&StripUpgrade != 0:
			r = r.Clone(r.Context())
			r.Header.Del("Upgrade")
			r.Header.Del("Connection")
		}
	}
	if m&(BufferStreams|BufferAlways) != 0 {
		hw := &holdWriter{ResponseWriter: w, always: m&BufferAlways != 0}
		defer hw.finish()
		w = hw
	}
	f.proxy.ServeHTTP(w, r)
}

// reset closes the client's connection with a TCP RST, without a response.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "front: cannot reset", http.StatusInternalServerError)
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// holdWriter holds an event stream's body until BufferSize bytes accumulate; other responses
// (and a stream that says X-Accel-Buffering: no, unless always) pass.
type holdWriter struct {
	http.ResponseWriter
	always  bool
	decided bool
	hold    bool
	buf     []byte
}

func (h *holdWriter) decide() {
	if h.decided {
		return
	}
	h.decided = true
	hd := h.Header()
	ct := strings.ToLower(hd.Get("Content-Type"))
	h.hold = strings.HasPrefix(ct, "text/event-stream") &&
		(h.always || !strings.EqualFold(strings.TrimSpace(hd.Get("X-Accel-Buffering")), "no"))
}

func (h *holdWriter) WriteHeader(code int) {
	h.decide()
	h.ResponseWriter.WriteHeader(code)
}

func (h *holdWriter) Write(p []byte) (int, error) {
	h.decide()
	if !h.hold {
		return h.ResponseWriter.Write(p)
	}
	h.buf = append(h.buf, p...)
	for len(h.buf) >= BufferSize {
		if _, err := h.ResponseWriter.Write(h.buf[:BufferSize]); err != nil {
			return 0, err
		}
		h.buf = h.buf[BufferSize:]
		_ = http.NewResponseController(h.ResponseWriter).Flush()
	}
	return len(p), nil
}

// Flush sends nothing of a held stream (that is the fault); it passes for the rest.
func (h *holdWriter) Flush() {
	h.decide()
	if !h.hold {
		_ = http.NewResponseController(h.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines, hijack).
func (h *holdWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// finish sends what is held when the response ends.
func (h *holdWriter) finish() {
	if len(h.buf) > 0 {
		_, _ = h.ResponseWriter.Write(h.buf)
		h.buf = nil
	}
}
