package proxy

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/ndjsonclient"
	"github.com/rtconform/rtconform/suites/framework/sseclient"
)

// maxTapEvents bounds the events a tap keeps.
const maxTapEvents = 1024

// tap is one event stream request (SSE, or an HTTP stream of JSON lines) read in the
// background with arrival times. Unlike sseclient.Stream it does not wait for the response
// headers (a buffering proxy may hold them for seconds) and it decodes a gzip body, so
// delivery through a proxy is timed from the publish whatever the proxy does. SSE goes
// through the strict sseclient.Parser, JSON lines through ndjsonclient.Parser and the
// target's envelope; both end as events with a payload and an id.
type tap struct {
	label string
	sent  time.Time

	ready  chan struct{} // closed when the headers arrived or the request failed
	done   chan struct{} // closed when the body ended (or the request failed)
	notify chan struct{} // signalled on every read
	cancel context.CancelFunc
	// decode turns the bytes of one read into the events they complete.
	decode func(b []byte, at time.Time) ([]sseclient.Event, error)

	mu        sync.Mutex
	status    int
	h2        bool // the response came over HTTP/2
	header    http.Header
	headersAt time.Time
	reqErr    error
	firstByte time.Time
	lastRead  time.Time
	maxGap    time.Duration // the longest silence between the request (or a read) and the next read
	endedAt   time.Time
	endErr    error
	reads     int
	bytes     int64
	head      []byte // the body's first headMax bytes (decoded), for messages
	events    []tapEvent
}

// headMax bounds the body bytes a tap keeps to quote in a message.
const headMax = 256

// tapEvent is a dispatched event, with the index of the read that completed it and the
// bytes received up to that read.
type tapEvent struct {
	sseclient.Event
	read  int
	bytes int64
}

// openTap starts the check's stream request at base with the extra headers: for an SSE
// check GET base+sse path of the check's topic (Accept and Cache-Control set as an
// EventSource sets them), for an HTTP stream check the declared request
// (fw.T.HTTPStreamRequest). It returns at once.
func (e *env) openTap(label, base string, header http.Header) *tap {
	return e.openStream(label, base, header, "")
}

// openResumed opens the check's stream at base resuming from token: Last-Event-ID for SSE,
// the declared resume query or body for an HTTP stream.
func (e *env) openResumed(label, base, token string) *tap {
	if e.t.Check.Transport == fw.HTTPStream {
		return e.openStream(label, base, nil, token)
	}
	return e.openStream(label, base, http.Header{"Last-Event-Id": {token}}, "")
}

