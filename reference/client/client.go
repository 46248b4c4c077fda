// Package client is the reference client: it follows one topic of a target over the best
// transport that works through the path in front of it, WebSocket, then SSE, then long-poll
// (the order is an option, which may also name the HTTP stream of JSON lines, fw.HTTPStream:
// a stream judged like SSE; Options.UpgradeLater is Engine.IO's strategy: poll first,
// upgrade later).
//
// It detects failure modes, not only errors, and falls back on them:
//   - refused: the upgrade or request is answered with anything but 101/200, or reset, or
//     not answered (a WebSocket handshake that gets no answer within the window);
//   - buffered: a stream connects (or not even its headers arrive) and delivers nothing —
//     neither an event nor a heartbeat — within the probe window, derived from the declared
//     heartbeat (2 × heartbeat + 1 s; 10 s when the target declares none);
//   - silent: a stream that delivered, then stays silent longer than the same bound (a black
//     hole); the client reconnects on the same transport, and falls back when it happens twice
//     within ten windows;
//   - held: a long-poll not answered within its declared hold plus a grace (an intermediary
//     holds or swallows it).
//
// A connection that simply ends (EOF, a close frame, a reset after it delivered) is
// reconnected on the same transport after the delay the target asked for (SSE retry:) or
// Options.Delay. One resume token is kept across transports: every connection, on any
// transport, resumes from the last id seen, so a target whose ids are portable across
// transports (capability fallback) loses and repeats nothing over a switch. While on a worse
// transport, the client tries the preferred one again after Options.Upgrade (exponential
// backoff with jitter), and stays there when it works.
//
// Everything it does goes into a history in the format of package history (connects with
// the transport and the token sent, events with their payload seq, disconnects with their
// cause), so the pure checker judges Ordered, Unique and NoLoss across switches; Attempts
// reports each connection with its outcome and timings.
//
// The per-transport connections are the chaos suites' subscriber (package
// suites/framework/subscriber) over the strict clients, so every buffer is bounded.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/framework/subscriber"
)

// Outcome is how one connection attempt ended.
type Outcome string

// Outcomes of an attempt.
const (
	OK       Outcome = "ok"       // it delivered and was still delivering when the client left it
	Refused  Outcome = "refused"  // not accepted: a status other than 101/200, a reset, no answer to a handshake
	Buffered Outcome = "buffered" // accepted (or not even answered) but nothing delivered within the window
	Silent   Outcome = "silent"   // delivered, then silent beyond the bound (black hole)
	Held     Outcome = "held"     // a long-poll not answered within its hold plus the grace
	Cut      Outcome = "cut"      // the connection ended; the client reconnects on the same transport
)

// Attempt is one connection attempt.
type Attempt struct {
	Transport fw.Transport
	// Start is when the attempt began, from the client's start.
	Start time.Duration
	// Connected is how long the response (101, or the stream's or poll's headers) took; 0
	// when none came.
	Connected time.Duration
	// FirstEvent is how long after Start the first event arrived; 0 when none did.
	FirstEvent time.Duration
	// Events is how many events the attempt delivered.
	Events int
	// Duration is how long the attempt lasted.
	Duration time.Duration
	Outcome  Outcome
	// Detail is what was seen: the status line, the error, the silence.
	Detail string
}

func (a Attempt) String() string {
	s := fmt.Sprintf("%s: %s", a.Transport, a.Outcome)
	if a.Detail != "" {
		s += " (" + a.Detail + ")"
	}
	return s
}

// Backoff is the schedule of retries of the preferred transport while on a worse one.
type Backoff struct {
	Initial time.Duration // first retry after this long (default 5 s)
	Max     time.Duration // the wait doubles up to this (default 60 s)
	Jitter  float64       // ± this fraction of each wait, at random (default 0.2)
}

