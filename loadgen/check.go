package loadgen

import (
	"slices"
	"strings"

	"github.com/rtconform/rtconform/suites/framework/history"
)

// topicState is one topic of a load run: its publisher's log and its subscribers.
type topicState struct {
	name string
	pubs pubLog
	subs []*subRec
}

// Verdict is what the history checker found over every topic.
type Verdict struct {
	// Violations counts the violations per rule (Ordered, Unique, NoLoss, Resumable, …),
	// summed over topics. The checker lists at most history.MaxPerRule per rule and topic.
	Violations map[string]int `json:"violations"`
	// Lost, Duplicates and Foreign are the checker's per-client measures summed: accountable
	// events never received, extra receipts of a seq, events that were not this run's.
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`
	Foreign    int `json:"foreign"`
	// Excused is accountable events never received but excused by the target's reset signal.
	Excused int `json:"excused"`
	// Events is how many received events the checker judged.
	Events int `json:"events_checked"`
	// Examples are the first violations found (at most maxExamples), one line each.
	Examples []string `json:"examples,omitempty"`
}

const maxExamples = 20

// Failed reports whether the checker found loss, duplicates, disorder or another violation.
func (v Verdict) Failed() bool { return len(v.Violations) > 0 }

// maxJudgeEvents bounds the received events of one history the checker judges at once (a
// history.Op is ~220 bytes, and the checker indexes each): a topic whose subscribers received
// more is judged in groups of subscribers, each group with all of the topic's publishes.
const maxJudgeEvents = 1_000_000

// judge builds each topic's history (publishes and its subscribers' ops, in T order) and runs
// the history checker on it, one topic at a time, so only one topic's full history is in
// memory; a topic with more than maxJudgeEvents received events is judged in groups of
// subscribers. Grouping changes no verdict for a load run's workload: Unique, NoLoss and
// Resumable judge each subscriber on its own, and since the topic's one publisher publishes one
// event at a time, its acknowledged publishes alone order every seq, so a subscriber that saw
// two seqs out of order contradicts the publishes within its own group.
func judge(topics []*topicState, rules history.Rules, meta map[string]string) Verdict {
	v := Verdict{Violations: map[string]int{}}
	for _, tp := range topics {
		for _, group := range groups(tp.subs, maxJudgeEvents) {
			v.add(tp.name, history.Analyze(history.History{Meta: meta, Rules: rules, Ops: topicOps(tp, group)}))
		}
	}
	return v
}

// groups splits subs into consecutive groups of at most max received events (a subscriber
// with more is a group of its own).
func groups(subs []*subRec, max int) [][]*subRec {
	var out [][]*subRec
	start, n := 0, 0
	for i, s := range subs {
		k := s.eventCount()
		if i > start && n+k > max {
			out = append(out, subs[start:i])
			start, n = i, 0
		}
		n += k
	}
	if start < len(subs) {
		out = append(out, subs[start:])
	}
	return out
}

// add counts one history's report into v.
func (v *Verdict) add(topic string, rep history.Report) {
	for _, x := range rep.Violations {
		v.Violations[x.Rule]++
		if len(v.Examples) < maxExamples {
			v.Examples = append(v.Examples, topic+": "+clip(x.String(), 600))
		}
	}
	for _, c := range rep.Clients {
		v.Lost += c.Missing
		v.Duplicates += c.Duplicates
		v.Foreign += c.Foreign
		v.Excused += c.Excused
		v.Events += c.Events
	}
}

// topicOps merges a topic's publish ops and the ops of subs by T (a stable sort: ops of one
// source keep their recording order).
func topicOps(tp *topicState, subs []*subRec) []history.Op {
	var ops []history.Op
	for _, p := range tp.pubs.snapshot() {
		ops = append(ops,
			history.Op{T: p.invoke, Kind: history.KindPublishInvoke, Publisher: "pub", Topic: tp.name, Seq: p.seq},
			history.Op{T: p.done, Kind: p.outcome, Publisher: "pub", Topic: tp.name, Seq: p.seq, Err: p.err})
	}
	for _, s := range subs {
		ops = append(ops, s.ops()...)
	}
	slices.SortStableFunc(ops, func(a, b history.Op) int {
		switch {
		case a.T < b.T:
			return -1
		case a.T > b.T:
			return 1
		}
		return 0
	})
	return ops
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
