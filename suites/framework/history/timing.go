package history

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// measure fills the per-client and per-topic counts.
func (x *index) measure(rep *Report) {
	for _, cl := range x.clients {
		if len(cl.steps) == 0 && cl.events == 0 {
			continue
		}
		m := ClientMeasures{Topic: cl.topic, Events: cl.events, Foreign: cl.foreign,
			Distinct: cl.recv.len(), MaxLagSeq: NoSeq}
		for _, s := range cl.steps {
			switch {
			case s.kind == KindConnect && s.ok:
				m.Connects++
			case s.kind == KindConnect:
				m.FailedConnects++
			case s.kind == KindDisconnect:
				m.Disconnects++
			}
		}
		for _, c := range cl.conns {
			m.Resets += len(c.resets)
		}
		for _, ds := range cl.dups {
			m.Duplicates += len(ds)
		}
		acc, missing, excused := x.losses(cl)
		m.Accountable, m.Missing, m.Excused = len(acc), len(missing), len(excused)
		for _, p := range excused {
			m.ExcusedSeqs = append(m.ExcusedSeqs, p.seq)
		}
		rep.Clients[cl.name] = m
	}
	for _, name := range x.tnames {
		tp := x.topics[name]
		m := TopicMeasures{Publishes: len(tp.pubs), Consistent: !tp.g.cyclic, MaxPublishSeq: NoSeq}
		for _, p := range tp.pubs {
			if p.outcome != "" && (m.MaxPublishSeq == NoSeq || p.done-p.invoke > m.MaxPublish) {
				m.MaxPublish, m.MaxPublishSeq = p.done-p.invoke, p.seq
			}
			switch p.outcome {
			case KindPublishOK:
				m.OK++
			case KindPublishFail:
				m.Failed++
			default:
				m.Unknown++
			}
		}
		for _, s := range tp.g.seq {
			if s != NoSeq && x.observed(tp, s) {
				m.Observed++
			}
		}
		rep.Topics[name] = m
	}
}

// observed reports whether any client of tp received seq.
func (x *index) observed(tp *topic, seq int64) bool {
	for _, cl := range tp.clients {
		if cl.received(seq) {
			return true
		}
	}
	return false
}

// retries measures every reconnect that followed a retry value and, with RetryHonoured,
// reports those that started earlier than retry - tolerance after the previous connection
// ended. A client-close ends a connection on purpose: the next connect is not a reconnect.
func (x *index) retries(rep *Report) {
	r := x.h.Rules
	for _, cl := range x.clients {
		var retry time.Duration
		have := false
		var down *step
		for i := range cl.steps {
			s := &cl.steps[i]
			switch s.kind {
			case KindRetry:
				retry, have = s.retry, true
			case KindDisconnect:
				down = nil
				if s.cause != CauseClientClose {
					down = s
				}
			case KindConnect:
				if down != nil && have {
					w := RetryWait{Client: cl.name, Disconnect: down.t, Cause: down.cause, Retry: retry,
						Waited: s.start - down.t}
					rep.Retries = append(rep.Retries, w)
					if r.RetryHonoured && w.Waited < retry-r.RetryTolerance {
						x.violate(RuleRetryHonoured, cl.name, s.start,
							"%s started its next connect %s after its connection ended at t=%s (%s), but the target had set retry: %s (at least %s with tolerance %s)",
							cl.name, fmtT(w.Waited), fmtT(down.t), down.cause, retry, retry-r.RetryTolerance, r.RetryTolerance)
					}
				}
				down = nil
				if !s.ok {
					down = s
				}
			}
		}
	}
}

// faultRules measures reconnection after every fault and detection of every black hole, and
// judges ReconnectWithin and DetectWithin.
func (x *index) faultRules(rep *Report) {
	r := x.h.Rules
	for _, f := range x.faults {
		fm := FaultMeasures{Name: f.name, Detail: f.detail, Start: f.start, Stop: f.stop, Stopped: f.stopped,
			Reconnect: map[string]time.Duration{}, FirstEvent: map[string]time.Duration{},
			Detect: map[string]time.Duration{}}
		if f.stopped {
			for _, cl := range x.clients {
				x.reconnect(f, cl, &fm, r.ReconnectWithin)
			}
		}
		if f.name == r.blackHole() {
			for _, cl := range x.clients {
				x.detect(f, cl, &fm, r.DetectWithin)
			}
		}
		rep.Faults = append(rep.Faults, fm)
	}
}

