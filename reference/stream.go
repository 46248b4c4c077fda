package reference

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// streamBatch is how many events an HTTP stream reads from the log at a time.
const streamBatch = 256

// maxStreamBody bounds the body of a POST /stream/{topic} request.
const maxStreamBody = 16 << 10

// heartbeatLine is the keep-alive line of an idle HTTP stream: it has no data member, so a
// client following the envelope (/data) skips it.
var heartbeatLine = []byte(`{"type":"heartbeat"}` + "\n")

// StreamEvent is one line of GET /stream/{topic} carrying an event (wire.EventLine encodes
// it once per event).
type StreamEvent struct {
	ID   string `json:"id"`
	Data string `json:"data"`
}

// handleStream serves GET and POST /stream/{topic}: an HTTP stream of NDJSON lines (see the
// package documentation). Like the SSE stream it reads the topic's log from its own cursor:
// nothing is queued per client, a slow client only lags, and a write that does not complete
// within WriteTimeout ends its stream without stalling anyone else.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	cursor := r.URL.Query().Get("since")
	if r.Method == http.MethodPost {
		var body struct {
			Since string `json:"since"`
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStreamBody))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				http.Error(w, "the body must be a JSON object (optional member since): "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		if body.Since != "" {
			cursor = body.Since
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	if cursor == "" {
		cursor = l.Head()
	}
	quit := s.Done()
	s.m.streamClients.Add(1)
	defer s.m.streamClients.Add(-1)

	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	flush := func() bool {
		if err := rc.Flush(); err != nil {
			s.noteWriteErr(err)
			return false
		}
		return true
	}
	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			s.noteWriteErr(err)
			return false
		}
		return flush()
	}

	w.WriteHeader(http.StatusOK)
	if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	if !flush() { // the response head goes out at once, before any event
		return
	}
	hb := time.NewTimer(s.cfg.Heartbeat)
	defer hb.Stop()
	var evs []eventlog.Event // reused: reading a live topic does not allocate
	for {
		select {
		case <-quit:
			return
		case <-r.Context().Done():
			return
		default:
		}
		changed := l.Changed()
		var gap *eventlog.Gap
		var next string
		evs, gap, next = l.Read(eventlog.Recycle(evs), cursor, streamBatch)
		if gap != nil {
			s.m.gaps.Add(1)
			js, _ := wire.Marshal(wire.NewWSReset(gap))
			if !write(append(js, '\n')) {
				return
			}
		}
		for _, ev := range evs {
			if !write(wire.EventLine.Of(ev)) { // the same bytes for every subscriber
				return
			}
		}
		cursor = next
		if gap != nil || len(evs) > 0 {
			hb.Reset(s.cfg.Heartbeat)
			continue
		}
		select {
		case <-changed:
		case <-hb.C:
			if !write(heartbeatLine) {
				return
			}
			hb.Reset(s.cfg.Heartbeat)
		case <-r.Context().Done():
			return
		case <-quit:
			return
		}
	}
}
