package sse

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/rtconform/rtconform/suites/framework/sseclient"

	fw "github.com/rtconform/rtconform/suites/framework"
)

var resumeCaps = []fw.Capability{fw.CapSSE, fw.CapPublish, fw.CapResume}

// resume runs the standard resume scenario: three events on a live stream, disconnect, two
// more published while away, reconnect from the first event's id (opened as the caller says)
// and expect exactly events 2..5, in order.
func resume(t *fw.T, reopen func(id string) *sseclient.Stream) {
	s := live(t)
	publishSeqs(t, 1, 3)
	first := collect(t, s, 3, deliveryWait, "events 1..3 on the live stream")
	if got := t.Seqs(datas(first)); !slices.Equal(got, []int{1, 2, 3}) {
		t.Violation("events 1,2,3 on the live stream", fmt.Sprintf("payload seqs %v", got))
	}
	id := first[0].LastEventID
	t.Measure("resume id", "%q", id)
	if id == "" || !first[0].IDSeen && t.Target().SSE.Resume.Path == "" {
		t.Violation("every event carries an id: field to resume from", "event 1 has no id")
	}
	_ = s.Close()
	t.Publish(t.Payload(4))
	t.Publish(t.Payload(5))
	r := reopen(id)
	got, err := gather(t, r, 4, deliveryWait, "events 2..5 after resuming from event 1's id")
	seqs := t.Seqs(datas(got))
	t.Measure("seqs after resume", "%v", seqs)
	if want := []int{2, 3, 4, 5}; !slices.Equal(seqs, want) {
		diag := diagnoseResume(t, 1, seqs, want)
		if err != nil {
			diag += "; then " + describeErr(err, deliveryWait)
		}
		t.Violation("payload seqs [2 3 4 5] (exclusive of the resumed id, no gap, no duplicate)", fmt.Sprintf("%v: %s", seqs, diag))
	}
	resumeHeaderNames(t, r, id)
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
	Requirement: "A reconnect with Last-Event-ID (or the target's own resume request, sse.resume.path) receives every event after that id, in order, without the id's own event, without a gap or a duplicate, and then live events.",
	Quote:       "The Last-Event-ID HTTP request header reports an EventSource object's last event ID string to the server when the user agent is to reestablish the connection.",
	Spec:        "WHATWG HTML §9.2.4",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		resume(t, func(id string) *sseclient.Stream { return openFrom(t, t.Context(), id) })
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
		byLastEventID(t)
		param := t.Target().SSE.Resume.Query
		if param == "" {
			t.NotSupported("the profile declares no sse.resume.query parameter")
		}
		resume(t, func(id string) *sseclient.Stream { return openOK(t, t.Context(), nil, url.Values{param: {id}}) })
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
		byLastEventID(t)
		param := t.Target().SSE.Resume.Query
		if param == "" {
			t.NotSupported("the profile declares no sse.resume.query parameter")
		}
		s := live(t)
		t.Publish(t.Payload(0))
		early := collect(t, s, 1, deliveryWait, "event 0 on the live stream")
		// The query points at a stale but valid id: an event before the header's.
		resume(t, func(id string) *sseclient.Stream {
			return openOK(t, t.Context(), header("Last-Event-ID", id), url.Values{param: {early[0].LastEventID}})
		})
	},
})

// learnIDs opens a live stream, publishes seqs from..to and returns their ids in order.
func learnIDs(t *fw.T, from, to int) []string {
	s := live(t)
	publishSeqs(t, from, to)
	evs := collect(t, s, to-from+1, deliveryWait, fmt.Sprintf("events %d..%d on a live stream", from, to))
	_ = s.Close()
	var ids []string
	for i, e := range evs {
		if e.LastEventID == "" {
			t.Violation("events with ids", fmt.Sprintf("event %d has no id", from+i))
		}
		ids = append(ids, e.LastEventID)
	}
	return ids
}

