package loadgen

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/framework/subscriber"
)

// clock is the one monotonic clock every op of a load run is stamped from.
type clock struct{ start time.Time }

func (c *clock) now() time.Duration { return time.Since(c.start) }

// event is one received event, kept compactly (16 bytes): when (ns since the run's start), the
// payload seq (history.NoSeq for a payload that is not ours) and its position among the
// client's ops (to merge it with the rare ops in recording order).
type event struct {
	t   int64
	seq int32
	n   uint32
}

// rareOp is any other op of a client (connect, reset, disconnect): few per client.
type rareOp struct {
	op history.Op
	n  uint32
}

// subRec records what one subscriber does. It implements subscriber.Recorder, keeping events
// in 16 bytes each instead of a history.Op (~250 bytes): a load run holds every received event
// until the checker judges it, so this is what bounds its memory (see Command's --max-events).
// The event id is kept only where a resume may use it as its token: for the last event before
// each disconnect.
//
// Seq is the subscriber's Seq function: it parses the payload, records the publish→receive
// latency and hands the seq to the Event call that follows it (the subscriber calls both from
// its reading goroutine, one after the other). It reports ok=false to the subscriber so that
// the subscriber does not also keep every seq in a map of its own; the recorder gets the seq.
type subRec struct {
	clock     *clock
	name      string
	transport string
	topic     string
	run       string // payloads of this run carry it
	lat       *Histogram
	delivered *atomic.Int64 // events of ours received, all subscribers
	lastRecv  *atomic.Int64 // when the latest of them was received (ns on the clock)

	mu        sync.Mutex
	n         uint32
	events    []event
	rare      []rareOp
	ids       map[int]string // index in events -> the event's id (last event before a disconnect)
	lastID    string
	pending   int64 // seq parsed by Seq for the next Event; history.NoSeq if not ours
	connects  int   // successful
	connErrs  int   // failed connect attempts
	drops     int   // disconnects other than client-close
	lastCause string
}

var _ subscriber.Recorder = (*subRec)(nil)

func newSubRec(c *clock, name, transport, topic, run string, lat *Histogram, delivered, lastRecv *atomic.Int64) *subRec {
	return &subRec{clock: c, name: name, transport: transport, topic: topic, run: run, lat: lat,
		delivered: delivered, lastRecv: lastRecv, pending: history.NoSeq}
}

// payload is what the publisher sends: the run, the seq and the publish time (Unix ns).
type payload struct {
	Run string `json:"run"`
	Seq *int64 `json:"seq"`
	TS  int64  `json:"ts"`
}

// makePayload renders the payload of seq published at ts.
func makePayload(run string, seq int64, ts time.Time) []byte {
	b, _ := json.Marshal(payload{Run: run, Seq: &seq, TS: ts.UnixNano()})
	return b
}

// Seq is the subscriber's payload parser (see subRec).
func (r *subRec) Seq(data string) (int, bool) {
	now := time.Now()
	var p payload
	seq := history.NoSeq
	if json.Unmarshal([]byte(data), &p) == nil && p.Seq != nil && p.Run == r.run {
		seq = *p.Seq
		r.lat.Record(now.Sub(time.Unix(0, p.TS)))
		r.delivered.Add(1)
		if t := int64(r.clock.now()); t > r.lastRecv.Load() {
			r.lastRecv.Store(t) // a racing store may keep a slightly older time: good enough for a rate
		}
	}
	r.mu.Lock()
	r.pending = seq
	r.mu.Unlock()
	return 0, false
}

// Now is the run's clock.
func (r *subRec) Now() time.Duration { return r.clock.now() }

func (r *subRec) rareLocked(op history.Op) {
	op.Client = r.name
	r.rare = append(r.rare, rareOp{op: op, n: r.n})
	r.n++
}

// Connect records a connection attempt.
func (r *subRec) Connect(client, transport, topic, token string, start time.Duration, err error) {
	t := r.clock.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	op := history.Op{T: t, Kind: history.KindConnect, Transport: transport, Topic: topic, Token: token, Start: start}
	if err != nil {
		op.Err = history.ErrorCause(err)
		r.connErrs++
		r.lastCause = op.Err
	} else {
		r.connects++
	}
	r.rareLocked(op)
}

// EventRetry records an event (the retry value is not judged by a load run).
func (r *subRec) EventRetry(client, id string, seq int64, _ time.Duration) { r.Event(client, id, seq) }

// Event records one received event with the seq Seq parsed just before.
func (r *subRec) Event(_, id string, _ int64) {
	t := r.clock.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{t: int64(t), seq: int32(r.pending), n: r.n})
	r.n++
	r.pending = history.NoSeq
	r.lastID = id
}

// Reset records the target's loss signal.
func (r *subRec) Reset(string) {
	t := r.clock.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rareLocked(history.Op{T: t, Kind: history.KindReset})
}

// Disconnect records the end of a connection; the id of the last event is kept (a resume
// sends it as its token).
func (r *subRec) Disconnect(_, cause string) {
	t := r.clock.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) > 0 && r.lastID != "" {
		if r.ids == nil {
			r.ids = map[int]string{}
		}
		r.ids[len(r.events)-1] = r.lastID
	}
	if cause != history.CauseClientClose {
		r.drops++
		r.lastCause = cause
	}
	r.rareLocked(history.Op{T: t, Kind: history.KindDisconnect, Cause: cause})
}

// ops returns the client's history ops in recording order.
func (r *subRec) ops() []history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]history.Op, 0, len(r.events)+len(r.rare))
	i, j := 0, 0
	for i < len(r.events) || j < len(r.rare) {
		if j == len(r.rare) || (i < len(r.events) && r.events[i].n < r.rare[j].n) {
			e := r.events[i]
			out = append(out, history.Op{T: time.Duration(e.t), Kind: history.KindEvent, Client: r.name,
				Seq: int64(e.seq), ID: r.ids[i]})
			i++
			continue
		}
		out = append(out, r.rare[j].op)
		j++
	}
	return out
}

// eventCount is how many events the subscriber recorded.
func (r *subRec) eventCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// counts returns the subscriber's connection counters.
func (r *subRec) counts() (connects, connErrs, drops int, lastCause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects, r.connErrs, r.drops, r.lastCause
}

// publish is one publish of a topic's publisher: seq, when it was invoked and answered, and
// its outcome (KindPublishOK, Fail or Unknown).
type publish struct {
	seq     int64
	invoke  time.Duration
	done    time.Duration
	outcome history.Kind
	err     string
}

// pubLog is a topic's publishes, in order (one publisher per topic, one publish at a time).
type pubLog struct {
	mu   sync.Mutex
	pubs []publish
}

func (l *pubLog) add(p publish) {
	l.mu.Lock()
	l.pubs = append(l.pubs, p)
	l.mu.Unlock()
}

func (l *pubLog) snapshot() []publish {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]publish(nil), l.pubs...)
}
