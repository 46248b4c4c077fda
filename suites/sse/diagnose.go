package sse

import (
	"errors"
	"fmt"
	"slices"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// The causes the resume checks name (t.Diagnose), shared with the WebSocket, long-poll and
// chaos checks so that one server bug reads as one finding across them.
const (
	causeInclusive = "resume-inclusive"
	causeGap       = "resume-gap"
	causeDuplicate = "resume-duplicate"
	causeIgnored   = "resume-ignored"
	causeReordered = "reordered"
)

var causeText = map[string]string{
	causeInclusive: "the resume was inclusive: the event of the Last-Event-ID itself was replayed (a resume must start after it)",
	causeGap:       "events after the Last-Event-ID are missing on resume (a gap)",
	causeDuplicate: "the resume delivered an event twice",
	causeReordered: "the events after the Last-Event-ID arrived out of order",
}

// diagnoseResume names the cause when a stream resumed from the event with seq from
// delivered got instead of want (the seqs after from, in order), and returns the short
// explanation for the violation.
func diagnoseResume(t *fw.T, from int, got, want []int) string {
	key, text := "", ""
	switch {
	case len(got) > 0 && got[0] == from:
		key = causeInclusive
	case len(got) > 0 && got[0] >= 0 && got[0] < from:
		key, text = causeIgnored, "the Last-Event-ID was ignored: the stream replayed the history from before it (from the beginning)"
	case len(got) == 0 || (len(want) > 0 && got[0] > want[len(want)-1]):
		key, text = causeIgnored, "the Last-Event-ID was ignored: no event after it was replayed (the stream restarted from now)"
	case hasDup(got):
		key = causeDuplicate
	case slices.ContainsFunc(want, func(w int) bool { return !slices.Contains(got, w) }):
		key = causeGap
	default:
		key = causeReordered
	}
	if text == "" {
		text = causeText[key]
	}
	t.Diagnose(key, "%s", text)
	return text
}

// diagnoseSeq names the cause when a sequence delivered across resumes (from the tokens'
// events: the last event seen before each reconnect) differs from want, and returns the
// short explanation.
func diagnoseSeq(t *fw.T, got, want, tokens []int) string {
	key := ""
	for i := 0; key == "" && i < len(want); i++ {
		switch {
		case i >= len(got):
			key = causeGap
		case got[i] == want[i]:
		case slices.Contains(got[:i], got[i]) && slices.Contains(tokens, got[i]):
			key = causeInclusive
		case slices.Contains(got[:i], got[i]):
			key = causeDuplicate
		case got[i] > want[i]:
			key = causeGap
		default:
			key = causeReordered
		}
	}
	if key == "" {
		key = causeDuplicate // got is longer than want
	}
	t.Diagnose(key, "%s", causeText[key])
	return causeText[key]
}

// diagnoseBuffered names buffering as the cause of a delayed delivery (worst: the delay).
func diagnoseBuffered(t *fw.T, worst fmt.Stringer) {
	t.Diagnose("stream-buffered", "the stream is buffered: events are held (%s) and sent in batches instead of being flushed one by one — a middleware (compression, metrics) or a proxy in the path ignores Flush", worst)
	t.Remedy("flush after every event and make sure nothing between the handler and the connection buffers text/event-stream (compression, X-Accel-Buffering: no for nginx)")
}

// diagnoseCut names an idle limit in front of the server as the cause when a stream judged
// through a deployment's intermediaries ended after a silence shorter than the server's
// declared heartbeat: the server was not due to send anything yet, so the path cut it
// (idle-timeout:sse, the key the proxy suite's deployment cell reports for the same fault).
func diagnoseCut(t *fw.T, s *sseclient.Stream) {
	if !t.Run.ViaIntermediary() || !t.Target().Has(fw.CapHeartbeat) {
		return
	}
	end := s.EndedAt()
	if end.IsZero() || errors.Is(s.Err(), sseclient.ErrClosed) {
		return
	}
	last := s.LastRead()
	if last.IsZero() {
		last = s.Headers
	}
	silent := end.Sub(last)
	hb := t.Target().SSE.Heartbeat.D()
	if last.IsZero() || silent < time.Second || silent >= hb {
		return
	}
	t.Diagnose("idle-timeout:sse", "through %s, the stream was cut after %s of silence, before the server's declared heartbeat (%s) was due: "+
		"an idle limit in front of the server cuts quiet streams; raise it above the heartbeat (nginx proxy_read_timeout, HAProxy timeout server/tunnel, "+
		"Varnish between_bytes_timeout, Apache ProxyTimeout)", t.Run.PublicURL(), silent.Round(100*time.Millisecond), hb)
}
