// Package ordering holds the ordering checks (ORD-…): several publishers and many
// subscribers per topic, under latency with jitter, TCP slicing and a bandwidth-limited
// subscriber. Per topic, the order of events is total and the same for every subscriber, no
// event is lost or duplicated, a slow subscriber holds back neither the others nor the
// publisher, a subscriber that stops reading is never dropped from silently, and the order
// survives a reconnect and a switch of transport with the same resume token.
//
// The switch checks (ORD-SWITCH-001…006, all six directed pairs of transports) are also
// labelled "fallback": they are the fallback suite's (suites/fallback) lossless-switch checks.
//
// Like the reconnect checks, they follow generator → faults → history → checker (package
// chaos); the Ordered rule of package history compares every pair of subscribers and the
// order implied by publish timing (a publish acknowledged before another was invoked must come
// first).
//
// IDs: ORD-<SSE|WS|LP>-NNN — 001 latency+jitter, 002 slicer, 003 slow-consumer isolation
// (the others' lag and the publisher's latency), 004 across a reconnect, 005 a paused reader
// during a burst (SSE and WebSocket: every event, a gap-free resume or the reset signal); ORD-SWITCH-NNN — 001 sse→websocket, 002 websocket→longpoll,
// 003 longpoll→sse, 004 websocket→sse, 005 longpoll→websocket, 006 sse→longpoll (capability
// fallback; labels "chaos" and "fallback"). Label "chaos" (opt-in).
package ordering

import (
	"fmt"
	"time"

	"github.com/rtconform/rtconform/proxies/toxiproxy"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/chaos"
	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/framework/subscriber"
)

const (
	publishers  = 3
	subscribers = 5
	spec        = "rtconform ordering rule (DESIGN.md: histories and the checker — Ordered, Unique, NoLoss)"
)

// SlowLag bounds how far behind a publish the subscribers on a clean link may fall while one
// subscriber reads through a 2 KB/s link (ORD-*-003).
const SlowLag = 2 * time.Second

var _ = register()

func register() bool {
	for _, x := range chaos.Transports {
		tr := x.Transport
		caps := []fw.Capability{x.Cap, fw.CapPublish}
		reg := func(num, fault, requirement string, extra []fw.Capability, run func(*fw.T, fw.Transport)) {
			sp := spec + "; Toxiproxy fault " + fault
			switch fault {
			case "slow-reader":
				sp = spec + "; a client reading 2 KB/s from a 4 KiB socket buffer (DESIGN.md: a slow client never stalls others)"
			case "paused-reader":
				sp = spec + "; a client that stops reading (4 KiB socket buffer) during a burst (DESIGN.md: bounded per-client queues; the reference drops a slow client or signals the loss)"
			case "none":
				sp = spec + "; reconnects by the suite's clients"
			}
			fw.Register(fw.Check{ID: "ORD-" + x.ID + "-" + num, Level: fw.MUST, Transport: tr,
				Requirement: fmt.Sprintf(requirement, tr), Spec: sp,
				Requires: append(append([]fw.Capability(nil), caps...), extra...), Timeout: 90 * time.Second,
				// 003 and 005 bound lag and publish time by SlowLag: a loaded machine can break
				// that bound once, a target that waits for its slow client breaks it every time.
				Timed:  fault == "slow-reader" || fault == "paused-reader",
				Labels: []string{chaos.Label, "fault:" + fault}, Run: func(t *fw.T) { run(t, tr) }})
		}
		reg("001", "latency", "with 3 concurrent publishers and 300±100 ms latency with jitter, all 5 %s subscribers see one identical total order, with no event lost or duplicated", nil,
			concurrent("latency", nil, 40*time.Millisecond, false))
		// A 1-byte slicer carries a few KB/s at most: publish slower, and pause only 100 µs
		// between segments (what is exercised is segmentation, not speed).
		reg("002", "slicer", "with 3 concurrent publishers and every byte in its own TCP segment, all 5 %s subscribers see one identical total order, with no event lost or duplicated", nil,
			concurrent("slicer", func(f *toxiproxy.Fault) { f.SliceDelay = 100 * time.Microsecond }, 250*time.Millisecond, false))
		reg("003", "slow-reader", "a %s client that reads at 2 KB/s delays neither the other subscribers nor the publisher by more than 2 s (slow-consumer isolation)", nil,
			slowConsumer)
		reg("004", "none", "with 3 concurrent publishers, the order every %s subscriber sees is the same across reconnects, and resumes have no gap and no duplicate",
			[]fw.Capability{fw.CapResume}, concurrent("", nil, 120*time.Millisecond, true))
		if tr != fw.LongPoll { // a long-poll is read whole: there is no stream to stop reading
			reg("005", "paused-reader", "a %s subscriber that stops reading for 3 s while a burst larger than the socket buffers is published, then reads again, receives every event, or is disconnected and resumes with no gap, or receives the explicit reset signal (never a silent gap), and neither the other subscribers nor the publisher are held back by more than 2 s meanwhile",
				[]fw.Capability{fw.CapResume}, overflow)
		}
	}
	switches := []struct {
		num      string
		from, to fw.Transport
		caps     []fw.Capability
	}{
		{"001", fw.SSE, fw.WebSocket, []fw.Capability{fw.CapSSE, fw.CapWebSocket}},
		{"002", fw.WebSocket, fw.LongPoll, []fw.Capability{fw.CapWebSocket, fw.CapLongPoll}},
		{"003", fw.LongPoll, fw.SSE, []fw.Capability{fw.CapLongPoll, fw.CapSSE}},
		{"004", fw.WebSocket, fw.SSE, []fw.Capability{fw.CapWebSocket, fw.CapSSE}},
		{"005", fw.LongPoll, fw.WebSocket, []fw.Capability{fw.CapLongPoll, fw.CapWebSocket}},
		{"006", fw.SSE, fw.LongPoll, []fw.Capability{fw.CapSSE, fw.CapLongPoll}},
	}
	for _, s := range switches {
		from, to := s.from, s.to
		fw.Register(fw.Check{ID: "ORD-SWITCH-" + s.num, Level: fw.MUST, Transport: from,
			Requirement: fmt.Sprintf("a subscriber that switches from %s to %s with its last id as the resume token continues in the same order with no gap and no duplicate", from, to),
			Spec:        spec + "; DESIGN.md fallback: a resume token from one transport resumes on another",
			Requires:    append(append([]fw.Capability(nil), s.caps...), fw.CapPublish, fw.CapResume, fw.CapFallback),
			Timeout:     90 * time.Second, Labels: []string{chaos.Label, "fallback", "fault:none", "switch"},
			Run: func(t *fw.T) { switchTransport(t, from, to) }})
	}
	return true
}