// Options configure a client.
type Options struct {
	// Base is scheme://host:port of the target (or of the path in front of it).
	Base  string
	Topic string
	// Target describes the endpoints, resume forms, envelope and heartbeats (a profile's
	// target section).
	Target *fw.Target
	// Order is the preference order; default websocket, sse, longpoll (an HTTP stream,
	// fw.HTTPStream, only when named). Transports the target does not declare are left out.
	Order []fw.Transport
	// Name is the client's name in the history (default "client").
	Name string
	// Rec receives the history; nil records into a private history (History).
	Rec subscriber.Recorder
	// Seq reads the payload seq of an event's data (nil: every event is a foreign payload).
	// Every seq read is remembered for Has and WaitFor: leave it nil in a long-lived client.
	Seq func(data string) (int, bool)
	// Token is the resume token of the first connection ("": start at now).
	Token string
	// Window is the probe window of streams (SSE, WebSocket, HTTP stream): how long a
	// connection may deliver nothing at all. 0 derives it from the declared heartbeat.
	Window time.Duration
	// PollGrace is how long past its declared hold a long-poll may stay unanswered
	// (default 2 s).
	PollGrace time.Duration
	// Tries is how many failed attempts in a row (refused or buffered) make the client
	// leave a transport (default 1); silent and held connections need two in a row.
	Tries int
	// Upgrade schedules the retries of the preferred transport.
	Upgrade Backoff
	// UpgradeLater starts on the last transport of Order (the one most likely to get
	// through) and tries the first after Upgrade.Initial, as Engine.IO does (polling first).
	UpgradeLater bool
	// Delay is the wait before a reconnect when the target named none (default 250 ms).
	Delay time.Duration
}

// DefaultOrder is the preference order of a browser-like client.
var DefaultOrder = []fw.Transport{fw.WebSocket, fw.SSE, fw.LongPoll}

// Client is one running client. Its methods are safe for concurrent use.
type Client struct {
	o      Options
	order  []fw.Transport
	rec    subscriber.Recorder
	hist   *history.Recorder // the private recorder, when Options.Rec is nil
	cancel context.CancelFunc
	done   chan struct{}
	begin  time.Time
	wait   time.Duration // the next wait before retrying the preferred transport (loop's goroutine only)
	// resume keeps the connect-reply fields (target.connect: Centrifugo's epoch) across the
	// transports, so a switch resumes with them.
	resume fw.ResumeState

	mu       sync.Mutex
	token    string
	seqs     map[int]bool
	changed  chan struct{}
	current  fw.Transport // the transport of the open connection ("" when none)
	attempts []Attempt
	open     *Attempt // the attempt of the open or opening connection
	first    time.Duration
	last     time.Duration // when the last event arrived
}

