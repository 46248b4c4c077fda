package subscriber

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// This file lets a subscriber stop reading its connection, as a client that is busy or
// backgrounded does: the bytes stay in the network (its socket buffer, sized by
// Options.RcvBuf, then the server's), so a server without per-client back-pressure handling
// must queue, block, drop or disconnect. Pause and Resume work on SSE and WebSocket
// connections; the silence watchdog does not count a pause as silence.

// gate blocks the subscriber's reads while it is paused.
type gate struct {
	mu      sync.Mutex
	open    chan struct{} // closed while reading is allowed
	resumed time.Time     // the end of the last pause
	paused  bool
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

// Pause stops reading from the subscriber's connections (the current one and any later
// one) until Resume.
func (s *Subscriber) Pause() {
	g := s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused, g.open = true, make(chan struct{})
	}
}

// Resume reads on after Pause.
func (s *Subscriber) Resume() {
	g := s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused, g.resumed = false, time.Now()
		close(g.open)
	}
}

// quiet reports whether the silence watchdog may judge a connection whose last read was at
// last: not while paused, and counting a pause's end as activity.
func (g *gate) quiet(last time.Time, idle time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		return false
	}
	if g.resumed.After(last) {
		last = g.resumed
	}
	return time.Since(last) > idle
}

func (g *gate) wait(closed <-chan struct{}) bool {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return true
	case <-closed:
		return false
	}
}

// gatedConn is a connection whose reads wait while the subscriber is paused.
type gatedConn struct {
	net.Conn
	g      *gate
	once   sync.Once
	closed chan struct{}
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if !c.g.wait(c.closed) {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p)
}

func (c *gatedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// dial is the subscriber's TCP dialer: a receive buffer of Options.RcvBuf bytes when set, and
// reads gated by Pause.
func (s *Subscriber) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if n := s.o.RcvBuf; n > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: s.gate, closed: make(chan struct{})}, nil
}
