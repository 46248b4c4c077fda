package framework

import (
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
