package pollclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/rtconform/rtconform/suites/framework/jsonptr"
)

// roundTrip answers every request with a fixed status and body, and checks the request.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzPoll decodes arbitrary response bodies with arbitrary shapes and cursors through Poll
// (the transport is in memory). Beyond never panicking:
//   - the cursor reaches the server intact in the shape's query parameter (none when empty);
//   - the body is returned as received and decoded only for a 200;
//   - a body without DecodeErr has a cursor, and one event per element of the array at
//     Events, each with the Text of its payload and id found by the same pointers.
func FuzzPoll(f *testing.F) {
	bodies := []string{
		`{"events":[{"id":"e-1","data":"hello"},{"id":"e-2","data":{"n":1}}],"cursor":"e-2"}`,
		`{"events":[],"cursor":"e-0"}`,
		`{"events":null,"cursor":"x"}`,
		`{"type":"reset","reason":"expired","cursor":"e-9","events":[]}`,
		`{"items":[{"meta":{"seq":7},"payload":[1,"two",null]}],"next":{"at":12}}`,
		`{"events":[{"data":"no id"}],"cursor":""}`,
		`{"events":[{"id":"1"}],"cursor":"1"}`,
		`not json`, ``, `[1,2]`, `{"events":{"0":1},"cursor":1} trailing`,
	}
	shapes := []Shape{
		{CursorParam: "cursor", Events: "/events", Next: "/cursor", ID: "/id", Data: "/data"},
		{CursorParam: "after", Events: "/items", Next: "/next/at", ID: "/meta/seq", Data: "/payload"},
	}
	for i, b := range bodies {
		s := shapes[i%len(shapes)]
		f.Add([]byte(b), 200, "e-1", s.CursorParam, s.Events, s.Next, s.ID, s.Data)
	}
	f.Add([]byte(`{"events":[]}`), 503, "", "c", "/events", "/cursor", "/id", "/data")
	f.Add([]byte(`{"":[{"":"x"}],"a":"b"}`), 200, "a b&c=d#e%", "", "/", "/a", "", "/")
	f.Fuzz(func(t *testing.T, body []byte, status int, cursor, param, events, next, id, data string) {
		if status < 200 || status > 599 {
			status = 200
		}
		s := Shape{CursorParam: param, Events: events, Next: next, ID: id, Data: data}
		c := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			own := param == "topic" // the endpoint's own parameter, replaced by the cursor
			if cursor == "" && (q.Has(param) && !own || own && q.Get("topic") != "t") ||
				cursor != "" && q.Get(param) != cursor || !own && q.Get("topic") != "t" {
				t.Errorf("cursor %q in parameter %q sent as query %q", cursor, param, r.URL.RawQuery)
			}
			return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		resp, err := Poll(context.Background(), c, "http://server.test/poll?topic=t", cursor, s)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if resp.Status != status || !bytes.Equal(resp.Body, body) {
			t.Fatalf("status %d body %q, want %d %q", resp.Status, resp.Body, status, body)
		}
		if status != http.StatusOK {
			if resp.DecodeErr != nil || resp.Doc != nil || resp.Events != nil {
				t.Fatalf("a %d was decoded: %v %v", status, resp.DecodeErr, resp.Doc)
			}
			return
		}
		if resp.DecodeErr != nil {
			return
		}
		if !resp.HasCursor {
			t.Fatal("decoded without a cursor")
		}
		if cur, _ := jsonptr.Get(resp.Doc, next); jsonptr.Text(cur) != resp.Cursor {
			t.Fatalf("cursor %q, the document has %v", resp.Cursor, cur)
		}
		evs, _ := jsonptr.Get(resp.Doc, events)
		list, _ := evs.([]any)
		if len(list) != len(resp.Events) {
			t.Fatalf("%d events for an array of %d", len(resp.Events), len(list))
		}
		for i, e := range list {
			d, _ := jsonptr.Get(e, data)
			want := Event{Data: jsonptr.Text(d)}
			if v, ok := jsonptr.Get(e, id); ok {
				want.ID = jsonptr.Text(v)
			}
			if resp.Events[i] != want {
				t.Fatalf("event %d: %+v, want %+v", i, resp.Events[i], want)
			}
		}
	})
}
