package framework

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A serial check runs alone: no ordinary check overlaps it, and serial checks waiting go
// before ordinary checks waiting (they would otherwise wait behind every long check).
func TestGateRunsSerialChecksAlone(t *testing.T) {
	var g gate
	var ordinary, serial, overlaps, maxOrdinary atomic.Int32
	var wg sync.WaitGroup
	run := func(isSerial bool, d time.Duration) {
		defer wg.Done()
		g.enter(isSerial)
		if isSerial {
			if serial.Add(1) > 1 || ordinary.Load() > 0 {
				overlaps.Add(1)
			}
		} else {
			n := ordinary.Add(1)
			for m := maxOrdinary.Load(); n > m && !maxOrdinary.CompareAndSwap(m, n); m = maxOrdinary.Load() {
			}
			if serial.Load() > 0 {
				overlaps.Add(1)
			}
		}
		time.Sleep(d)
		if isSerial {
			serial.Add(-1)
		} else {
			ordinary.Add(-1)
		}
		g.leave(isSerial)
	}
	for i := range 40 {
		wg.Add(1)
		go run(i%7 == 0, time.Duration(i%5)*time.Millisecond)
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Errorf("%d times a serial check ran together with another check", overlaps.Load())
	}
	if maxOrdinary.Load() < 2 {
		t.Errorf("ordinary checks never ran together (at most %d at once)", maxOrdinary.Load())
	}

	// Two serial checks queued behind a running ordinary check run before the ordinary
	// checks that arrive after them.
	g.enter(false)
	order := make(chan string, 4)
	for _, name := range []string{"serial-1", "serial-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.enter(true)
			order <- name
			time.Sleep(10 * time.Millisecond)
			g.leave(true)
		}()
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.serialWaiting == 2 })
	wg.Add(1)
	go func() { defer wg.Done(); g.enter(false); order <- "ordinary"; g.leave(false) }()
	g.leave(false)
	wg.Wait()
	close(order)
	var got []string
	for s := range order {
		got = append(got, s)
	}
	if len(got) != 3 || got[2] != "ordinary" {
		t.Errorf("order %v: the ordinary check must come after both serial checks", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A Timed check that fails is judged once more, alone, on topics of its own; the second
// verdict stands and records the first. A check that is not Timed is judged once.
func TestTimedCheckIsJudgedAgainAlone(t *testing.T) {
	r := &Run{ID: "0123456789abcdef"}
	s := newScheduler(r)
	defer s.close()
	var calls atomic.Int32
	var topics []string
	var mu sync.Mutex
	check := func(timed bool, failures int32) Check {
		calls.Store(0)
		return Check{ID: "TEST-TIMED-001", Level: MUST, Timeout: 5 * time.Second, Timed: timed, Run: func(ft *T) {
			mu.Lock()
			topics = append(topics, ft.Topic())
			mu.Unlock()
			if calls.Add(1) <= failures {
				ft.TimingOnly()
				ft.Violation("lag under 2s", "lag 2.4s")
			}
		}}
	}
	judge := func(c Check) *execution {
		j := &job{c: c, done: make(chan struct{})}
		s.judge(j)
		return j.ex
	}

	ex := judge(check(true, 1))
	if ex.outcome != nil || calls.Load() != 2 {
		t.Fatalf("a Timed check failing once: outcome %v after %d judgings, want a pass after 2", ex.outcome, calls.Load())
	}
	if len(topics) != 2 || topics[0] == topics[1] {
		t.Errorf("topics %v: the second judging needs a topic of its own", topics)
	}
	if m := ex.res.Measurements; len(m) != 1 || m[0].Name != "first_attempt" || !strings.Contains(m[0].Value, "lag 2.4s") {
		t.Errorf("measurements %v: want first_attempt naming the first observation", m)
	}

	if ex := judge(check(true, 2)); !ex.violated() || calls.Load() != 2 {
		t.Errorf("a Timed check failing every time: violated %v after %d judgings, want a violation after 2", ex.violated(), calls.Load())
	}
	if ex := judge(check(false, 1)); !ex.violated() || calls.Load() != 1 {
		t.Errorf("an ordinary check: violated %v after %d judgings, want the first violation to stand", ex.violated(), calls.Load())
	}
	lost := check(true, 1)
	lost.Run = func(ft *T) { calls.Add(1); ft.Violation("every event", "seq 7 lost") }
	if ex := judge(lost); !ex.violated() || calls.Load() != 1 {
		t.Errorf("a Timed check losing an event: violated %v after %d judgings, want the first violation to stand", ex.violated(), calls.Load())
	}
	if ex := judge(check(true, 0)); ex.outcome != nil || calls.Load() != 1 {
		t.Errorf("a passing Timed check: outcome %v after %d judgings, want one pass", ex.outcome, calls.Load())
	}
}