// rules are the ordering rules: Ordered, Unique, NoLoss, Resumable.
func rules() history.Rules { return history.SafetyRules() }

// concurrent: 3 publishers publish interleaved seqs every interval each while 5 subscribers
// follow through the proxy under fault (if any, adjusted by mod); with drops, every subscriber
// loses its connection twice.
func concurrent(fault string, mod func(*toxiproxy.Fault), interval time.Duration, drops bool) func(*fw.T, fw.Transport) {
	return func(t *fw.T, tr fw.Transport) {
		e := chaos.New(t, tr, rules())
		subs := e.Subscribers(string(tr), subscribers)
		next := e.Prime(subs, 0, 20*time.Second)
		if fault != "" {
			e.Fault(e.Proxy, fault, mod)
		}
		stopGen := make(chan struct{})
		var gens []<-chan []int64
		for p := 0; p < publishers; p++ {
			gens = append(gens, e.Generate(fmt.Sprintf("pub-%d", p+1), next+int64(p), publishers, interval, 0, stopGen))
		}
		if drops {
			for round := 0; round < 2; round++ {
				sleep(t, 1200*time.Millisecond)
				for _, s := range subs {
					s.Drop()
				}
			}
			sleep(t, 1200*time.Millisecond)
		} else {
			sleep(t, 3*time.Second)
		}
		close(stopGen)
		var all []int64
		for _, g := range gens {
			all = append(all, <-g...)
		}
		e.Settle(subs, all, 30*time.Second)
		e.Judge()
	}
}

// slowConsumer: one client reads at 2 KB/s from a 4 KiB socket buffer — a phone on a bad
// network — while three subscribers read through the check's clean proxy; one publisher sends
// 128 KiB events ten times a second, far more than the slow client takes, so a target without
// per-client queues blocks on it within a second or two. The clean subscribers must see every
// event within SlowLag of its publish, and every publish is answered within SlowLag: a target
// that writes to its subscribers from the publisher (synchronously) makes the publisher wait
// for the slow one, which the lag of the events it did publish never shows.
//
// The slow client connects to the target directly, not through Toxiproxy: Toxiproxy buffers
// without bound between its toxics, so a bandwidth toxic never pushes back on the target
// (RC-*-002 exercises the bandwidth toxic itself).
func slowConsumer(t *fw.T, tr fw.Transport) {
	r := history.Rules{Ordered: true, Unique: true, NoLoss: true, MaxLag: SlowLag, PublishWithin: SlowLag}
	e := chaos.New(t, tr, r)
	fast := e.Subscribers(string(tr), 3)
	next := e.Prime(fast, 0, 20*time.Second)
	stopSlow := slowReader(t, tr, 2048)
	chaos.Sleep(t, 300*time.Millisecond)
	stopGen := make(chan struct{})
	gen := e.Generate("pub", next, 1, 100*time.Millisecond, 128<<10, stopGen)
	chaos.Sleep(t, 6*time.Second)
	close(stopGen)
	seqs := <-gen
	e.Settle(fast, seqs, 20*time.Second)
	t.Measure("slow_reader", "read %d bytes at 2 KB/s while %d events of 128 KiB were published", stopSlow(), len(seqs))
	e.Judge()
}

