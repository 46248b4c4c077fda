package sse

import (
	"fmt"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

var publishCaps = []fw.Capability{fw.CapSSE, fw.CapPublish}

// deliveryWait bounds how long a check waits for one published event.
const deliveryWait = 5 * time.Second

// "data: Append the field value to the data buffer, then append a single U+000A LINE FEED
// (LF) character to the data buffer."  (WHATWG HTML §9.2.6)
var _ = fw.Register(fw.Check{
	ID: "SSE-DELIVER-001", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A published event reaches an open stream as one message event whose data is exactly the published payload.",
	Spec:        "WHATWG HTML §9.2.5, §9.2.6",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		want := string(t.Payload(1))
		t.Publish([]byte(want))
		ev := nextEvent(t, s, deliveryWait, "the published event")
		if ev.Type != "" && ev.Type != "message" {
			t.Violation("a message event", fmt.Sprintf("event type %q", ev.Type))
		}
		if ev.Data != want {
			t.Violation(fmt.Sprintf("data %q", want), fmt.Sprintf("data %q", ev.Data))
		}
	},
})

// "Event streams in this format must always be encoded as UTF-8."  (WHATWG HTML §9.2.5)
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-001", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "The stream is valid UTF-8, and a payload with non-ASCII characters arrives unchanged.",
	Quote:       "Event streams in this format must always be encoded as UTF-8.",
	Spec:        "WHATWG HTML §9.2.5",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		want := fmt.Sprintf(`{"seq":1,"text":"héllo wörld — ✓ 日本語 😀","run":%q}`, t.Run.ID[:8])
		t.PublishCorner([]byte(want), "a payload with non-ASCII characters")
		ev := nextEvent(t, s, deliveryWait, "the published event")
		st := s.Stats()
		if st.InvalidUTF8 {
			t.Violation("valid UTF-8", fmt.Sprintf("an ill-formed UTF-8 sequence at byte %d of the stream", st.InvalidUTF8Offset))
		}
		if ev.Data != want {
			t.Violation(fmt.Sprintf("data %q", want), fmt.Sprintf("data %q", ev.Data))
		}
	},
})

// A payload with line breaks must be sent as several data: lines; the client joins them
// with LF (WHATWG HTML §9.2.6). A raw line break inside one data: line would end the field.
var _ = fw.Register(fw.Check{
	ID: "SSE-WIRE-002", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A payload containing LF line breaks (including an empty line) arrives with exactly the same data.",
	Quote:       "append the field value to the data buffer, then append a single U+000A LINE FEED (LF) character",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		want := string(t.Payload(1)) + "\nsecond line\n\nfourth line after an empty one\n: not a comment\nid: not an id"
		t.PublishCorner([]byte(want), "a payload with LF line breaks")
		ev := nextEvent(t, s, deliveryWait, "the published multi-line event")
		if ev.Data != want {
			t.Violation(fmt.Sprintf("data %q", want), fmt.Sprintf("data %q", ev.Data))
		}
		if ev.LastEventID == "not an id" {
			t.Violation("the payload's lines stay data", "a payload line was parsed as an id field")
		}
	},
})

// "block buffering or line buffering with different expected line endings can cause delays
// in event dispatch"  (WHATWG HTML §9.2.5); each event must be flushed on its own.
var _ = fw.Register(fw.Check{
	ID: "SSE-TIME-002", Level: fw.SHOULD, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "Each published event is flushed on its own: it arrives within 1 s without waiting for later events or a buffer to fill.",
	Quote:       "block buffering or line buffering with different expected line endings can cause delays in event dispatch",
	Spec:        "WHATWG HTML §9.2.5; operational",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		var worst time.Duration
		for i := 1; i <= 3; i++ {
			sent := time.Now()
			t.Publish(t.Payload(i))
			ev := nextEvent(t, s, deliveryWait, fmt.Sprintf("event %d without a later event being published", i))
			d := ev.At.Sub(sent)
			t.Measure(fmt.Sprintf("event %d latency", i), "%s", d.Round(time.Millisecond))
			worst = max(worst, d)
		}
		if worst > time.Second {
			diagnoseBuffered(t, worst.Round(time.Millisecond))
			t.Violation("each event within 1s of its publish", fmt.Sprintf("worst latency %s", worst.Round(time.Millisecond)))
		}
	},
})

