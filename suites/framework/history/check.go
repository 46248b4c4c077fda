package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Rule names, as they appear in Violation.Rule. Complete and WellFormed are always judged.
const (
	RuleComplete        = "Complete"   // the history was not truncated
	RuleWellFormed      = "WellFormed" // the history follows the recording contract (a harness bug otherwise)
	RuleOrdered         = "Ordered"
	RuleUnique          = "Unique"
	RuleNoLoss          = "NoLoss"
	RuleResumable       = "Resumable"
	RuleRetryHonoured   = "RetryHonoured"
	RuleReconnectWithin = "ReconnectWithin"
	RuleDetectWithin    = "DetectWithin"
	RuleMaxLag          = "MaxLag"
	RulePublishWithin   = "PublishWithin"
)

var ruleRank = map[string]int{RuleComplete: 0, RuleWellFormed: 1, RuleOrdered: 2, RuleUnique: 3,
	RuleNoLoss: 4, RuleResumable: 5, RuleRetryHonoured: 6, RuleReconnectWithin: 7,
	RuleDetectWithin: 8, RuleMaxLag: 9, RulePublishWithin: 10}

// MaxPerRule caps the violations reported per rule; one more entry then says how many were
// left out (the measures still count everything).
const MaxPerRule = 50

// Violation is one broken rule with its evidence.
type Violation struct {
	Rule   string
	Client string        // the client (or publisher) concerned; "" for the whole history
	T      time.Duration // when the evidence was recorded (the later op of the evidence)
	Msg    string        // human-readable, with the seqs, ids and times involved
	// Diagnosis is the root cause the evidence points at (DiagResumeInclusive, …), "" when
	// the rule alone does not tell; Report.Diagnosis picks one for the whole history.
	Diagnosis string
}

// String renders the violation on one line: "Unique sse-3 t=2.950s: sse-3 got seq 41 twice …".
func (v Violation) String() string {
	who := ""
	if v.Client != "" {
		who = " " + v.Client
	}
	return fmt.Sprintf("%s%s t=%s: %s", v.Rule, who, fmtT(v.T), v.Msg)
}

// Report is the verdict on a history (Violations) plus what was measured on the way, for the
// suites to print whether or not a rule failed.
type Report struct {
	Violations []Violation
	// Notes are observations that are not violations: gaps excused by a reset, resumes that
	// could not be judged, rules skipped on a truncated history.
	Notes     []string
	Truncated bool
	End       time.Duration // T of the last op
	Clients   map[string]ClientMeasures
	Topics    map[string]TopicMeasures
	Faults    []FaultMeasures // in start order
	Retries   []RetryWait     // every reconnect that followed a retry value, in order
}

// ClientMeasures counts what one subscriber did and saw.
type ClientMeasures struct {
	Topic          string
	Connects       int // successful connects
	FailedConnects int
	Disconnects    int
	Resets         int
	Events         int     // events received, foreign ones included
	Foreign        int     // events with a seq that is not ours (NoSeq)
	Distinct       int     // distinct seqs received
	Duplicates     int     // receipts of a seq beyond its first
	Accountable    int     // ok publishes the client had to receive (NoLoss, with Rules.Settle)
	Missing        int     // accountable seqs never received and not excused by a reset
	Excused        int     // accountable seqs never received but excused by a reset
	ExcusedSeqs    []int64 // those seqs, in publish order
	// MaxLag is the largest first-receipt minus publish-ok over the ok publishes invoked while
	// the client was subscribed, and MaxLagSeq its seq (NoSeq when none was received).
	MaxLag    time.Duration
	MaxLagSeq int64
}

// TopicMeasures counts the publishes and observations of one topic.
type TopicMeasures struct {
	Publishes  int // publish-invokes
	OK         int
	Failed     int
	Unknown    int // outcome unknown, or no outcome recorded
	Observed   int // distinct seqs received by any client
	Consistent bool
	// MaxPublish is the longest time from a publish-invoke to its outcome (ok, fail or
	// unknown), and MaxPublishSeq its seq (NoSeq when no publish has an outcome).
	MaxPublish    time.Duration
	MaxPublishSeq int64
}

// FaultMeasures is what happened around one fault.
type FaultMeasures struct {
	Name, Detail string
	Start, Stop  time.Duration
	Stopped      bool
	// Reconnect maps each client disconnected during the fault to the time from the fault stop
	// to its next successful connect (negative: it was back before the stop).
	Reconnect map[string]time.Duration
	// NotReconnected lists the clients disconnected during the fault that never connected again.
	NotReconnected []string
	// FirstEvent maps the same clients to the time from the fault stop to the first event
	// received once connected again.
	FirstEvent map[string]time.Duration
	// Detect maps, for a black-hole fault (Rules.BlackHole), each client connected at the start
	// to the time until that connection ended (any cause).
	Detect map[string]time.Duration
}

