package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// watchTick is how often a reader wakes to run the silence watchdog of a connection allowed
// idle of silence: a twentieth of it (the watchdog judges within 5 %), at least 100 ms, at
// most 1 s; 0 without a watchdog. A fixed 100 ms cost a load of 10,000 subscribers 100,000
// timer contexts a second, about 30 % of its CPU.
func watchTick(idle time.Duration) time.Duration {
	if idle <= 0 {
		return 0
	}
	return min(max(idle/20, 100*time.Millisecond), time.Second)
}

// readCtx is the context of one read of a reader with the given watchTick: ctx itself when
// there is no watchdog, else bounded by the tick.
func readCtx(ctx context.Context, tick time.Duration) (context.Context, context.CancelFunc) {
	if tick == 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, tick)
}

// maxMessage bounds one assembled WebSocket message.
const maxMessage = 1 << 20

// connectBound is how long a connection attempt may take: Idle when set (a silent attempt is
// as dead as a silent stream), else 10 s.
func (s *Subscriber) connectBound() time.Duration {
	if s.o.Idle > 0 {
		return max(s.o.Idle, time.Second)
	}
	return 10 * time.Second
}

// runSSE runs one SSE connection and returns the reconnection delay the stream asked for.
func (s *Subscriber) runSSE(ctx context.Context) time.Duration {
	cfg := s.o.Target.SSE
	token := s.Token()
	start := s.o.Rec.Now()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cctx = s.trace(cctx) // notes when the request is written (Listening)
	u := s.endpoint(cfg.Path, "", "")
	if token != "" && cfg.Resume.Path != "" { // the target's own resume request
		p, err := fw.RenderToken(cfg.Resume.Path, s.o.Topic, token, s.o.Resume.Fields(s.o.Topic))
		if err != nil {
			s.connected(token, start, fmt.Errorf("target.sse.resume.path: %w", err))
			return 0
		}
		u = s.endpoint(p, "", "")
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u, nil)
	if err != nil {
		s.connected(token, start, err)
		return 0
	}
	if token != "" && cfg.Resume.Path == "" {
		req.Header.Set("Last-Event-ID", token)
	}
	// Headers must arrive within the connect bound: a request swallowed by a black hole
	// would otherwise wait forever.
	timer := time.AfterFunc(s.connectBound(), cancel)
	b := s.o.Target.FrameBound(0) // a connect reply carries a whole replay in one event
	st, err := sseclient.Open(cctx, s.http, req, sseclient.Limits{MaxLine: b, MaxEvent: b})
	if !timer.Stop() && err != nil {
		err = fmt.Errorf("%w within %s", ErrNoResponse, s.connectBound())
	}
	if err != nil {
		s.connected(token, start, err)
		return 0
	}
	defer st.Close()
	if st.Resp.StatusCode != http.StatusOK {
		s.connected(token, start, fmt.Errorf("status %d", st.Resp.StatusCode))
		return 0
	}
	s.connected(token, start, nil)
	s.setConn(cancel)
	defer s.setConn(nil)
	retry := func() time.Duration { r, _ := st.Retry(); return r }
	tick := watchTick(s.o.Idle)
	for {
		nctx, ncancel := readCtx(cctx, tick)
		ev, err := st.Next(nctx)
		ncancel()
		switch {
		case err == nil:
			if cfg.Reset.Event != "" && ev.Type == cfg.Reset.Event {
				s.reset(ev.LastEventID)
				continue
			}
			if ev.Type != "" && ev.Type != "message" {
				continue // another event type of the target's: not a payload
			}
			if s.reply([]byte(ev.Data), token != "", retry()) {
				continue
			}
			id, data, ok := cfg.Envelope.Open(ev.Data) // no envelope: the data is the payload
			if !ok {
				continue // a control frame of the target's (connect reply, {} ping): fw.SSEEnvelope
			}
			if ev.LastEventID != "" || id == "" {
				id = ev.LastEventID // the id: field is what Last-Event-ID resumes from
			}
			s.event(id, data, retry())
		case errors.Is(err, context.DeadlineExceeded) && cctx.Err() == nil:
			last := st.LastRead()
			if last.IsZero() {
				last = st.Headers
			}
			if s.o.Idle > 0 && s.gate.quiet(last, s.o.Idle) {
				s.o.Rec.Disconnect(s.o.Name, CauseHeartbeat)
				return retry()
			}
		default:
			if errors.Is(err, sseclient.ErrClosed) || errors.Is(err, context.Canceled) {
				err = st.Err()
			}
			s.o.Rec.Disconnect(s.o.Name, cause(ctx, false, orEOF(err)))
			return retry()
		}
	}
}

func orEOF(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, sseclient.ErrClosed) {
		return errEOF
	}
	return err
}