// expectReset reads the resumed stream: the declared reset event must come before any data
// event (after it, the target may replay what it still has or go live).
func expectReset(t *fw.T, s *sseclient.Stream, reset, why string) {
	for {
		ev := nextEvent(t, s, deliveryWait, fmt.Sprintf("the %q signal for %s", reset, why))
		if ev.Type == reset {
			t.Measure("reset signal", "event %q data %q", ev.Type, ev.Data)
			return
		}
		silentLoss(t, why)
		t.Violation(fmt.Sprintf("event %q first, for %s", reset, why),
			fmt.Sprintf("an event of type %q with data %s and no signal: a silent gap", ev.Type, clipq(ev.Data)))
	}
}

func silentLoss(t *fw.T, why string) {
	t.Diagnose("silent-loss", "a resume from %s loses events without an explicit signal: the client cannot know it missed events and must reload its state", why)
	t.Remedy("send an explicit signal before any data: a reset event (declare it as sse.reset.event), or refuse the resume with a non-200 status such as 410 Gone")
}

// expectResetHeader judges the resumed stream s of a target that declares a reset header
// (sse.reset.header, Mercure's Last-Event-ID): the request asked to resume after id, which
// the target cannot resume from (why), so the header must be present and name something else
// (the event the replay starts after, or "earliest") — the client compares it with the id it
// sent and knows it missed events. A refusal with a non-200 status is explicit too. The
// header absent, or naming id as if the replay were complete, is a silent gap. A live event
// is published first, so that a target that sends its head only with the first event answers.
func expectResetHeader(t *fw.T, s *sseclient.Stream, name, id, why string) {
	settle(s)
	t.Publish(t.Payload(1000))
	ctx, cancel := t.Within(deliveryWait)
	defer cancel()
	if err := s.WaitHeaders(ctx); err != nil {
		t.Violation("an answer to the resume from "+why, "no response head: "+describeErr(err, deliveryWait))
	}
	if code := s.Resp.StatusCode; code != http.StatusOK {
		t.Measure("resume refused", "status %d %s (a refusal is an explicit signal too)", code, http.StatusText(code))
		return
	}
	want := fmt.Sprintf("response header %s (sse.reset.header) naming another id than the requested %q, for %s", name, id, why)
	vals := s.Resp.Header.Values(name)
	switch {
	case len(vals) == 0:
		silentLoss(t, why)
		t.Remedy("on every resume, set the %s response header to the id of the event the replay starts after (\"earliest\" when there is none)", name)
		t.Violation(want, "no "+name+" header: a silent gap")
	case vals[0] == id:
		silentLoss(t, why)
		t.Violation(want, fmt.Sprintf("%s: %q, the requested id, as if nothing was lost: a silent gap", name, vals[0]))
	}
	t.Measure("reset signal", "response header %s: %q (requested %q)", name, vals[0], id)
}

// resumeHeaderNames checks, for a target that declares a reset header (sse.reset.header), that
// a resume that lost nothing (after id, still in the target's history) says so: the header
// names id itself. A header that reports a loss on every resume tells a client nothing.
func resumeHeaderNames(t *fw.T, s *sseclient.Stream, id string) {
	name := t.Target().SSE.Reset.Header
	if name == "" || s.HeadersErr() != nil || !isClosed(s.HeadersArrived()) {
		return
	}
	vals := s.Resp.Header.Values(name)
	t.Measure("resume header", "%s: %q (requested %q)", name, vals, id)
	if len(vals) != 1 || vals[0] != id {
		t.Remedy("on a resume whose replay is complete, set the %s response header to the requested id: any other value tells the client it missed events", name)
		t.Violation(fmt.Sprintf("response header %s: %q (the requested id: nothing was lost)", name, id), fmt.Sprintf("%s: %q, a loss signal on a complete resume", name, vals))
	}
}

