package eventlog

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustLog(t *testing.T, opts Options) (*Topics, *Log) {
	t.Helper()
	ts := NewTopics(opts)
	l, err := ts.Get("t")
	if err != nil {
		t.Fatal(err)
	}
	return ts, l
}

func seqs(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func TestEpochAndIDs(t *testing.T) {
	ts, l := mustLog(t, Options{})
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(ts.Epoch()) {
		t.Fatalf("epoch %q", ts.Epoch())
	}
	if ts2 := NewTopics(Options{}); ts2.Epoch() == ts.Epoch() {
		t.Logf("two epochs collided (1 in 2^32): %s", ts.Epoch())
	}
	if got, want := l.Head(), ts.Epoch()+"-0"; got != want {
		t.Fatalf("Head()=%q want %q", got, want)
	}
	if got, want := l.Start(), ts.Epoch()+"-0"; got != want {
		t.Fatalf("Start()=%q want %q", got, want)
	}
	data := []byte("hello")
	e1 := l.Append(data)
	data[0] = 'X' // data is copied
	e2 := l.Append(nil)
	if e1.Seq != 1 || e1.ID != ts.Epoch()+"-1" || string(e1.Data) != "hello" {
		t.Fatalf("e1 = %+v", e1)
	}
	if e2.Seq != 2 || e2.ID != ts.Epoch()+"-2" || e2.Data == nil || len(e2.Data) != 0 {
		t.Fatalf("e2 = %+v", e2)
	}
	if l.Head() != e2.ID || l.HeadSeq() != 2 {
		t.Fatalf("Head()=%q", l.Head())
	}
	evs, gap := l.Since(l.Start(), 0)
	if gap != nil || len(evs) != 2 || string(evs[0].Data) != "hello" {
		t.Fatalf("Since(start) = %+v, %v", evs, gap)
	}
	// Same topic name returns the same log; another topic has its own seq.
	l2, _ := ts.Get("t")
	if l2 != l {
		t.Fatal("Get returned a different log for the same topic")
	}
	o, _ := ts.Get("other")
	if e := o.Append([]byte("x")); e.Seq != 1 {
		t.Fatalf("other topic seq = %d", e.Seq)
	}
	if ts.Len() != 2 {
		t.Fatalf("Len()=%d", ts.Len())
	}
}

func TestTopicNames(t *testing.T) {
	ts := NewTopics(Options{MaxTopics: 3})
	for _, bad := range []string{"", "a/b", "a b", "é", strings.Repeat("a", 129), "a?", "a%20"} {
		if _, err := ts.Get(bad); err != ErrInvalidTopic {
			t.Errorf("Get(%q) err=%v, want ErrInvalidTopic", bad, err)
		}
	}
	for _, good := range []string{"A-z_0.9~", strings.Repeat("a", 128), "x"} {
		if _, err := ts.Get(good); err != nil {
			t.Errorf("Get(%q) err=%v", good, err)
		}
	}
	if _, err := ts.Get("fourth"); err != ErrTooManyTopics {
		t.Fatalf("4th topic err=%v, want ErrTooManyTopics", err)
	}
	if _, err := ts.Get("x"); err != nil {
		t.Fatalf("existing topic after limit: %v", err)
	}
}

func TestSinceExclusiveAndMax(t *testing.T) {
	_, l := mustLog(t, Options{})
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, l.Append([]byte(fmt.Sprint(i))).ID)
	}
	evs, gap := l.Since(ids[3], 0)
	if gap != nil || fmt.Sprint(seqs(evs)) != "[5 6 7 8 9 10]" {
		t.Fatalf("Since(id4)=%v gap=%v", seqs(evs), gap)
	}
	evs, gap = l.Since(ids[3], 2)
	if gap != nil || fmt.Sprint(seqs(evs)) != "[5 6]" {
		t.Fatalf("Since(id4,2)=%v gap=%v", seqs(evs), gap)
	}
	evs, gap = l.Since(l.Head(), 0)
	if gap != nil || len(evs) != 0 {
		t.Fatalf("Since(head)=%v gap=%v", seqs(evs), gap)
	}
	evs, gap = l.Since(l.Start(), -1)
	if gap != nil || len(evs) != 10 {
		t.Fatalf("Since(start,-1)=%v gap=%v", seqs(evs), gap)
	}
}