// RetryWait is one reconnect by a client that had been sent a retry value.
type RetryWait struct {
	Client     string
	Disconnect time.Duration // when the previous connection ended (or the previous attempt failed)
	Cause      string
	Retry      time.Duration // the retry value in force
	Waited     time.Duration // from Disconnect to the start of the next connect attempt
}

// Check judges h by h.Rules and returns the violations (Analyze(h).Violations). It is pure: no
// I/O, no clock.
func Check(h History) []Violation { return Analyze(h).Violations }

// Analyze judges h by h.Rules and measures it. It is pure: no I/O, no clock.
func Analyze(h History) Report {
	x := build(h)
	r := h.Rules
	rep := Report{Truncated: x.truncated, End: x.end, Clients: map[string]ClientMeasures{},
		Topics: map[string]TopicMeasures{}}
	if x.truncated {
		x.violate(RuleComplete, "", x.overflow.T, "history truncated: %s", x.overflow.Detail)
	}
	if r.Ordered {
		x.ordered()
	}
	if r.Unique {
		x.unique()
	}
	if r.NoLoss {
		x.noLoss()
	}
	if r.Resumable {
		x.resumable()
	}
	x.measure(&rep)
	x.retries(&rep)
	x.faultRules(&rep)
	x.lag(&rep)
	x.publishWithin()
	rep.Violations, rep.Notes = capViolations(x.v), x.notes
	return rep
}

// capViolations sorts by rule, then time, then client, and keeps MaxPerRule per rule.
func capViolations(vs []Violation) []Violation {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Rule != b.Rule {
			return ruleRank[a.Rule] < ruleRank[b.Rule]
		}
		if a.T != b.T {
			return a.T < b.T
		}
		return a.Client < b.Client
	})
	var out []Violation
	n := 0
	for i, v := range vs {
		if i > 0 && v.Rule != vs[i-1].Rule {
			n = 0
		}
		if n++; n <= MaxPerRule {
			out = append(out, v)
			continue
		}
		if n == MaxPerRule+1 {
			more := 0
			for _, w := range vs[i:] {
				if w.Rule == v.Rule {
					more++
				}
			}
			out = append(out, Violation{Rule: v.Rule, T: v.T,
				Msg: fmt.Sprintf("… and %d more %s violations", more, v.Rule)})
		}
	}
	return out
}

// ordered reports, per topic, the first evidence that no total order fits.
func (x *index) ordered() {
	for _, name := range x.tnames {
		if g := x.topics[name].g; g.cyclic {
			client, t, msg := g.inconsistency()
			x.violate(RuleOrdered, client, t, "topic %q: %s", name, msg)
			x.diagnose(DiagReordered)
		}
	}
}

// unique reports every receipt of a seq beyond the client's first.
func (x *index) unique() {
	for _, cl := range x.clients {
		for _, seq := range cl.order {
			if len(cl.dups[seq]) == 0 {
				continue
			}
			ds := cl.receipts(seq)
			for k := 1; k < len(ds); k++ {
				first, d := ds[0], ds[k]
				ctx, diag := "on the same connection as the first", DiagDuplicate
				if d.c != first.c {
					ctx = "after " + d.c.how()
					if d.c.token != "" {
						diag = DiagResumeDuplicate
					}
				}
				if k == 1 {
					x.violate(RuleUnique, cl.name, d.t, "%s got seq %d twice (t=%s and t=%s, the second %s)",
						cl.name, seq, fmtT(first.t), fmtT(d.t), ctx)
				} else {
					x.violate(RuleUnique, cl.name, d.t, "%s got seq %d %d times (first at t=%s, again at t=%s %s)",
						cl.name, seq, k+1, fmtT(first.t), fmtT(d.t), ctx)
				}
				x.diagnose(diag)
			}
		}
	}
}

