package sse

import (
	"fmt"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// observe opens a stream, publishes n payloads, reads them and watches a little longer (a
// heartbeat's worth when declared, capped at 5 s), so wire checks judge a stream that carried
// its preamble, events and keep-alives.
func observe(t *fw.T, n int) (*sseclient.Stream, []sseclient.Event) {
	s := live(t)
	publishSeqs(t, 1, n)
	evs := collect(t, s, n, deliveryWait, fmt.Sprintf("%d published events", n))
	watch := 2 * time.Second
	if t.Target().Has(fw.CapHeartbeat) && t.Target().SSE.Heartbeat > 0 {
		watch = min(t.Target().SSE.Heartbeat.D()+time.Second, 5*time.Second)
	}
	time.Sleep(watch)
	return s, evs
}

// §9.2.5: end-of-line = ( cr lf / cr / lf ). Mixing them is legal, but line-oriented tools
// and naive parsers split differently; one kind throughout is what robust servers emit.
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-003", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "The stream uses one kind of line terminator throughout (LF, or CRLF).",
	Quote:       "end-of-line = ( cr lf / cr / lf )",
	Spec:        "WHATWG HTML §9.2.5",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("terminators", "CRLF=%d LF=%d CR=%d", st.CRLF, st.LF, st.CR)
		kinds := 0
		for _, n := range []int{st.CRLF, st.LF, st.CR} {
			if n > 0 {
				kinds++
			}
		}
		if kinds > 1 {
			t.Violation("one kind of line terminator", fmt.Sprintf("CRLF=%d LF=%d CR=%d", st.CRLF, st.LF, st.CR))
		}
	},
})

// A lone CR is a line end, but a CR at the end of one TCP read followed by LF in the next
// must count once (§9.2.5); parsers that get this wrong (EventSource/eventsource#326) lose
// events, and "line buffering with different expected line endings can cause delays".
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-004", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "The stream does not end lines with a bare CR (only LF or CRLF).",
	Quote:       "block buffering or line buffering with different expected line endings can cause delays in event dispatch",
	Spec:        "WHATWG HTML §9.2.5",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("bare CR terminators", "%d", st.CR)
		if st.CR > 0 {
			t.Violation("no bare CR line ends", fmt.Sprintf("%d bare CR line ends", st.CR))
		}
	},
})

// SSE data can carry only LF line breaks: a server must split a payload on CRLF, CR and LF
// into data: lines; a raw CR inside a data: line ends that line and starts a bogus field.
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-005", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A payload with CRLF and bare CR line breaks arrives with every line intact, each break as LF (the only break SSE data can carry).",
	Quote:       "end-of-line = ( cr lf / cr / lf )",
	Spec:        "WHATWG HTML §9.2.5, §9.2.6",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		head := string(t.Payload(1))
		ev := publishOne(t, head+"\r\nafter crlf\rafter cr\r\n\r\nafter an empty crlf line", "a payload with CRLF and bare CR line breaks")
		want := head + "\nafter crlf\nafter cr\n\nafter an empty crlf line"
		if t.Target().SSE.Envelope != nil {
			// In a JSON envelope (sse.envelope) the payload is a JSON string on one data:
			// line: its CRs survive, and the exact payload is what a client must get.
			want = head + "\r\nafter crlf\rafter cr\r\n\r\nafter an empty crlf line"
		}
		if ev.Data != want {
			t.Violation(fmt.Sprintf("data %q", want), fmt.Sprintf("data %q", ev.Data))
		}
	},
})

// "If the field value consists of only ASCII digits, then interpret the field value as an
// integer in base ten ... Otherwise, ignore the field."  (WHATWG HTML §9.2.6)
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-006", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "Every retry: field the stream sends consists of ASCII digits only (\"3s\" or \"3000ms\" are ignored by clients).",
	Quote:       "If the field value consists of only ASCII digits, then interpret the field value as an integer in base ten ... Otherwise, ignore the field.",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("ignored retry fields", "%d", st.BadRetry)
		if st.BadRetry > 0 {
			t.Violation("retry values of ASCII digits", fmt.Sprintf("%d retry fields that a client ignores; raw start %.200q", st.BadRetry, s.Parser().Raw()))
		}
	},
})

// The decoder strips one leading BOM; "a second BOM is not stripped", so a BOM at a line
// start makes that line's field unknown and its data is lost (WPT format-bom-2).
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-007", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "No U+FEFF byte order mark appears after the first byte of the stream (each one silently corrupts the field after it).",
	Quote:       "stream = [ bom ] *event",
	Spec:        "WHATWG HTML §9.2.5; WPT eventsource/format-bom-2",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("BOMs after the first byte", "%d", st.ExtraBOMs)
		if st.ExtraBOMs > 0 {
			t.Violation("no BOM after the first byte", fmt.Sprintf("%d BOMs at line starts", st.ExtraBOMs))
		}
	},
})