func TestUnknownCursors(t *testing.T) {
	ts, l := mustLog(t, Options{})
	for i := 0; i < 3; i++ {
		l.Append([]byte("x"))
	}
	ep := ts.Epoch()
	for _, c := range []string{"", "garbage", ep, ep + "-", ep + "-x", ep + "-+1", ep + "--1", ep + "-4", ep + "-99999999999999999999999",
		"deadbee0-1", strings.ToUpper(ep) + "-1", ep + "-1 "} {
		if c == ep+"-1" { // e.g. ToUpper of an all-digit epoch
			continue
		}
		evs, gap := l.Since(c, 0)
		if gap == nil || gap.Reason != ReasonUnknown || gap.Requested != c {
			t.Errorf("Since(%q) gap=%+v, want unknown", c, gap)
			continue
		}
		if fmt.Sprint(seqs(evs)) != "[1 2 3]" {
			t.Errorf("Since(%q) events=%v, want all retained", c, seqs(evs))
		}
		if gap.Error() == "" {
			t.Error("empty Gap.Error")
		}
	}
}

func TestRetentionByCount(t *testing.T) {
	_, l := mustLog(t, Options{MaxEvents: 3})
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, l.Append([]byte(fmt.Sprint(i))).ID)
	}
	// retained: 3,4,5
	evs, gap := l.Since(l.Start(), 0)
	if gap == nil || gap.Reason != ReasonExpired || fmt.Sprint(seqs(evs)) != "[3 4 5]" {
		t.Fatalf("Since(start)=%v gap=%+v", seqs(evs), gap)
	}
	evs, gap = l.Since(ids[0], 0) // seq 1: seq 2 lost
	if gap == nil || gap.Reason != ReasonExpired || gap.Requested != ids[0] || fmt.Sprint(seqs(evs)) != "[3 4 5]" {
		t.Fatalf("Since(1)=%v gap=%+v", seqs(evs), gap)
	}
	evs, gap = l.Since(ids[1], 0) // seq 2 == oldest-1: not a gap
	if gap != nil || fmt.Sprint(seqs(evs)) != "[3 4 5]" {
		t.Fatalf("Since(2)=%v gap=%+v", seqs(evs), gap)
	}
	evs, gap = l.Since(ids[0], 1)
	if gap == nil || fmt.Sprint(seqs(evs)) != "[3]" {
		t.Fatalf("Since(1,1)=%v gap=%+v", seqs(evs), gap)
	}
}

func TestRetentionByAge(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	_, l := mustLog(t, Options{MaxAge: time.Minute, Now: clk.Now})
	e1 := l.Append([]byte("a"))
	clk.Add(30 * time.Second)
	e2 := l.Append([]byte("b"))
	clk.Add(31 * time.Second) // e1 is 61s old, e2 31s
	evs, gap := l.Since(e1.ID, 0)
	if gap != nil || fmt.Sprint(seqs(evs)) != "[2]" {
		t.Fatalf("Since(e1) after e1 aged out=%v gap=%+v (e1 itself is not needed)", seqs(evs), gap)
	}
	evs, gap = l.Since(l.Start(), 0)
	if gap == nil || gap.Reason != ReasonExpired || fmt.Sprint(seqs(evs)) != "[2]" {
		t.Fatalf("Since(start)=%v gap=%+v", seqs(evs), gap)
	}
	clk.Add(time.Hour) // everything aged out; head is remembered
	evs, gap = l.Since(e2.ID, 0)
	if gap != nil || len(evs) != 0 {
		t.Fatalf("Since(head) after all aged out=%v gap=%+v", seqs(evs), gap)
	}
	evs, gap = l.Since(e1.ID, 0)
	if gap == nil || gap.Reason != ReasonExpired || len(evs) != 0 {
		t.Fatalf("Since(e1) after all aged out=%v gap=%+v", seqs(evs), gap)
	}
	if l.Head() != e2.ID {
		t.Fatalf("Head()=%q want %q", l.Head(), e2.ID)
	}
	e3 := l.Append([]byte("c"))
	if e3.Seq != 3 {
		t.Fatalf("seq after expiry = %d", e3.Seq)
	}
	evs, gap = l.Since(e2.ID, 0)
	if gap != nil || fmt.Sprint(seqs(evs)) != "[3]" {
		t.Fatalf("Since(e2)=%v gap=%+v", seqs(evs), gap)
	}
	if !e3.Time.Equal(clk.Now()) {
		t.Fatalf("event time %v, want injected %v", e3.Time, clk.Now())
	}
}

