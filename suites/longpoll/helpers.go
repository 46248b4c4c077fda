package longpoll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

var (
	publishCaps = []fw.Capability{fw.CapLongPoll, fw.CapPublish}
	corsCaps    = []fw.Capability{fw.CapLongPoll, fw.CapPublish, fw.CapCORS}
)

// slack is added to the declared hold timeout before a poll counts as never answered.
const slack = 5 * time.Second

// settle is how long a check lets a poll it just sent reach the server and start its hold
// before it publishes: a publish that overtakes the request would test something else.
const settle = 300 * time.Millisecond

func hold(t *fw.T) time.Duration { return t.Target().LongPoll.Timeout.D() }

func shape(t *fw.T) pollclient.Shape {
	lp := t.Target().LongPoll
	return pollclient.Shape{CursorParam: lp.Cursor.Query, Events: lp.Events, Next: lp.Next,
		ID: t.Target().Envelope.ID, Data: t.Target().Envelope.Data}
}

// endpoint is the poll URL of the check's i-th topic (0: t.Topic()).
func endpoint(t *fw.T, i int) string {
	return t.Run.BaseURL + fw.Path(t.Target().LongPoll.Path, t.TopicN(i))
}

// poll sends one poll and requires a well-formed 200 answer within the hold timeout + slack.
func poll(t *fw.T, cursor string) *pollclient.Response { return pollOn(t, 0, cursor) }

// pollOn is poll on the check's i-th topic.
func pollOn(t *fw.T, i int, cursor string) *pollclient.Response {
	r := rawPollOn(t, i, cursor, hold(t)+slack)
	requireOK(t, r)
	return r
}

// requireOK makes a non-200 answer or a body not of the declared shape a violation.
func requireOK(t *fw.T, r *pollclient.Response) {
	if r.Status != 200 {
		diagnoseGateway(t, r)
		t.Violation("200 with the declared JSON body", fmt.Sprintf("status %d, body %.200q", r.Status, r.Body))
	}
	if r.DecodeErr != nil {
		t.Violation("a JSON body with the event array at "+t.Target().LongPoll.Events+" and the next cursor at "+t.Target().LongPoll.Next,
			fmt.Sprintf("%v; body %.300q", r.DecodeErr, r.Body))
	}
}

// diagnoseGateway names the path as the cause of a 502/503/504 answer to a poll judged
// through a deployment's intermediaries (the keys the proxy suite's deployment cell reports
// for the same faults): answered after a hold of 1 s or more but before the server's declared
// hold ended, an idle limit in front of the server cut the held poll (idle-timeout:longpoll);
// answered at once, the path does not reach the server (bad-gateway:longpoll).
func diagnoseGateway(t *fw.T, r *pollclient.Response) {
	if !t.Run.ViaIntermediary() || r.Status < 502 || r.Status > 504 {
		return
	}
	if e := r.Elapsed(); e >= time.Second && e < hold(t) {
		t.Diagnose("idle-timeout:longpoll", "through %s, a held poll was answered %d after %s, before the server's declared hold (%s) ended: "+
			"an idle limit in front of the server cuts held polls; raise its upstream read timeout above the hold (nginx proxy_read_timeout, "+
			"HAProxy timeout server, Varnish between_bytes_timeout, Apache ProxyTimeout)", t.Run.PublicURL(), r.Status, e.Round(100*time.Millisecond), hold(t))
		return
	}
	t.Diagnose("bad-gateway:longpoll", "through %s, a poll was answered %d after %s: the path in front of the server does not reach it "+
		"(check the proxy's upstream address and timeouts)", t.Run.PublicURL(), r.Status, r.Elapsed().Round(100*time.Millisecond))
}

// rawPoll sends one poll bounded by d; a poll that is not answered in d is a violation.
func rawPoll(t *fw.T, cursor string, d time.Duration) *pollclient.Response {
	return rawPollOn(t, 0, cursor, d)
}

