package longpoll

import (
	"fmt"
	"slices"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// holdQuote is RFC 6202's definition of long polling (§1).
const holdQuote = `The server attempts to "hold open" (not immediately reply to) each HTTP request, responding only when there are events to deliver.`

// Most long-poll protocols start a cursor-less client at "now" (Bayeux, Centrifugo without
// recovery, the reference); a server that replays its history instead floods every new
// client with old events. There is no profile field for "starts at the oldest" yet, so this
// is a SHOULD.
var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-003", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll without a cursor starts at now: events published before it are not returned, the next published event is.",
	Spec:        "operational: cursor semantics of long-poll protocols (Bayeux /meta/connect, Centrifugo, the reference's contract)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		t.Publish(t.Payload(1))
		t.Publish(t.Payload(2))
		p := start(t, "")
		time.Sleep(settle)
		t.Publish(t.Payload(3))
		r := p.wait(t)
		// A target that answered before the publish (no hold) is judged by LP-HOLD-001;
		// follow its cursor to see where it starts.
		for i := 0; i < 3 && len(r.Events) == 0; i++ {
			r = poll(t, r.Cursor)
		}
		got := seqsOf(t, r)
		t.Measure("seqs of the first answer with events", "%v", got)
		if !slices.Equal(got, []int{3}) {
			t.Violation("only event 3 (published after the cursor-less poll was sent)", fmt.Sprintf("seqs %v (1 and 2 were published before the poll)", got))
		}
	},
})

// "never a silent gap": a cursor whose successors were dropped must be answered with the
// declared signal, so the client knows to refetch state.
var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-004", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll with a cursor older than the declared retention gets the declared reset signal (or, when none is declared, an explicit 4xx refusal): never a silent gap.",
	Spec:        "operational: the profile's longpoll.reset and retention (Centrifugo recovered:false, Mercure Last-Event-ID response header, SockJS/Engine.IO session errors)",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		sig := lossSignal(t)
		keep := retention(t)
		cur := bootstrap(t)
		for i := 1; i <= keep+10; i++ {
			t.Publish(t.Payload(i))
		}
		t.Measure("published after the cursor", "%d (retention %d)", keep+10, keep)
		if sig.Pointer == "" {
			r := rawPoll(t, cur, hold(t)+slack)
			if refused(t, r) {
				return
			}
			requireOK(t, r)
			seqs := seqsOf(t, r)
			if len(seqs) > 0 && seqs[0] == 1 {
				t.Measure("first seq", "1: nothing was lost (the target keeps more than its declared retention)")
				return
			}
			silentLoss(t, fmt.Sprintf("%d events from seq %v and no signal: a silent gap", len(seqs), firstSeq(seqs)))
		}
		r := poll(t, cur)
		v, ok := hasReset(sig, r)
		seqs := seqsOf(t, r)
		if !ok {
			t.Diagnose("silent-loss", silentLossText)
			t.Violation(fmt.Sprintf("the reset signal at %s", sig.Pointer),
				fmt.Sprintf("no signal (value %q) and %d events from seq %v: a silent gap", v, len(seqs), firstSeq(seqs)))
		}
		t.Measure("reset signal", "%s", clipq(v))
	},
})

// An unknown cursor (another server's, a corrupted one, one from before a data loss) is the
// same situation as an expired one: the client must learn that it cannot resume.
var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-005", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "A poll with a cursor the target never issued gets the declared reset signal or an explicit 4xx refusal: never a silent restart from now or from the oldest event.",
	Spec:        "operational: the profile's longpoll.reset (Engine.IO answers an unknown sid 400; Centrifugo recovered:false)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		sig := lossSignal(t)
		bootstrap(t) // the topic exists and has history
		r := rawPoll(t, unknownCursor(t), hold(t)+slack)
		if refused(t, r) {
			return
		}
		requireOK(t, r)
		if sig.Pointer == "" {
			silentLoss(t, fmt.Sprintf("status %d after %s with %d events and no signal: a silent restart", r.Status, r.Elapsed().Round(time.Millisecond), len(r.Events)))
		}
		v, ok := hasReset(sig, r)
		if !ok {
			t.Diagnose("silent-loss", silentLossText)
			t.Violation(fmt.Sprintf("the reset signal at %s (or a 4xx refusal)", sig.Pointer),
				fmt.Sprintf("status %d after %s, no signal (value %q), %d events: a silent gap", r.Status, r.Elapsed().Round(time.Millisecond), v, len(r.Events)))
		}
		t.Measure("reset signal", "%s", clipq(v))
	},
})

