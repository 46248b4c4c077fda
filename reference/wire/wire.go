// Package wire holds the wire-level building blocks of the reference
// server (package reference) that other servers built on its event log
// reuse, so that they speak exactly the same protocol: the JSON shapes of
// long-poll responses, WebSocket messages and reset signals, JSON encoding
// without HTML escaping, topic resolution with its error statuses, the
// long-poll preamble and response, and the cursor arithmetic over an
// eventlog.Log.
//
// The package documentation of reference describes the wire contract these
// pieces implement. The rtconform fixtures (package fixtures) use them for
// the routes they replace, so that a replaced route differs from the
// reference only in its deliberate bug.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
)

// Marshal encodes v as JSON without HTML escaping and without a trailing
// newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Reset is the payload of a reset signal: the data of the SSE "reset" event
// and the "reset" member of a long-poll response.
type Reset struct {
	Reason    string `json:"reason"`
	Requested string `json:"requested"`
}

// NewReset returns the reset signal for gap.
func NewReset(gap *eventlog.Gap) Reset {
	return Reset{Reason: gap.Reason, Requested: gap.Requested}
}

// PollEvent is one event of a long-poll response.
type PollEvent struct {
	ID   string `json:"id"`
	Data string `json:"data"`
}

// Poll is the body of a long-poll response.
type Poll struct {
	Events []PollEvent `json:"events"`
	Cursor string      `json:"cursor"`
	Reset  *Reset      `json:"reset,omitempty"`
}

// NewPoll returns the long-poll response carrying evs (never a null
// array), the reset signal for gap (when not nil) and cursor.
func NewPoll(evs []eventlog.Event, gap *eventlog.Gap, cursor string) Poll {
	p := Poll{Events: make([]PollEvent, len(evs)), Cursor: cursor}
	for i, ev := range evs {
		p.Events[i] = PollEvent{ID: ev.ID, Data: string(ev.Data)}
	}
	if gap != nil {
		r := NewReset(gap)
		p.Reset = &r
	}
	return p
}

// WSEvent is the WebSocket text message carrying one event.
type WSEvent struct {
	Type string `json:"type"` // "event"
	ID   string `json:"id"`
	Data string `json:"data"`
}

// NewWSEvent returns the WebSocket message for ev.
func NewWSEvent(ev eventlog.Event) WSEvent {
	return WSEvent{Type: "event", ID: ev.ID, Data: string(ev.Data)}
}

// WSReset is the WebSocket text message carrying a reset signal.
type WSReset struct {
	Type      string `json:"type"` // "reset"
	Reason    string `json:"reason"`
	Requested string `json:"requested"`
}

// NewWSReset returns the WebSocket message signalling gap.
func NewWSReset(gap *eventlog.Gap) WSReset {
	return WSReset{Type: "reset", Reason: gap.Reason, Requested: gap.Requested}
}

// TopicLog resolves the {topic} path value of r in topics. When that fails
// it answers the request itself, 400 for an invalid name or 503 with
// Retry-After once too many topics exist, and returns false.
func TopicLog(w http.ResponseWriter, r *http.Request, topics *eventlog.Topics) (*eventlog.Log, bool) {
	l, err := topics.Get(r.PathValue("topic"))
	switch {
	case err == nil:
		return l, true
	case errors.Is(err, eventlog.ErrTooManyTopics):
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many topics", http.StatusServiceUnavailable)
	default:
		http.Error(w, "invalid topic: use 1..128 characters of [A-Za-z0-9._~-]", http.StatusBadRequest)
	}
	return nil, false
}

// BeginPoll starts a long-poll response for GET or HEAD /poll/{topic}: it
// sets Cache-Control: no-store (on errors too), resolves the topic (see
// TopicLog) and sets Content-Type: application/json. A HEAD request is
// answered at once with the headers. It returns the topic's log and true
// when the handler should go on and write a response with WritePoll.
func BeginPoll(w http.ResponseWriter, r *http.Request, topics *eventlog.Topics) (*eventlog.Log, bool) {
	w.Header().Set("Cache-Control", "no-store")
	l, ok := TopicLog(w, r, topics)
	if !ok {
		return nil, false
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil, false
	}
	return l, true
}