// expectSignal judges the resumed stream s of a target that declares no reset event (its
// profile has no sse.reset.event): it must make the loss visible anyway. Accepted: a refusal
// with a non-200 status (a browser's EventSource fails with an error event and stops, a fetch
// client sees the status: either way the application knows to reload). Not accepted: data
// first (a silent gap, or a silent restart from now), an undeclared named event first (the
// suite cannot tell a reset signal from an application event: declare it), or a clean end of
// the stream before any event (a browser reconnects with the same Last-Event-ID after the
// retry delay, and the application is never told). A live event is published after the
// stream opened, so that a target that silently starts from now has something to send.
func expectSignal(t *fw.T, s *sseclient.Stream, why string) {
	settle(s)
	t.Publish(t.Payload(1000))
	ctx, cancel := t.Within(deliveryWait)
	defer cancel()
	if err := s.WaitHeaders(ctx); err != nil {
		t.Violation("an answer to the resume from "+why, "no response head: "+describeErr(err, deliveryWait))
	}
	if code := s.Resp.StatusCode; code != http.StatusOK {
		t.Measure("resume refused", "status %d %s (no sse.reset.event declared: a refusal is the explicit signal)", code, http.StatusText(code))
		return
	}
	want := "an explicit signal before any data, for " + why + " (no sse.reset.event is declared: a non-200 refusal)"
	ev, err := s.Next(ctx)
	switch {
	case errors.Is(err, io.EOF):
		silentLoss(t, why)
		t.Violation(want, "the stream ended without an event: a browser reconnects with the same Last-Event-ID after the retry delay, and the application is never told")
	case err != nil:
		t.Violation(want, describeErr(err, deliveryWait))
	case ev.Type != "" && ev.Type != "message":
		t.Remedy("if event %q is the target's reset signal, declare it as sse.reset.event", ev.Type)
		t.Violation(want, fmt.Sprintf("an undeclared event of type %q (data %s): the suite cannot tell it from an application event", ev.Type, clipq(ev.Data)))
	default:
		silentLoss(t, why)
		got := "a data event"
		if n, ok := t.Seq(ev.Data); ok {
			got = fmt.Sprintf("event %d", n)
			if n == 1000 {
				got = "the event published after connecting (a silent restart from now)"
			}
		}
		t.Violation(want, fmt.Sprintf("%s first, with no signal: a silent gap", got))
	}
}

// "an id older than retention or unknown gets the documented explicit signal, never a silent gap"
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-004", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "A resume from an id older than the declared retention gets an explicit signal before any data — the declared reset event (sse.reset.event), the declared response header naming another id than the requested one (sse.reset.header), or, when neither is declared, a refusal with a non-200 status: never a silent gap.",
	Spec:        "operational: the target's declared sse.reset.event or sse.reset.header and retention; WHATWG HTML §9.2.3, §9.2.4; Mercure §Reconciliation (the Last-Event-ID response header)",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		keep := t.Target().Retention
		if keep <= 0 {
			t.NotSupported("the profile declares no target.retention (events kept per topic)")
		}
		if keep > 5000 {
			t.NotSupported("target.retention %d is too large to overrun in a check (at most 5000)", keep)
		}
		ids := learnIDs(t, 1, 1)
		publishSeqs(t, 2, keep+10)
		t.Measure("published after the resume id", "%d (retention %d)", keep+9, keep)
		if reset := resetEvent(t); reset != "" {
			s := openFrom(t, t.Context(), ids[0])
			expectReset(t, s, reset, "an id older than retention")
			return
		}
		if name := t.Target().SSE.Reset.Header; name != "" {
			expectResetHeader(t, openFrom(t, t.Context(), ids[0]), name, ids[0], "an id older than retention")
			return
		}
		expectSignal(t, openFrom(t, t.Context(), ids[0]), "an id older than retention")
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-005", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "A resume from an id the target never issued gets an explicit signal before any data — the declared reset event (sse.reset.event), the declared response header naming another id than the requested one (sse.reset.header), or, when neither is declared, a refusal with a non-200 status: never a silent restart from now.",
	Spec:        "operational: the target's declared sse.reset.event or sse.reset.header; WHATWG HTML §9.2.3, §9.2.4; Mercure §Reconciliation (the Last-Event-ID response header)",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		ids := learnIDs(t, 1, 1) // the topic exists and has history
		// A foreign id first, then one of the target's own shape that it has not issued yet
		// (r3labs refuses a non-numeric id with 400 but silently waits on "1000").
		probes := fw.UnknownIDs(t.Run.ID[:8], ids[0], t.Target().ResumeTemplated(fw.SSE))
		for _, id := range probes {
			t.Measure("unknown id", "%q", id)
			why := fmt.Sprintf("an unknown id (%q)", id)
			if reset := resetEvent(t); reset != "" {
				s := openFrom(t, t.Context(), id)
				settle(s)
				t.Publish(t.Payload(2))
				expectReset(t, s, reset, why)
				s.Close()
				continue
			}
			if name := t.Target().SSE.Reset.Header; name != "" {
				s := openFrom(t, t.Context(), id)
				expectResetHeader(t, s, name, id, why)
				s.Close()
				continue
			}
			s := openFrom(t, t.Context(), id)
			expectSignal(t, s, why)
			s.Close()
		}
	},
})

