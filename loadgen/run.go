package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/framework/subscriber"
)

// Config is one load workload.
type Config struct {
	Subscribers int            // spread round-robin over the topics
	Topics      int            // each gets one publisher
	Transports  []fw.Transport // per topic, its subscribers alternate over these
	Rate        float64        // events per second per topic
	Duration    time.Duration  // how long the publishers publish
	Ramp        time.Duration  // the subscribers' connects are spread evenly over it
	Drain       time.Duration  // after the last publish, how long to wait for deliveries at most
	// Idle, when > 0, holds the subscribers connected and idle this long before publishing
	// starts (a line on the log says when), so that a script can measure the target's memory
	// per idle connection.
	Idle time.Duration
	// Ready bounds the wait for every subscriber to be subscribed before publishing starts
	// (after the ramp).
	Ready time.Duration
}

// listenGrace is how long a subscriber's request must have been written, without an answer
// yet, to count as subscribed (see subscriber.Listening).
const listenGrace = 500 * time.Millisecond

// reconnectDelay is the subscribers' wait before reconnecting when the target names none.
const reconnectDelay = 250 * time.Millisecond

// result is what a load run measured, before it is rendered.
type result struct {
	cfg        Config
	published  [3]int64 // ok, fail, unknown
	firstPub   time.Duration
	lastPub    time.Duration
	lastRecv   time.Duration
	delivered  int64
	expected   int64
	notReady   int
	lat        *Histogram
	pubLat     *Histogram
	subs       []*subRec
	verdict    Verdict
	wall       time.Duration
	pubErrs    []string
	checkTime  time.Duration
	readyAfter time.Duration
}

// loadRun is the state of one run.
type loadRun struct {
	cfg       Config
	run       *fw.Run
	clock     *clock
	lat       Histogram
	pubLat    Histogram // publish invoke → acknowledgement
	delivered atomic.Int64
	lastRecv  atomic.Int64 // ns on the clock
	topics    []*topicState
	log       io.Writer
}

// execute runs the workload against run's target and judges it.
func execute(ctx context.Context, run *fw.Run, cfg Config, log io.Writer) (*result, error) {
	if err := supports(&run.Profile.Target, cfg.Transports); err != nil {
		return nil, err
	}
	l := &loadRun{cfg: cfg, run: run, clock: &clock{start: time.Now()}, log: log}
	run.HTTP = publishClient(cfg.Topics)
	defer run.HTTP.CloseIdleConnections()
	for i := range cfg.Topics {
		l.topics = append(l.topics, &topicState{name: fmt.Sprintf("load-%s-%d", run.ID[:8], i)})
	}
	res := &result{cfg: cfg, lat: &l.lat, pubLat: &l.pubLat}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := l.ramp(ctx, res)
	defer stopAll(subs)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.readyAfter = l.waitReady(ctx, subs, res)
	fmt.Fprintf(log, "rtconform load: %d subscribers connected in %s (%d not subscribed); publishing %g events/s on each of %d topics for %s\n",
		len(subs), res.readyAfter.Round(time.Millisecond), res.notReady, cfg.Rate, cfg.Topics, cfg.Duration)

	if cfg.Idle > 0 {
		fmt.Fprintf(log, "rtconform load: idle: %d subscribers connected, holding %s before publishing\n", len(subs), cfg.Idle)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cfg.Idle):
		}
	}
	res.firstPub = l.clock.now()
	l.publishAll(ctx, res)
	res.lastPub = l.clock.now()
	l.drain(ctx, res)
	stopAll(subs)
	res.wall = l.clock.now()
	res.delivered = l.delivered.Load()
	res.lastRecv = time.Duration(l.lastRecv.Load())
	for _, tp := range l.topics {
		res.subs = append(res.subs, tp.subs...)
	}
	t0 := time.Now()
	meta := map[string]string{history.MetaRun: run.ID, history.MetaTarget: run.BaseURL, history.MetaCheck: "load"}
	res.verdict = judge(l.topics, history.SafetyRules(), meta)
	res.checkTime = time.Since(t0)
	return res, nil
}

// maxPublishConns bounds the publishers' connections to the target.
const maxPublishConns = 64

