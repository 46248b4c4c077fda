package main

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"sync"
	"time"

	"go.uber.org/goleak"
)

// SelfCheckEnv, set to any value, makes run and deploy report the suite's own footprint on
// stderr when they end: the peak of the live heap during the run (runtime/metrics, sampled
// every 20 ms) and the goroutines left after the run stopped everything it started
// (go.uber.org/goleak), with their stacks. The project's hostile-target tests read it.
const SelfCheckEnv = "RTCONFORM_SELFCHECK"

// selfCheck starts sampling when SelfCheckEnv is set and returns the func that stops it and
// reports; it does nothing otherwise.
func selfCheck(stderr io.Writer) func() {
	if os.Getenv(SelfCheckEnv) == "" {
		return func() {}
	}
	existing := goleak.IgnoreCurrent()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
	)
	read := func() {
		metrics.Read(sample)
		mu.Lock()
		peak = max(peak, sample[0].Value.Uint64())
		mu.Unlock()
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		read()
		// goleak retries for about a second: goroutines of closed connections end shortly after.
		// Ginkgo's interrupt handler lives as long as the process.
		err := goleak.Find(existing, goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "rtconform selfcheck: peak heap %d bytes\n", peak)
		if err != nil {
			fmt.Fprintf(stderr, "rtconform selfcheck: goroutines left after the run: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "rtconform selfcheck: no goroutine left after the run\n")
		}
	}
}