// PollCursor returns the cursor query parameter of a long-poll request, or
// the head of l when it is missing or empty.
func PollCursor(r *http.Request, l *eventlog.Log) string {
	if cursor := r.URL.Query().Get("cursor"); cursor != "" {
		return cursor
	}
	return l.Head()
}

// WritePoll writes the long-poll response for evs, gap and cursor (see
// NewPoll) followed by a newline, within writeTimeout. The events are
// copied from their shared EventLine encodings, not encoded again.
func WritePoll(w http.ResponseWriter, evs []eventlog.Event, gap *eventlog.Gap, cursor string, writeTimeout time.Duration) {
	b, err := AppendPoll(nil, evs, gap, cursor)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	w.Write(b)
}

// AppendPoll appends the long-poll response for evs, gap and cursor and a
// newline to b: the bytes of Marshal(NewPoll(evs, gap, cursor)) + "\n",
// built from the events' EventLine encodings.
func AppendPoll(b []byte, evs []eventlog.Event, gap *eventlog.Gap, cursor string) ([]byte, error) {
	b = append(b, `{"events":[`...)
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		line := EventLine.Of(ev)
		b = append(b, line[:len(line)-1]...)
	}
	b = append(b, `],"cursor":`...)
	js, err := Marshal(cursor)
	if err != nil {
		return nil, err
	}
	b = append(b, js...)
	if gap != nil {
		if js, err = Marshal(NewReset(gap)); err != nil {
			return nil, err
		}
		b = append(b, `,"reset":`...)
		b = append(b, js...)
	}
	return append(b, "}\n"...), nil
}

// EventLine is the encoding of an event as the JSON object
// {"id":"<id>","data":"<payload>"} followed by "\n": a line of the HTTP
// stream (GET /stream/{topic}) and, without the newline, an event of a
// long-poll response. It is built once per event and shared by every
// client (see eventlog.Encoding).
var EventLine = eventlog.NewEncoding(func(ev eventlog.Event) []byte {
	b, _ := Marshal(PollEvent{ID: ev.ID, Data: string(ev.Data)}) // a struct of strings always encodes
	return append(b, '\n')
})

// ReadLog reads up to max events of l after cursor. next is the cursor to
// use afterwards: the id of the last event returned, the head when a gap
// was signalled without events (so that the gap is not signalled again),
// else cursor itself (eventlog.Log.Read: one consistent view of the log).
func ReadLog(l *eventlog.Log, cursor string, max int) (evs []eventlog.Event, gap *eventlog.Gap, next string) {
	return l.Read(nil, cursor, max)
}

// SeqOf returns the seq of cursor when it is an event id of epoch, else 0.
func SeqOf(epoch, cursor string) uint64 {
	rest, ok := strings.CutPrefix(cursor, epoch+"-")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseUint(rest, 10, 64)
	return n
}

// FollowWS follows l from cursor for a WebSocket connection, reading batch
// events at a time: it calls sendReset for every gap and sendEvent for every
// event, in order, storing an event's seq in sent once sendEvent returned.
// It returns nil when stop is set (checked before every event) or ctx ends
// while waiting for events, and the send's error when a send fails.
func FollowWS(ctx context.Context, l *eventlog.Log, cursor string, batch int, sent *atomic.Uint64, stop *atomic.Bool,
	sendReset func(*eventlog.Gap) error, sendEvent func(eventlog.Event) error) error {
	var evs []eventlog.Event
	for {
		if stop.Load() {
			return nil
		}
		changed := l.Changed()
		var gap *eventlog.Gap
		var next string
		evs, gap, next = l.Read(eventlog.Recycle(evs), cursor, batch)
		if gap != nil {
			if err := sendReset(gap); err != nil {
				return err
			}
		}
		for _, ev := range evs {
			if stop.Load() {
				return nil
			}
			if err := sendEvent(ev); err != nil {
				return err
			}
			sent.Store(ev.Seq)
		}
		cursor = next
		if gap != nil || len(evs) > 0 {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}
