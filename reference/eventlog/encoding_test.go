package eventlog

import (
	"sync"
	"sync/atomic"
	"testing"
)

// builds counts the calls of testEncoding's build function.
var builds atomic.Int64

var testEncoding = NewEncoding(func(ev Event) []byte {
	builds.Add(1)
	return append([]byte(ev.ID+":"), ev.Data...)
})

func TestEncodingBuiltOncePerEvent(t *testing.T) {
	_, l := mustLog(t, Options{})
	ev := l.Append([]byte("x"))
	builds.Store(0)
	var wg sync.WaitGroup
	got := make([][]byte, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, _ := l.Since(l.Start(), 0) // a copy of the event, as every reader gets
			got[i] = testEncoding.Of(evs[0])
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("built %d times for 50 readers, want once", n)
	}
	want := ev.ID + ":x"
	for _, b := range got {
		if string(b) != want || &b[0] != &got[0][0] {
			t.Fatalf("got %q (shared: %v), want the same %q for every reader", b, &b[0] == &got[0][0], want)
		}
	}
	if b := testEncoding.Of(ev); &b[0] != &got[0][0] {
		t.Fatal("the event returned by Append does not share the encoding of its copies")
	}
}

func TestEncodingOfForeignEvent(t *testing.T) {
	builds.Store(0)
	ev := Event{ID: "e-1", Data: []byte("y")}
	if a, b := testEncoding.Of(ev), testEncoding.Of(ev); string(a) != "e-1:y" || string(b) != "e-1:y" || builds.Load() != 2 {
		t.Fatalf("got %q %q after %d builds", a, b, builds.Load())
	}
}