func (e *env) openStream(label, base string, header http.Header, token string) *tap {
	t := e.t
	ctx, cancel := context.WithCancel(t.Context())
	if e.trace != nil {
		ctx = httptrace.WithClientTrace(ctx, e.trace)
	}
	var req *http.Request
	var decode func([]byte, time.Time) ([]sseclient.Event, error)
	if t.Check.Transport == fw.HTTPStream {
		req, _ = t.HTTPStreamRequest(ctx, base, t.Topic(), token)
		decode = lineDecoder(t)
	} else {
		u := base + fw.Path(t.Target().SSE.Path, t.Topic())
		var err error
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			cancel()
			t.Harness("request for %s: %v", u, err)
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cache-Control", "no-cache")
		decode = sseDecoder(t.Target().SSE.Envelope)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	tp := &tap{label: label, sent: time.Now(), ready: make(chan struct{}), done: make(chan struct{}),
		notify: make(chan struct{}, 1), cancel: cancel, decode: decode}
	go tp.run(e.client(), req)
	t.Cleanup(tp.close)
	return tp
}

// sseDecoder parses SSE with the strict parser; with the target's SSE envelope
// (sse.envelope) the payload is taken out of the data, and a control frame (a connect
// reply, a {} ping) is not an event.
func sseDecoder(envelope *fw.SSEEnvelope) func([]byte, time.Time) ([]sseclient.Event, error) {
	p := sseclient.NewParser(sseclient.Limits{MaxBytes: 16 << 20})
	return func(b []byte, at time.Time) ([]sseclient.Event, error) {
		evs, err := p.Feed(b, at)
		out := evs[:0]
		for _, ev := range evs {
			if ev.Type == "" || ev.Type == "message" {
				_, payload, ok := envelope.Open(ev.Data)
				if !ok {
					continue
				}
				ev.Data = payload
			}
			out = append(out, ev)
		}
		return out, err
	}
}

// lineDecoder parses JSON lines: a line whose data pointer resolves (target.httpstream
// envelope) is an event with its id; the connect reply (target.connect) gives its replayed
// events and its fields (kept for resume templates); every other line is a keep-alive.
// Invalid lines are HS-WIRE-001's finding and skipped here.
func lineDecoder(t *fw.T) func([]byte, time.Time) ([]sseclient.Event, error) {
	tg, topic := t.Target(), t.Topic()
	p := ndjsonclient.NewParser(ndjsonclient.Limits{MaxLine: tg.FrameBound(0)})
	env := tg.HTTPStreamEnvelope()
	open := &fw.SSEEnvelope{ID: env.ID, Data: env.Data}
	return func(b []byte, at time.Time) ([]sseclient.Event, error) {
		lines, err := p.Feed(b, at)
		var out []sseclient.Event
		for _, ln := range lines {
			if ln.Err != nil {
				continue
			}
			if r, ok := tg.Connect.Open(ln.Raw, topic); ok {
				t.ResumeState().Learn(topic, r.Fields)
				for _, ev := range r.Events {
					out = append(out, sseclient.Event{Data: ev.Data, LastEventID: ev.ID, IDSeen: ev.ID != "", At: ln.At})
				}
				continue
			}
			if id, data, ok := open.Open(string(ln.Raw)); ok {
				out = append(out, sseclient.Event{Data: data, LastEventID: id, IDSeen: id != "", At: ln.At})
			}
		}
		return out, err
	}
}

// taps opens the check's stream through the proxy and, when the origin is known, directly
// from it (dt nil otherwise).
func (e *env) taps() (px, dt *tap) {
	px = e.openTap("proxy", e.base, nil)
	if e.direct != "" {
		dt = e.openTap("direct", e.direct, nil)
	}
	return px, dt
}

func (tp *tap) run(c *http.Client, req *http.Request) {
	defer close(tp.done)
	resp, err := c.Do(req)
	tp.mu.Lock()
	tp.headersAt = time.Now()
	if err != nil {
		tp.reqErr = err
		tp.endedAt, tp.endErr = tp.headersAt, err
		tp.mu.Unlock()
		close(tp.ready)
		return
	}
	tp.status, tp.header, tp.h2 = resp.StatusCode, resp.Header, resp.ProtoMajor == 2
	tp.mu.Unlock()
	close(tp.ready)
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		// Go's http client decompresses only what it asked for itself; this request set
		// Accept-Encoding, so the body is read through gzip here (each flushed block is
		// returned as soon as it arrives).
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			tp.end(fmt.Errorf("gzip body: %w", err))
			return
		}
		body = zr
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			now := time.Now()
			evs, perr := tp.decode(buf[:n], now)
			tp.mu.Lock()
			if tp.firstByte.IsZero() {
				tp.firstByte = now
				tp.lastRead = tp.sent
			}
			tp.maxGap = max(tp.maxGap, now.Sub(tp.lastRead))
			tp.lastRead = now
			tp.reads++
			tp.bytes += int64(n)
			if len(tp.head) < headMax {
				tp.head = append(tp.head, buf[:min(n, headMax-len(tp.head))]...)
			}
			for _, ev := range evs {
				if len(tp.events) < maxTapEvents {
					tp.events = append(tp.events, tapEvent{Event: ev, read: tp.reads, bytes: tp.bytes})
				}
			}
			tp.mu.Unlock()
			tp.signal()
			if perr != nil {
				err = perr
			}
		}
		if err != nil {
			tp.end(err)
			return
		}
	}
}

func (tp *tap) end(err error) {
	tp.mu.Lock()
	tp.endedAt, tp.endErr = time.Now(), err
	tp.mu.Unlock()
	tp.signal()
}

func (tp *tap) signal() {
	select {
	case tp.notify <- struct{}{}:
	default:
	}
}

// close cancels the request and waits (briefly) for the reader.
func (tp *tap) close() {
	tp.cancel()
	select {
	case <-tp.done:
	case <-time.After(5 * time.Second):
	}
}

// waitUntil waits until cond holds (evaluated under the tap's lock after every read), the
// body ends, or the deadline passes; it reports whether cond held.
func (tp *tap) waitUntil(deadline time.Time, cond func() bool) bool {
	for {
		tp.mu.Lock()
		ok := cond()
		ended := !tp.endedAt.IsZero()
		tp.mu.Unlock()
		if ok {
			return true
		}
		if ended {
			return false
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		select {
		case <-tp.notify:
		case <-time.After(wait):
		}
	}
}

// waitReady waits for the response headers until the deadline; false when they did not come.
func (tp *tap) waitReady(deadline time.Time) bool {
	select {
	case <-tp.ready:
		return true
	case <-time.After(time.Until(deadline)):
		return false
	}
}

// arrivals maps each of the check's payload seqs to the first event carrying it.
func (tp *tap) arrivals(t *fw.T) map[int]tapEvent {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := map[int]tapEvent{}
	for _, ev := range tp.events {
		if s, ok := t.Seq(ev.Data); ok {
			if _, seen := out[s]; !seen {
				out[s] = ev
			}
		}
	}
	return out
}

// seqs returns the check's payload seqs in arrival order (duplicates kept).
func (tp *tap) seqs(t *fw.T) []int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []int
	for _, ev := range tp.events {
		if s, ok := t.Seq(ev.Data); ok {
			out = append(out, s)
		}
	}
	return out
}

