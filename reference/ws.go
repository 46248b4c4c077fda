package reference

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// wsBatch is how many events a WebSocket writer reads from the log at a time.
const wsBatch = 64

// wsCloseWait bounds the wait for the client's close frame after the server sent one.
const wsCloseWait = 5 * time.Second

// WebSocket close reasons sent by the server.
const (
	ReasonShutdown     = "server shutting down"
	ReasonSlowConsumer = "slow consumer"
)

// lagOf returns head-done, or 0 when done is ahead (a cursor beyond the
// head, which is reported as an unknown gap, not as lag).
func lagOf(head, done uint64) uint64 {
	if done >= head {
		return 0
	}
	return head - done
}

// handleWS serves GET /ws/{topic} (the connection itself is wsConn, see ws_conn.go). After
// the handshake the handler returns, so that net/http releases its per-connection state
// (request, buffers, the connection's goroutine and stack), and wsSession serves the
// connection (see serveSession).
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	cursor := r.URL.Query().Get("since")
	if cursor == "" {
		cursor = l.Head()
	}
	quit := s.Done()
	done := s.Track()
	conn, err := s.acceptWS(w, r, s.cfg.ReadLimit)
	if err != nil {
		done()
		return
	}
	s.serveSession(func() {
		defer done()
		s.wsSession(conn, l, r.PathValue("topic"), cursor, quit)
	})
}

// serveSession serves a hijacked connection's session: in a goroutine of its own, so that the
// handler returns and net/http frees its per-connection state, or, when Config.Wrap is set,
// inside the handler's call, so that a wrapper sees the whole session within its call (as the
// fixtures that wrap the hijacked connection expect).
func (s *Server) serveSession(session func()) {
	if s.cfg.Wrap != nil {
		session()
		return
	}
	go session()
}

