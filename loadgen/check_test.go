package loadgen

import (
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtconform/rtconform/suites/framework/history"
)

// topicWith builds a topic as a load run records it: one subscriber per receipt list connects,
// publishes 1..n are acknowledged one after the other, then each subscriber receives its list
// (and one foreign payload) and is closed.
func topicWith(n int, receipts ...[]int64) *topicState {
	c := &clock{start: time.Now()}
	var lat Histogram
	var delivered, last atomic.Int64
	tp := &topicState{name: "t"}
	for i := range receipts {
		r := newSubRec(c, "sse-"+string(rune('a'+i)), "sse", "t", "run1", &lat, &delivered, &last)
		if i == 0 { // a failed attempt first: counted, not judged
			r.Connect(r.name, "sse", "t", "", c.now(), errors.New("refused"))
		}
		r.Connect(r.name, "sse", "t", "", c.now(), nil)
		tp.subs = append(tp.subs, r)
	}
	for seq := int64(1); seq <= int64(n); seq++ {
		inv := c.now()
		tp.pubs.add(publish{seq: seq, invoke: inv, done: c.now(), outcome: history.KindPublishOK})
	}
	for i, got := range receipts {
		r := tp.subs[i]
		for _, seq := range got {
			r.Seq(string(makePayload("run1", seq, time.Now())))
			r.Event(r.name, "id", history.NoSeq)
		}
		r.Seq(`{"other":"payload"}`) // foreign
		r.Event(r.name, "x", history.NoSeq)
		r.Disconnect(r.name, history.CauseClientClose)
	}
	return tp
}

// Judging a topic's subscribers in groups finds what judging them together finds.
func TestJudgeGroupsAgree(t *testing.T) {
	tp := topicWith(5,
		[]int64{1, 2, 3, 4, 5},
		[]int64{1, 3, 2, 4, 5}, // reordered
		[]int64{1, 2, 3, 5},    // lost 4
		[]int64{1, 2, 2, 3, 4, 5})
	rules := history.SafetyRules()
	rules.Resumable = false
	whole := Verdict{Violations: map[string]int{}}
	whole.add(tp.name, history.Analyze(history.History{Rules: rules, Ops: topicOps(tp, tp.subs)}))
	split := Verdict{Violations: map[string]int{}}
	gs := groups(tp.subs, 7)
	if len(gs) != 4 {
		t.Fatalf("%d groups, want 4 (7 events each at most)", len(gs))
	}
	for _, g := range gs {
		split.add(tp.name, history.Analyze(history.History{Rules: rules, Ops: topicOps(tp, g)}))
	}
	for _, rule := range []string{history.RuleOrdered, history.RuleUnique, history.RuleNoLoss} {
		if whole.Violations[rule] == 0 {
			t.Errorf("whole: no %s violation: %+v", rule, whole)
		}
	}
	if !maps.Equal(whole.Violations, split.Violations) || whole.Lost != split.Lost || whole.Duplicates != split.Duplicates ||
		whole.Events != split.Events || whole.Foreign != 4 || whole.Lost != 1 || whole.Duplicates != 1 {
		t.Errorf("whole %+v\nsplit %+v", whole, split)
	}
	if c, e, _, _ := tp.subs[0].counts(); c != 1 || e != 1 {
		t.Errorf("connects %d, errors %d", c, e)
	}
}