// noLoss reports failed or never-published seqs that were delivered, and accountable ok
// publishes that were not.
func (x *index) noLoss() {
	for _, cl := range x.clients {
		tp := x.topics[cl.topic]
		if tp == nil {
			continue
		}
		for k, seq := range cl.order {
			d := cl.first[k]
			switch p := tp.publish(seq); {
			case p == nil && len(tp.pubs) > 0:
				x.violate(RuleNoLoss, cl.name, d.t, "%s received seq %d (t=%s) that was never published on topic %q",
					cl.name, seq, fmtT(d.t), cl.topic)
			case p != nil && p.outcome == KindPublishFail:
				x.violate(RuleNoLoss, cl.name, d.t, "%s received seq %d (t=%s) whose publish failed (t=%s: %s)",
					cl.name, seq, fmtT(d.t), fmtT(p.done), p.err)
			}
		}
	}
	if x.truncated {
		x.note("NoLoss: missing events not judged on a truncated history")
		return
	}
	for _, cl := range x.clients {
		acc, missing, excused := x.losses(cl)
		if len(excused) > 0 {
			x.note("%s: a reset excused %d missing seqs: %s", cl.name, len(excused), seqList(excused, false))
		}
		if len(missing) == 0 {
			continue
		}
		var win []string
		for i, s := range cl.segs {
			if i == 5 {
				win = append(win, fmt.Sprintf("… %d more", len(cl.segs)-5))
				break
			}
			win = append(win, fmt.Sprintf("t=%s–%s", fmtT(s.start), fmtT(s.end)))
		}
		settle := ""
		if x.h.Rules.Settle > 0 {
			settle = fmt.Sprintf(", minus settle %s", x.h.Rules.Settle)
		}
		x.violate(RuleNoLoss, cl.name, missing[0].done,
			"%s missed %d of %d seqs published ok while it was subscribed (%s%s): %s",
			cl.name, len(missing), len(acc), strings.Join(win, ", "), settle, seqList(missing, true))
		x.diagnose(DiagSilentLoss)
	}
}

// losses splits a client's accountable publishes (NoLoss definition) into missing and excused.
func (x *index) losses(cl *client) (acc, missing, excused []*publish) {
	for k, ps := range x.accountable(cl, x.h.Rules.Settle) {
		var exc map[int64]bool
		for _, p := range ps {
			acc = append(acc, p)
			if cl.received(p.seq) {
				continue
			}
			if exc == nil {
				exc = x.excused(cl, cl.segs[k])
			}
			if exc[p.seq] {
				excused = append(excused, p)
			} else {
				missing = append(missing, p)
			}
		}
	}
	return acc, missing, excused
}

// seqList renders up to 10 publishes: "41 (ok t=1.000s), 42 (ok t=1.100s), … (3 more)".
func seqList(ps []*publish, times bool) string {
	var parts []string
	for i, p := range ps {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(ps)-10))
			break
		}
		if times {
			parts = append(parts, fmt.Sprintf("%d (ok t=%s)", p.seq, fmtT(p.done)))
		} else {
			parts = append(parts, fmt.Sprint(p.seq))
		}
	}
	return strings.Join(parts, ", ")
}

// resumable judges the first event of every connection that sent a resume token.
func (x *index) resumable() {
	for _, cl := range x.clients {
		for _, c := range cl.conns {
			if c.token == "" {
				continue
			}
			sT, ok := x.tokenSeq(c)
			if !ok {
				x.note("%s: resume from id %s at t=%s not judged: no recorded event carries that id",
					c.label(), c.token, fmtT(c.t))
				continue
			}
			if len(c.resets) > 0 && (c.firstSeq < 0 || c.resets[0] < c.firstSeq) {
				x.note("%s: resume from id %s at t=%s was answered with a reset", c.label(), c.token, fmtT(c.t))
				continue
			}
			if c.firstSeq < 0 {
				continue // nothing received: NoLoss judges what was due
			}
			e := x.h.Ops[c.firstSeq]
			pre := fmt.Sprintf("%s resumed from id %s (seq %d) at t=%s and the first event was seq %d (t=%s)",
				cl.name, c.token, sT, fmtT(c.t), e.Seq, fmtT(e.T))
			if e.Seq == sT {
				x.violate(RuleResumable, cl.name, e.T, "%s: the token's own event again (the resume was inclusive)", pre)
				x.diagnose(DiagResumeInclusive)
				continue
			}
			g := x.topics[c.topic].g
			if g.cyclic {
				x.note("%s: resume at t=%s not judged for gaps: topic %q has no consistent order", c.label(), fmtT(c.t), c.topic)
				continue
			}
			nT, okT := g.node.get(sT)
			nE := g.nodeOf(e.Seq)
			if !okT {
				continue
			}
			if g.precedes(nE, nT) {
				x.violate(RuleResumable, cl.name, e.T, "%s, which comes before the token's event (rewound)", pre)
				x.diagnose(DiagResumeDuplicate)
				continue
			}
			if b := g.between(nT, nE); len(b) > 0 {
				ps := make([]*publish, len(b))
				for i, s := range b {
					ps[i] = &publish{seq: s}
				}
				x.violate(RuleResumable, cl.name, e.T, "%s: it skipped %d seqs: %s", pre, len(b), seqList(ps, false))
				x.diagnose(DiagResumeGap)
			}
		}
	}
}