// Burst of ORD-*-005: more than the socket buffers of a stopped reader hold (its 4 KiB receive
// buffer and the server's send buffer, which loopback autotuning grows to a few MiB), and no
// more events than a usual retention (150 in the reference's profile).
const (
	burstEvents = 128
	burstSize   = 64 << 10
)

// overflow: one subscriber connects straight to the target with a 4 KiB receive buffer and
// stops reading; a burst of 128 events of 64 KiB (8 MiB) is published; it reads again 3 s
// after the burst began (at least 1 s after its end).
// A witness follows through the check's proxy. Whatever the target does with a client that
// does not read — queue, block, disconnect it (it then resumes), or send its reset signal —
// the paused subscriber must end with every event or an explicit reset: NoLoss, Unique,
// Ordered, Resumable; a reset is accepted and excuses what it explains. The pause outlasts
// SlowLag, so a target whose fan-out waits for the stopped reader (a blocking send into a full
// per-client channel, a write under the topic's lock) holds the witness back beyond MaxLag,
// and one whose publish waits for it (a single writer goroutine) breaks PublishWithin.
func overflow(t *fw.T, tr fw.Transport) {
	r := history.SafetyRules()
	r.MaxLag, r.PublishWithin, r.Slow = SlowLag, SlowLag, []string{string(tr) + "-paused"}
	e := chaos.New(t, tr, r)
	e.AllowResets = true
	witness := e.Subscribe(string(tr) + "-witness")
	paused := e.Subscribe(string(tr)+"-paused", func(o *subscriber.Options) { o.Base, o.RcvBuf = t.Run.BaseURL, 4096 })
	subs := []*subscriber.Subscriber{witness, paused}
	next := e.Prime(subs, 0, 20*time.Second)
	paused.Pause()
	chaos.Sleep(t, 200*time.Millisecond)
	var seqs []int64
	begin := time.Now()
	for i := 0; i < burstEvents && time.Since(begin) < 8*time.Second && t.Context().Err() == nil; i++ {
		if e.Publish("pub", next, burstSize) == nil {
			seqs = append(seqs, next)
		}
		next++
	}
	burst := time.Since(begin)
	chaos.Sleep(t, max(time.Until(begin.Add(SlowLag+time.Second)), time.Second))
	paused.Resume()
	for i := 0; i < 5; i++ {
		chaos.Sleep(t, 100*time.Millisecond)
		if e.Publish("pub", next, 0) == nil {
			seqs = append(seqs, next)
		}
		next++
	}
	t.Measure("burst", "%d of %d events of %d KiB published in %s while %s did not read", len(seqs)-min(len(seqs), 5), burstEvents, burstSize>>10, burst.Round(time.Millisecond), paused.Name())
	e.Settle(subs, seqs, 15*time.Second)
	e.Judge()
}

// switchTransport: a subscriber follows on from, then continues on to with the last id it
// saw; a second subscriber stays on from as the witness of the order.
func switchTransport(t *fw.T, from, to fw.Transport) {
	e := chaos.New(t, from, rules())
	mover := e.Subscribe("mover")
	witness := e.Subscribe("witness")
	next := e.Prime([]*subscriber.Subscriber{mover, witness}, 0, 20*time.Second)
	stopGen := make(chan struct{})
	var gens []<-chan []int64
	for p := 0; p < publishers; p++ {
		gens = append(gens, e.Generate(fmt.Sprintf("pub-%d", p+1), next+int64(p), publishers, 50*time.Millisecond, 0, stopGen))
	}
	sleep(t, 1500*time.Millisecond)
	mover.Stop()
	token := mover.Token()
	moved := e.Subscribe("mover", func(o *subscriber.Options) {
		o.Transport, o.Token, o.Idle = to, token, chaos.Idle(t, to)
	})
	sleep(t, 1500*time.Millisecond)
	close(stopGen)
	var all []int64
	for _, g := range gens {
		all = append(all, <-g...)
	}
	var rest []int64 // what the mover had not received before it switched
	for _, q := range all {
		if !mover.Has(int(q)) {
			rest = append(rest, q)
		}
	}
	e.Settle([]*subscriber.Subscriber{witness}, all, 30*time.Second)
	e.Settle([]*subscriber.Subscriber{moved}, rest, 30*time.Second)
	t.Measure("switch", "%s → %s with token %q", from, to, token)
	e.Judge()
}

var sleep = chaos.Sleep
