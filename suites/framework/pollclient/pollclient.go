// Package pollclient is the suite's long-poll client: one request per Poll, the body read
// under a size bound, the events and the next cursor found through JSON pointers from the
// target profile. It reports what came back and judges nothing.
package pollclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rtconform/rtconform/suites/framework/jsonptr"
)

// MaxBody bounds one response body: twice the reference's largest event (1 MiB), far above
// any answer a check provokes (the largest is a 64 KiB payload, at most 6 times that once
// escaped). Decoded into Go values a JSON body takes about ten times its size, and a run
// holds up to --concurrency polls at once, so the bound is what keeps a server answering
// with an endless array from growing the run's heap (8 MiB let one such run peak at 113 MiB).
const MaxBody = 2 << 20

// Shape says where things are in a response: JSON pointers (RFC 6901) to the event array and
// the next cursor, and inside each event to its id and payload.
type Shape struct {
	CursorParam string // query parameter carrying the cursor
	Events      string // e.g. /events
	Next        string // e.g. /cursor
	ID          string // e.g. /id
	Data        string // e.g. /data
}

// Event is one event of a response.
type Event struct {
	ID   string
	Data string // the payload: a JSON string's value, or the JSON text of any other value
}

// Response is what one poll returned.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	Sent      time.Time
	Done      time.Time
	Events    []Event
	Cursor    string
	HasCursor bool
	Doc       any   // the decoded body
	DecodeErr error // the body is not the JSON the shape describes
}

// Elapsed is the time from sending the request to the end of the body.
func (r *Response) Elapsed() time.Duration { return r.Done.Sub(r.Sent) }

// ErrTooLarge is returned when a body exceeds MaxBody.
var ErrTooLarge = fmt.Errorf("long-poll response body exceeds the client's bound of %d MiB", MaxBody>>20)

// Poll sends GET endpoint?<cursor param>=cursor (no parameter when cursor is empty) and reads
// the whole response. A transport error or a context end is returned as an error; an HTTP
// error status or a malformed body is not (see Status and DecodeErr).
func Poll(ctx context.Context, c *http.Client, endpoint, cursor string, s Shape) (*Response, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if cursor != "" {
		q := u.Query()
		q.Set(s.CursorParam, cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	r := &Response{Sent: time.Now()}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r.Status, r.Header = resp.StatusCode, resp.Header
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	r.Done = time.Now()
	if err != nil {
		return r, err
	}
	if len(body) > MaxBody {
		return r, ErrTooLarge
	}
	r.Body = body
	if resp.StatusCode == http.StatusOK {
		r.DecodeErr = r.decode(s)
	}
	return r, nil
}

func (r *Response) decode(s Shape) error {
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&r.Doc); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if cur, ok := jsonptr.Get(r.Doc, s.Next); ok {
		r.Cursor, r.HasCursor = jsonptr.Text(cur), true
	}
	evs, ok := jsonptr.Get(r.Doc, s.Events)
	if !ok || evs == nil {
		return fmt.Errorf("no event array at %s", s.Events)
	}
	list, ok := evs.([]any)
	if !ok {
		return fmt.Errorf("%s is not an array", s.Events)
	}
	for i, e := range list {
		id, okID := jsonptr.Get(e, s.ID)
		data, okData := jsonptr.Get(e, s.Data)
		if !okData {
			return fmt.Errorf("event %d has no payload at %s", i, s.Data)
		}
		ev := Event{Data: jsonptr.Text(data)}
		if okID {
			ev.ID = jsonptr.Text(id)
		}
		r.Events = append(r.Events, ev)
	}
	if !r.HasCursor {
		return fmt.Errorf("no cursor at %s", s.Next)
	}
	return nil
}