// "Legacy proxy servers are known to, in certain cases, drop HTTP connections after a short
// timeout. To protect against such proxy servers, authors can include a comment line (one
// starting with a ':' character) every 15 seconds or so."  (WHATWG HTML §9.2.7)
//
// The heartbeat is judged in two checks: SSE-HB-002 (MUST) measures that the target keeps the
// interval it declares (sse.heartbeat) — a declared promise measured broken is a failure,
// as clients and proxies are configured from it; SSE-HB-001 (SHOULD) is WHATWG's advice on
// the interval itself: at most 15 s (or so), so that legacy proxies' idle timeouts do not cut
// quiet streams. A target that keeps a declared interval of 20 s passes SSE-HB-002 and warns
// on SSE-HB-001; one that declares 2 s and sends nothing fails SSE-HB-002.
var _ = fw.Register(fw.Check{
	ID: "SSE-HB-001", Level: fw.SHOULD, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapHeartbeat},
	Requirement: "The declared heartbeat interval (sse.heartbeat, kept as SSE-HB-002 measures) is at most 15 s.",
	Quote:       "authors can include a comment line (one starting with a ':' character) every 15 seconds or so",
	Spec:        "WHATWG HTML §9.2.7",
	Timeout:     10 * time.Second,
	Run: func(t *fw.T) {
		declared := declaredHeartbeat(t)
		t.Measure("declared heartbeat", "%s", declared)
		if declared > 15*time.Second {
			t.Remedy("send a comment line (\": keep-alive\") every 15 s or less while idle, and declare that interval")
			t.Violation("a heartbeat interval of at most 15s", fmt.Sprintf("sse.heartbeat: %s", declared))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-HB-002", Level: fw.MUST, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapHeartbeat}, Timed: true,
	Requirement: "While idle, the stream sends a comment or an event at least every declared heartbeat interval (sse.heartbeat), measured over two intervals.",
	Quote:       "authors can include a comment line (one starting with a ':' character) every 15 seconds or so",
	Spec:        "WHATWG HTML §9.2.7; the target's declared sse.heartbeat",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		declared := declaredHeartbeat(t)
		slack := time.Second + declared/5
		window := 2*declared + slack
		s := open(t, t.Context(), nil, nil)
		select {
		case <-time.After(window):
		case <-s.Done():
			if err := s.HeadersErr(); err != nil {
				t.Violation("an open stream", fmt.Sprintf("request failed: %v", err))
			}
			diagnoseCut(t, s)
			t.Violation("the stream stays open while idle", fmt.Sprintf("it ended after %s: %v", time.Since(s.Start).Round(time.Millisecond), s.Err()))
		case <-t.Context().Done():
			t.Harness("the check's context ended while watching the stream")
		}
		end := time.Now()
		prev := s.Start
		var worst time.Duration
		for _, c := range s.Chunks() {
			worst = max(worst, c.At.Sub(prev))
			prev = c.At
		}
		worst = max(worst, end.Sub(prev))
		t.Measure("longest idle gap", "%s over %s", worst.Round(time.Millisecond), window.Round(time.Millisecond))
		t.Measure("declared heartbeat", "%s", declared)
		t.Measure("comments seen", "%d", s.Stats().Comments)
		headers := s.HeadersErr() == nil && isClosed(s.HeadersArrived())
		if headers && s.Resp.StatusCode != 200 {
			t.Violation("status 200 on the stream request", fmt.Sprintf("status %d", s.Resp.StatusCode))
		}
		if worst > declared+slack {
			switch {
			case !headers:
				t.Diagnose("headers-delayed", "the stream's response headers are sent only with the first event: while the topic is quiet a client gets no answer (an EventSource stays CONNECTING) and proxies' first-byte timeouts cut the request")
			case s.ChunkCount() == 0 || s.Stats().Comments == 0:
				t.Diagnose("no-heartbeat", "the declared SSE heartbeat never comes: an idle stream carries nothing, so clients cannot tell a quiet topic from a dead connection and proxies cut it on their idle timeout")
			default:
				t.Diagnose("no-heartbeat", "the SSE heartbeat comes less often than declared (sse.heartbeat %s)", declared)
			}
			t.Remedy("write a comment line (\": heartbeat\\n\\n\") and flush at least every %s while no event is sent, or declare the interval the target keeps", declared)
			t.TimingOnly() // a gap past the bound: judged again alone (fw.Check.Timed)
			t.Violation(fmt.Sprintf("no idle gap longer than %s (+%s measuring slack)", declared, slack), fmt.Sprintf("an idle gap of %s", worst.Round(time.Millisecond)))
		}
	},
})

// declaredHeartbeat is sse.heartbeat, or NOT_SUPPORTED when the profile declares none.
func declaredHeartbeat(t *fw.T) time.Duration {
	d := t.Target().SSE.Heartbeat.D()
	if d <= 0 {
		t.NotSupported("the profile declares capability heartbeat but no sse.heartbeat interval")
	}
	return d
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// "If the field value consists of only ASCII digits, then interpret the field value as an
// integer in base ten, and set the event stream's reconnection time to that integer."
// (WHATWG HTML §9.2.6)
var _ = fw.Register(fw.Check{
	ID: "SSE-RETRY-001", Level: fw.SHOULD, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapRetry},
	Requirement: "The stream sends a valid retry: field (ASCII digits) with the declared reconnection time (sse.retry) before the first event.",
	Quote:       "If the field value consists of only ASCII digits, then interpret the field value as an integer in base ten, and set the event stream's reconnection time to that integer.",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		declared := t.Target().SSE.Retry.D()
		s := openOK(t, t.Context(), nil, nil)
		deadline := time.After(5 * time.Second)
		nudged := false
		for {
			nudge(t, s, &nudged)
			if r, ok := s.Retry(); ok {
				requireOK(t, s, t.Context(), 0, "status 200") // a client ignores the body of any other status
				t.Measure("retry", "%s", r)
				if r != declared {
					t.Violation(fmt.Sprintf("retry: %d", declared.Milliseconds()), fmt.Sprintf("retry: %d", r.Milliseconds()))
				}
				return
			}
			select {
			case <-deadline:
				st := s.Stats()
				t.Violation(fmt.Sprintf("retry: %d within 5s of connecting", declared.Milliseconds()),
					fmt.Sprintf("no valid retry field (%d bogus retry fields, %d bytes received)", st.BadRetry, st.Bytes))
			case <-s.Done():
				if _, ok := s.Retry(); ok {
					continue // parsed just before the end: judged on the next turn
				}
				t.Violation("a retry field", fmt.Sprintf("the stream ended without one: %v", s.Err()))
			case <-time.After(20 * time.Millisecond):
			}
		}
	},
})
