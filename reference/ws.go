package reference

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// wsBatch is how many events a WebSocket writer reads from the log at a time.
const wsBatch = 64

// WebSocket close reasons sent by the server.
const (
	ReasonShutdown     = "server shutting down"
	ReasonSlowConsumer = "slow consumer"
)

func (s *Server) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	// RFC 6455 §4.4: an unsupported version gets 426 Upgrade Required (the status the RFC
	// names) with the versions the server speaks; coder/websocket itself answers 400.
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" && r.Header.Get("Sec-WebSocket-Key") != "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version "+strconv.Quote(v)+": this server speaks version 13", http.StatusUpgradeRequired)
		return nil, errors.New("unsupported WebSocket version")
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		s.cfg.Logf("reference: websocket accept: %v", err)
		return nil, err
	}
	conn.SetReadLimit(s.cfg.ReadLimit)
	return conn, nil
}

// lagOf returns head-done, or 0 when done is ahead (a cursor beyond the
// head, which is reported as an unknown gap, not as lag).
func lagOf(head, done uint64) uint64 {
	if done >= head {
		return 0
	}
	return head - done
}

// handleWS serves GET /ws/{topic}. Three goroutines per connection:
//   - the reader discards client messages (so pings, pongs and close frames
//     are processed; ReadLimit closes with 1009);
//   - the writer follows the log from the client's cursor and records the
//     seq of the last event whose write completed;
//   - this handler wakes up at every publish and closes the connection with
//     1013 when the client is more than MaxLag events behind the head, even
//     while the writer is blocked on a full TCP window; it also pings and
//     closes with 1001 on Shutdown.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	epoch := s.topics.Epoch()
	cursor := r.URL.Query().Get("since")
	if cursor == "" {
		cursor = l.Head()
	}
	quit := s.Done()
	done := s.Track()
	defer done()
	conn, err := s.accept(w, r)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	s.m.wsClients.Add(1)
	defer s.m.wsClients.Add(-1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	readDone := make(chan error, 1)
	go func() { readDone <- discardMessages(ctx, conn) }()

	// Lag is counted from the head at connect time: the backlog of a
	// resuming client is not lag, events published since are.
	base := l.HeadSeq()
	var sent atomic.Uint64
	sent.Store(wire.SeqOf(epoch, cursor))
	var stop atomic.Bool
	writeDone := make(chan error, 1)
	go func() { writeDone <- s.wsWriter(ctx, conn, l, cursor, &sent, &stop) }()
	defer func() {
		cancel()
		conn.CloseNow()
		<-writeDone
	}()

	pingFailed := make(chan error, 1)
	go func() {
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				pingFailed <- err
				return
			}
		}
	}()

	for {
		changed := l.Changed()
		if lag := lagOf(l.HeadSeq(), max(sent.Load(), base)); lag > uint64(s.cfg.MaxLag) {
			stop.Store(true)
			s.m.slowDropped.Add(1)
			s.cfg.Logf("reference: ws %s: slow consumer %d events behind, closing with 1013", r.PathValue("topic"), lag)
			conn.Close(websocket.StatusTryAgainLater, ReasonSlowConsumer)
			return
		}
		select {
		case <-changed:
		case <-quit:
			stop.Store(true)
			conn.Close(websocket.StatusGoingAway, ReasonShutdown)
			return
		case err := <-readDone:
			// Client closed, sent a message above ReadLimit (the library
			// already closed with 1009), or the connection broke.
			s.logWSEnd("ws reader", err)
			return
		case err := <-writeDone:
			writeDone <- err // for the deferred receive
			s.logWSEnd("ws writer", err)
			return
		case err := <-pingFailed:
			s.cfg.Logf("reference: ws ping: %v", err)
			return
		}
	}
}

func (s *Server) logWSEnd(what string, err error) {
	if err == nil || websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.m.writeTimeout.Add(1)
	}
	s.cfg.Logf("reference: %s: %v", what, err)
}

// discardMessages reads and ignores every message until an error.
func discardMessages(ctx context.Context, conn *websocket.Conn) error {
	for {
		_, rd, err := conn.Reader(ctx)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return err
		}
	}
}

// wsWriter follows l from cursor and writes every event (and reset signal)
// as a text message, until stop is set or a write fails.
func (s *Server) wsWriter(ctx context.Context, conn *websocket.Conn, l *eventlog.Log, cursor string, sent *atomic.Uint64, stop *atomic.Bool) error {
	write := func(v any) error {
		b, err := wire.Marshal(v)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	return wire.FollowWS(ctx, l, cursor, wsBatch, sent, stop, write, func() { s.m.gaps.Add(1) })
}

// handleEcho serves GET /echo: every text or binary message is sent back
// unchanged, with the same type.
func (s *Server) handleEcho(w http.ResponseWriter, r *http.Request) {
	quit := s.Done()
	done := s.Track()
	defer done()
	conn, err := s.accept(w, r)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	s.m.echoClients.Add(1)
	defer s.m.echoClients.Add(-1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	echoDone := make(chan error, 1)
	go func() {
		for {
			typ, msg, err := conn.Read(ctx)
			if err != nil {
				echoDone <- err
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err = conn.Write(wctx, typ, msg)
			wcancel()
			if err != nil {
				echoDone <- err
				return
			}
		}
	}()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case err := <-echoDone:
			s.logWSEnd("echo", err)
			return
		case <-quit:
			conn.Close(websocket.StatusGoingAway, ReasonShutdown)
			return
		case <-t.C:
			// Pinging here is fine: the echo goroutine reads the pong.
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				s.cfg.Logf("reference: echo ping: %v", err)
				return
			}
		}
	}
}
