package history

import (
	"fmt"
	"time"
)

// This file turns the flat op list into connections, clients, publishes, topics and faults,
// and reports a malformed history (a harness bug) as WellFormed violations.

// conn is one successful connection of a client: from its connect op to its disconnect (or the
// end of the history).
type conn struct {
	cl        *client
	n         int // connection number within the client, from 1
	t, start  time.Duration
	transport string
	topic     string
	token     string
	evs       []int // op indices of the events received, foreign ones included
	firstSeq  int   // op index of the first event with a seq of ours; -1 if none
	resets    []int // op indices of the reset ops
	end       time.Duration
	cause     string
	open      bool // no disconnect recorded: it lasted until the end of the history
}

// label names the connection in messages.
func (c *conn) label() string { return fmt.Sprintf("%s (connection %d)", c.cl.name, c.n) }

// how describes how the connection started, for messages.
func (c *conn) how() string {
	if c.token == "" {
		return "a fresh connect"
	}
	return "resume from id " + c.token
}

// delivery is one receipt of a seq by a client.
type delivery struct {
	t  time.Duration
	c  *conn
	op int
}

// step is one entry of a client's timeline, for the timing rules.
type step struct {
	kind     Kind // KindConnect, KindDisconnect or KindRetry
	t, start time.Duration
	ok       bool // connect succeeded
	cause    string
	retry    time.Duration
	c        *conn
}

// segment is a run of connections chained by resume tokens: it starts at a fresh (token "")
// connect or at the client's first connect, and ends when its last connection ends.
type segment struct {
	start, end time.Duration
	conns      []*conn
}

type client struct {
	name    string
	topic   string
	conns   []*conn
	steps   []step
	recv    seqIndex             // seq -> index in order and first
	order   []int64              // seqs in order of first receipt
	first   []delivery           // the first receipt of each seq of order
	dups    map[int64][]delivery // seq -> its receipts after the first, in order (nil: none yet)
	events  int
	foreign int
	cur     *conn
	segs    []segment
}

type publish struct {
	topic, publisher string
	seq              int64
	invoke, done     time.Duration
	outcome          Kind // "" while pending; KindPublishOK, KindPublishFail or KindPublishUnknown
	err              string
}

// ok reports whether the publish was acknowledged.
func (p *publish) ok() bool { return p.outcome == KindPublishOK }

type fault struct {
	name, detail string
	start, stop  time.Duration
	stopped      bool
}

type topic struct {
	name    string
	pubs    []*publish // in invoke order
	bySeq   seqIndex   // seq -> index in pubs
	clients []*client
	idSeq   map[string]int64 // event id -> seq, first seen on any client
	g       *graph
}

// index is the parsed history the rules work on.
type index struct {
	h         History
	end       time.Duration // the largest T: the end of the observation window
	truncated bool
	overflow  Op
	clients   []*client // in order of first appearance
	byName    map[string]*client
	topics    map[string]*topic
	tnames    []string // topic names in order of first appearance
	faults    []*fault // in start order
	v         []Violation
	notes     []string
}

func build(h History) *index {
	x := &index{h: h, byName: map[string]*client{}, topics: map[string]*topic{}}
	unordered := false
	for i, op := range h.Ops {
		if op.T < x.end && !unordered {
			unordered = true
			x.bad(op, "op %d (%s) is earlier than an op before it: ops must be in time order", i, op.Kind)
		}
		x.end = max(x.end, op.T)
		if op.Kind == KindOverflow {
			x.truncated, x.overflow = true, op
			if i != len(h.Ops)-1 {
				x.bad(op, "%d ops follow the overflow op", len(h.Ops)-1-i)
			}
			break
		}
		x.add(i, op)
	}
	for _, cl := range x.clients {
		if cl.cur != nil {
			cl.cur.end, cl.cur.open = x.end, true
		}
		for _, c := range cl.conns {
			if len(cl.segs) == 0 || c.token == "" {
				cl.segs = append(cl.segs, segment{start: c.t})
			}
			s := &cl.segs[len(cl.segs)-1]
			s.conns, s.end = append(s.conns, c), c.end
		}
	}
	for _, name := range x.tnames {
		tp := x.topics[name]
		tp.g = buildGraph(x, tp)
	}
	return x
}