// wsSession serves one /ws/{topic} connection with three goroutines, and a fourth only
// while a ping awaits its pong:
//   - the reader validates and discards client messages, answers pings, completes the close
//     handshake and fails the connection on a protocol violation (1002, 1007, 1009 above
//     ReadLimit);
//   - the writer follows the log from the client's cursor and records the seq of the last
//     event whose write completed;
//   - this one wakes up at every publish and closes the connection with 1013 when the
//     client is more than MaxLag events behind the head, even while the writer is blocked on
//     a full TCP window; it closes with 1001 on Shutdown; it pings every PingInterval (see
//     wsPings) and drops the connection when no pong comes back within WriteTimeout.
func (s *Server) wsSession(conn *wsConn, l *eventlog.Log, topic, cursor string, quit <-chan struct{}) {
	defer conn.CloseNow()
	s.m.wsClients.Add(1)
	defer s.m.wsClients.Add(-1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	readDone := make(chan error, 1)
	go func() { readDone <- conn.Serve(nil) }()

	// Lag is counted from the head at connect time: the backlog of a
	// resuming client is not lag, events published since are.
	base := l.HeadSeq()
	var sent atomic.Uint64
	sent.Store(wire.SeqOf(s.topics.Epoch(), cursor))
	var stop atomic.Bool
	writeDone := make(chan error, 1)
	go func() { writeDone <- s.wsWriter(ctx, conn, l, cursor, &sent, &stop) }()
	defer func() {
		cancel()
		conn.CloseNow()
		<-writeDone
	}()
	pings := s.newWSPings(ctx, conn)
	defer pings.stop()

	closeWith := func(code int, reason string) {
		stop.Store(true)
		if conn.Close(code, reason) != nil {
			return
		}
		select { // the reader completes the handshake and closes TCP
		case <-readDone:
		case <-time.After(wsCloseWait):
		}
	}
	for {
		changed := l.Changed()
		if lag := lagOf(l.HeadSeq(), max(sent.Load(), base)); lag > uint64(s.cfg.MaxLag) {
			s.m.slowDropped.Add(1)
			s.cfg.Logf("reference: ws %s: slow consumer %d events behind, closing with 1013", topic, lag)
			closeWith(closeTryAgain, ReasonSlowConsumer)
			return
		}
		select {
		case <-changed:
		case <-quit:
			if conn.faults.NoShutdownClose {
				return
			}
			closeWith(closeGoingAway, ReasonShutdown)
			return
		case err := <-readDone:
			// The client closed, violated the protocol (the reader failed the connection),
			// or the connection broke.
			s.logWSEnd("ws reader", err)
			return
		case err := <-writeDone:
			writeDone <- err // for the deferred receive
			s.logWSEnd("ws writer", err)
			return
		case <-pings.tick.C:
			pings.ping()
		case err := <-pings.done:
			if !pings.pong(err) {
				s.cfg.Logf("reference: ws ping: %v", err)
				return
			}
		}
	}
}

// wsPings pings a connection every PingInterval from its session's loop (tick, then ping).
// Each ping and the wait for its pong run in a goroutine of their own that ends with the
// pong, so an idle connection has no goroutine for pings; the result arrives on done (then
// pong). A tick while a ping is outstanding is skipped.
type wsPings struct {
	s    *Server
	ctx  context.Context
	conn *wsConn
	tick *time.Ticker
	done chan error
	n    int
	busy bool
}

func (s *Server) newWSPings(ctx context.Context, conn *wsConn) *wsPings {
	return &wsPings{s: s, ctx: ctx, conn: conn, tick: time.NewTicker(s.cfg.PingInterval), done: make(chan error, 1)}
}

// ping sends the next ping unless one is outstanding.
func (p *wsPings) ping() {
	if p.busy {
		return
	}
	p.busy = true
	p.n++
	payload := "rtc-ping-" + strconv.Itoa(p.n)
	go func() {
		err := p.conn.Ping(p.ctx, payload, p.s.cfg.WriteTimeout)
		if p.ctx.Err() != nil {
			err = nil
		}
		p.done <- err
	}()
}

// pong takes the result of a ping from done: false when no pong came back in time.
func (p *wsPings) pong(err error) bool {
	p.busy = false
	return err == nil
}

// stop stops the ticker. The context of the session ends an outstanding ping.
func (p *wsPings) stop() { p.tick.Stop() }

func (s *Server) logWSEnd(what string, err error) {
	var closed *wsClosed
	if errors.As(err, &closed) && closed.Failed {
		s.cfg.Logf("reference: %s: %v", what, err)
		return
	}
	if err == nil || errors.As(err, &closed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.Canceled) || errors.Is(err, errCloseSent) || errors.Is(err, net.ErrClosed) {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.m.writeTimeout.Add(1)
	}
	s.cfg.Logf("reference: %s: %v", what, err)
}

// wsWriter follows l from cursor and writes every event (and reset signal)
// as a text message, until stop is set or a write fails.
func (s *Server) wsWriter(ctx context.Context, conn *wsConn, l *eventlog.Log, cursor string, sent *atomic.Uint64, stop *atomic.Bool) error {
	reset := func(gap *eventlog.Gap) error {
		s.m.gaps.Add(1)
		b, err := wire.Marshal(wire.NewWSReset(gap))
		if err != nil {
			return err
		}
		return conn.WriteEvent(b)
	}
	return wire.FollowWS(ctx, l, cursor, wsBatch, sent, stop, reset, conn.WriteLogEvent)
}

// handleEcho serves GET /echo: every text or binary message is sent back unchanged, with the
// same type, as one frame. Messages up to EchoReadLimit (16 MiB, or ReadLimit if larger) are
// accepted; the connection is the same strict wsConn as /ws/{topic}. As for /ws/{topic} the
// handler returns after the handshake and echoSession serves the connection.
func (s *Server) handleEcho(w http.ResponseWriter, r *http.Request) {
	quit := s.Done()
	done := s.Track()
	limit := max(s.cfg.ReadLimit, EchoReadLimit)
	if wsFaultsFrom(r.Context()).EchoSmallLimit {
		limit = s.cfg.ReadLimit
	}
	conn, err := s.acceptWS(w, r, limit)
	if err != nil {
		done()
		return
	}
	s.serveSession(func() {
		defer done()
		s.echoSession(conn, quit)
	})
}

func (s *Server) echoSession(conn *wsConn, quit <-chan struct{}) {
	defer conn.CloseNow()
	s.m.echoClients.Add(1)
	defer s.m.echoClients.Add(-1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	echoDone := make(chan error, 1)
	go func() {
		echoDone <- conn.Serve(func(op byte, msg []byte) error {
			if conn.faults.EchoAsBinary {
				op = opBinary
			}
			return conn.writeFrame(op, msg)
		})
	}()
	pings := s.newWSPings(ctx, conn)
	defer pings.stop()
	for {
		select {
		case err := <-echoDone:
			s.logWSEnd("echo", err)
			return
		case <-quit:
			if conn.faults.NoShutdownClose {
				return
			}
			if conn.Close(closeGoingAway, ReasonShutdown) == nil {
				select {
				case <-echoDone:
				case <-time.After(wsCloseWait):
				}
			}
			return
		case <-pings.tick.C:
			pings.ping()
		case err := <-pings.done:
			if !pings.pong(err) {
				s.cfg.Logf("reference: echo ping: %v", err)
				return
			}
		}
	}
}
