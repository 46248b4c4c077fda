package longpoll

import (
	"context"
	"fmt"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/pollclient"
)

// probeDeliver is how long the probe waits, after its publish, for the held poll's answer.
const probeDeliver = 5 * time.Second

// probeHold is how long the probe watches its poll when the target cannot publish: long
// enough to see a path that answers at once with 5xx, never the whole declared hold.
const probeHold = 3 * time.Second

var _ = fw.RegisterProbe(fw.LongPoll, probe)

// probe establishes, through the deployment's intermediaries and before the first long-poll
// check, whether the path answers a held poll live: a poll without a cursor on a topic of its
// own, then one published event (when the target can publish) must complete it within
// probeDeliver. A 5xx is bad-gateway:longpoll; a poll held past the publish is
// buffering:longpoll. A transport error, another status or a publish hook that fails are left
// to the checks: the probe only names a path fault it has measured.
func probe(ctx context.Context, r *fw.Run) *fw.Cause {
	t := &r.Profile.Target
	topic := r.ProbeTopic(fw.LongPoll)
	u := r.BaseURL + fw.Path(t.LongPoll.Path, topic)
	sh := pollclient.Shape{CursorParam: t.LongPoll.Cursor.Query, Events: t.LongPoll.Events, Next: t.LongPoll.Next,
		ID: t.Envelope.ID, Data: t.Envelope.Data}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		resp *pollclient.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := pollclient.Poll(pctx, r.HTTP, u, "", sh)
		done <- answer{resp, err}
	}()
	defer func() { cancel(); <-done }()
	wait := probeHold
	if t.Has(fw.CapPublish) {
		select {
		case a := <-done:
			done <- a
			return badGateway(u, a.resp)
		case <-time.After(settle):
		}
		if err := r.Publish(ctx, topic, []byte(fmt.Sprintf(`{"run":%q,"probe":"longpoll"}`, r.ID))); err != nil {
			return nil
		}
		wait = probeDeliver
	}
	select {
	case a := <-done:
		done <- a
		return badGateway(u, a.resp)
	case <-ctx.Done():
		return nil
	case <-time.After(wait):
	}
	if !t.Has(fw.CapPublish) {
		return nil // held, as it should be
	}
	return &fw.Cause{Key: "buffering:longpoll", Text: fmt.Sprintf(
		"through %s, a held long-poll was not answered within %s of a publish on its topic: "+
			"something in front of the server holds the answer (buffering, request coalescing or a cache)", u, probeDeliver)}
}

// badGateway is the cause of a 5xx answer from the path (nil for anything else: an answer
// without the event, another status or a transport error are the checks' to judge).
func badGateway(u string, resp *pollclient.Response) *fw.Cause {
	if resp == nil || resp.Status < 500 {
		return nil
	}
	return &fw.Cause{Key: "bad-gateway:longpoll", Text: fmt.Sprintf(
		"through %s, a long-poll was answered with status %d after %s (%s): the path in front of the server does not reach it, "+
			"or cuts the held poll (its upstream timeout must outlast the server's hold)",
		u, resp.Status, resp.Elapsed().Round(100*time.Millisecond), clipq(strings.TrimSpace(string(resp.Body))))}
}