// "If the field value does not contain U+0000 NULL, then set the last event ID buffer to the
// field value. Otherwise, ignore the field."  (WHATWG HTML §9.2.6)
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-008", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "Event ids contain no U+0000 NULL (a client ignores such an id and cannot resume from it).",
	Quote:       "If the field value does not contain U+0000 NULL, then set the last event ID buffer to the field value. Otherwise, ignore the field.",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("ids with NUL", "%d", st.NULInID)
		if st.NULInID > 0 {
			t.Violation("ids without NUL", fmt.Sprintf("%d id fields with NUL, ignored by clients", st.NULInID))
		}
	},
})

// Field names are case-sensitive and a line without a colon is a field named by the whole
// line: "Any other field name is ignored". A keep-alive written without its colon, or "Data:",
// is silently dropped by every client.
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-009", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "Every line of the stream is a comment (starting with ':') or a data, event, id or retry field: no unknown or wrongly-cased field names.",
	Quote:       "Otherwise: The field is ignored.",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s, _ := observe(t, 2)
		st := s.Stats()
		t.Measure("unknown field lines", "%d %q", st.UnknownFieldCount, st.UnknownFields)
		if st.UnknownFieldCount > 0 {
			t.Violation("no unknown field names", fmt.Sprintf("%d lines with unknown field names %q", st.UnknownFieldCount, st.UnknownFields))
		}
	},
})

// Without an id a reconnecting client has nothing to send in Last-Event-ID and the server
// cannot resume (r3labs/sse#52: every reconnect replayed everything).
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-010", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "Every published event carries a non-empty id: field (with sse.resume.path: an id at the envelope's id pointer), so a reconnecting client can resume from it.",
	Quote:       "If the EventSource object's last event ID string is not the empty string, ... set (`Last-Event-ID`, lastEventIDValue) in request's header list.",
	Spec:        "WHATWG HTML §9.2.3, §9.2.4",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		publishSeqs(t, 1, 3)
		for i, ev := range collect(t, s, 3, deliveryWait, "3 published events") {
			// With sse.resume.path the token is the envelope's id (unwrap sets it as the
			// event's LastEventID when the event has no id: field).
			if ev.LastEventID == "" || !ev.IDSeen && t.Target().SSE.Resume.Path == "" {
				t.Violation(fmt.Sprintf("event %d with an id", i+1), fmt.Sprintf("event %d without an id field (data %q)", i+1, ev.Data))
			}
		}
	},
})

// Resume sends the last id; when two events share an id the server cannot know which of them
// the client saw, so a reconnect loses or repeats events.
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-011", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "Consecutive events carry distinct ids.",
	Spec:        "WHATWG HTML §9.2.4; operational (an id must identify a position in the stream)",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		publishSeqs(t, 1, 5)
		seen := map[string]int{}
		for i, ev := range collect(t, s, 5, deliveryWait, "5 published events") {
			if j, dup := seen[ev.LastEventID]; dup {
				t.Violation("distinct ids", fmt.Sprintf("events %d and %d both have id %q", j+1, i+1, ev.LastEventID))
			}
			seen[ev.LastEventID] = i
		}
	},
})

// publishOne opens a stream, publishes the corner-case payload (what names it; a refusal at
// publish is the target's input policy, see fw.T.PublishCorner) and returns the event it
// produced.
func publishOne(t *fw.T, payload, what string) sseclient.Event {
	s := live(t)
	t.PublishCorner([]byte(payload), what)
	// A second more per 128 KiB: these checks judge exactness, and a loaded machine moves a
	// 1 MiB event through a proxy and the parser slowly (13 s in all for 1 MiB).
	wait := deliveryWait + time.Duration(len(payload)/(128<<10))*time.Second
	ev := nextEvent(t, s, wait, fmt.Sprintf("the published event (%d bytes)", len(payload)))
	if st := s.Stats(); st.InvalidUTF8 {
		t.Violation("valid UTF-8", fmt.Sprintf("an ill-formed UTF-8 sequence at byte %d", st.InvalidUTF8Offset))
	}
	return ev
}

// clipq quotes s for a message, shortened around the middle when long.
func clipq(s string) string {
	if len(s) <= 240 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d bytes)…%q", s[:120], len(s), s[len(s)-60:])
}

// firstDiff says where two strings start to differ.
func firstDiff(want, got string) string {
	n := min(len(want), len(got))
	for i := 0; i < n; i++ {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at byte %d (want %q, got %q)", i, want[i:min(i+16, len(want))], got[i:min(i+16, len(got))])
		}
	}
	return fmt.Sprintf("lengths differ: want %d bytes, got %d", len(want), len(got))
}
