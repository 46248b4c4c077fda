// Package reconnect holds the reconnect checks (RC-…): for each transport and each named
// fault profile of proxies/toxiproxy, the target keeps its promise to a reconnecting client
// while the network misbehaves — the client reconnects and resumes with no gap and no
// duplicate, a black-holed connection is detected within the declared heartbeat bound, an
// outage longer than retention ends in the target's explicit loss signal, a reconnect storm of
// 200 clients recovers, and the SSE retry: value is sent and honoured.
//
// Every check follows generator → faults → history → checker (package chaos): the suite's
// subscribers connect through a Toxiproxy proxy of the check's own, the suite publishes its
// own sequenced payloads straight to the target, a fault is put in effect for a window, and
// the pure checker of package history judges the recorded history. A failing history is
// saved in the report dir (histories/<ID>.jsonl) and `rtconform recheck` judges it again.
//
// IDs are RC-<SSE|WS|LP|HS>-NNN with the same number for the same fault on every transport:
//
//	001 latency   002 bandwidth  003 slicer    004 limit-data  005 reset   006 blackhole
//	007 slow-close 008 outage    009 flap      010 retention   011 storm   012 retry (SSE)
//
// The checks carry the label "chaos" and run only when a label filter names it
// (`rtconform run --label-filter chaos`).
package reconnect

import (
	"fmt"
	"time"

	"github.com/rtconform/rtconform/proxies/toxiproxy"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/chaos"
	"github.com/rtconform/rtconform/suites/framework/history"
)

const spec = "rtconform chaos rule (DESIGN.md: histories and the checker); Toxiproxy fault profiles"

// scenario is one row of the table: a fault and what the check does around it.
type scenario struct {
	num         string
	fault       string
	level       fw.Level
	requirement string // %s is the transport
	quote       string
	spec        string
	requires    []fw.Capability
	only        fw.Transport // "" = every transport
	timeout     time.Duration
	run         func(t *fw.T, tr fw.Transport)
}

var scenarios = []scenario{
	{num: "001", fault: "latency", level: fw.MUST,
		requirement: "under 300±100 ms latency, a %s client that loses its connection resumes with no gap, no duplicate and in order",
		run:         resumeUnder("latency", nil, true, 2*time.Second)},
	{num: "002", fault: "bandwidth", level: fw.MUST,
		requirement: "through a 16 KB/s link, a %s client that loses its connection resumes with no gap, no duplicate and in order",
		run:         resumeUnder("bandwidth", nil, true, 2*time.Second)},
	{num: "003", fault: "slicer", level: fw.MUST,
		requirement: "when every byte arrives in its own TCP segment, a %s client still receives every event once and in order, also across a reconnect",
		run:         resumeUnder("slicer", nil, true, 2*time.Second)},
	{num: "004", fault: "limit-data", level: fw.MUST,
		requirement: "when connections are cut after 512 bytes (mid-event), a %s client reconnects and resumes with no gap and no duplicate, and no half event is delivered",
		run:         resumeUnder("limit-data", nil, false, 2500*time.Millisecond)},
	{num: "005", fault: "reset", level: fw.MUST,
		requirement: "when new connections are reset (TCP RST), a %s client retries and, once connections succeed, resumes with no gap and no duplicate",
		run:         resumeUnder("reset", nil, true, 2*time.Second)},
	{num: "006", fault: "blackhole", level: fw.MUST, requires: []fw.Capability{fw.CapHeartbeat},
		requirement: "a black-holed %s connection (packets vanish, the socket stays open) is detected within the declared heartbeat bound, and the client resumes with no gap once the network is back",
		quote:       "WHATWG HTML §9.2.7: legacy proxy servers are known to, in certain cases, drop HTTP connections after a short timeout. To protect against such proxy servers, authors can include a comment line every 15 seconds or so.",
		spec:        "WHATWG HTML §9.2.7 (heartbeats); RFC 6455 §5.5.2 (ping); rtconform chaos rule DetectWithin",
		// A quiet period and a black hole of twice the heartbeat each: 25 s heartbeats
		// (Centrifugo's default) need about 2.5 minutes.
		timeout: 5 * time.Minute,
		run:     blackhole},
	{num: "007", fault: "slow-close", level: fw.MUST, requires: []fw.Capability{fw.CapRestart},
		requirement: "when the target restarts and its closes reach the %s client late (slow close), the client reconnects and resumes with no gap and no duplicate (a target declaring restart.durable: false answers the resume with its explicit reset signal instead, never with a silent gap)",
		run:         slowClose},
	{num: "008", fault: "outage", level: fw.MUST,
		requirement: "after a 3 s network outage, every %s client reconnects within the bound and resumes with no gap and no duplicate",
		run:         resumeUnder("outage", nil, false, 3500*time.Millisecond)},
	{num: "009", fault: "flap", level: fw.MUST,
		requirement: "through repeated short outages (500 ms every 2 s), a %s client keeps resuming with no gap and no duplicate",
		run:         resumeUnder("flap", nil, false, 4500*time.Millisecond)},
	{num: "010", fault: "outage", level: fw.MUST, requires: []fw.Capability{fw.CapResume},
		requirement: "after an outage during which more events than the declared retention were published, a resuming %s client receives the target's explicit loss signal, never a silent gap (a target that declares no signal must deliver every event)",
		quote:       "rtconform: a resume token older than retention must be answered with the declared reset signal",
		spec:        "rtconform reset rule (sse.reset.event, websocket.reset, longpoll.reset, httpstream.reset); DESIGN.md reference server: an explicit signal when the token is older than retention",
		timeout:     90 * time.Second,
		run:         beyondRetention},
	{num: "011", fault: "outage", level: fw.MUST,
		requirement: "when 200 %s clients are cut at once (reconnect storm), all of them reconnect and resume with no gap and no duplicate; the time to full recovery is reported",
		timeout:     150 * time.Second,
		run:         storm},
	{num: "012", fault: "outage", level: fw.MUST, requires: []fw.Capability{fw.CapRetry}, only: fw.SSE,
		requirement: "every SSE connection carries the declared retry: value, so a client that honours it reconnects after that delay (judged on the history: RetryHonoured)",
		quote:       "WHATWG HTML §9.2.6: If the field value consists of only ASCII digits, then interpret the field value as an integer in base ten, and set the event stream's reconnection time to that integer.",
		spec:        "WHATWG HTML §9.2.6 (retry field), §9.2.3 (reestablish the connection after the reconnection time)",
		run:         retryHonoured},
}

