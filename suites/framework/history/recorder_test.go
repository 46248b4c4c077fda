package history

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock advances by step on every read.
func fakeClock(r *Recorder, step time.Duration) {
	var now time.Duration
	r.clock = func() time.Duration { now += step; return now }
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(0, map[string]string{MetaCheck: "RC-SSE-001"}, SafetyRules())
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := fmt.Sprintf("sse-%d", w)
			r.Connect(c, "sse", "t", "", r.Now(), nil)
			for i := range each - 2 {
				r.Event(c, fmt.Sprint(i), int64(i))
			}
			r.Disconnect(c, CauseClientClose)
		}()
	}
	wg.Go(func() { r.SetMeta(MetaRun, "run-1") })
	wg.Wait()
	h := r.History()
	if len(h.Ops) != workers*each || r.Len() != workers*each || r.Dropped() != 0 {
		t.Fatalf("recorded %d ops, want %d", len(h.Ops), workers*each)
	}
	for i := 1; i < len(h.Ops); i++ {
		if h.Ops[i].T < h.Ops[i-1].T {
			t.Fatalf("op %d at %v before op %d at %v", i, h.Ops[i].T, i-1, h.Ops[i-1].T)
		}
	}
	if h.Meta[MetaCheck] != "RC-SSE-001" || h.Meta[MetaRun] != "run-1" || !h.Rules.Unique {
		t.Errorf("meta %v rules %+v", h.Meta, h.Rules)
	}
	wantNone(t, Check(h))
}

func TestRecorderOverflow(t *testing.T) {
	r := NewRecorder(3, nil, Rules{NoLoss: true})
	fakeClock(r, ms)
	r.Connect("s1", "sse", "t", "", 0, nil)
	r.PublishInvoke("p", "t", 1)
	r.PublishOK("p", "t", 1) // the third op: the limit
	r.Event("s1", "1", 1)    // replaced by the overflow op
	r.Disconnect("s1", CauseEOF)
	h := r.History()
	if len(h.Ops) != 4 || r.Dropped() != 2 {
		t.Fatalf("ops %v dropped %d", h.Ops, r.Dropped())
	}
	last := h.Ops[3]
	if last.Kind != KindOverflow || last.T != 4*ms || last.Detail != "limit of 3 ops reached; 2 later ops dropped (the first a event)" {
		t.Errorf("overflow op %+v", last)
	}
	rep := Analyze(h)
	v := wantOne(t, rep.Violations, RuleComplete, "history truncated: limit of 3 ops reached")
	if v.T != 4*ms {
		t.Errorf("violation %+v", v)
	}
	// s1 never received the ok publish 1, but the evidence may have been dropped: not judged.
	wantNone(t, only(rep.Violations, RuleNoLoss))
	wantNote(t, rep.Notes, "NoLoss: missing events not judged on a truncated history")
	if !rep.Truncated || !strings.Contains(rep.Summary(), "TRUNCATED") {
		t.Errorf("report %+v", rep)
	}
}

func TestRecorderFields(t *testing.T) {
	r := NewRecorder(10, nil, Rules{})
	fakeClock(r, ms)
	start := r.Now()
	r.Connect("s1", "websocket", "t", "tok", start, fmt.Errorf(""))
	r.Connect("s1", "websocket", "t", "tok", start, nil)
	r.EventRetry("s1", "7", 7, 3*time.Second)
	r.Event("s1", strings.Repeat("x", 2*MaxField), NoSeq)
	r.Disconnect("s1", ErrorCause(fmt.Errorf("bad \xff byte")))
	r.PublishFail("p", "t", 8, errBoom)
	r.PublishUnknown("p", "t", 9, nil)
	ops := r.History().Ops
	if ops[0].OK() || ops[0].Err != "connect failed" || ops[0].Start != ms || ops[0].T != 2*ms || !ops[1].OK() {
		t.Errorf("connects %+v %+v", ops[0], ops[1])
	}
	if !ops[2].HasRetry || ops[2].Retry != 3*time.Second {
		t.Errorf("event %+v", ops[2])
	}
	if len(ops[3].ID) != MaxField+len("…") {
		t.Errorf("id of %d bytes not clipped", len(ops[3].ID))
	}
	if ops[4].Cause != "error: bad \uFFFD byte" {
		t.Errorf("cause %q", ops[4].Cause)
	}
	if ops[5].Err != "boom" || ops[6].Err != "" || ops[6].Kind != KindPublishUnknown {
		t.Errorf("publishes %+v %+v", ops[5], ops[6])
	}
}