// publishClient is the HTTP client of the publish hook during a load: the run's own keeps 16
// idle connections, so a thousand publishers would open (and leave in TIME_WAIT) a new
// connection for most publishes, and at hundreds per second the target's listen queue
// overflows and publishes wait out SYN retransmits (seconds). Publishers share at most
// min(topics, 64) kept-alive connections instead; a publish waiting for one counts in its
// latency (its timestamp is taken before).
func publishClient(topics int) *http.Client {
	n := min(topics, maxPublishConns)
	return &http.Client{Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		MaxConnsPerHost:        n,
		MaxIdleConnsPerHost:    n,
		IdleConnTimeout:        30 * time.Second,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// supports checks that the target declares every transport asked for and a publish hook.
func supports(t *fw.Target, trs []fw.Transport) error {
	if t.Publish == nil || !t.Has(fw.CapPublish) {
		return errors.New("the profile declares no publish hook (target.publish and the publish capability): a load run needs to publish")
	}
	for _, tr := range trs {
		declared := false
		switch tr {
		case fw.SSE:
			declared = t.SSE != nil && t.Has(fw.CapSSE)
		case fw.WebSocket:
			declared = t.WebSocket != nil && t.Has(fw.CapWebSocket)
		case fw.LongPoll:
			declared = t.LongPoll != nil && t.Has(fw.CapLongPoll)
		case fw.HTTPStream:
			declared = t.HTTPStream != nil && t.Has(fw.CapHTTPStream)
		}
		if !declared {
			return fmt.Errorf("the profile's target does not declare the %s transport", tr)
		}
	}
	return nil
}

// idle is the silence after which a subscriber gives up on a connection: twice the declared
// keep-alive plus a second, as the chaos suites use; 0 (never) when none is declared.
func idle(t *fw.Target, tr fw.Transport) time.Duration {
	var hb time.Duration
	switch {
	case tr == fw.SSE && t.SSE != nil:
		hb = t.SSE.Heartbeat.D()
	case tr == fw.WebSocket && t.WebSocket != nil:
		hb = t.WebSocket.Keepalive.D()
	case tr == fw.HTTPStream && t.HTTPStream != nil:
		hb = t.HTTPStream.Heartbeat.D()
	case tr == fw.LongPoll:
		return 2 * time.Second // added to the declared hold
	}
	if hb <= 0 || !t.Has(fw.CapHeartbeat) {
		return 0
	}
	return 2*hb + time.Second
}

// ramp starts the subscribers, spread evenly over cfg.Ramp (batches every 10 ms) so that
// thousands of connects do not arrive at once. Subscriber i follows topic i mod M over
// transport (i div M) mod len(transports): every topic gets a mix.
func (l *loadRun) ramp(ctx context.Context, res *result) []*subscriber.Subscriber {
	n := l.cfg.Subscribers
	subs := make([]*subscriber.Subscriber, 0, n)
	resume := new(fw.ResumeState)
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(subs) < n {
		due := n
		if l.cfg.Ramp > 0 {
			due = min(n, int(float64(n)*float64(time.Since(start))/float64(l.cfg.Ramp))+1)
		}
		for i := len(subs); i < due; i++ {
			tp := l.topics[i%len(l.topics)]
			tr := l.cfg.Transports[(i/len(l.topics))%len(l.cfg.Transports)]
			name := fmt.Sprintf("%s-%d", tr, i)
			rec := newSubRec(l.clock, name, string(tr), tp.name, l.run.ID[:8], &l.lat, &l.delivered, &l.lastRecv)
			tp.subs = append(tp.subs, rec)
			subs = append(subs, subscriber.Start(ctx, subscriber.Options{
				Name: name, Transport: tr, Base: l.run.BaseURL, Topic: tp.name, Target: &l.run.Profile.Target,
				Rec: rec, Seq: rec.Seq, Resume: resume, Idle: idle(&l.run.Profile.Target, tr), Delay: reconnectDelay,
			}))
		}
		if len(subs) >= n {
			break
		}
		select {
		case <-ctx.Done():
			return subs
		case <-tick.C:
		}
	}
	return subs
}

// waitReady waits until every subscriber is subscribed or cfg.Ready passes; it returns the
// time since the run's start and notes how many were not.
func (l *loadRun) waitReady(ctx context.Context, subs []*subscriber.Subscriber, res *result) time.Duration {
	deadline := time.Now().Add(l.cfg.Ready)
	for {
		waiting := 0
		for _, s := range subs {
			if !s.Listening(listenGrace) {
				waiting++
			}
		}
		res.notReady = waiting
		if waiting == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return l.clock.now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// publishAll runs one publisher per topic for cfg.Duration: seq 1, 2, … every 1/Rate, one
// publish at a time (so the real-time order is the seq order), the topics' schedules staggered
// over one interval. A publish that falls behind its schedule is not made up for.
func (l *loadRun) publishAll(ctx context.Context, res *result) {
	interval := time.Duration(float64(time.Second) / l.cfg.Rate)
	start := time.Now()
	end := start.Add(l.cfg.Duration)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, tp := range l.topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(int64(interval) * int64(i) / int64(len(l.topics))))
			for seq := int64(1); ; seq++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				if !time.Now().Before(end) || ctx.Err() != nil {
					return
				}
				p := l.publishOne(ctx, tp, seq)
				mu.Lock()
				switch p.outcome {
				case history.KindPublishOK:
					res.published[0]++
				case history.KindPublishFail:
					res.published[1]++
				default:
					res.published[2]++
				}
				if p.err != "" && len(res.pubErrs) < 5 {
					res.pubErrs = append(res.pubErrs, p.err)
				}
				mu.Unlock()
				next = next.Add(interval)
				if now := time.Now(); next.Before(now) {
					next = now // behind schedule: carry on from now
				}
			}
		}()
	}
	wg.Wait()
}

// publishOne publishes seq on tp through the profile's publish hook and records it.
func (l *loadRun) publishOne(ctx context.Context, tp *topicState, seq int64) publish {
	p := publish{seq: seq, invoke: l.clock.now()}
	err := l.run.Publish(ctx, tp.name, makePayload(l.run.ID[:8], seq, time.Now()))
	p.done = l.clock.now()
	l.pubLat.Record(p.done - p.invoke)
	var refused *fw.PublishRefused
	switch {
	case err == nil:
		p.outcome = history.KindPublishOK
	case errors.As(err, &refused):
		p.outcome, p.err = history.KindPublishFail, err.Error()
	default:
		p.outcome, p.err = history.KindPublishUnknown, err.Error()
	}
	tp.pubs.add(p)
	return p
}

// drain waits until every subscriber received every ok publish of its topic (counted, not
// judged: the checker judges), or cfg.Drain passes.
func (l *loadRun) drain(ctx context.Context, res *result) {
	for _, tp := range l.topics {
		ok := 0
		for _, p := range tp.pubs.snapshot() {
			if p.outcome == history.KindPublishOK {
				ok++
			}
		}
		res.expected += int64(ok) * int64(len(tp.subs))
	}
	deadline := time.Now().Add(l.cfg.Drain)
	for l.delivered.Load() < res.expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAll stops the subscribers concurrently (each records its client-close).
func stopAll(subs []*subscriber.Subscriber) {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); s.Stop() }()
	}
	wg.Wait()
}
