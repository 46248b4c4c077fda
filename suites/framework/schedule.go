package framework

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// # Concurrent checks
//
// Most checks spend their time waiting (a heartbeat interval, a long-poll hold, a keepalive,
// a timeout), so a run judges several checks at once. Ginkgo's in-process RunSpecs runs one
// spec at a time and its parallel mode needs the ginkgo CLI's worker processes, which would
// split the run's shared state (the in-process reference, the run's Toxiproxy backend and
// proxies, the deployment's root causes) across processes. So the framework schedules the
// checks itself, inside the one process: Run.Schedule starts n-1 goroutines that judge the
// selected checks ahead of their specs, and each Ginkgo spec only reports its check's
// verdict, waiting for it when a goroutine is still judging it and judging it itself when no
// goroutine has started it yet. At most n checks are judged at once. Every check keeps its
// private topics, its own HTTP client and its own timeout, which starts when its judging
// starts, not when its spec starts.
//
// Checks that need the machine to themselves (Check.Serial: a restart of the target, a
// latency budget, a connection storm) are judged alone: no other check runs while one does.
// The goroutines take them first, one after the other, then the rest longest-timeout first
// (the checks that wait longest start earliest). Reporting stays Ginkgo's: the specs, their
// labels, the JUnit file and the report are the same whatever the concurrency.

// DefaultConcurrency is how many checks a run judges at once when the command line does not
// say (rtconform run --concurrency): the checks mostly wait on sockets and timers.
const DefaultConcurrency = 8

// MaxConcurrency bounds --concurrency.
const MaxConcurrency = 64

// Grace is how long a check whose timeout expired may take to return; a check still running
// after it gets a verdict from its timeout and is abandoned.
const Grace = 30 * time.Second

// specBackstop is added to a check's timeout for its Ginkgo spec: the framework bounds the
// check itself (Timeout + Grace from the start of its judging); the spec's own timeout only
// catches a framework fault, and must leave room for waiting on a check judged alone.
const specBackstop = 10 * time.Minute

// Serial reports whether the check must be judged alone: Check.Serial, or a check that
// restarts the target (every other check's connections would die with it).
func (c Check) serial() bool {
	return c.Serial || slices.Contains(c.Requires, CapRestart)
}

// scheduler judges the checks of a run; one per Run.
type scheduler struct {
	run    *Run
	ctx    context.Context // cancelled with the interrupt's cause, or at Teardown
	cancel context.CancelCauseFunc
	// gate lets checks run together, and a serial check alone.
	gate gate

	mu      sync.Mutex
	jobs    map[string]*job
	queue   []*job // the jobs the goroutines take, in order
	workers sync.WaitGroup
}

type job struct {
	c       Check
	started bool          // guarded by scheduler.mu
	done    chan struct{} // closed when ex is set
	ex      *execution
}

func newScheduler(r *Run) *scheduler {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &scheduler{run: r, ctx: ctx, cancel: cancel, jobs: map[string]*job{}}
}

// Schedule makes the run judge the checks labelFilter selects (and the profile enables) n at a
// time; call it after Setup and before RunSpecs. n ≤ 1 judges each check inside its own spec,
// one after the other. A check whose spec Ginkgo's focus or skip leaves out is judged all the
// same (the goroutines see only the label filter); select with labels to avoid the waste.
func (r *Run) Schedule(labelFilter string, n int) error {
	if n > MaxConcurrency {
		return fmt.Errorf("concurrency %d is more than %d", n, MaxConcurrency)
	}
	match := func([]string) bool { return true }
	if labelFilter != "" {
		f, err := types.ParseLabelFilter(labelFilter)
		if err != nil {
			return err
		}
		match = f
	}
	s := r.scheduler()
	if n <= 1 {
		return nil
	}
	s.mu.Lock()
	for _, c := range Checks() {
		if match(c.AllLabels()) && s.jobs[c.Key()] == nil {
			j := &job{c: c, done: make(chan struct{})}
			s.jobs[c.Key()] = j
			s.queue = append(s.queue, j)
		}
	}
	slices.SortStableFunc(s.queue, func(a, b *job) int {
		if a.c.serial() != b.c.serial() {
			if a.c.serial() {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.c.Timeout, a.c.Timeout)
	})
	s.mu.Unlock()
	for range n - 1 {
		s.workers.Add(1)
		go s.work()
	}
	return nil
}

// scheduler returns the run's scheduler, creating a sequential one on first use.
func (r *Run) scheduler() *scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sched == nil {
		r.sched = newScheduler(r) // Teardown closes it before stopping anything else
	}
	return r.sched
}

// work judges queued checks until none is left or the run ends.
func (s *scheduler) work() {
	defer s.workers.Done()
	for s.ctx.Err() == nil {
		j := s.claimNext()
		if j == nil {
			return
		}
		s.judge(j)
	}
}

func (s *scheduler) claimNext() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 {
		j := s.queue[0]
		s.queue = s.queue[1:]
		if !j.started {
			j.started = true
			return j
		}
	}
	return nil
}

