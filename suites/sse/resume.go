package sse

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

var resumeCaps = []fw.Capability{fw.CapSSE, fw.CapPublish, fw.CapResume}

// resume runs the standard resume scenario: three events on a live stream, disconnect, two
// more published while away, reconnect from the first event's id (sent as the caller says)
// and expect exactly events 2..5, in order.
func resume(t *fw.T, how func(id string) (http.Header, string)) {
	s := openOK(t, t.Context(), nil, "")
	settle(s)
	for i := 1; i <= 3; i++ {
		t.Publish(t.Payload(i))
	}
	first := collect(t, s, 3, deliveryWait, "events 1..3 on the live stream")
	if got := t.Seqs(datas(first)); !slices.Equal(got, []int{1, 2, 3}) {
		t.Violation("events 1,2,3 on the live stream", fmt.Sprintf("payload seqs %v", got))
	}
	id := first[0].LastEventID
	t.Measure("resume id", "%q", id)
	if id == "" || !first[0].IDSeen {
		t.Violation("every event carries an id: field to resume from", "event 1 has no id")
	}
	_ = s.Close()
	t.Publish(t.Payload(4))
	t.Publish(t.Payload(5))
	h, q := how(id)
	r := openOK(t, t.Context(), h, q)
	got := collect(t, r, 4, deliveryWait, "events 2..5 after resuming from event 1's id")
	seqs := t.Seqs(datas(got))
	t.Measure("seqs after resume", "%v", seqs)
	if !slices.Equal(seqs, []int{2, 3, 4, 5}) {
		diag := "a gap"
		if len(seqs) > 0 && seqs[0] == 1 {
			diag = "the event of the Last-Event-ID itself was replayed (resume must be exclusive)"
		} else if slices.Contains(seqs, 1) || hasDup(seqs) {
			diag = "a duplicate"
		}
		t.Violation("payload seqs [2 3 4 5] (exclusive of the resumed id, no gap, no duplicate)", fmt.Sprintf("%v: %s", seqs, diag))
	}
	// One more event after the replay shows the stream went on live.
	t.Publish(t.Payload(6))
	last := collect(t, r, 1, deliveryWait, "event 6, published after the replay")
	if s, _ := t.Seq(last[0].Data); s != 6 {
		t.Violation("event 6 after the replay", fmt.Sprintf("payload %q", last[0].Data))
	}
}

func hasDup(xs []int) bool {
	seen := map[int]bool{}
	for _, x := range xs {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}

// "The Last-Event-ID HTTP request header reports an EventSource object's last event ID
// string to the server when the user agent is to reestablish the connection."
// (WHATWG HTML §9.2.4)
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-001", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "A reconnect with Last-Event-ID receives every event after that id, in order, without the id's own event, without a gap or a duplicate, and then live events.",
	Quote:       "The Last-Event-ID HTTP request header reports an EventSource object's last event ID string to the server when the user agent is to reestablish the connection.",
	Spec:        "WHATWG HTML §9.2.4",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		resume(t, func(id string) (http.Header, string) { return header("Last-Event-ID", id), "" })
	},
})

// Polyfills and clients that cannot set headers (a native EventSource's first connect) pass
// the id in the query; the parameter name is declared in sse.resume.query.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-002", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "A connect with the declared resume query parameter (sse.resume.query) resumes exactly like Last-Event-ID.",
	Spec:        "operational: the target's declared query form of WHATWG HTML §9.2.4",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		param := t.Target().SSE.Resume.Query
		if param == "" {
			t.NotSupported("the profile declares no sse.resume.query parameter")
		}
		resume(t, func(id string) (http.Header, string) { return nil, url.Values{param: {id}}.Encode() })
	},
})

// The header is what a browser sends on its own reconnect; when a page also put an older id
// in the URL, the header is the newer truth.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-003", Level: fw.SHOULD, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "When both the Last-Event-ID header and the resume query parameter are sent, the header wins.",
	Spec:        "WHATWG HTML §9.2.4; operational (a browser reconnect keeps the URL's original query)",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		param := t.Target().SSE.Resume.Query
		if param == "" {
			t.NotSupported("the profile declares no sse.resume.query parameter")
		}
		s := openOK(t, t.Context(), nil, "")
		settle(s)
		t.Publish(t.Payload(0))
		early := collect(t, s, 1, deliveryWait, "event 0 on the live stream")
		// The query points at a stale but valid id: an event before the header's.
		resume(t, func(id string) (http.Header, string) {
			return header("Last-Event-ID", id), url.Values{param: {early[0].LastEventID}}.Encode()
		})
	},
})
