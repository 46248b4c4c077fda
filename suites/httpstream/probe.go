package httpstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/ndjsonclient"
)

// probeDeliver is how long the probe waits for its published event on an open stream: a
// path that delivers live takes milliseconds, so only a path that holds the line (a
// buffering proxy, compression) misses it.
const probeDeliver = 5 * time.Second

// heldAfter: a line that comes this long after its publish, together with the end of the
// stream, was held by the path until the stream closed (a buffering proxy flushes when its
// idle limit cuts the stream), not delivered live.
const heldAfter = time.Second

var _ = fw.RegisterProbe(fw.HTTPStream, probe)

// probe establishes, through the deployment's intermediaries and before the first HTTP
// stream check, whether the path delivers the stream live: it opens the declared stream on a
// topic of its own, publishes one event (when the target can publish) and waits probeDeliver
// for it. A 5xx is bad-gateway:httpstream; an event not delivered in time, released only when
// the stream ended, or lost with a stream that ended having sent nothing live, is
// buffering:httpstream. Anything else (a transport error, another status, no publish hook) is
// left to the checks: the probe only names a path fault it has measured. It is the SSE
// probe's counterpart (suites/sse/probe.go).
func probe(ctx context.Context, r *fw.Run) *fw.Cause {
	c := r.Profile.Target.HTTPStream
	if c == nil {
		return nil
	}
	topic := r.ProbeTopic(fw.HTTPStream)
	u := r.BaseURL + fw.Path(c.Path, topic)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.Request(sctx, u, topic, "", nil)
	if err != nil {
		return nil
	}
	s, err := ndjsonclient.Start(sctx, r.HTTP, req, ndjsonclient.Limits{MaxLine: r.Profile.Target.FrameBound(0)})
	if err != nil {
		return nil
	}
	defer func() { _ = s.Close() }()
	head := func(d time.Duration) *http.Response {
		hctx, hcancel := context.WithTimeout(ctx, d)
		defer hcancel()
		if s.WaitHeaders(hctx) == nil {
			return s.Resp
		}
		return nil
	}
	if !r.Profile.Target.Has(fw.CapPublish) {
		// Without a publish hook only the status can be judged; a server may send its head
		// only with the first line, so a missing head proves nothing.
		return badGateway(u, head(probeDeliver))
	}
	if resp := head(time.Second); resp != nil {
		if c := badGateway(u, resp); c != nil {
			return c
		}
		if resp.StatusCode != http.StatusOK {
			return nil // HS-RESP-001's finding, not the path's
		}
		time.Sleep(300 * time.Millisecond) // let the subscription reach the origin
	}
	payload := fmt.Sprintf(`{"run":%q,"probe":"httpstream"}`, r.ID)
	if err := r.Publish(ctx, topic, []byte(payload)); err != nil {
		return nil // the publish checks report a refused hook
	}
	published := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, probeDeliver)
	defer dcancel()
	for {
		ln, err := s.Next(dctx)
		if err == nil {
			if !strings.Contains(string(ln.Raw), r.ID) {
				continue
			}
			if late := ln.At.Sub(published); late >= heldAfter && endsSoon(ctx, s) {
				return buffered(u, s, fmt.Sprintf("arrived only when the stream was closed, %s after the publish", late.Round(100*time.Millisecond)))
			}
			return nil
		}
		if c := badGateway(u, head(0)); c != nil { // head(0) only looks
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			// The stream ended first. Held whole until then (no body byte before its last
			// 250 ms), the path buffered it; a stream that was live and then cut is the
			// checks' to judge.
			if fb := s.FirstByte(); fb.IsZero() || time.Since(fb) < 250*time.Millisecond {
				return buffered(u, s, fmt.Sprintf("never arrived: the stream ended %s after the publish, having sent nothing live before",
					time.Since(published).Round(100*time.Millisecond)))
			}
			return nil
		}
		return buffered(u, s, fmt.Sprintf("was not delivered within %s", time.Since(published).Round(100*time.Millisecond)))
	}
}

// endsSoon reports whether the stream ends (rather than goes on) within 250 ms.
func endsSoon(ctx context.Context, s *ndjsonclient.Stream) bool {
	ectx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	for {
		if _, err := s.Next(ectx); err != nil {
			return !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		}
	}
}

// buffered is the buffering:httpstream cause; what says what became of the published event.
func buffered(u string, s *ndjsonclient.Stream, what string) *fw.Cause {
	h := fmt.Sprintf("no response head after %s", time.Since(s.Start).Round(100*time.Millisecond))
	if s.WaitHeaders(expired) == nil { // Headers is set before HeadersArrived closes
		h = fmt.Sprintf("the response head came after %s", s.Headers.Sub(s.Start).Round(100*time.Millisecond))
		if fb := s.FirstByte(); fb.IsZero() {
			h += ", no byte of the body"
		} else {
			h += fmt.Sprintf(", the first byte of the body after %s", fb.Sub(s.Start).Round(100*time.Millisecond))
		}
	}
	return &fw.Cause{Key: "buffering:httpstream", Text: fmt.Sprintf(
		"through %s, an event published on an open HTTP stream %s (%s): "+
			"something in front of the server buffers the stream; turn response buffering off for the stream path "+
			"(nginx: proxy_buffering off, or X-Accel-Buffering: no from the origin; Apache: flushpackets=on; no compression of the stream)",
		u, what, h)}
}

// expired is a context that is already done: WaitHeaders with it only looks.
var expired = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// badGateway is the cause of a 5xx answer from the path (nil for any other status, or none).
func badGateway(u string, resp *http.Response) *fw.Cause {
	return fw.BadGateway(fw.HTTPStream, "HTTP stream", u, resp)
}
