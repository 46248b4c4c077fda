package reference

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// sseBatch is how many events an SSE stream reads from the log at a time.
const sseBatch = 256

// sseHeartbeat is the comment an idle SSE stream sends every Heartbeat, and sseHeartbeatChunk
// the same as one HTTP/1.1 chunk.
var (
	sseHeartbeat      = []byte(": heartbeat\n\n")
	sseHeartbeatChunk = appendChunk(nil, sseHeartbeat)
)

// sseChunk is the SSE frame of an event (appendSSEEvent) as one HTTP/1.1 chunk,
// "<hex length>\r\n<frame>\r\n", built once per event and written unchanged to every
// subscriber: a hijacked stream (sse_hijack.go) writes the chunk itself; a stream served by
// net/http writes the frame inside it (chunkData), which net/http sends as the same chunk.
var sseChunk = eventlog.NewEncoding(func(ev eventlog.Event) []byte {
	n := sseEventLen(ev)
	b := appendChunkHeader(make([]byte, 0, 16+n+2), n)
	b = appendSSEEvent(b, ev)
	return append(b, "\r\n"...)
})

// sseFrame gives the SSE frame of an event (inside its shared chunk).
var sseFrame sseFrames

type sseFrames struct{}

// Of returns the SSE frame of ev: appendSSEEvent's bytes, shared by every subscriber.
func (sseFrames) Of(ev eventlog.Event) []byte { return chunkData(sseChunk.Of(ev)) }

func (s *Server) handleSSE(w http.ResponseWriter, r *http.Request) {
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("lastEventId")
	}
	if cursor == "" {
		cursor = l.Head()
	}
	quit := s.Done()
	first := appendChunk(nil, []byte("retry: "+strconv.FormatInt(s.cfg.Retry.Milliseconds(), 10)+"\n\n"))
	if s.hijackSSE(w, r, l, cursor, quit, first) {
		return // the stream is served by a goroutine of its own, without net/http
	}
	s.m.sseClients.Add(1)
	defer s.m.sseClients.Add(-1)

	rc := http.NewResponseController(w)
	// Leave time for the terminating chunk once the handler returns.
	defer rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	// write writes the frame inside chunk: net/http's chunking sends it as that same chunk
	// (every write is flushed, so each is one chunk).
	write := func(chunk []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(chunkData(chunk)); err != nil {
			s.noteWriteErr(err)
			return false
		}
		if err := rc.Flush(); err != nil {
			s.noteWriteErr(err)
			return false
		}
		return true
	}

	w.WriteHeader(http.StatusOK)
	if !write(first) {
		return
	}
	s.followSSE(l, cursor, quit, r.Context().Done(), write)
}

// followSSE writes the stream of l from cursor (reset signals, events, heartbeats while
// idle), each frame as one HTTP/1.1 chunk given to write, until quit or gone is closed or a
// write fails.
func (s *Server) followSSE(l *eventlog.Log, cursor string, quit, gone <-chan struct{}, write func(chunk []byte) bool) {
	hb := time.NewTimer(s.cfg.Heartbeat)
	defer hb.Stop()
	var evs []eventlog.Event // reused: reading a live topic does not allocate
	for {
		select {
		case <-quit:
			return
		case <-gone:
			return
		default:
		}
		changed := l.Changed()
		var gap *eventlog.Gap
		var next string
		evs, gap, next = l.Read(eventlog.Recycle(evs), cursor, sseBatch)
		if gap != nil {
			s.m.gaps.Add(1)
			if !write(appendChunk(nil, appendSSEReset(nil, gap))) {
				return
			}
		}
		for _, ev := range evs {
			if !write(sseChunk.Of(ev)) { // the same bytes for every subscriber
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
			if !write(sseHeartbeatChunk) {
				return
			}
			hb.Reset(s.cfg.Heartbeat)
		case <-gone:
			return
		case <-quit:
			return
		}
	}
}

func (s *Server) noteWriteErr(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.m.writeTimeout.Add(1)
		s.cfg.Logf("reference: dropping a stuck stream: %v", err)
	}
}

// appendSSEEvent appends ev as an SSE frame: an id line, one data line per
// payload line (split at CRLF, CR and LF) and a blank line.
func appendSSEEvent(b []byte, ev eventlog.Event) []byte {
	b = append(b, "id: "...)
	b = append(b, ev.ID...)
	b = append(b, '\n')
	p := ev.Data
	for {
		i := bytes.IndexAny(p, "\r\n")
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, p...)
			b = append(b, '\n')
			break
		}
		b = append(b, p[:i]...)
		b = append(b, '\n')
		if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
			i++
		}
		p = p[i+1:]
	}
	return append(b, '\n')
}

// sseEventLen is len(appendSSEEvent(nil, ev)).
func sseEventLen(ev eventlog.Event) int {
	n := len("id: \n") + len(ev.ID) + len("data: \n") + len("\n")
	p := ev.Data
	for {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			return n + len(p)
		}
		n += i + len("data: \n") // line i ends, the next data line begins
		if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
			i++
		}
		p = p[i+1:]
	}
}

// appendSSEReset appends the reset signal for gap (no id line, so the
// client's last event id is unchanged).
func appendSSEReset(b []byte, gap *eventlog.Gap) []byte {
	js, _ := wire.Marshal(wire.NewReset(gap))
	b = append(b, "event: reset\ndata: "...)
	b = append(b, js...)
	return append(b, "\n\n"...)
}
