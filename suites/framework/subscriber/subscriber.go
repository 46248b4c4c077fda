// Package subscriber is the chaos suites' reconnecting client: one subscriber follows one
// topic over SSE, WebSocket or long-poll, resumes from the last id it saw after every
// disconnect, and records everything it does into a history (connects with the token sent,
// events with their payload seq, the target's reset signal, disconnects with their cause).
//
// It behaves like a careful production client, so that what goes wrong in the history is the
// target's doing: it waits the reconnection delay the target asked for (SSE retry:) or the
// declared one, it answers pings, and a watchdog ends a connection that stays silent longer
// than the target's declared heartbeat bound (cause "heartbeat-timeout"), which is the only way
// a black-holed connection is ever noticed. It judges nothing itself.
//
// Every buffer is bounded by the strict clients underneath (sseclient, wsclient, pollclient).
package subscriber

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// Recorder receives what a subscriber does (*history.Recorder implements it).
type Recorder interface {
	// Now is the recorder's clock.
	Now() time.Duration
	// Connect records a connection attempt begun at start that sent token ("" = start at
	// now); err is nil when the target accepted it.
	Connect(client, transport, topic, token string, start time.Duration, err error)
	// EventRetry records one event: the target's id, the payload seq (-1 for a payload that
	// is not the check's) and the reconnection time the stream carried (SSE retry:).
	EventRetry(client, id string, seq int64, retry time.Duration)
	// Event is EventRetry without a retry value.
	Event(client, id string, seq int64)
	// Reset records the target's explicit loss signal (the token is too old or unknown).
	Reset(client string)
	// Disconnect records the end of a connection and its cause.
	Disconnect(client, cause string)
}

// Causes of a disconnect the subscriber records (the history package's vocabulary).
const (
	CauseHeartbeat = history.CauseHeartbeatTimeout // silence longer than Options.Idle
	CauseEOF       = history.CauseEOF              // the target (or something between) ended the stream
	CauseClosed    = history.CauseClientClose      // Stop
)

// Options configure one subscriber.
type Options struct {
	Name      string       // client name in the history ("sse-3")
	Transport fw.Transport // sse, websocket, longpoll or httpstream
	// Base is scheme://host:port the subscriber connects to: a fault proxy in front of the
	// target, or the target itself.
	Base   string
	Topic  string
	Target *fw.Target // paths, resume forms, envelope and reset signals come from the profile
	Rec    Recorder
	// Seq reads the payload seq of an event's data (ok false: not the check's payload).
	Seq func(data string) (int, bool)
	// Token is the resume token of the first connection ("": start at now).
	Token string
	// Resume holds the connect-reply fields (target.connect.fields) the resume templates
	// use; shared by the subscribers of a check (one learns the epoch, another resumes with
	// it). nil: the subscriber keeps its own.
	Resume *fw.ResumeState
	// Idle is the longest silence a connection may keep before the subscriber gives up on it
	// (0: never). For a long-poll it is added to the declared hold.
	Idle time.Duration
	// Delay is the wait before reconnecting when the target named none (SSE retry: wins).
	Delay time.Duration
	// RcvBuf, when > 0, is the receive buffer (SO_RCVBUF) of the subscriber's sockets: with
	// Pause, a small one makes the server, not the network, hold what the subscriber does
	// not read.
	RcvBuf int
}

// Subscriber is one running subscriber. Its methods are safe for concurrent use.
type Subscriber struct {
	o      Options
	http   *http.Client
	cancel context.CancelFunc
	done   chan struct{}
	gate   *gate

	mu       sync.Mutex
	token    string
	seqs     map[int]bool
	events   int
	connects int
	resets   int
	wrote    time.Time     // when a request of the subscriber's was first written to the target
	changed  chan struct{} // closed and replaced on every event
	conn     func()        // closes the current connection (Drop)
}

// Start starts a subscriber; it runs until Stop or until ctx ends.
func Start(ctx context.Context, o Options) *Subscriber {
	ctx, cancel := context.WithCancel(ctx)
	if o.Resume == nil {
		o.Resume = new(fw.ResumeState)
	}
	s := &Subscriber{o: o, cancel: cancel, done: make(chan struct{}), token: o.Token,
		seqs: map[int]bool{}, changed: make(chan struct{}), gate: newGate()}
	// A client of its own: no pooled connection is shared with anything else, so a fault or
	// a Drop cuts exactly this subscriber's connections.
	s.http = &http.Client{Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            s.dial,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        10 * time.Second,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	go s.loop(ctx)
	return s
}

// Stop ends the subscriber and waits for it (recording a client-close disconnect when a
// connection was open).
func (s *Subscriber) Stop() {
	s.cancel()
	<-s.done
	s.http.CloseIdleConnections()
}

// Drop closes the current connection as if the network had cut it; the subscriber
// reconnects as usual. It reports whether a connection was open.
func (s *Subscriber) Drop() bool {
	s.mu.Lock()
	f := s.conn
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return f != nil
}

// Has reports whether the subscriber has received seq.
func (s *Subscriber) Has(seq int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seqs[seq]
}

// Counts returns the events and connects so far and how many reset signals arrived.
func (s *Subscriber) Counts() (events, connects, resets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events, s.connects, s.resets
}

// Listening reports whether the subscriber may be taken as subscribed, so that events
// published now reach it: it connected, or its request was written to the target at least
// grace ago and is still waiting for the response headers. Some correct servers send their
// SSE headers only with the first event (tmaxmax/go-sse's default): waiting for them before
// publishing would wait forever. (A long-poll's first poll likewise answers only when an event
// comes or its hold ends.)
func (s *Subscriber) Listening(grace time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects > 0 || (!s.wrote.IsZero() && time.Since(s.wrote) >= grace)
}

// trace returns ctx with a client trace that notes when a request is written.
func (s *Subscriber) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err != nil {
			return
		}
		s.mu.Lock()
		if s.wrote.IsZero() {
			s.wrote = time.Now()
		}
		s.mu.Unlock()
	}})
}

