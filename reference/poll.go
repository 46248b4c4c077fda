package reference

import (
	"net/http"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
)

type pollEventJSON struct {
	ID   string `json:"id"`
	Data string `json:"data"`
}

type pollJSON struct {
	Events []pollEventJSON `json:"events"`
	Cursor string          `json:"cursor"`
	Reset  *resetJSON      `json:"reset,omitempty"`
}

// handlePoll serves GET /poll/{topic}?cursor=<id>. It is stateless: the
// cursor in the request is the only client state, so nothing is consumed
// when the client goes away during the hold.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	l, ok := s.topicLog(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	cursor := r.URL.Query().Get("cursor")
	if cursor == "" {
		cursor = l.Head()
	}
	quit := s.quitCh()
	s.m.pollClients.Add(1)
	defer s.m.pollClients.Add(-1)

	timer := time.NewTimer(s.cfg.PollTimeout)
	defer timer.Stop()
	for {
		changed := l.Changed()
		evs, gap, next := readLog(l, cursor, s.cfg.PollBatch)
		if gap != nil || len(evs) > 0 {
			if gap != nil {
				s.m.gaps.Add(1)
			}
			s.writePoll(w, evs, gap, next)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			s.writePoll(w, nil, nil, cursor)
			return
		case <-quit:
			s.writePoll(w, nil, nil, cursor)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) writePoll(w http.ResponseWriter, evs []eventlog.Event, gap *eventlog.Gap, cursor string) {
	resp := pollJSON{Events: make([]pollEventJSON, len(evs)), Cursor: cursor}
	for i, ev := range evs {
		resp.Events[i] = pollEventJSON{ID: ev.ID, Data: string(ev.Data)}
	}
	if gap != nil {
		resp.Reset = &resetJSON{Reason: gap.Reason, Requested: gap.Requested}
	}
	b, err := marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	w.Write(append(b, '\n'))
}