// A browser sends Last-Event-ID only when its last event ID string is not empty, but proxies
// and hand-written clients send an empty header; it must mean "no id", not an error.
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-006", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "An empty Last-Event-ID header is a fresh connect: status 200 and live events (no error, no reset).",
	Quote:       "If the EventSource object's last event ID string is not the empty string, ... set (`Last-Event-ID`, lastEventIDValue)",
	Spec:        "WHATWG HTML §9.2.3",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		byLastEventID(t)
		s := openOK(t, t.Context(), http.Header{"Last-Event-Id": {""}}, nil)
		settle(s)
		t.Publish(t.Payload(1))
		for {
			ev := nextEvent(t, s, deliveryWait, "event 1 on a stream opened with an empty Last-Event-ID")
			if n, ok := t.Seq(ev.Data); ok && n == 1 {
				return
			}
			if ev.Type != "" && ev.Type != "message" {
				t.Violation("live events", fmt.Sprintf("an event of type %q (data %s)", ev.Type, clipq(ev.Data)))
			}
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-007", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "Five reconnects in a row, each resuming from the last id seen and with events published while away, deliver every event exactly once in order.",
	Spec:        "WHATWG HTML §9.2.3, §9.2.4",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		var got, tokens []int
		last, seq := "", 0
		for round := 0; round < 5; round++ {
			var s *sseclient.Stream
			if last == "" {
				s = openOK(t, t.Context(), nil, nil)
			} else {
				s = openFrom(t, t.Context(), last)
			}
			settle(s)
			n := 2
			if round > 0 {
				n = 4 // two published while away, two while connected
			}
			for i := 0; i < 2; i++ {
				seq++
				t.Publish(t.Payload(seq))
			}
			evs, err := gather(t, s, n, deliveryWait, fmt.Sprintf("reconnect %d", round))
			got = append(got, t.Seqs(datas(evs))...)
			if err != nil {
				want := make([]int, 0, seq)
				for i := 1; i <= seq; i++ {
					want = append(want, i)
				}
				t.Measure("seqs", "%v", got)
				t.Violation(fmt.Sprintf("%d events on reconnect %d", n, round), fmt.Sprintf("%d, then %s; seqs so far %v: %s", len(evs), describeErr(err, deliveryWait), got, diagnoseSeq(t, got, want, tokens)))
			}
			last = evs[len(evs)-1].LastEventID
			tokens = append(tokens, got[len(got)-1])
			_ = s.Close()
			seq++
			t.Publish(t.Payload(seq)) // while away
			seq++
			t.Publish(t.Payload(seq))
		}
		// The last two published while away are not read; everything before them must be exact.
		want := make([]int, 0, seq-2)
		for i := 1; i <= seq-2; i++ {
			want = append(want, i)
		}
		t.Measure("seqs", "%v", got)
		if !slices.Equal(got, want) {
			t.Violation(fmt.Sprintf("seqs %v", want), fmt.Sprintf("%v: %s", got, diagnoseSeq(t, got, want, tokens)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-008", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps,
	Requirement: "Three concurrent resumes from different ids each receive exactly the events after their own id.",
	Spec:        "WHATWG HTML §9.2.4",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		ids := learnIDs(t, 1, 6)
		type res struct {
			from int
			got  []int
		}
		out := make(chan res, 3)
		for _, from := range []int{1, 3, 5} {
			s := openFrom(t, t.Context(), ids[from-1])
			hctx, cancel := t.Within(deliveryWait)
			requireOK(t, s, hctx, deliveryWait, fmt.Sprintf("a stream resuming from event %d (events after it are waiting)", from))
			cancel()
			go func() {
				var got []int
				ctx, cancel := t.Within(deliveryWait)
				defer cancel()
				for len(got) < 6-from {
					ev, err := s.Next(ctx)
					if err != nil {
						break
					}
					got = append(got, t.Seqs([]string{ev.Data})...)
				}
				out <- res{from, got}
			}()
		}
		for range 3 {
			r := <-out
			want := []int{}
			for i := r.from + 1; i <= 6; i++ {
				want = append(want, i)
			}
			t.Measure(fmt.Sprintf("from event %d", r.from), "%v", r.got)
			if !slices.Equal(r.got, want) {
				t.Violation(fmt.Sprintf("resume from event %d: seqs %v", r.from, want), fmt.Sprintf("%v: %s", r.got, diagnoseResume(t, r.from, r.got, want)))
			}
		}
	},
})

// Judged alone (Serial): a server whose ids come from one sequence for all topics (an auto
// counter, a Redis stream) meets the "newest id" edge only when the topic's newest id is the
// server's newest, which other checks publishing at the same time would make a matter of
// chance (tmaxmax/go-sse's replayer replays its whole buffer exactly there).
var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-009", Level: fw.MUST, Transport: fw.SSE, Requires: resumeCaps, Serial: true,
	Requirement: "A resume from the newest id replays nothing and then delivers the next live event.",
	Spec:        "WHATWG HTML §9.2.4",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		ids := learnIDs(t, 1, 3)
		s := openFrom(t, t.Context(), ids[2])
		settle(s)
		t.Publish(t.Payload(4))
		evs, err := gather(t, s, 1, deliveryWait, "event 4")
		got := t.Seqs(datas(evs))
		if !slices.Equal(got, []int{4}) {
			obs := fmt.Sprintf("seqs %v", got)
			if err != nil {
				obs += ", then " + describeErr(err, deliveryWait)
			}
			t.Violation("event 4 first (nothing replayed)", obs+": "+diagnoseResume(t, 3, got, []int{4}))
		}
		resumeHeaderNames(t, s, ids[2])
	},
})