func TestChanged(t *testing.T) {
	_, l := mustLog(t, Options{})
	ch1 := l.Changed()
	ch2 := l.Changed()
	select {
	case <-ch1:
		t.Fatal("closed before Append")
	default:
	}
	done := make(chan struct{})
	go func() {
		<-ch1
		close(done)
	}()
	l.Append([]byte("x"))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
	select {
	case <-ch2: // broadcast: every holder is woken
	default:
		t.Fatal("second holder not woken")
	}
	ch3 := l.Changed()
	select {
	case <-ch3:
		t.Fatal("new channel already closed")
	default:
	}
}

func TestConcurrent(t *testing.T) {
	ts := NewTopics(Options{MaxEvents: 50})
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	l, _ := ts.Get("c")
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				l.Append([]byte("x"))
				if _, err := ts.Get(fmt.Sprintf("t%d", i%10)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	// Readers follow the log with Changed/Since and check order/contiguity.
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur := l.Start()
			var last uint64
			for last < writers*perWriter {
				ch := l.Changed()
				evs, gap := l.Since(cur, 7)
				for i, e := range evs {
					if gap == nil && i == 0 && e.Seq != last+1 {
						t.Errorf("non-contiguous: %d after %d without gap", e.Seq, last)
						return
					}
					if e.Seq <= last {
						t.Errorf("out of order: %d after %d", e.Seq, last)
						return
					}
					last = e.Seq
					cur = e.ID
				}
				if len(evs) == 0 {
					select {
					case <-ch:
					case <-time.After(10 * time.Second):
						t.Error("reader stalled")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if l.HeadSeq() != writers*perWriter {
		t.Fatalf("head %d", l.HeadSeq())
	}
}

func TestReadNext(t *testing.T) {
	ts, l := mustLog(t, Options{MaxEvents: 2})
	ep := ts.Epoch()
	for _, p := range []string{"a", "b", "c"} {
		l.Append([]byte(p))
	}
	for _, c := range []struct {
		cursor, next string
		n            int
		gap          bool
	}{
		{ep + "-1", ep + "-3", 2, false}, // 2 and 3 retained: no gap
		{ep + "-3", ep + "-3", 0, false}, // at the head
		{ep + "-0", ep + "-3", 2, true},  // 1 expired
		{"bogus", ep + "-3", 2, true},
	} {
		evs, gap, next := l.Read(nil, c.cursor, 0)
		if len(evs) != c.n || (gap != nil) != c.gap || next != c.next {
			t.Errorf("Read(%q) = %d events, gap %v, next %q; want %d, %v, %q", c.cursor, len(evs), gap, next, c.n, c.gap, c.next)
		}
	}
	// A gap without retained events continues from the head.
	_, l2 := mustLog(t, Options{MaxAge: time.Nanosecond})
	l2.Append([]byte("x"))
	time.Sleep(time.Millisecond)
	if evs, gap, next := l2.Read(nil, "bogus", 0); len(evs) != 0 || gap == nil || next != l2.Head() {
		t.Errorf("after expiry: %d events, gap %v, next %q; want none, a gap, %q", len(evs), gap, next, l2.Head())
	}
}

func TestReadIntoRecycledBuffer(t *testing.T) {
	_, l := mustLog(t, Options{})
	a := l.Append([]byte("a"))
	l.Append([]byte("b"))
	buf := make([]Event, 0, 2)
	evs, _, _ := l.Read(buf, l.Start(), 0)
	if len(evs) != 2 || &evs[0] != &buf[:1][0] {
		t.Fatalf("read %d events, into the buffer: %v", len(evs), &evs[0] == &buf[:1][0])
	}
	if r := Recycle(evs); len(r) != 0 || cap(r) != 2 || evs[0].Data != nil {
		t.Fatalf("recycled: len %d cap %d, first event %+v", len(r), cap(r), evs[0])
	}
	if r := Recycle(make([]Event, 1, recycleCap+1)); r != nil {
		t.Fatal("a large buffer was kept")
	}
	if allocs := testing.AllocsPerRun(100, func() {
		evs, _, _ = l.Read(Recycle(evs), a.ID, 0) // one event
		head := evs[0].ID                         // (Recycle clears evs)
		evs, _, _ = l.Read(Recycle(evs), head, 0) // none: the buffer stays
	}); allocs != 0 {
		t.Fatalf("%v allocations per read into a recycled buffer", allocs)
	}
}