// Start validates o and starts the client; it runs until Stop or until ctx ends.
func Start(ctx context.Context, o Options) (*Client, error) {
	if o.Target == nil {
		return nil, errors.New("client: no target")
	}
	if o.Base == "" {
		return nil, errors.New("client: no base URL")
	}
	if o.Order == nil {
		o.Order = DefaultOrder
	}
	var order []fw.Transport
	for _, tr := range o.Order {
		if declared(o.Target, tr) && !slices.Contains(order, tr) {
			order = append(order, tr)
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("client: the target declares none of %v", o.Order)
	}
	if o.Name == "" {
		o.Name = "client"
	}
	if o.Tries <= 0 {
		o.Tries = 1
	}
	if o.PollGrace <= 0 {
		o.PollGrace = 2 * time.Second
	}
	if o.Delay <= 0 {
		o.Delay = 250 * time.Millisecond
	}
	if o.Upgrade.Initial <= 0 {
		o.Upgrade.Initial = 5 * time.Second
	}
	if o.Upgrade.Max < o.Upgrade.Initial {
		o.Upgrade.Max = max(60*time.Second, o.Upgrade.Initial)
	}
	if o.Upgrade.Jitter == 0 {
		o.Upgrade.Jitter = 0.2
	}
	c := &Client{o: o, order: order, rec: o.Rec, done: make(chan struct{}), begin: time.Now(),
		token: o.Token, seqs: map[int]bool{}, changed: make(chan struct{})}
	if c.rec == nil {
		c.hist = history.NewRecorder(0, map[string]string{"client": o.Name, "url": o.Base, "topic": o.Topic}, history.SafetyRules())
		c.rec = c.hist
	}
	ctx, c.cancel = context.WithCancel(ctx)
	go c.loop(ctx)
	return c, nil
}

// declared reports whether the target describes tr.
func declared(tg *fw.Target, tr fw.Transport) bool {
	switch tr {
	case fw.SSE:
		return tg.SSE != nil && tg.Has(fw.CapSSE)
	case fw.WebSocket:
		return tg.WebSocket != nil && tg.Has(fw.CapWebSocket)
	case fw.LongPoll:
		return tg.LongPoll != nil && tg.Has(fw.CapLongPoll)
	case fw.HTTPStream:
		return tg.HTTPStream != nil && tg.Has(fw.CapHTTPStream)
	}
	return false
}

// Order is the preference order in effect (the declared transports of Options.Order).
func (c *Client) Order() []fw.Transport { return slices.Clone(c.order) }

// Window is the probe window of tr: how long a connection may deliver nothing before the
// client gives it up (for a long-poll, the hold plus the grace).
func (c *Client) Window(tr fw.Transport) time.Duration {
	tg := c.o.Target
	var beat fw.Duration // the declared longest silence of the stream
	switch tr {
	case fw.SSE:
		beat = tg.SSE.Heartbeat
	case fw.WebSocket:
		beat = tg.WebSocket.Keepalive
	case fw.HTTPStream:
		beat = tg.HTTPStream.Heartbeat
	case fw.LongPoll:
		return tg.LongPoll.Timeout.D() + c.o.PollGrace
	default:
		return 0
	}
	switch {
	case c.o.Window > 0:
		return c.o.Window
	case tg.Has(fw.CapHeartbeat) && beat > 0:
		return 2*beat.D() + time.Second
	}
	return 10 * time.Second
}

// idle is the subscriber's Idle for tr (for a long-poll it is added to the hold).
func (c *Client) idle(tr fw.Transport) time.Duration {
	if tr == fw.LongPoll {
		return c.o.PollGrace
	}
	return c.Window(tr)
}

// Stop ends the client and waits for it.
func (c *Client) Stop() {
	c.cancel()
	<-c.done
}

// Name is the client's name in the history.
func (c *Client) Name() string { return c.o.Name }

// History is the private history (empty when Options.Rec was given).
func (c *Client) History() history.History {
	if c.hist == nil {
		return history.History{}
	}
	return c.hist.History()
}

// Transport is the transport of the open connection ("" while none is open).
func (c *Client) Transport() fw.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// Token is the resume token the client holds (the last id it saw).
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// Elapsed is the time since Start: the clock of Attempt.Start and FirstEvent.
func (c *Client) Elapsed() time.Duration { return time.Since(c.begin) }

// FirstEvent is how long after Start the first event arrived (0: none yet).
func (c *Client) FirstEvent() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// LastEvent is how long after Start the last event arrived, and over which transport the
// client is connected now.
func (c *Client) LastEvent() (time.Duration, fw.Transport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.current
}

// Attempts returns the attempts so far, the open one last (with its outcome so far).
func (c *Client) Attempts() []Attempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.attempts)
	if c.open != nil {
		a := *c.open
		a.Duration = time.Since(c.begin) - a.Start
		if a.Outcome == "" {
			a.Outcome = OK
		}
		out = append(out, a)
	}
	return out
}

// Has reports whether the client has received seq.
func (c *Client) Has(seq int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seqs[seq]
}

// WaitFor waits until the client has received every seq in want, or ctx ends; it returns
// the seqs still missing.
func (c *Client) WaitFor(ctx context.Context, want []int) []int {
	return subscriber.WaitMissing(ctx, c.done, func() ([]int, <-chan struct{}) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return subscriber.Missing(c.seqs, want), c.changed
	})
}

// WaitTransport waits until a connection on tr is open and has delivered an event, or ctx
// ends.
func (c *Client) WaitTransport(ctx context.Context, tr fw.Transport) bool {
	for {
		c.mu.Lock()
		ok := c.current == tr && c.open != nil && c.open.Events > 0
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		case <-c.done:
			return false
		}
	}
}

// MaxAttempts bounds the attempts a client keeps: beyond it the oldest are dropped (a client
// that flaps for hours keeps its recent past).
const MaxAttempts = 1000

// record appends a finished attempt; c.mu is held.
func (c *Client) record(a Attempt) {
	if len(c.attempts) >= MaxAttempts {
		c.attempts = append(c.attempts[:0], c.attempts[len(c.attempts)-MaxAttempts+1:]...)
	}
	c.attempts = append(c.attempts, a)
}