var _ = register()

func register() bool {
	for _, sc := range scenarios {
		for _, x := range chaos.Transports {
			if sc.only != "" && sc.only != x.Transport {
				continue
			}
			sp, quote := sc.spec, sc.quote
			if sp == "" {
				sp = spec + " (" + sc.fault + ")"
			}
			req := append([]fw.Capability{x.Cap, fw.CapPublish}, sc.requires...)
			if sc.num != "010" && x.Transport != fw.LongPoll {
				req = append(req, fw.CapResume)
			}
			timeout := sc.timeout
			if timeout == 0 {
				timeout = 60 * time.Second
			}
			run, tr := sc.run, x.Transport
			requirement := sc.requirement
			if sc.only == "" {
				requirement = fmt.Sprintf(sc.requirement, string(tr))
			}
			fw.Register(fw.Check{ID: "RC-" + x.ID + "-" + sc.num, Level: sc.level, Transport: tr,
				Requirement: requirement, Quote: quote, Spec: sp, Requires: req, Timeout: timeout,
				Labels: []string{chaos.Label, "fault:" + sc.fault},
				Run:    func(t *fw.T) { run(t, tr) }})
		}
	}
	return true
}

// reconnectBound is how soon after a fault ends a client must be connected again: its
// reconnection delay (SSE: the declared retry) plus the connect bound plus 5 s of slack.
func reconnectBound(t *fw.T, tr fw.Transport) time.Duration {
	d := chaos.ReconnectDelay
	if tr == fw.SSE && t.Target().SSE != nil && t.Target().SSE.Retry > 0 {
		d = t.Target().SSE.Retry.D()
	}
	return d + max(chaos.Idle(t, tr), time.Second) + 5*time.Second
}

// safety are the rules of a resume: ordered, unique, no loss, resumable, reconnect in time.
func safety(t *fw.T, tr fw.Transport) history.Rules {
	r := history.SafetyRules()
	r.ReconnectWithin = reconnectBound(t, tr)
	return r
}

// settleBound is how long the check waits for every subscriber to catch up after the fault.
func settleBound(t *fw.T, tr fw.Transport) time.Duration {
	return 2*reconnectBound(t, tr) + 5*time.Second
}

// resumeUnder is the common scenario: three subscribers follow the topic through the proxy
// while one publisher publishes every 100 ms; the fault is in effect for window (with every
// connection dropped once inside it when drop is set, so that faults which do not cut
// connections themselves are crossed by a reconnect); publishing goes on 1.5 s after the
// fault; then the history is judged.
func resumeUnder(fault string, mod func(*toxiproxy.Fault), drop bool, window time.Duration) func(*fw.T, fw.Transport) {
	return func(t *fw.T, tr fw.Transport) {
		e := chaos.New(t, tr, safety(t, tr))
		subs := e.Subscribers(string(tr), 3)
		next := e.Prime(subs, 0, 20*time.Second)
		e.PublishAround(subs, next, 100*time.Millisecond, 1500*time.Millisecond, settleBound(t, tr), func() {
			sleep(t, 500*time.Millisecond)
			stop := e.Fault(e.Proxy, fault, mod)
			if drop {
				sleep(t, 300*time.Millisecond)
				for _, s := range subs {
					s.Drop()
				}
				sleep(t, window-300*time.Millisecond)
			} else {
				sleep(t, window)
			}
			stop()
		})
		e.Judge()
	}
}

