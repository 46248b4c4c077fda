package history

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// DefaultMaxOps is the op limit of a Recorder created with max <= 0.
const DefaultMaxOps = 200_000

// MaxField is the longest string (in bytes) the Recorder keeps in an op field; longer values
// (an error quoting a hostile target's bytes) are cut and marked with "…".
const MaxField = 1024

// Recorder appends ops to a history from many goroutines. All times come from one monotonic
// clock started at NewRecorder; T is read under the recorder's lock, so the recorded order is
// the T order. The op count is bounded: once max ops are recorded, the next op is replaced by a
// single overflow op and every later op is dropped (Check then reports "history truncated").
type Recorder struct {
	mu      sync.Mutex
	start   time.Time
	clock   func() time.Duration // test hook; nil reads time.Since(start)
	max     int
	meta    map[string]string
	rules   Rules
	ops     []Op
	dropped int
	first   Kind // kind of the first dropped op
}

// NewRecorder returns a recorder whose clock starts now, that keeps at most max ops
// (DefaultMaxOps if max <= 0) and whose History carries a copy of meta and rules.
func NewRecorder(max int, meta map[string]string, rules Rules) *Recorder {
	if max <= 0 {
		max = DefaultMaxOps
	}
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	return &Recorder{start: time.Now(), max: max, meta: m, rules: rules}
}

// Now is the recorder's clock: the time since NewRecorder, read from the monotonic clock. Use
// it to stamp the start of a connect attempt.
func (r *Recorder) Now() time.Duration {
	if r.clock != nil {
		return r.clock()
	}
	return time.Since(r.start)
}

// SetMeta sets one metadata key (e.g. the run ID, known only later).
func (r *Recorder) SetMeta(key, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.meta[key] = value
}

// Record appends op, stamping its T (any T it carries is replaced). String fields are cut at
// MaxField bytes and made valid UTF-8, so a saved history reads back exactly.
func (r *Recorder) Record(op Op) {
	for _, p := range []*string{&op.Client, &op.Publisher, &op.Transport, &op.Topic, &op.Token,
		&op.Err, &op.ID, &op.Cause, &op.Name, &op.Detail} {
		*p = clip(*p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	op.T = r.Now()
	switch {
	case len(r.ops) < r.max:
		r.ops = append(r.ops, op)
	case r.dropped == 0:
		r.dropped, r.first = 1, op.Kind
		r.ops = append(r.ops, Op{T: op.T, Kind: KindOverflow, Name: "overflow"})
	default:
		r.dropped++
	}
}

// Connect records a connect attempt of client to topic over transport that sent token ("" =
// fresh start), began at start (a value of Now taken before dialling) and returned now with err
// (nil = the subscription is established).
func (r *Recorder) Connect(client, transport, topic, token string, start time.Duration, err error) {
	op := Op{Kind: KindConnect, Client: client, Transport: transport, Topic: topic, Token: token,
		Start: start}
	if err != nil {
		op.Err = err.Error()
		if op.Err == "" {
			op.Err = "connect failed"
		}
	}
	r.Record(op)
}

// Event records that client received an event with the target's id and payload seq (NoSeq for
// a payload that is not ours).
func (r *Recorder) Event(client, id string, seq int64) {
	r.Record(Op{Kind: KindEvent, Client: client, ID: id, Seq: seq})
}

// EventRetry records an event that also carried an SSE retry value.
func (r *Recorder) EventRetry(client, id string, seq int64, retry time.Duration) {
	r.Record(Op{Kind: KindEvent, Client: client, ID: id, Seq: seq, Retry: retry, HasRetry: true})
}

// Retry records that the target set client's reconnection time without dispatching an event.
func (r *Recorder) Retry(client string, retry time.Duration) {
	r.Record(Op{Kind: KindRetry, Client: client, Retry: retry, HasRetry: true})
}

// Reset records the target's explicit loss signal on client's current connection.
func (r *Recorder) Reset(client string) { r.Record(Op{Kind: KindReset, Client: client}) }

// Disconnect records that client's current connection ended with cause (CauseEOF,
// CauseHeartbeatTimeout, CauseClientClose, ErrorCause(err), …).
func (r *Recorder) Disconnect(client, cause string) {
	r.Record(Op{Kind: KindDisconnect, Client: client, Cause: cause})
}

// FaultStart records that the fault name (e.g. "blackhole", "reset_peer") was injected.
func (r *Recorder) FaultStart(name, detail string) {
	r.Record(Op{Kind: KindFaultStart, Name: name, Detail: detail})
}

// FaultStop records that the fault name was removed.
func (r *Recorder) FaultStop(name, detail string) {
	r.Record(Op{Kind: KindFaultStop, Name: name, Detail: detail})
}

// PublishInvoke records that publisher is about to send seq on topic. Call it before the
// request leaves, so that "ok before invoke" in the history implies it in reality.
func (r *Recorder) PublishInvoke(publisher, topic string, seq int64) {
	r.Record(Op{Kind: KindPublishInvoke, Publisher: publisher, Topic: topic, Seq: seq})
}

// PublishOK records that the target acknowledged seq. Call it after the acknowledgement
// arrived.
func (r *Recorder) PublishOK(publisher, topic string, seq int64) {
	r.Record(Op{Kind: KindPublishOK, Publisher: publisher, Topic: topic, Seq: seq})
}

// PublishFail records that seq was definitely not published (e.g. a 4xx refusal, or the
// connection was refused before the request was sent).
func (r *Recorder) PublishFail(publisher, topic string, seq int64, err error) {
	r.Record(Op{Kind: KindPublishFail, Publisher: publisher, Topic: topic, Seq: seq, Err: errText(err)})
}

// PublishUnknown records that the outcome of seq is unknown (timeout, connection cut after
// the request was sent, 5xx).
func (r *Recorder) PublishUnknown(publisher, topic string, seq int64, err error) {
	r.Record(Op{Kind: KindPublishUnknown, Publisher: publisher, Topic: topic, Seq: seq, Err: errText(err)})
}

// Len is the number of ops recorded, the overflow op included.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Dropped is the number of ops dropped after the limit was reached.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// History returns a copy of what was recorded so far, with the recorder's meta and rules.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := History{Meta: maps.Clone(r.meta), Rules: r.rules, Ops: append([]Op(nil), r.ops...)}
	h.Rules.Slow = append([]string(nil), r.rules.Slow...)
	if r.dropped > 0 {
		h.Ops[len(h.Ops)-1].Detail = fmt.Sprintf("limit of %d ops reached; %d later ops dropped (the first a %s)",
			r.max, r.dropped, r.first)
	}
	return h
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// clip bounds s to MaxField bytes of valid UTF-8.
func clip(s string) string {
	if len(s) > MaxField {
		s = s[:MaxField] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