// has reports (under the lock, for waitUntil) whether every seq in want has arrived.
func (tp *tap) hasLocked(t *fw.T, want []int) bool {
	got := map[int]bool{}
	for _, ev := range tp.events {
		if s, ok := t.Seq(ev.Data); ok {
			got[s] = true
		}
	}
	for _, w := range want {
		if !got[w] {
			return false
		}
	}
	return true
}

// waitSeqs waits until every seq in want has arrived (or the body ended, or the deadline).
func (tp *tap) waitSeqs(t *fw.T, want []int, deadline time.Time) bool {
	return tp.waitUntil(deadline, func() bool { return tp.hasLocked(t, want) })
}

// snapshot is a copy of the tap's state for judging.
type snapshot struct {
	status                                        int
	header                                        http.Header
	reqErr, endErr                                error
	sent, headersAt, firstByte, lastRead, endedAt time.Time
	maxGap                                        time.Duration
	reads                                         int
	bytes                                         int64
	head                                          []byte
	events                                        []tapEvent
	headersReceived, firstByteReceived, bodyEnded bool
	h2                                            bool
}

func (tp *tap) snap() snapshot {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	s := snapshot{status: tp.status, header: tp.header, reqErr: tp.reqErr, endErr: tp.endErr, sent: tp.sent,
		headersAt: tp.headersAt, firstByte: tp.firstByte, lastRead: tp.lastRead, endedAt: tp.endedAt, maxGap: tp.maxGap,
		reads: tp.reads, bytes: tp.bytes, head: append([]byte(nil), tp.head...), events: append([]tapEvent(nil), tp.events...),
		h2: tp.h2}
	s.headersReceived = !tp.headersAt.IsZero() && tp.reqErr == nil
	s.firstByteReceived = !tp.firstByte.IsZero()
	s.bodyEnded = !tp.endedAt.IsZero()
	// The silence up to the end of the body (or up to now) counts too.
	last, end := tp.lastRead, time.Now()
	if last.IsZero() {
		last = tp.sent
	}
	if s.bodyEnded {
		end = tp.endedAt
	}
	s.maxGap = max(s.maxGap, end.Sub(last))
	return s
}

// describeEnd says how the body ended, relative to the request.
func (s snapshot) describeEnd() string {
	switch {
	case s.reqErr != nil:
		return fmt.Sprintf("the request failed after %s: %v", ms(s.headersAt.Sub(s.sent)), s.reqErr)
	case !s.bodyEnded:
		return "still open"
	}
	end := fmt.Sprintf("ended %s after the request: %v", ms(s.endedAt.Sub(s.sent)), s.endErr)
	switch {
	case s.endErr == io.EOF && s.h2:
		end = fmt.Sprintf("ended cleanly (HTTP/2 END_STREAM) %s after the request", ms(s.endedAt.Sub(s.sent)))
	case s.endErr == io.EOF:
		end = fmt.Sprintf("ended (EOF) %s after the request", ms(s.endedAt.Sub(s.sent)))
	case s.h2 && isStreamReset(s.endErr):
		// Go's HTTP/2 client reports a peer's RST_STREAM as "stream error: stream ID N; CODE;
		// received from peer" (its error type is not exported).
		end = fmt.Sprintf("was reset (HTTP/2 RST_STREAM) %s after the request: %v", ms(s.endedAt.Sub(s.sent)), s.endErr)
	}
	if s.bytes > 0 && s.bytes <= headMax {
		// A short body that ended: what it said is the best clue (an error, a disconnect).
		end += fmt.Sprintf(", its whole body %q", s.head)
	}
	return end
}

// isStreamReset reports whether err is the HTTP/2 client's error for a peer's RST_STREAM.
func isStreamReset(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "stream error:") && strings.Contains(err.Error(), "received from peer")
}

// latency is a set of per-event delivery delays.
type latency []time.Duration

func (l latency) max() time.Duration {
	var m time.Duration
	for _, d := range l {
		m = max(m, d)
	}
	return m
}

func (l latency) median() time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latency(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func (l latency) String() string {
	if len(l) == 0 {
		return "no event"
	}
	return fmt.Sprintf("max %s, median %s over %d events", ms(l.max()), ms(l.median()), len(l))
}

// ms renders a duration for a measurement: "4.21 s" or "12 ms".
func ms(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
