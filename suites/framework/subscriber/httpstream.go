package subscriber

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/ndjsonclient"
)

// runHTTPStream runs one HTTP stream (NDJSON, target.httpstream) connection: GET or POST
// with the declared body, the resume token as the query parameter or in the resume body
// template; each valid line is the declared reset signal, an event (its data pointer
// resolves) or a keep-alive. Silence (no byte at all) longer than Idle ends it. A line that
// is not one JSON value is recorded as a foreign payload (seq -1), as a WebSocket message
// that is not JSON is.
func (s *Subscriber) runHTTPStream(ctx context.Context) time.Duration {
	cfg := s.o.Target.HTTPStream
	if cfg == nil {
		s.o.Rec.Disconnect(s.o.Name, "error: the profile declares no target.httpstream")
		return 0
	}
	token := s.Token()
	start := s.o.Rec.Now()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cctx = s.trace(cctx)
	u := s.endpoint(cfg.Path, "", "")
	if token != "" && cfg.Resume.Query != "" {
		u = s.endpoint(cfg.Path, cfg.Resume.Query, token)
	}
	req, err := cfg.Request(cctx, u, s.o.Topic, token, s.o.Resume.Fields(s.o.Topic))
	if err != nil {
		s.connected(token, start, err)
		return 0
	}
	timer := time.AfterFunc(s.connectBound(), cancel)
	st, err := ndjsonclient.Start(cctx, s.http, req, ndjsonclient.Limits{MaxLine: s.o.Target.FrameBound(0)})
	if err == nil {
		err = st.WaitHeaders(cctx)
		if err != nil {
			_ = st.Close()
		}
	}
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
	env := cfg.Envelope
	if env == nil || env.Data == "" {
		env = &s.o.Target.Envelope
	}
	open := &fw.SSEEnvelope{ID: env.ID, Data: env.Data} // the same skip rule as an SSE envelope
	tick := watchTick(s.o.Idle)
	for {
		nctx, ncancel := readCtx(cctx, tick)
		ln, err := st.Next(nctx)
		ncancel()
		switch {
		case err == nil:
			if ln.Err != nil {
				s.event("", string(ln.Raw), 0) // not one JSON value: a foreign payload
				continue
			}
			if s.reply(ln.Raw, token != "", 0) {
				continue
			}
			if r := cfg.Reset; r.Pointer != "" {
				if _, v, ok := (&fw.SSEEnvelope{Data: r.Pointer}).Open(string(ln.Raw)); ok && (r.Value == "" || v == r.Value) {
					s.reset("")
					continue
				}
			}
			if id, data, ok := open.Open(string(ln.Raw)); ok {
				s.event(id, data, 0)
			} // else a keep-alive
		case errors.Is(err, context.DeadlineExceeded) && cctx.Err() == nil:
			last := st.LastRead()
			if last.IsZero() {
				last = st.Headers
			}
			if s.o.Idle > 0 && s.gate.quiet(last, s.o.Idle) {
				s.o.Rec.Disconnect(s.o.Name, CauseHeartbeat)
				return 0
			}
		default:
			if errors.Is(err, ndjsonclient.ErrClosed) || errors.Is(err, context.Canceled) {
				err = errEOF
			}
			s.o.Rec.Disconnect(s.o.Name, cause(ctx, false, err))
			return 0
		}
	}
}