func (x *index) add(i int, op Op) {
	switch op.Kind {
	case KindConnect:
		cl := x.client(op.Client)
		if cl.topic == "" {
			cl.topic = op.Topic
		} else if op.Topic != cl.topic {
			x.bad(op, "%s connected to topic %q after topic %q: one client, one topic", op.Client, op.Topic, cl.topic)
		}
		if cl.cur != nil {
			x.bad(op, "%s connected again without a disconnect of %s", op.Client, cl.cur.label())
			x.endConn(cl, op.T, "(no disconnect recorded)")
		}
		start := op.Start
		if start == 0 {
			start = op.T
		}
		st := step{kind: KindConnect, t: op.T, start: start, ok: op.OK()}
		if !op.OK() {
			st.cause = "connect failed: " + op.Err
		}
		if op.OK() {
			c := &conn{cl: cl, n: len(cl.conns) + 1, t: op.T, start: start, transport: op.Transport,
				topic: op.Topic, token: op.Token, firstSeq: -1}
			cl.conns, cl.cur, st.c = append(cl.conns, c), c, c
			tp := x.topic(op.Topic)
			tp.clients = appendOnce(tp.clients, cl)
		}
		cl.steps = append(cl.steps, st)
	case KindEvent:
		cl := x.client(op.Client)
		c := cl.cur
		if c == nil {
			x.bad(op, "%s received an event (id %q, seq %d) outside a connection", op.Client, op.ID, op.Seq)
			return
		}
		cl.events++
		c.evs = append(c.evs, i)
		if op.HasRetry {
			cl.steps = append(cl.steps, step{kind: KindRetry, t: op.T, retry: op.Retry})
		}
		if op.Seq < 0 {
			cl.foreign++
			return
		}
		if c.firstSeq < 0 {
			c.firstSeq = i
		}
		d := delivery{t: op.T, c: c, op: i}
		if _, ok := cl.recv.get(op.Seq); ok {
			if cl.dups == nil {
				cl.dups = map[int64][]delivery{}
			}
			cl.dups[op.Seq] = append(cl.dups[op.Seq], d)
		} else {
			cl.recv.set(op.Seq, len(cl.order))
			cl.order, cl.first = append(cl.order, op.Seq), append(cl.first, d)
		}
		tp := x.topic(c.topic)
		if _, ok := tp.idSeq[op.ID]; !ok && op.ID != "" {
			tp.idSeq[op.ID] = op.Seq
		}
	case KindRetry:
		cl := x.client(op.Client)
		cl.steps = append(cl.steps, step{kind: KindRetry, t: op.T, retry: op.Retry})
	case KindReset:
		cl := x.client(op.Client)
		if cl.cur == nil {
			x.bad(op, "%s recorded a reset outside a connection", op.Client)
			return
		}
		cl.cur.resets = append(cl.cur.resets, i)
	case KindDisconnect:
		// A disconnect with no open connection (e.g. after a failed connect) changes nothing.
		cl := x.client(op.Client)
		if cl.cur != nil {
			cl.steps = append(cl.steps, step{kind: KindDisconnect, t: op.T, cause: op.Cause, c: cl.cur})
			x.endConn(cl, op.T, op.Cause)
		}
	case KindFaultStart:
		x.faults = append(x.faults, &fault{name: op.Name, detail: op.Detail, start: op.T})
	case KindFaultStop:
		for _, f := range x.faults {
			if f.name == op.Name && !f.stopped {
				f.stop, f.stopped = op.T, true
				return
			}
		}
		x.bad(op, "fault %q stopped without a fault-start", op.Name)
	case KindPublishInvoke:
		tp := x.topic(op.Topic)
		if tp.publish(op.Seq) != nil {
			x.bad(op, "seq %d published twice on topic %q: seqs must be unique per topic", op.Seq, op.Topic)
			return
		}
		p := &publish{topic: op.Topic, publisher: op.Publisher, seq: op.Seq, invoke: op.T}
		tp.bySeq.set(op.Seq, len(tp.pubs))
		tp.pubs = append(tp.pubs, p)
	case KindPublishOK, KindPublishFail, KindPublishUnknown:
		tp := x.topic(op.Topic)
		p := tp.publish(op.Seq)
		if p == nil {
			x.bad(op, "%s of seq %d on topic %q without a publish-invoke", op.Kind, op.Seq, op.Topic)
			p = &publish{topic: op.Topic, publisher: op.Publisher, seq: op.Seq, invoke: op.T}
			tp.bySeq.set(op.Seq, len(tp.pubs))
			tp.pubs = append(tp.pubs, p)
		}
		if p.outcome != "" {
			x.bad(op, "seq %d on topic %q has a second outcome (%s after %s)", op.Seq, op.Topic, op.Kind, p.outcome)
			return
		}
		p.outcome, p.done, p.err = op.Kind, op.T, op.Err
	default:
		x.bad(op, "unknown op kind %q", op.Kind)
	}
}

func (x *index) endConn(cl *client, t time.Duration, cause string) {
	cl.cur.end, cl.cur.cause = t, cause
	cl.cur = nil
}

