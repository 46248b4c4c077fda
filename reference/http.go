package reference

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/rtconform/rtconform/reference/wire"
)

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	limit := s.cfg.MaxPublishBytes
	tooLarge := func() {
		http.Error(w, fmt.Sprintf("payload too large: the limit is %d bytes", limit), http.StatusRequestEntityTooLarge)
	}
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !utf8.Valid(data) {
		http.Error(w, "payload must be UTF-8", http.StatusBadRequest)
		return
	}
	ev := l.Append(data)
	s.m.published.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	b, _ := wire.Marshal(struct {
		ID string `json:"id"`
	}{ev.ID})
	w.Write(append(b, '\n'))
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok")
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	metric := func(name, typ, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	metric("rtconform_published_events_total", "counter", "Events published.", s.m.published.Load())
	metric("rtconform_topics", "gauge", "Topics created.", int64(s.topics.Len()))
	metric("rtconform_sse_clients", "gauge", "Connected SSE clients.", s.m.sseClients.Load())
	metric("rtconform_ws_clients", "gauge", "Connected WebSocket clients of /ws/{topic}.", s.m.wsClients.Load())
	metric("rtconform_echo_clients", "gauge", "Connected WebSocket clients of /echo.", s.m.echoClients.Load())
	metric("rtconform_stream_clients", "gauge", "Connected HTTP stream (NDJSON) clients.", s.m.streamClients.Load())
	metric("rtconform_poll_clients", "gauge", "Long-poll requests in progress.", s.m.pollClients.Load())
	metric("rtconform_gaps_signalled_total", "counter", "Reset signals sent because a cursor was expired or unknown.", s.m.gaps.Load())
	metric("rtconform_slow_consumers_dropped_total", "counter", "WebSocket clients closed with 1013 for lagging more than MaxLag events.", s.m.slowDropped.Load())
	metric("rtconform_connections_refused_total", "counter", "Connections refused for exceeding MaxConnsPerIP (429, or closed beyond twice the bound).", s.m.connsRefused.Load())
	metric("rtconform_auth_failures_total", "counter", "Requests refused 401 for a missing or wrong bearer token.", s.m.authFailures.Load())
	metric("rtconform_write_timeouts_total", "counter", "Streams dropped because a write did not complete within WriteTimeout.", s.m.writeTimeout.Load())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
