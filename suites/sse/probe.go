package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// probeDeliver is how long the probe waits for its published event on an open stream: a
// path that delivers live takes milliseconds, so only a path that holds the event (a
// buffering proxy, compression) misses it.
const probeDeliver = 5 * time.Second

var _ = fw.RegisterProbe(fw.SSE, probe)

// probe establishes, through the deployment's intermediaries and before the first SSE check,
// whether the path delivers an event stream live: it opens a stream on a topic of its own,
// publishes one event (when the target can publish) and waits probeDeliver for it. A 5xx is
// bad-gateway:sse; an event not delivered in time, released only when the stream ended, or
// lost with a stream that ended having sent nothing live, is buffering:sse. Anything else (a
// transport error, another status, no publish hook) is left to the checks: the probe only
// names a path fault it has measured.
func probe(ctx context.Context, r *fw.Run) *fw.Cause {
	topic := r.ProbeTopic(fw.SSE)
	u := r.BaseURL + fw.Path(r.Profile.Target.SSE.Path, topic)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := sseclient.Start(sctx, r.HTTP, req, sseclient.Limits{})
	if err != nil {
		return nil
	}
	defer func() { _ = s.Close() }()
	if !r.Profile.Target.Has(fw.CapPublish) {
		// Without a publish hook only the status can be judged; a server may send its head
		// only with the first event, so a missing head proves nothing.
		hctx, hcancel := context.WithTimeout(ctx, probeDeliver)
		defer hcancel()
		if s.WaitHeaders(hctx) == nil {
			return badGateway(u, s.Resp)
		}
		return nil
	}
	settle(s)
	if resp := arrived(s); resp != nil {
		if c := badGateway(u, resp); c != nil {
			return c
		}
		if resp.StatusCode != http.StatusOK {
			return nil // SSE-RESP-001's finding, not the path's
		}
	}
	payload := fmt.Sprintf(`{"run":%q,"probe":"sse"}`, r.ID)
	if err := r.Publish(ctx, topic, []byte(payload)); err != nil {
		return nil // the publish checks report a refused hook
	}
	published := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, probeDeliver)
	defer dcancel()
	for {
		ev, err := s.Next(dctx)
		if err == nil {
			if !strings.Contains(ev.Data, r.ID) {
				continue
			}
			if late := ev.At.Sub(published); late >= heldAfter && endsWith(s, ev.At) {
				return buffered(u, s, fmt.Sprintf("arrived only when the stream was closed, %s after the publish", late.Round(100*time.Millisecond)))
			}
			return nil
		}
		if c := badGateway(u, arrived(s)); c != nil {
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			// The stream ended first. Held whole until then (no body byte before its last
			// 250 ms), the path buffered it; a stream that was live and then cut is the
			// checks' to judge.
			if fb, end := s.FirstByte(), s.EndedAt(); !end.IsZero() && (fb.IsZero() || end.Sub(fb) < 250*time.Millisecond) {
				return buffered(u, s, fmt.Sprintf("never arrived: the stream ended %s after the publish, having sent nothing live before",
					end.Sub(published).Round(100*time.Millisecond)))
			}
			return nil
		}
		return buffered(u, s, fmt.Sprintf("was not delivered within %s", time.Since(published).Round(100*time.Millisecond)))
	}
}

// heldAfter: an event that comes this long after its publish, together with the end of the
// stream, was held by the path until the stream closed (a buffering proxy flushes when its
// idle limit cuts the stream), not delivered live.
const heldAfter = time.Second

// endsWith reports whether the stream ends within 250 ms of at (waiting that long for it).
func endsWith(s *sseclient.Stream, at time.Time) bool {
	select {
	case <-s.Done():
	case <-time.After(time.Until(at.Add(250 * time.Millisecond))):
		return false
	}
	return s.EndedAt().Sub(at) < 250*time.Millisecond
}

// buffered is the buffering:sse cause; what says what became of the published event.
func buffered(u string, s *sseclient.Stream, what string) *fw.Cause {
	return &fw.Cause{Key: "buffering:sse", Text: fmt.Sprintf(
		"through %s, an event published on an open SSE stream %s (%s): "+
			"something in front of the server buffers the stream; turn response buffering off for the stream path "+
			"(nginx: proxy_buffering off, or X-Accel-Buffering: no from the origin; Apache: flushpackets=on; no compression of text/event-stream)",
		u, what, headTiming(s))}
}

// arrived is the stream's response once its head arrived (nil before, or when it failed).
func arrived(s *sseclient.Stream) *http.Response {
	select {
	case <-s.HeadersArrived():
		if s.HeadersErr() == nil {
			return s.Resp
		}
	default:
	}
	return nil
}

// badGateway is the cause of a 5xx answer from the path (nil for any other status, or none).
func badGateway(u string, resp *http.Response) *fw.Cause {
	return fw.BadGateway(fw.SSE, "SSE stream", u, resp)
}

// headTiming says when the stream's response head and first byte came, for the cause text.
func headTiming(s *sseclient.Stream) string {
	select {
	case <-s.HeadersArrived():
	default:
		return fmt.Sprintf("no response head after %s", time.Since(s.Start).Round(100*time.Millisecond))
	}
	if s.HeadersErr() != nil {
		return "the request failed: " + s.HeadersErr().Error()
	}
	h := fmt.Sprintf("the response head came after %s", s.Headers.Sub(s.Start).Round(100*time.Millisecond))
	if fb := s.FirstByte(); fb.IsZero() {
		h += ", no byte of the body"
	} else {
		h += fmt.Sprintf(", the first byte of the body after %s", fb.Sub(s.Start).Round(100*time.Millisecond))
	}
	return h
}