// reconnect: a client is disconnected during fault f if it recorded a disconnect or a failed
// connect with f.start <= T <= f.stop; it then must connect successfully within limit of f.stop.
func (x *index) reconnect(f *fault, cl *client, fm *FaultMeasures, limit time.Duration) {
	down := -1
	for i, s := range cl.steps {
		if s.t >= f.start && s.t <= f.stop && (s.kind == KindDisconnect || s.kind == KindConnect && !s.ok) {
			down = i
		}
	}
	if down < 0 {
		return
	}
	var rec *step
	for i := down + 1; i < len(cl.steps); i++ {
		if s := &cl.steps[i]; s.kind == KindConnect && s.ok {
			rec = s
			break
		}
	}
	d := cl.steps[down]
	if rec == nil {
		fm.NotReconnected = append(fm.NotReconnected, cl.name)
		switch {
		case limit <= 0:
		case x.truncated:
			x.note("ReconnectWithin: %s not judged after fault %q: the history is truncated", cl.name, f.name)
		default:
			x.violate(RuleReconnectWithin, cl.name, x.end,
				"%s, disconnected at t=%s (%s) during fault %q (t=%s–%s), did not connect again before the history ended at t=%s (%s after the stop; limit %s)",
				cl.name, fmtT(d.t), d.cause, f.name, fmtT(f.start), fmtT(f.stop), fmtT(x.end), fmtT(x.end-f.stop), limit)
		}
		return
	}
	took := rec.t - f.stop
	fm.Reconnect[cl.name] = took
	for _, c := range cl.conns[rec.c.n-1:] {
		if len(c.evs) > 0 {
			fm.FirstEvent[cl.name] = x.h.Ops[c.evs[0]].T - f.stop
			break
		}
	}
	if limit > 0 && took > limit {
		x.violate(RuleReconnectWithin, cl.name, rec.t,
			"%s connected again %s after fault %q stopped (t=%s), limit %s (disconnected at t=%s: %s)",
			cl.name, fmtT(took), f.name, fmtT(f.stop), limit, fmtT(d.t), d.cause)
	}
}

// detect: every connection open when black hole f starts must end with a heartbeat-timeout
// within limit of the start.
func (x *index) detect(f *fault, cl *client, fm *FaultMeasures, limit time.Duration) {
	for _, c := range cl.conns {
		if c.t > f.start || c.end <= f.start {
			continue
		}
		if c.open {
			switch {
			case limit <= 0:
			case x.truncated:
				x.note("DetectWithin: %s not judged for black hole %q: the history is truncated", c.label(), f.name)
			default:
				x.violate(RuleDetectWithin, cl.name, x.end,
					"%s was still connected when the history ended at t=%s, %s after black hole %q started (t=%s); limit %s",
					c.label(), fmtT(x.end), fmtT(x.end-f.start), f.name, fmtT(f.start), limit)
				x.diagnose(DiagNoHeartbeat)
			}
			continue
		}
		took := c.end - f.start
		fm.Detect[cl.name] = took
		switch {
		case limit <= 0:
		case c.cause != CauseHeartbeatTimeout:
			x.violate(RuleDetectWithin, cl.name, c.end,
				"%s ended %s after black hole %q started (t=%s) with cause %q, not %s",
				c.label(), fmtT(took), f.name, fmtT(f.start), c.cause, CauseHeartbeatTimeout)
		case took > limit:
			x.violate(RuleDetectWithin, cl.name, c.end,
				"%s detected black hole %q %s after it started (t=%s; heartbeat-timeout at t=%s), limit %s",
				c.label(), f.name, fmtT(took), fmtT(f.start), fmtT(c.end), limit)
			x.diagnose(DiagNoHeartbeat)
		}
	}
}