// notify wakes the waiters; c.mu is held.
func (c *Client) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// loop follows the topic on the best transport that works, falling back and retrying the
// preferred one on the backoff schedule.
func (c *Client) loop(ctx context.Context) {
	defer close(c.done)
	idx := 0
	c.wait = c.o.Upgrade.Initial
	var upgradeAt time.Time
	if c.o.UpgradeLater && len(c.order) > 1 {
		idx, upgradeAt = len(c.order)-1, time.Now().Add(c.o.Upgrade.Initial)
	}
	for ctx.Err() == nil {
		var deadline time.Time
		if idx > 0 {
			deadline = upgradeAt
		}
		switch c.follow(ctx, c.order[idx], deadline) {
		case leftFailed:
			if idx == 0 {
				upgradeAt = time.Now().Add(c.jitter(c.wait))
				c.wait = min(2*c.wait, c.o.Upgrade.Max)
			}
			if idx < len(c.order)-1 {
				idx++
			} else if !sleep(ctx, c.o.Delay) { // nowhere left to go: keep trying the last one
				return
			}
		case leftUpgrade:
			idx = 0
		}
	}
}

func (c *Client) jitter(d time.Duration) time.Duration {
	j := c.o.Upgrade.Jitter
	return time.Duration(float64(d) * (1 - j + 2*j*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Why follow left a transport.
type leave int

const (
	leftStopped leave = iota // the client was stopped
	leftFailed               // the transport failed: fall back
	leftUpgrade              // time to retry the preferred transport
)

// follow runs the subscriber of tr until the transport fails the way that makes the client
// leave it, the upgrade deadline passes (zero: none), or ctx ends.
func (c *Client) follow(ctx context.Context, tr fw.Transport, deadline time.Time) leave {
	ends := make(chan Outcome, 16)
	obs := &observer{c: c, tr: tr, ends: ends}
	sub := subscriber.Start(ctx, subscriber.Options{Name: c.o.Name, Transport: tr, Base: c.o.Base, Topic: c.o.Topic,
		Target: c.o.Target, Rec: obs, Seq: c.o.Seq, Token: c.Token(), Idle: c.idle(tr), Delay: c.o.Delay, Resume: &c.resume})
	defer func() {
		sub.Stop()
		c.mu.Lock()
		if t := sub.Token(); t != "" {
			c.token = t
		}
		c.mu.Unlock()
		obs.close()
	}()
	// The upgrade deadline is honoured only once this transport works (it delivered an
	// event, or a long-poll was answered): a trial still probing is never cut short.
	var upgrade <-chan time.Time
	due := false
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		upgrade = tm.C
	}
	fails := 0
	var lastQuiet time.Time // when the last silent or held connection ended
	for {
		select {
		case <-ctx.Done():
			return leftStopped
		case <-upgrade:
			upgrade, due = nil, true
			if obs.working() {
				return leftUpgrade
			}
		case o := <-ends:
			switch o {
			case Refused, Buffered:
				if fails++; fails >= c.o.Tries {
					return leftFailed
				}
			case Silent, Held:
				// Twice within ten windows: not a passing black hole but the path.
				fails = 0
				now := time.Now()
				if !lastQuiet.IsZero() && now.Sub(lastQuiet) < 10*c.Window(tr) {
					return leftFailed
				}
				lastQuiet = now
			case OK: // a connection delivered (or a long-poll was answered)
				fails = 0
				if c.order[0] == tr {
					c.wait = c.o.Upgrade.Initial // the preferred transport works again
				}
				if due {
					return leftUpgrade
				}
			}
		}
	}
}

// observer is the Recorder of one transport's subscriber: it forwards to the client's
// recorder and classifies how each connection ends.
type observer struct {
	c    *Client
	tr   fw.Transport
	ends chan<- Outcome

	mu        sync.Mutex
	connected time.Time // when the open connection was accepted (zero: none open)
	events    int
	delivered bool // the open connection delivered an event (OK sent)
	works     bool // some connection of this transport delivered or (long-poll) was answered
}

// working reports whether the transport has worked since the client moved to it.
func (o *observer) working() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.works
}

func (o *observer) Now() time.Duration { return o.c.rec.Now() }

func (o *observer) send(x Outcome) {
	select {
	case o.ends <- x:
	default:
	}
}

func (o *observer) Connect(client, transport, topic, token string, start time.Duration, err error) {
	o.c.rec.Connect(client, transport, topic, token, start, err)
	c := o.c
	since := time.Since(c.begin)
	took := max(0, o.Now()-start)
	a := Attempt{Transport: o.tr, Start: since - took}
	if err != nil && errors.Is(err, context.Canceled) {
		return // the client left the transport while this attempt was under way
	}
	if err != nil {
		out := Refused
		if errors.Is(err, subscriber.ErrNoResponse) {
			switch o.tr {
			case fw.SSE, fw.HTTPStream: // a stream whose headers never came: held or buffered
				out = Buffered
			case fw.LongPoll:
				out = Held
			}
		}
		a.Outcome, a.Detail, a.Duration = out, fmt.Sprintf("%v after %s", err, ms(took)), took
		c.mu.Lock()
		c.record(a)
		c.notify()
		c.mu.Unlock()
		o.send(out)
		return
	}
	a.Connected = took
	o.mu.Lock()
	o.connected, o.events, o.delivered = time.Now(), 0, false
	poll := o.tr == fw.LongPoll // a long-poll's connect is its first answered poll
	o.works = o.works || poll
	o.mu.Unlock()
	c.mu.Lock()
	c.open, c.current = &a, o.tr
	c.notify()
	c.mu.Unlock()
	if poll {
		o.send(OK)
	}
}

func (o *observer) EventRetry(client, id string, seq int64, retry time.Duration) {
	o.c.rec.EventRetry(client, id, seq, retry)
	o.event(seq)
}

func (o *observer) Event(client, id string, seq int64) {
	o.c.rec.Event(client, id, seq)
	o.event(seq)
}

func (o *observer) event(seq int64) {
	c := o.c
	o.mu.Lock()
	o.events++
	first := !o.delivered
	o.delivered, o.works = true, true
	o.mu.Unlock()
	c.mu.Lock()
	if seq >= 0 {
		c.seqs[int(seq)] = true
	}
	now := time.Since(c.begin)
	if c.first == 0 {
		c.first = now
	}
	c.last = now
	if c.open != nil {
		if c.open.Events == 0 {
			c.open.FirstEvent = now - c.open.Start
		}
		c.open.Events++
	}
	c.notify()
	c.mu.Unlock()
	if first {
		o.send(OK)
	}
}

func (o *observer) Reset(client string) { o.c.rec.Reset(client) }

func (o *observer) Disconnect(client, cause string) {
	o.c.rec.Disconnect(client, cause)
	o.mu.Lock()
	open := o.connected
	events := o.events
	o.connected = time.Time{}
	o.mu.Unlock()
	out, detail := Cut, cause
	lived := time.Since(open)
	switch {
	case cause == subscriber.CauseClosed:
		out, detail = OK, ""
	case cause != subscriber.CauseHeartbeat:
	case o.tr == fw.LongPoll:
		out, detail = Held, fmt.Sprintf("a poll unanswered %s past the declared hold", ms(o.c.o.PollGrace))
	case events == 0 && lived < o.c.idle(o.tr)+time.Second:
		// The watchdog fires one window after the last byte: a connection that ends about
		// one window after it opened never received a byte, heartbeats included.
		out, detail = Buffered, fmt.Sprintf("connected, then nothing at all (no event, no heartbeat) for %s", ms(o.c.idle(o.tr)))
	default:
		out, detail = Silent, fmt.Sprintf("silent for %s after %d events", ms(o.c.idle(o.tr)), events)
	}
	c := o.c
	c.mu.Lock()
	if c.open != nil {
		a := *c.open
		a.Outcome, a.Detail, a.Duration = out, detail, time.Since(c.begin)-a.Start
		c.record(a)
		c.open, c.current = nil, ""
	}
	c.notify()
	c.mu.Unlock()
	if out != OK {
		o.send(out)
	}
}

// close ends the observer's last open attempt (the client left the transport with the
// connection open: it was working).
func (o *observer) close() {
	c := o.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open != nil && c.open.Transport == o.tr {
		a := *c.open
		a.Outcome, a.Duration = OK, time.Since(c.begin)-a.Start
		c.record(a)
		c.open, c.current = nil, ""
		c.notify()
	}
}

func ms(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

var _ subscriber.Recorder = (*observer)(nil)