// judge evaluates the check of j (alone when it is serial), bounded by its timeout plus
// Grace, and publishes the execution. A Timed check that fails is judged once more, alone,
// and the second verdict stands (see Check.Timed).
func (s *scheduler) judge(j *job) {
	defer close(j.done)
	j.ex = s.attempt(j.c, j.c.serial(), 0)
	if !j.c.Timed || !j.ex.violated() || !j.ex.timing || s.ctx.Err() != nil {
		return
	}
	first := j.ex
	kept := keepFirstHistory(first.res.History)
	j.ex = s.attempt(j.c, true, 1)
	j.ex.res.Measurements = append(j.ex.res.Measurements, Measurement{Name: "first_attempt", Value: first.firstAttempt(j.c, kept)})
}

// attempt is one judging of c: n counts the earlier ones (a retry gets topics of its own).
func (s *scheduler) attempt(c Check, alone bool, n int) *execution {
	s.gate.enter(alone)
	defer s.gate.leave(alone)
	if err := s.ctx.Err(); err != nil {
		why := interruptedBy(s.ctx)
		if why == "" {
			why = fmt.Sprint(context.Cause(s.ctx))
		}
		return &execution{res: baseResult(c), interrupted: why}
	}
	ctx, cancel := context.WithTimeout(s.ctx, c.Timeout)
	defer cancel()
	out := make(chan *execution, 1)
	start := time.Now()
	go func() { out <- evaluate(ctx, s.run, c, n) }()
	select {
	case ex := <-out:
		return ex
	case <-time.After(c.Timeout + Grace):
		// The check ignores its context: give it a verdict from its timeout and let it go.
		ex := &execution{res: baseResult(c), hung: true, interrupted: interruptedBy(ctx)}
		ex.res.DurationMS = time.Since(start).Milliseconds()
		return ex
	}
}

// violated reports whether the check ran to its end and found a violation (not an interrupt,
// a hang, a harness fault or an early verdict).
func (ex *execution) violated() bool {
	_, ok := ex.outcome.(violation)
	return ok && !ex.early && !ex.disabled && !ex.hung && ex.interrupted == ""
}

// firstAttempt describes a failed first judging of a Timed check for the second one's result.
func (ex *execution) firstAttempt(c Check, history string) string {
	v := ex.outcome.(violation)
	how := "judged beside the run's other checks"
	if c.serial() {
		how = "judged alone"
	}
	s := fmt.Sprintf("failed when %s (observed: %s)", how, strings.TrimSpace(v.observed))
	if v.observed == "" {
		s = fmt.Sprintf("failed when %s (%s)", how, strings.TrimSpace(v.msg))
	}
	if history != "" {
		s += "; its history: " + history
	}
	return s + "; this verdict is the second judging's, alone"
}

// keepFirstHistory moves a first attempt's saved history aside (<name>.first), where the
// second attempt's does not overwrite it, and returns its new path ("" when there was none).
func keepFirstHistory(path string) string {
	if path == "" {
		return ""
	}
	if err := os.Rename(path, path+".first"); err != nil {
		return ""
	}
	return path + ".first"
}

// result is the execution of c for its spec: judged by a goroutine, or here when none has
// started it. An interrupt of the spec (a signal, the run's global timeout) is passed on to
// every check being judged.
func (s *scheduler) result(spec context.Context, c Check) *execution {
	s.mu.Lock()
	j := s.jobs[c.Key()]
	if j == nil {
		j = &job{c: c, done: make(chan struct{})}
		s.jobs[c.Key()] = j
	}
	mine := !j.started
	j.started = true
	s.mu.Unlock()
	if mine {
		go s.judge(j)
	}
	select {
	case <-j.done:
	case <-spec.Done():
		if interruptedBy(spec) != "" {
			s.cancel(context.Cause(spec))
		}
		<-j.done
	}
	s.mu.Lock()
	delete(s.jobs, c.Key()) // reported: a second spec of the same key (none today) judges anew
	s.mu.Unlock()
	return j.ex
}

// close ends the goroutines: checks still being judged are cancelled (a spec Ginkgo's focus
// left out, an interrupted run).
func (s *scheduler) close() {
	s.cancel(errors.New("the run ended"))
	s.workers.Wait()
}

// gate admits any number of ordinary checks together, or one serial check alone. A serial
// check that waits holds back new ordinary checks, and the serial checks waiting go one after
// the other before any ordinary check starts again (sync.RWMutex lets the readers it wakes
// run before the next writer, which would hold every goroutine behind the longest check).
type gate struct {
	mu            sync.Mutex
	cond          *sync.Cond
	running       int  // ordinary checks running
	serial        bool // a serial check is running
	serialWaiting int
}

func (g *gate) enter(serial bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	if serial {
		g.serialWaiting++
		for g.running > 0 || g.serial {
			g.cond.Wait()
		}
		g.serialWaiting--
		g.serial = true
		return
	}
	for g.serial || g.serialWaiting > 0 {
		g.cond.Wait()
	}
	g.running++
}

func (g *gate) leave(serial bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if serial {
		g.serial = false
	} else {
		g.running--
	}
	g.cond.Broadcast()
}

// Spec timeout of a registered check (see specBackstop).
func specTimeout(c Check) ginkgo.SpecTimeout {
	return ginkgo.SpecTimeout(c.Timeout + Grace + specBackstop)
}
