// Package eventlog is the bounded, in-memory event log behind the rtconform
// reference server. One Log per topic feeds every transport (SSE, WebSocket,
// long-poll): each client keeps only a cursor (the id of the last event it
// received) and reads the log from there, so there is no per-client queue and
// a slow client can never block the publisher or other clients. Memory is bounded by the
// retention of the logs, not by the number or the speed of the clients. The wire encodings of
// an event (Encoding) are built once per transport and shared by all its readers.
//
// Event ids have the form "<epoch>-<seq>", where epoch is 8 lowercase hex
// characters chosen at random for each Topics value and seq counts from 1 per
// topic. A cursor from another epoch (another process) is reported as an
// "unknown" Gap, a cursor whose successors were dropped by retention as an
// "expired" Gap.
//
// Retention is bounded per topic by count (Options.MaxEvents) and by age
// (Options.MaxAge). Age-based expiry is lazy: it happens on Append and Since,
// there is no background goroutine.
package eventlog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults applied by NewTopics to zero (or negative) Options fields.
const (
	DefaultMaxEvents = 10000
	DefaultMaxAge    = time.Hour
	DefaultMaxTopics = 10000
	// MaxTopicLen is the longest valid topic name.
	MaxTopicLen = 128
)

// Gap reasons.
const (
	// ReasonExpired means events after the cursor were dropped by retention.
	ReasonExpired = "expired"
	// ReasonUnknown means the cursor is malformed, from another epoch, or
	// ahead of the head of the log.
	ReasonUnknown = "unknown"
)

// Errors returned by Topics.Get.
var (
	ErrInvalidTopic  = errors.New("eventlog: invalid topic name (1..128 chars of [A-Za-z0-9._~-])")
	ErrTooManyTopics = errors.New("eventlog: too many topics")
)

// Event is one published event of a topic.
type Event struct {
	// Seq is the per-topic sequence number, starting at 1.
	Seq uint64
	// ID is "<epoch>-<seq>", the cursor that resumes right after this event.
	ID string
	// Data is the payload. It is a private copy; callers must not modify it.
	Data []byte
	// Time is when the event was appended (Options.Now).
	Time time.Time

	encoded *encoded // shared by every copy of the event (see Encoding)
}