// WaitFor waits until the subscriber has received every seq in want, or ctx ends; it
// returns the seqs still missing.
func (s *Subscriber) WaitFor(ctx context.Context, want []int) []int {
	return WaitMissing(ctx, s.done, func() ([]int, <-chan struct{}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return Missing(s.seqs, want), s.changed
	})
}

// Missing lists the seqs of want not in got.
func Missing(got map[int]bool, want []int) []int {
	var missing []int
	for _, q := range want {
		if !got[q] {
			missing = append(missing, q)
		}
	}
	return missing
}

// WaitMissing waits until snapshot reports nothing missing, ctx ends or done is closed; it
// returns what is still missing. snapshot returns the missing seqs and a channel closed on
// the next change, read together under the caller's lock.
func WaitMissing(ctx context.Context, done <-chan struct{}, snapshot func() ([]int, <-chan struct{})) []int {
	for {
		missing, changed := snapshot()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return missing
		case <-changed:
		case <-done:
			return missing
		}
	}
}

// WaitResets waits until at least n reset signals arrived, or ctx ends.
func (s *Subscriber) WaitResets(ctx context.Context, n int) bool {
	for {
		s.mu.Lock()
		ok := s.resets >= n
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		case <-s.done:
			return false
		}
	}
}

// Name is the subscriber's client name in the history.
func (s *Subscriber) Name() string { return s.o.Name }

// Token is the resume token the subscriber would send now (the last id it saw).
func (s *Subscriber) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// event records one delivered event and advances the resume token.
func (s *Subscriber) event(id, data string, retry time.Duration) {
	seq, ok := -1, false
	if s.o.Seq != nil {
		seq, ok = s.o.Seq(data)
		if !ok {
			seq = -1
		}
	}
	if retry > 0 {
		s.o.Rec.EventRetry(s.o.Name, id, int64(seq), retry)
	} else {
		s.o.Rec.Event(s.o.Name, id, int64(seq))
	}
	s.mu.Lock()
	if id != "" {
		s.token = id
	}
	if ok {
		s.seqs[seq] = true
	}
	s.events++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Subscriber) reset(cursor string) {
	s.o.Rec.Reset(s.o.Name)
	s.mu.Lock()
	if cursor != "" {
		s.token = cursor
	}
	s.resets++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Subscriber) connected(token string, start time.Duration, err error) {
	s.o.Rec.Connect(s.o.Name, string(s.o.Transport), s.o.Topic, token, start, err)
	if err == nil {
		s.mu.Lock()
		s.connects++
		s.mu.Unlock()
	}
}

func (s *Subscriber) setConn(f func()) {
	s.mu.Lock()
	s.conn = f
	s.mu.Unlock()
}

// loop connects, reads until the connection ends, waits, and reconnects with the last id.
func (s *Subscriber) loop(ctx context.Context) {
	defer close(s.done)
	for ctx.Err() == nil {
		var delay time.Duration
		switch s.o.Transport {
		case fw.SSE:
			delay = s.runSSE(ctx)
		case fw.WebSocket:
			delay = s.runWS(ctx)
		case fw.LongPoll:
			delay = s.runPoll(ctx)
		case fw.HTTPStream:
			delay = s.runHTTPStream(ctx)
		default:
			s.o.Rec.Disconnect(s.o.Name, fmt.Sprintf("error: unknown transport %q", s.o.Transport))
			return
		}
		if delay <= 0 {
			delay = s.o.Delay
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// cause names why a connection ended: Stop, the watchdog, or the error.
func cause(ctx context.Context, idle bool, err error) string {
	switch {
	case ctx.Err() != nil:
		return CauseClosed
	case idle:
		return CauseHeartbeat
	case err == nil || errors.Is(err, errEOF):
		return CauseEOF
	}
	return history.ErrorCause(err)
}

var errEOF = errors.New("end of stream")

// ErrNoResponse is the error a connection attempt records when the target (or something in
// front of it) sent no response, not even headers, within the connect bound: a black hole, or
// an intermediary that holds a stream's response until its buffer fills.
var ErrNoResponse = errors.New("no response")

// reply handles a frame that is the target's connect reply (target.connect): its fields are
// kept for later resumes, a reply to a resume (resumed) that does not say recovered is the
// loss signal, and the events it replays are recorded in order. ok is false when frame is not
// the reply.
func (s *Subscriber) reply(frame []byte, resumed bool, retry time.Duration) bool {
	c := s.o.Target.Connect
	r, ok := c.Open(frame, s.o.Topic)
	if !ok {
		return false
	}
	s.o.Resume.Learn(s.o.Topic, r.Fields)
	if resumed && c.Lost(r) {
		s.reset("")
	}
	for _, e := range r.Events {
		s.event(e.ID, e.Data, retry)
	}
	return true
}

// endpoint renders the profile's path template for the topic on the subscriber's base, with
// an optional query parameter.
func (s *Subscriber) endpoint(tmpl, param, value string) string {
	u := s.o.Base + fw.Path(tmpl, s.o.Topic)
	if param != "" && value != "" {
		u = fw.WithQuery(u, param, value)
	}
	return u
}

var _ Recorder = (*history.Recorder)(nil)