// lag measures, per client, the first receipt minus publish-ok of the ok publishes invoked
// while it was subscribed; with MaxLag it reports clients not listed in Rules.Slow that received
// one later than the limit, or not at all while their subscription outlasted ok + limit.
func (x *index) lag(rep *Report) {
	r := x.h.Rules
	for _, cl := range x.clients {
		tp := x.topics[cl.topic]
		m, ok := rep.Clients[cl.name]
		if tp == nil || !ok {
			continue
		}
		judge := r.MaxLag > 0 && !slices.Contains(r.Slow, cl.name)
		var late, never []*publish
		var worst *publish
		var worstLag time.Duration
		for _, s := range cl.segs {
			var exc map[int64]bool
			for _, p := range tp.pubs {
				if !p.ok() || p.invoke <= s.start || p.invoke >= s.end {
					continue
				}
				if d, ok := cl.firstReceipt(p.seq); ok {
					l := d.t - p.done
					if m.MaxLagSeq == NoSeq || l > m.MaxLag {
						m.MaxLag, m.MaxLagSeq = l, p.seq
					}
					if judge && l > r.MaxLag {
						late = append(late, p)
						if worst == nil || l > worstLag {
							worst, worstLag = p, l
						}
					}
					continue
				}
				if !judge || x.truncated || p.done+r.MaxLag >= s.end {
					continue
				}
				if exc == nil {
					exc = x.excused(cl, s)
				}
				if !exc[p.seq] {
					never = append(never, p)
				}
			}
		}
		rep.Clients[cl.name] = m
		var parts []string
		t := time.Duration(0)
		if len(late) > 0 {
			wd, _ := cl.firstReceipt(worst.seq)
			parts = append(parts, fmt.Sprintf("%d events arrived more than %s after their publish-ok; the worst, seq %d, took %s (ok t=%s, received t=%s)",
				len(late), r.MaxLag, worst.seq, fmtT(worstLag), fmtT(worst.done), fmtT(wd.t)))
			t = wd.t
		}
		if len(never) > 0 {
			parts = append(parts, fmt.Sprintf("%d never arrived: %s", len(never), seqList(never, true)))
			if t == 0 {
				t = never[0].done + r.MaxLag
			}
		}
		if len(parts) > 0 {
			x.violate(RuleMaxLag, cl.name, t, "%s: %s", cl.name, strings.Join(parts, "; "))
			x.diagnose(DiagSlowConsumerBlocks)
		}
	}
}

// publishWithin judges PublishWithin: every publish answered within the limit of its invoke.
func (x *index) publishWithin() {
	d := x.h.Rules.PublishWithin
	if d <= 0 {
		return
	}
	for _, name := range x.tnames {
		var slow []string
		var first time.Duration
		n := 0
		for _, p := range x.topics[name].pubs {
			var took time.Duration
			var what string
			switch {
			case p.outcome == "":
				if x.truncated || x.end-p.invoke <= d {
					continue
				}
				took, what = x.end-p.invoke, "no answer before the history ended"
			case p.done-p.invoke <= d:
				continue
			case p.outcome == KindPublishUnknown:
				took, what = p.done-p.invoke, "no answer: "+p.err
			default:
				took, what = p.done-p.invoke, "answered"
			}
			if n == 0 {
				first = p.invoke + took
			}
			n++
			if len(slow) < 5 {
				slow = append(slow, fmt.Sprintf("seq %d by %s %s after %s (invoked t=%s)", p.seq, p.publisher, what, fmtT(took), fmtT(p.invoke)))
			}
		}
		if n == 0 {
			continue
		}
		if n > len(slow) {
			slow = append(slow, fmt.Sprintf("… %d more", n-len(slow)))
		}
		x.violate(RulePublishWithin, "", first, "topic %q: %d of %d publishes took longer than %s: %s",
			name, n, len(x.topics[name].pubs), d, strings.Join(slow, "; "))
		x.diagnose(DiagSlowConsumerBlocks)
	}
}