var _ = fw.Register(fw.Check{
	ID: "SSE-RESUME-010", Level: fw.MUST, Transport: fw.SSE, Requires: []fw.Capability{fw.CapSSE, fw.CapPublish, fw.CapResume, fw.CapRestart},
	Requirement: "After a restart of the target, a resume from an id issued before it delivers the later events without gap or duplicate, or else the declared reset signal (the reset event first, or the reset header naming another id).",
	Spec:        "WHATWG HTML §9.2.4; operational (deploys restart servers)",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		ids := learnIDs(t, 1, 3)
		t.Restart()
		t.Publish(t.Payload(4))
		s := openFrom(t, t.Context(), ids[1])
		ev := nextEvent(t, s, deliveryWait, "events after the restart")
		if name := t.Target().SSE.Reset.Header; name != "" {
			if v := s.Resp.Header.Values(name); len(v) > 0 && v[0] != ids[1] {
				t.Measure("after restart", "reset signal: response header %s: %q (requested %q)", name, v[0], ids[1])
				return
			}
		}
		if reset := resetEvent(t); reset != "" && ev.Type == reset {
			t.Measure("after restart", "reset signal %q", ev.Data)
			return
		}
		got := t.Seqs([]string{ev.Data})
		more, err := gather(t, s, 1, deliveryWait, "event 4 after event 3")
		got = append(got, t.Seqs(datas(more))...)
		t.Measure("seqs after restart", "%v", got)
		if !slices.Equal(got, []int{3, 4}) {
			obs := fmt.Sprintf("%v", got)
			if err != nil {
				obs += ", then " + describeErr(err, deliveryWait)
			}
			t.Violation("seqs [3 4] (or the reset signal)", obs+": "+diagnoseResume(t, 2, got, []int{3, 4}))
		}
	},
})