// Options bound retention per topic. Zero or negative values select the
// defaults.
type Options struct {
	// MaxEvents is the maximum number of events retained per topic (default 10000).
	MaxEvents int
	// MaxAge is the maximum age of a retained event (default 1h).
	MaxAge time.Duration
	// MaxTopics is the maximum number of topics (default 10000).
	MaxTopics int
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxTopics <= 0 {
		o.MaxTopics = DefaultMaxTopics
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Gap reports that a cursor cannot be resumed without loss.
type Gap struct {
	// Reason is ReasonExpired ("expired": events after the cursor were
	// dropped by retention) or ReasonUnknown ("unknown": malformed cursor,
	// other epoch, or ahead of head).
	Reason string
	// Requested is the cursor as given by the client.
	Requested string
}

// Error makes a Gap usable as an error value.
func (g *Gap) Error() string {
	return fmt.Sprintf("eventlog: cursor %q cannot be resumed: %s", g.Requested, g.Reason)
}

// Topics holds all topics. It has one random epoch (8 lowercase hex chars)
// shared by the ids of all its topics. It is safe for concurrent use.
type Topics struct {
	opts  Options
	epoch string

	mu     sync.Mutex
	topics map[string]*Log
}

// NewTopics returns an empty set of topics with a fresh random epoch.
func NewTopics(opts Options) *Topics {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("eventlog: crypto/rand: " + err.Error())
	}
	return &Topics{
		opts:   opts.withDefaults(),
		epoch:  hex.EncodeToString(b[:]),
		topics: make(map[string]*Log),
	}
}

// Epoch returns the epoch, the prefix of every event id of these topics.
func (t *Topics) Epoch() string { return t.epoch }

// ValidTopic reports whether name is a valid topic name:
// 1..128 characters of [A-Za-z0-9._~-].
func ValidTopic(name string) bool {
	if len(name) == 0 || len(name) > MaxTopicLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}

// Get returns the log of topic, creating it lazily. It fails with
// ErrInvalidTopic for an invalid name and with ErrTooManyTopics when a new
// topic would exceed Options.MaxTopics.
func (t *Topics) Get(topic string) (*Log, error) {
	if !ValidTopic(topic) {
		return nil, ErrInvalidTopic
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.topics[topic]; ok {
		return l, nil
	}
	if len(t.topics) >= t.opts.MaxTopics {
		return nil, ErrTooManyTopics
	}
	l := &Log{opts: t.opts, epoch: t.epoch, prefix: t.epoch + "-"}
	t.topics[topic] = l
	return l, nil
}

// Log is the event log of one topic. It is safe for concurrent use.
type Log struct {
	opts   Options
	epoch  string
	prefix string // epoch + "-"

	mu      sync.Mutex
	head    uint64  // seq of the newest event ever appended (0: none)
	events  []Event // retained events, contiguous seqs, oldest first
	changed chan struct{}
}

func (l *Log) id(seq uint64) string { return l.prefix + strconv.FormatUint(seq, 10) }

// oldestSeq returns the seq of the oldest retained event, or head+1 when
// nothing is retained. Callers hold l.mu.
func (l *Log) oldestSeq() uint64 {
	if len(l.events) == 0 {
		return l.head + 1
	}
	return l.events[0].Seq
}

// expire drops events beyond the count limit or older than MaxAge.
// Callers hold l.mu.
func (l *Log) expire(now time.Time) {
	drop := 0
	if n := len(l.events) - l.opts.MaxEvents; n > 0 {
		drop = n
	}
	cutoff := now.Add(-l.opts.MaxAge)
	for drop < len(l.events) && l.events[drop].Time.Before(cutoff) {
		drop++
	}
	if drop > 0 {
		clear(l.events[:drop]) // release payloads
		l.events = l.events[drop:]
	}
}

// Append appends a copy of data and wakes every waiter on Changed.
func (l *Log) Append(data []byte) Event {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head++
	ev := Event{Seq: l.head, ID: l.id(l.head), Data: append([]byte(nil), data...), Time: now, encoded: new(encoded)}
	if ev.Data == nil {
		ev.Data = []byte{}
	}
	l.events = append(l.events, ev)
	l.expire(now)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return ev
}

// Head returns the cursor of the newest event ever appended, or
// "<epoch>-0" when none was. Since(Head()) returns only later events.
func (l *Log) Head() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id(l.head)
}

// Start returns "<epoch>-0", the cursor meaning "from the oldest retained
// event". Since(Start()) still reports an "expired" Gap once retention has
// dropped events, because events after it were lost.
func (l *Log) Start() string { return l.prefix + "0" }

// parse returns the seq of a cursor of this epoch, or false.
func (l *Log) parse(cursor string) (uint64, bool) {
	rest, ok := strings.CutPrefix(cursor, l.prefix)
	if !ok || rest == "" || len(rest) > 20 {
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// Since returns the events strictly after cursor, oldest first, at most max
// of them (max <= 0: all). The returned slice is a copy; the Data of its
// events must not be modified.
//
// gap is non-nil when the cursor is unknown (malformed, other epoch, ahead of
// head) or when events after it were dropped by retention; events then start
// at the oldest retained event. A cursor "<epoch>-N" with N equal to the
// oldest retained seq minus one is not a gap. The log remembers its head
// even when every event aged out, so a cursor at head is never a gap.
func (l *Log) Since(cursor string, max int) (events []Event, gap *Gap) {
	events, gap, _ = l.Read(nil, cursor, max)
	return events, gap
}

// Read is Since that appends the events to buf[:0] (reusing its array: see
// Recycle) and also returns next, the cursor to read from afterwards: the id
// of the last event returned; the head when a gap was signalled without
// events (so that the gap is not signalled again); else cursor itself. All
// three come from one consistent view of the log.
func (l *Log) Read(buf []Event, cursor string, max int) (events []Event, gap *Gap, next string) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	oldest := l.oldestSeq()
	from := oldest // first seq to return
	n, ok := l.parse(cursor)
	switch {
	case !ok || n > l.head:
		gap = &Gap{Reason: ReasonUnknown, Requested: cursor}
	case n+1 < oldest:
		gap = &Gap{Reason: ReasonExpired, Requested: cursor}
	default:
		from = n + 1
	}
	i := int(from - oldest)
	if i >= len(l.events) {
		if gap != nil {
			return buf[:0], gap, l.id(l.head)
		}
		return buf[:0], nil, cursor
	}
	src := l.events[i:]
	if max > 0 && len(src) > max {
		src = src[:max]
	}
	return append(buf[:0], src...), gap, src[len(src)-1].ID
}

// recycleCap is the largest buffer Recycle keeps: a follower of a live
// topic reads one or a few events at a time.
const recycleCap = 4

// Recycle returns the events of a Read emptied for the next Read of the
// same reader: cleared, so that it keeps no event alive, and nil when its
// array is larger than a few events, so that an idle reader does not hold
// the array of a past backlog. A reader that recycles its buffer reads a
// live topic without allocating.
func Recycle(evs []Event) []Event {
	clear(evs)
	if cap(evs) > recycleCap {
		return nil
	}
	return evs[:0]
}

// Changed returns a channel that is closed at the next Append (a broadcast).
// To avoid a lost wake-up, take Changed() before calling Since().
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// HeadSeq returns the seq of the newest event ever appended (0 when none).
// A client whose last delivered event has seq S lags HeadSeq()-S events.
func (l *Log) HeadSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// Len returns the number of topics created so far.
func (t *Topics) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.topics)
}