func (x *index) client(name string) *client {
	cl := x.byName[name]
	if cl == nil {
		cl = &client{name: name}
		x.byName[name] = cl
		x.clients = append(x.clients, cl)
	}
	return cl
}

func (x *index) topic(name string) *topic {
	tp := x.topics[name]
	if tp == nil {
		tp = &topic{name: name, idSeq: map[string]int64{}}
		x.topics[name] = tp
		x.tnames = append(x.tnames, name)
	}
	return tp
}

// bad records a WellFormed violation: the history itself breaks the recording contract.
func (x *index) bad(op Op, format string, args ...any) {
	who := op.Client
	if who == "" {
		who = op.Publisher
	}
	x.violate(RuleWellFormed, who, op.T, format, args...)
}

func (x *index) violate(rule, client string, t time.Duration, format string, args ...any) {
	x.v = append(x.v, Violation{Rule: rule, Client: client, T: t, Msg: fmt.Sprintf(format, args...)})
}

// diagnose names the root cause of the violation just recorded.
func (x *index) diagnose(key string) { x.v[len(x.v)-1].Diagnosis = key }

func (x *index) note(format string, args ...any) {
	x.notes = append(x.notes, fmt.Sprintf(format, args...))
}

// accountable lists the ok publishes of the client's topic that each of its segments must
// deliver: invoked after the segment started and acknowledged no later than end - settle.
func (x *index) accountable(cl *client, settle time.Duration) [][]*publish {
	tp := x.topics[cl.topic]
	out := make([][]*publish, len(cl.segs))
	if tp == nil {
		return out
	}
	for k, s := range cl.segs {
		for _, p := range tp.pubs {
			if p.ok() && p.invoke > s.start && p.done <= s.end-settle {
				out[k] = append(out[k], p)
			}
		}
	}
	return out
}

// excused reports, for the publishes of segment s, which a reset in s excuses: a reset at time R
// on a connection that resumed from token T excuses every publish invoked before R that does
// not precede T's event in the topic order (T's event itself included). With no known token
// event, every publish invoked before R is excused.
func (x *index) excused(cl *client, s segment) map[int64]bool {
	out := map[int64]bool{}
	tp := x.topics[cl.topic]
	if tp == nil {
		return out
	}
	for _, c := range s.conns {
		for _, ri := range c.resets {
			r := x.h.Ops[ri].T
			var before []bool // nodes at or before the token's event
			if seq, ok := x.tokenSeq(c); ok {
				if n, ok := tp.g.node.get(seq); ok {
					before = tp.g.reach(n, false)
				}
			}
			for _, p := range tp.pubs {
				if p.invoke >= r {
					continue
				}
				if n, ok := tp.g.node.get(p.seq); ok && before != nil && before[n] {
					continue
				}
				out[p.seq] = true
			}
		}
	}
	return out
}

// tokenSeq finds the seq of the event whose id c sent as its resume token: the client's own
// last such event before c, else the first such event any client of the topic received.
func (x *index) tokenSeq(c *conn) (int64, bool) {
	if c.token == "" {
		return 0, false
	}
	for k := c.n - 2; k >= 0; k-- {
		prev := c.cl.conns[k]
		for j := len(prev.evs) - 1; j >= 0; j-- {
			if op := x.h.Ops[prev.evs[j]]; op.ID == c.token && op.Seq >= 0 {
				return op.Seq, true
			}
		}
	}
	if tp := x.topics[c.topic]; tp != nil {
		seq, ok := tp.idSeq[c.token]
		return seq, ok
	}
	return 0, false
}

// publish returns the publish of seq on the topic, nil if none was recorded.
func (tp *topic) publish(seq int64) *publish {
	if k, ok := tp.bySeq.get(seq); ok {
		return tp.pubs[k]
	}
	return nil
}

// firstReceipt returns the client's first receipt of seq.
func (cl *client) firstReceipt(seq int64) (delivery, bool) {
	k, ok := cl.recv.get(seq)
	if !ok {
		return delivery{}, false
	}
	return cl.first[k], true
}

// received reports whether the client received seq at all.
func (cl *client) received(seq int64) bool {
	_, ok := cl.recv.get(seq)
	return ok
}

// receipts returns every receipt of seq by the client, in order.
func (cl *client) receipts(seq int64) []delivery {
	d, ok := cl.firstReceipt(seq)
	if !ok {
		return nil
	}
	return append([]delivery{d}, cl.dups[seq]...)
}

func appendOnce(cls []*client, cl *client) []*client {
	for _, c := range cls {
		if c == cl {
			return cls
		}
	}
	return append(cls, cl)
}