// runWS runs one WebSocket connection: pings are answered, fragments assembled, and silence
// longer than Idle (no frame at all, pings included) ends it.
func (s *Subscriber) runWS(ctx context.Context) time.Duration {
	cfg := s.o.Target.WebSocket
	token := s.Token()
	start := s.o.Rec.Now()
	fields := s.o.Resume.Fields(s.o.Topic)
	path, err := s.o.Target.WebSocketPath(s.o.Topic, token, fields)
	var first []string
	if err == nil {
		first, err = s.o.Target.WebSocketFirst(s.o.Topic, token, fields)
	}
	if err != nil {
		s.connected(token, start, err)
		return 0
	}
	u := s.endpoint(path, cfg.Resume.Query, token)
	dctx, dcancel := context.WithTimeout(ctx, s.connectBound())
	c, hs, err := wsclient.Dial(dctx, u, wsclient.DialOptions{NetDial: s.dial})
	timedOut := errors.Is(dctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	dcancel()
	if err != nil {
		if timedOut && hs == nil {
			err = fmt.Errorf("%w within %s (%v)", ErrNoResponse, s.connectBound(), err)
		}
		if hs != nil && hs.StatusLine != "" {
			err = fmt.Errorf("%s: %w", hs.StatusLine, err)
		}
		s.connected(token, start, err)
		return 0
	}
	defer c.Close()
	for _, m := range first { // websocket.open, then the resume message
		if err := c.WriteMessage(ws.OpText, []byte(m)); err != nil {
			s.connected(token, start, err)
			return 0
		}
	}
	s.connected(token, start, nil)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.setConn(cancel)
	defer s.setConn(nil)
	// The watchdog cancels the read when no frame (pings included) completed for Idle. Reads
	// themselves get no deadline: a deadline that fires in the middle of a frame (a slow or
	// sliced link) would leave the frame half read.
	var last atomic.Int64
	var silent atomic.Bool
	last.Store(time.Now().UnixNano())
	if s.o.Idle > 0 {
		go func() {
			tk := time.NewTicker(watchTick(s.o.Idle))
			defer tk.Stop()
			for {
				select {
				case <-cctx.Done():
					return
				case <-tk.C:
					if s.gate.quiet(time.Unix(0, last.Load()), s.o.Idle) {
						silent.Store(true)
						cancel()
						return
					}
				}
			}
		}()
	}
	var msg []byte
	for {
		f, err := c.ReadFrame(cctx)
		if err != nil {
			if silent.Load() {
				s.o.Rec.Disconnect(s.o.Name, CauseHeartbeat)
				return 0
			}
			s.o.Rec.Disconnect(s.o.Name, cause(ctx, false, orEOF(err)))
			return 0
		}
		last.Store(time.Now().UnixNano())
		switch f.Op {
		case ws.OpPing:
			_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPong, Masked: true, Payload: f.Payload})
		case ws.OpClose:
			ce := wsclient.ParseClose(f.Payload)
			_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpClose, Masked: true, Payload: f.Payload[:min(2, len(f.Payload))]})
			s.o.Rec.Disconnect(s.o.Name, fmt.Sprintf("close %d %q", ce.Code, ce.Reason))
			return 0
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if bound := s.o.Target.FrameBound(maxMessage); len(msg)+len(f.Payload) > bound {
				s.o.Rec.Disconnect(s.o.Name, fmt.Sprintf("error: a message over %d bytes", bound))
				return 0
			}
			msg = append(msg, f.Payload...)
			if f.Fin {
				if !s.reply(msg, token != "", 0) {
					s.message(msg)
				}
				msg = nil
			}
		}
	}
}

// message handles one WebSocket data message: a reset signal, an event, or neither.
func (s *Subscriber) message(b []byte) {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		s.event("", string(b), 0) // not JSON: recorded as a foreign payload (seq -1)
		return
	}
	if isReset(s.o.Target.WebSocket.Reset, doc) {
		s.reset("")
		return
	}
	env := s.o.Target.Envelope
	data, ok := jsonptr.GetText(doc, env.Data)
	if !ok {
		return // a control message of the target's (ack, welcome)
	}
	id, _ := jsonptr.GetText(doc, env.ID)
	s.event(id, data, 0)
}

// isReset reports whether doc carries the declared reset signal.
func isReset(sig fw.ResetSignal, doc any) bool {
	if sig.Pointer == "" || doc == nil {
		return false
	}
	v, ok := jsonptr.Get(doc, sig.Pointer)
	if !ok || v == nil {
		return false
	}
	return sig.Value == "" || jsonptr.Text(v) == sig.Value
}

// runPoll runs polls back to back until one fails; the first successful poll is the
// "connect" of the history, the failing one its disconnect. A poll held longer than the
// declared hold plus Idle ends with a heartbeat timeout.
func (s *Subscriber) runPoll(ctx context.Context) time.Duration {
	cfg := s.o.Target.LongPoll
	env := s.o.Target.Envelope
	shape := pollclient.Shape{CursorParam: cfg.Cursor.Query, Events: cfg.Events, Next: cfg.Next, ID: env.ID, Data: env.Data}
	endpoint := s.o.Base + fw.Path(cfg.Path, s.o.Topic)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.setConn(cancel)
	defer s.setConn(nil)
	token := s.Token()
	start := s.o.Rec.Now()
	first := true
	bound := cfg.Timeout.D() + s.o.Idle
	for {
		pctx, pcancel := context.WithCancel(cctx)
		if s.o.Idle > 0 {
			pctx, pcancel = context.WithTimeout(cctx, bound)
		}
		r, err := pollclient.Poll(s.trace(pctx), s.http, endpoint, token, shape)
		timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded) && cctx.Err() == nil
		pcancel()
		if err == nil && r.Status != http.StatusOK {
			err = fmt.Errorf("status %d", r.Status)
		} else if err == nil && r.DecodeErr != nil {
			err = fmt.Errorf("undecodable response: %v", r.DecodeErr)
		}
		if err != nil {
			if first {
				if timedOut {
					err = fmt.Errorf("%w within %s", ErrNoResponse, bound)
				}
				s.connected(token, start, err)
			} else {
				s.o.Rec.Disconnect(s.o.Name, cause(ctx, timedOut, err))
			}
			return 0
		}
		if first {
			s.connected(token, start, nil)
			first = false
		}
		if isReset(cfg.Reset, r.Doc) {
			s.reset("")
		}
		for _, ev := range r.Events {
			s.event(ev.ID, ev.Data, 0)
		}
		if r.HasCursor && r.Cursor != "" {
			token = r.Cursor
			s.mu.Lock()
			s.token = token
			s.mu.Unlock()
		}
	}
}