// blackhole: data vanishes while connections stay open; every subscriber must give its
// connection up within the heartbeat bound (only heartbeats make that possible), then resume.
// First the topic stays quiet for longer than that bound: a target that is silent while idle
// makes healthy connections look black-holed, so no subscriber may time out then.
func blackhole(t *fw.T, tr fw.Transport) {
	idle := chaos.Idle(t, tr)
	if idle == 0 {
		t.NotSupported("the profile declares no heartbeat interval for %s (sse.heartbeat, websocket.keepalive, httpstream.heartbeat)", tr)
	}
	rules := safety(t, tr)
	rules.BlackHole = "blackhole"
	rules.DetectWithin = idle + 2*time.Second
	if tr == fw.LongPoll {
		rules.DetectWithin = t.Target().LongPoll.Timeout.D() + idle + 2*time.Second
	}
	e := chaos.New(t, tr, rules)
	subs := e.Subscribers(string(tr), 3)
	next := e.Prime(subs, 0, 20*time.Second)
	quiet := idle + time.Second
	sleep(t, quiet)
	for _, op := range e.Rec.History().Ops {
		if op.Kind == history.KindDisconnect && op.Cause == history.CauseHeartbeatTimeout {
			t.Remedy("send a heartbeat (SSE comment, WebSocket ping, a held poll's answer) at least as often as the declared bound")
			t.Diagnose(history.DiagNoHeartbeat, "the declared heartbeat never comes: an idle %s connection stays silent beyond the bound, so a dead or black-holed connection cannot be noticed", tr)
			t.Violation(fmt.Sprintf("an idle %s connection stays lively: something arrives at least every %s (twice the declared heartbeat, plus 1 s)", tr, idle),
				fmt.Sprintf("%s heard nothing for %s while no fault was active (%.1f s into a %s quiet period), so a black-holed connection cannot be told from a healthy one",
					op.Client, idle, op.T.Seconds(), quiet))
		}
	}
	e.PublishAround(subs, next, 200*time.Millisecond, 1500*time.Millisecond, settleBound(t, tr), func() {
		sleep(t, 300*time.Millisecond)
		stop := e.Fault(e.Proxy, "blackhole", nil)
		sleep(t, rules.DetectWithin+time.Second)
		stop()
	})
	t.Measure("detect_bound", "%s", rules.DetectWithin)
	e.Judge()
}

// slowClose: the target restarts while its closes are held back 2 s by the proxy. A target
// whose restart loses history (restart.durable: false) must answer the resumes from before
// the restart with its explicit reset signal: a reset is then accepted and excuses the events
// it explains, a silent gap is not (and neither are ids reused across the restart that resume
// into the wrong events: a gap or a duplicate in the payload seqs).
func slowClose(t *fw.T, tr fw.Transport) {
	e := chaos.New(t, tr, safety(t, tr))
	subs := e.Subscribers(string(tr), 3)
	next := e.Prime(subs, 0, 20*time.Second)
	e.PublishAround(subs, next, 100*time.Millisecond, 1500*time.Millisecond, settleBound(t, tr), func() {
		sleep(t, 300*time.Millisecond)
		stop := e.Fault(e.Proxy, "slow-close", nil)
		e.Restart()
		sleep(t, 3*time.Second)
		stop()
	})
	e.Judge()
}