// The cursor that comes with a reset must lead out of it: echoing the stale cursor back makes
// the client receive the same reset (and the same events) forever.
var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-006", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "The cursor returned with a reset signal continues cleanly: no second reset, no event twice, and the next published event is delivered.",
	Spec:        "operational: the profile's longpoll.reset; cursor semantics",
	Timeout:     90 * time.Second,
	Run: func(t *fw.T) {
		sig := resetSignal(t)
		keep := retention(t)
		cur := bootstrap(t)
		last := keep + 10
		for i := 1; i <= last; i++ {
			t.Publish(t.Payload(i))
		}
		r := poll(t, cur)
		if _, ok := hasReset(sig, r); !ok {
			t.Violation(fmt.Sprintf("the reset signal at %s for a cursor older than retention", sig.Pointer), "no signal")
		}
		seqs := seqsOf(t, r)
		resets := 1
		// Whatever the target still returns after the reset comes next, without a signal.
		for polls := 0; len(r.Events) > 0 && slices.Max(seqs) < last && polls < last; polls++ {
			r = poll(t, r.Cursor)
			if _, ok := hasReset(sig, r); ok {
				resets++
				break
			}
			seqs = append(seqs, seqsOf(t, r)...)
		}
		if resets > 1 {
			t.Violation("one reset signal, then ordinary batches",
				fmt.Sprintf("a second reset signal on the cursor the first one returned (%d events so far)", len(seqs)))
		}
		t.Publish(t.Payload(last + 1))
		r = poll(t, r.Cursor)
		if _, ok := hasReset(sig, r); ok {
			t.Violation("no reset signal after the one already given", "the next poll repeated the reset signal")
		}
		seqs = append(seqs, seqsOf(t, r)...)
		t.Measure("seqs after the reset", "%s", compact(seqs))
		if !increasing(seqs) {
			t.Violation("events after the reset in publish order, none twice", fmt.Sprintf("seqs %s", compact(seqs)))
		}
		if len(seqs) == 0 || seqs[len(seqs)-1] != last+1 {
			t.Violation(fmt.Sprintf("event %d (published after the reset) delivered", last+1), fmt.Sprintf("last seqs %v", tail(seqs, 5)))
		}
	},
})

// A cursor names a position, not a delivery: a response lost on its way (a proxy 504, a
// mobile network drop, a closed tab) is retried with the same cursor and must return the
// same events again. A server that "consumes" events when it answers loses them.
var _ = fw.Register(fw.Check{
	ID: "LP-CURSOR-007", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "Repeating a poll with the same cursor (the retry of a response lost in transit) returns the same events again.",
	Spec:        "operational: at-least-once delivery over long polling: a response lost in transit is retried with the same cursor",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		t.Publish(t.Payload(2))
		first, _ := drain(t, cur, 2)
		if !slices.Equal(first, []int{1, 2}) {
			t.Violation("seqs [1 2] on the first poll", fmt.Sprintf("%v", first))
		}
		r := rawPoll(t, cur, hold(t)+slack)
		requireOK(t, r)
		again := seqsOf(t, r)
		for len(again) > 0 && len(again) < 2 {
			r = poll(t, r.Cursor)
			if len(r.Events) == 0 {
				break
			}
			again = append(again, seqsOf(t, r)...)
		}
		t.Measure("seqs on the repeated poll", "%v (answered after %s)", again, r.Elapsed().Round(time.Millisecond))
		if !slices.Equal(again, []int{1, 2}) {
			t.Violation("seqs [1 2] again for the same cursor", fmt.Sprintf("%v: the events were consumed by the first answer", again))
		}
	},
})

func unknownCursor(t *fw.T) string { return "rtconform-never-issued-" + t.Run.ID[:8] }

func firstSeq(seqs []int) any {
	if len(seqs) == 0 {
		return "(none)"
	}
	return seqs[0]
}

func increasing(seqs []int) bool {
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			return false
		}
	}
	return true
}

func tail(xs []int, n int) []int { return xs[max(0, len(xs)-n):] }
