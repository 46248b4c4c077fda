package reference

import (
	"net/http"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// handlePoll serves GET /poll/{topic}?cursor=<id>. It is stateless: the
// cursor in the request is the only client state, so nothing is consumed
// when the client goes away during the hold.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	l, ok := wire.BeginPoll(w, r, s.topics)
	if !ok {
		return
	}
	cursor := wire.PollCursor(r, l)
	quit := s.Done()
	s.m.pollClients.Add(1)
	defer s.m.pollClients.Add(-1)

	timer := time.NewTimer(s.cfg.PollTimeout)
	defer timer.Stop()
	for {
		changed := l.Changed()
		evs, gap, next := wire.ReadLog(l, cursor, s.cfg.PollBatch)
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
	wire.WritePoll(w, evs, gap, cursor, s.cfg.WriteTimeout)
}