// beyondRetention: the proxy is down while more than retention events are published; the
// resuming subscribers must get the reset signal, then the events after it. A target that
// claims resume and retention but declares no reset signal is measured all the same: it must
// then deliver every event (it kept more than it declared), since a gap it does not signal
// is a silent loss.
func beyondRetention(t *fw.T, tr fw.Transport) {
	tg := t.Target()
	n := tg.Retention
	if n <= 0 || n > 5000 {
		t.NotSupported("the profile declares no retention (or one over 5000 events, too many to overrun within a check): target.retention")
	}
	signal := ""
	switch {
	case tr == fw.SSE && (tg.SSE == nil || tg.SSE.Reset.Event == ""):
		signal = "sse.reset.event"
	case tr == fw.WebSocket && (tg.WebSocket == nil || tg.WebSocket.Reset.Pointer == ""):
		signal = "websocket.reset.pointer"
	case tr == fw.LongPoll && (tg.LongPoll == nil || tg.LongPoll.Reset.Pointer == ""):
		signal = "longpoll.reset.pointer"
	case tr == fw.HTTPStream && (tg.HTTPStream == nil || tg.HTTPStream.Reset.Pointer == ""):
		signal = "httpstream.reset.pointer"
	}
	silent := signal != "" // no reset signal declared: any gap is silent
	e := chaos.New(t, tr, safety(t, tr))
	e.Resets = true
	if silent {
		e.Diagnosis = history.DiagSilentLoss
		e.DiagnosisText = "events were lost without an explicit signal: a client resuming from a token older than the retention got a silent gap; send an explicit reset signal (and declare it in the profile)"
		t.Remedy("when a resume token is older than retention, send an explicit reset signal (and declare it: %s), or keep every event", signal)
		t.Measure("reset_signal", "none declared (%s): the resume beyond retention must then have no gap", signal)
	}
	subs := e.Subscribers(string(tr), 2)
	next := e.Prime(subs, 0, 20*time.Second)
	stop := e.Fault(e.Proxy, "outage", func(f *toxiproxy.Fault) { f.Down = time.Hour })
	for _, s := range subs {
		s.Drop()
	}
	for i := 0; i < n+20; i++ {
		if err := e.Publish("pub", next, 0); err != nil {
			t.Harness("publishing %d events during the outage: %v", n+20, err)
		}
		next++
	}
	stop()
	if !silent {
		ctx, cancel := t.Within(settleBound(t, tr))
		for _, s := range subs {
			s.WaitResets(ctx, 1)
		}
		cancel()
	}
	var after []int64
	for i := 0; i < 5; i++ {
		if e.Publish("pub", next, 0) == nil {
			after = append(after, next)
		}
		next++
	}
	e.Settle(subs, after, settleBound(t, tr))
	rep := e.Judge()
	if silent {
		return // Judge failed a gap: NoLoss (no reset excuses it)
	}
	for _, s := range subs {
		if _, _, resets := s.Counts(); resets == 0 {
			t.Diagnose(history.DiagSilentLoss, "%s", history.DiagnosisText(history.DiagSilentLoss))
			t.Violation(fmt.Sprintf("every resuming subscriber receives the explicit loss signal after %d events were published beyond retention %d", n+20, n),
				fmt.Sprintf("no reset signal reached a subscriber (%s)", rep.Summary()))
		}
	}
}

// storm: 200 subscribers are cut at once; all must be back and caught up.
func storm(t *fw.T, tr fw.Transport) {
	const clients = 200
	// 200 handshakes and resumes at once take the target (and this machine) a while: the
	// bound of one client's reconnect gets 20 s more here, so that a slow but complete
	// recovery is measured (below) rather than failed; a client never back still fails.
	rules := safety(t, tr)
	rules.ReconnectWithin += 20 * time.Second
	e := chaos.New(t, tr, rules)
	subs := e.Subscribers(string(tr), clients)
	next := e.Prime(subs, 0, 60*time.Second)
	var back time.Time
	e.PublishAround(subs, next, 200*time.Millisecond, 1500*time.Millisecond, 90*time.Second, func() {
		sleep(t, 500*time.Millisecond)
		stop := e.Fault(e.Proxy, "outage", func(f *toxiproxy.Fault) { f.Down = time.Hour })
		sleep(t, time.Second)
		stop()
		back = time.Now()
	})
	t.Measure("recovery", "%d clients caught up %s after the outage ended", clients, time.Since(back).Round(time.Millisecond))
	e.Judge()
}

// retryHonoured: every SSE connection states the declared retry, and the suite's client waits
// for it after a drop (RetryHonoured judges the history).
func retryHonoured(t *fw.T, tr fw.Transport) {
	declared := t.Target().SSE.Retry.D()
	if declared <= 0 {
		t.NotSupported("the profile declares no sse.retry")
	}
	rules := safety(t, tr)
	rules.RetryHonoured = true
	rules.RetryTolerance = 50 * time.Millisecond
	e := chaos.New(t, tr, rules)
	subs := e.Subscribers("sse", 2)
	next := e.Prime(subs, 0, 20*time.Second)
	for round := 0; round < 2; round++ {
		for _, s := range subs {
			s.Drop()
		}
		if err := e.Publish("pub", next, 0); err != nil {
			t.Harness("publish: %v", err)
		}
		e.Settle(subs, []int64{next}, declared+15*time.Second)
		next++
	}
	rep := e.Judge()
	if len(rep.Retries) == 0 {
		t.Violation(fmt.Sprintf("a retry: field (declared %s) on the stream", declared), "no connection carried a retry value")
	}
	for _, r := range rep.Retries {
		if r.Retry != declared {
			t.Violation(fmt.Sprintf("retry: %d (the declared %s)", declared.Milliseconds(), declared),
				fmt.Sprintf("retry %s on %s's stream", r.Retry, r.Client))
		}
	}
	t.Measure("retry", "%s on %d reconnects", declared, len(rep.Retries))
}

var sleep = chaos.Sleep