func rawPollOn(t *fw.T, i int, cursor string, d time.Duration) *pollclient.Response {
	ctx, cancel := t.Within(d)
	defer cancel()
	r, err := pollclient.Poll(ctx, t.HTTP(), endpoint(t, i), cursor, shape(t))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Violation(fmt.Sprintf("an answer within the declared hold (%s) + %s", hold(t), slack), fmt.Sprintf("no answer within %s", d))
		}
		t.Violation("a poll answer", fmt.Sprintf("request failed: %v", err))
	}
	return r
}

// pending is a poll running in the background. Its goroutine never judges: wait does, on
// the check's goroutine.
type pending struct {
	done   chan struct{}
	resp   *pollclient.Response
	err    error
	cancel context.CancelFunc
}

func start(t *fw.T, cursor string) *pending { return startOn(t, 0, cursor) }

// startOn starts a poll on the check's i-th topic, bounded by the hold timeout + slack.
func startOn(t *fw.T, i int, cursor string) *pending {
	p := &pending{done: make(chan struct{})}
	ctx, cancel := t.Within(hold(t) + slack)
	p.cancel = cancel
	url := endpoint(t, i)
	go func() {
		defer close(p.done)
		defer cancel()
		p.resp, p.err = pollclient.Poll(ctx, t.HTTP(), url, cursor, shape(t))
	}()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func (p *pending) wait(t *fw.T) *pollclient.Response {
	<-p.done
	if p.err != nil {
		t.Violation(fmt.Sprintf("an answer within the declared hold (%s) + %s", hold(t), slack), fmt.Sprintf("poll failed: %v", p.err))
	}
	requireOK(t, p.resp)
	return p.resp
}

// bootstrap obtains a cursor the way a client does: a poll without a cursor is held, an event
// published meanwhile completes it. It returns the cursor after that event.
func bootstrap(t *fw.T) string { return bootstrapOn(t, 0) }

// bootstrapOn is bootstrap on the check's i-th topic.
func bootstrapOn(t *fw.T, i int) string {
	for attempt := 0; attempt < 2; attempt++ {
		p := startOn(t, i, "")
		time.Sleep(settle)
		t.PublishTo(t.TopicN(i), t.Payload(0))
		r := p.wait(t)
		if len(r.Events) > 0 {
			return r.Cursor
		}
		if r.Cursor != "" {
			// Answered before the publish (a short hold): use the cursor it gave and let
			// the next poll pick up event 0.
			r2 := pollOn(t, i, r.Cursor)
			if len(r2.Events) > 0 {
				return r2.Cursor
			}
		}
	}
	t.Violation("a poll without a cursor to start at now and deliver the next published event", "two attempts returned no event")
	return ""
}

// drain polls from cursor until n events arrived (or a poll comes back empty after a hold),
// returning the events' seqs in arrival order and the final cursor.
func drain(t *fw.T, cursor string, n int) ([]int, string) {
	var seqs []int
	for polls := 0; len(seqs) < n && polls < n+3; polls++ {
		r := poll(t, cursor)
		seqs = append(seqs, seqsOf(t, r)...)
		cursor = r.Cursor
		if len(r.Events) == 0 {
			break
		}
	}
	return seqs, cursor
}

func seqOf(t *fw.T, data string) int {
	if s, ok := t.Seq(data); ok {
		return s
	}
	return -1
}

// seqsOf returns the seqs of a response's events (-1 for a payload that is not the check's).
func seqsOf(t *fw.T, r *pollclient.Response) []int {
	out := make([]int, 0, len(r.Events))
	for _, e := range r.Events {
		out = append(out, seqOf(t, e.Data))
	}
	return out
}

// resetSignal is the profile's declared "cursor too old or unknown" signal, or NOT_SUPPORTED.
func resetSignal(t *fw.T) fw.ResetSignal {
	sig := t.Target().LongPoll.Reset
	if sig.Pointer == "" {
		t.NotSupported("the profile declares no longpoll.reset.pointer (the target's explicit signal for a cursor it cannot resume)")
	}
	return sig
}

// lossSignal is the declared reset signal for the checks that judge a cursor the target
// cannot resume (LP-CURSOR-004, 005). A target that declares no signal but claims resume
// (capability resume) is judged anyway: an explicit 4xx refusal is then the only signal a
// client can see, and anything else that loses events is a silent gap. Without either it is
// NOT_SUPPORTED.
func lossSignal(t *fw.T) fw.ResetSignal {
	sig := t.Target().LongPoll.Reset
	if sig.Pointer == "" && !t.Target().Has(fw.CapResume) {
		t.NotSupported("the profile declares neither longpoll.reset.pointer (the target's explicit signal for a cursor it cannot resume) nor capability resume")
	}
	return sig
}

// refused reports (and measures) an explicit 4xx refusal of a poll: the client learns it
// cannot resume.
func refused(t *fw.T, r *pollclient.Response) bool {
	if r.Status >= 400 && r.Status < 500 {
		t.Measure("answer", "status %d, body %s", r.Status, clipq(string(r.Body)))
		return true
	}
	return false
}

// silentLossText is the cause of every silent loss (one finding across the checks).
const silentLossText = "events were lost without an explicit signal: a client cannot tell that it must refetch its state"

// silentLoss fails a check whose target lost events without any signal a client can see.
func silentLoss(t *fw.T, observed string) {
	t.Diagnose("silent-loss", silentLossText)
	t.Remedy("send an explicit signal for a cursor that cannot be resumed (a field in the response, declared in the profile as longpoll.reset, or a 4xx refusal)")
	t.Violation("the declared reset signal or a 4xx refusal (the profile declares no longpoll.reset)", observed)
}

// hasReset reports whether a response carries the declared reset signal, and its text.
func hasReset(sig fw.ResetSignal, r *pollclient.Response) (string, bool) {
	if sig.Pointer == "" || r.Doc == nil {
		return "", false
	}
	v, ok := jsonptr.Get(r.Doc, sig.Pointer)
	if !ok || v == nil {
		return "", false
	}
	txt := jsonptr.Text(v)
	if sig.Value != "" && txt != sig.Value {
		return txt, false
	}
	return txt, true
}

// retention is the declared retention, or NOT_SUPPORTED when it is missing or too large to
// overrun within a check.
func retention(t *fw.T) int {
	keep := t.Target().Retention
	if keep <= 0 {
		t.NotSupported("the profile declares no target.retention (events kept per topic)")
	}
	if keep > 5000 {
		t.NotSupported("target.retention %d is too large to overrun in a check (at most 5000)", keep)
	}
	return keep
}

func upto(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func diagnose(got, want []int) string {
	seen := map[int]int{}
	for _, s := range got {
		seen[s]++
	}
	var missing, dup []int
	for _, w := range want {
		if seen[w] == 0 {
			missing = append(missing, w)
		}
	}
	for s, n := range seen {
		if n > 1 {
			dup = append(dup, s)
		}
	}
	slices.Sort(dup)
	switch {
	case len(missing) > 0 && len(dup) > 0:
		return fmt.Sprintf("lost %v and duplicated %v", compact(missing), dup)
	case len(missing) > 0:
		return fmt.Sprintf("lost %v", compact(missing))
	case len(dup) > 0:
		return fmt.Sprintf("duplicated %v", dup)
	}
	return "out of order"
}

// compact renders a sorted list of ints with runs collapsed: [1 2 3 7] -> "1-3 7".
func compact(xs []int) string {
	xs = slices.Clone(xs)
	sort.Ints(xs)
	s := ""
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if s != "" {
			s += " "
		}
		if j > i {
			s += fmt.Sprintf("%d-%d", xs[i], xs[j])
		} else {
			s += fmt.Sprint(xs[i])
		}
		i = j + 1
	}
	return s
}

// clipq quotes s for a message, shortening long values.
func clipq(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%q… (%d bytes)", s[:120], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// firstDiff describes where two strings first differ.
func firstDiff(want, got string) string {
	n := min(len(want), len(got))
	for i := 0; i < n; i++ {
		if want[i] != got[i] {
			lo := max(0, i-8)
			return fmt.Sprintf("first difference at byte %d: want %q, got %q", i, want[lo:min(len(want), i+8)], got[lo:min(len(got), i+8)])
		}
	}
	return fmt.Sprintf("lengths differ: want %d bytes, got %d", len(want), len(got))
}
