package reference

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
)

// connRetryAfter is the Retry-After (seconds) of a 429 for too many connections.
const connRetryAfter = 5

// connCounter counts the open connections per client IP address.
type connCounter struct {
	mu sync.Mutex
	m  map[netip.Addr]int
}

// add counts one more connection from ip and returns the new count.
func (c *connCounter) add(ip netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[ip]++
	return c.m[ip]
}

func (c *connCounter) done(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ip]--; c.m[ip] <= 0 {
		delete(c.m, ip)
	}
}

// count returns the open connections from ip.
func (c *connCounter) count(ip netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ip]
}

// limitListener applies MaxConnsPerIP to ln (unchanged when unlimited).
func (s *Server) limitListener(ln net.Listener) net.Listener {
	if s.cfg.MaxConnsPerIP < 0 {
		return ln
	}
	return &limitListener{Listener: ln, s: s}
}

type limitListener struct {
	net.Listener
	s *Server
}

// Accept counts every accepted connection of a limited address until it is closed: by
// net/http, or, once hijacked (WebSocket), by the session, which closes the same value.
// A connection over the bound is marked, and refuseOverLimit answers its first request 429;
// one over twice the bound is closed at once, so that refused connections waiting for their
// request head (at most ReadHeaderTimeout) are bounded too.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
		if err != nil {
			return nc, nil
		}
		ip := ap.Addr().Unmap()
		if ip.IsLoopback() && !l.s.cfg.LimitLoopback {
			return nc, nil
		}
		max := l.s.cfg.MaxConnsPerIP
		n := l.s.conns.add(ip)
		if n > 2*max {
			l.s.conns.done(ip)
			l.s.m.connsRefused.Add(1)
			nc.Close()
			continue
		}
		return &limitedConn{Conn: nc, c: &l.s.conns, ip: ip, over: n > max}, nil
	}
}

// limitedConn is a counted connection; Close uncounts it once.
type limitedConn struct {
	net.Conn
	c    *connCounter
	ip   netip.Addr
	over bool // beyond MaxConnsPerIP when accepted
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.c.done(c.ip) })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the real one can (the WebSocket close
// handshake uses it).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type overLimitKey struct{}

// connContext marks the requests of a connection accepted beyond MaxConnsPerIP.
func connContext(ctx context.Context, nc net.Conn) context.Context {
	if lc, ok := nc.(*limitedConn); ok && lc.over {
		return context.WithValue(ctx, overLimitKey{}, true)
	}
	return ctx
}

// refuseOverLimit answers a request on a connection beyond MaxConnsPerIP with 429,
// Retry-After and Connection: close.
func (s *Server) refuseOverLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if over, _ := r.Context().Value(overLimitKey{}).(bool); !over {
			next.ServeHTTP(w, r)
			return
		}
		s.m.connsRefused.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(connRetryAfter))
		w.Header().Set("Connection", "close")
		http.Error(w, "too many connections from your address: the limit is "+strconv.Itoa(s.cfg.MaxConnsPerIP), http.StatusTooManyRequests)
	})
}
