// Package chaos is the harness of the behaviour-under-faults suites (suites/reconnect,
// suites/ordering): generator → faults → history → checker.
//
// A check makes an Env: a Toxiproxy proxy of its own in front of the target (on the run's
// shared backend, chosen by the profile's faults.backend), a history recorder, and helpers
// that start reconnecting subscribers through the proxy, publish the check's own sequenced
// payloads straight to the target (recording invoke and outcome), and put named fault
// profiles in effect (recording their start and stop). Judge runs the pure checker of package
// history on what was recorded; a failing history is saved as JSONL in the report dir, where
// `rtconform recheck` judges it again offline.
//
// Two liveness rules are judged here, beside the history's: CaughtUp (every subscriber
// received, within the check's settle bound, every seq the target acknowledged — the
// history's NoLoss does not blame a client that never reconnected) and NoReset (no reset
// signal in a check that stayed within the declared retention, except after a restart of a
// target whose profile declares restart.durable: false — see Env.Restart), unless the check
// provokes a loss on purpose (Env.Resets); seqs a reset excused (history NoLoss) are not
// waited for. They need the live subscribers, so `recheck` does not repeat them.
//
// Judge names the root cause of a failure (T.Diagnose) from the history's violations: the
// most specific diagnosis any of them carries (history.Report.Diagnosis: resume-inclusive,
// reordered, resume-gap, resume-duplicate, silent-loss, …), so that the chaos checks a bug
// breaks group with its conformance checks in the summary.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rtconform/rtconform/proxies/toxiproxy"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/history"
	"github.com/rtconform/rtconform/suites/framework/subscriber"
)

// Label marks every chaos check (opt-in: see framework.EffectiveLabelFilter).
const Label = "chaos"

// Transports are the transports the chaos suites table over: the transport, its part of a
// check ID, and its capability.
var Transports = []struct {
	Transport fw.Transport
	ID        string
	Cap       fw.Capability
}{{fw.SSE, "SSE", fw.CapSSE}, {fw.WebSocket, "WS", fw.CapWebSocket}, {fw.LongPoll, "LP", fw.CapLongPoll},
	{fw.HTTPStream, "HS", fw.CapHTTPStream}}

// Sleep waits d or until the check ends.
func Sleep(t *fw.T, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

// Backend returns the run's Toxiproxy backend, opened on first use from the profile's faults
// section and closed at the end of the run. A backend that cannot be opened is a harness
// error of every chaos check (the target was not judged).
func Backend(t *fw.T) toxiproxy.Backend {
	f := t.Run.Profile.Faults
	v, err := t.Run.Shared("toxiproxy", func() (any, func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b, err := toxiproxy.Open(ctx, toxiproxy.Config{Backend: f.Backend, API: f.API, Image: f.Image, Network: f.Network})
		if err != nil {
			return nil, nil, err
		}
		return b, func() {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = b.Close(c)
		}, nil
	})
	if err != nil {
		t.Harness("faults.backend %q: %v", f.Backend, err)
	}
	return v.(toxiproxy.Backend)
}

// Env is one chaos scenario of a check.
type Env struct {
	T         *fw.T
	Transport fw.Transport
	Rec       *history.Recorder
	Proxy     *toxiproxy.Proxy // the check's proxy in front of the target
	Base      string           // http://<proxy address>: where subscribers connect

	// Resets is set by checks that provoke the target's loss signal on purpose (an outage
	// beyond retention); otherwise a reset, and a subscriber still missing events after
	// Settle, are violations (liveness: the history rules excuse what a reset explains).
	Resets bool

	// AllowResets accepts the target's explicit reset signal as an answer (NoReset is not
	// judged) without giving up the other liveness rule: what a reset does not excuse must
	// still arrive (CaughtUp).
	AllowResets bool

	// Diagnosis and DiagnosisText, when set, name the cause of a failure instead of the
	// history's own diagnosis: the check knows what its scenario provokes (a gap after an
	// outage beyond retention, with no reset signal declared, is a silent loss, not a resume
	// bug).
	Diagnosis, DiagnosisText string

	mu        sync.Mutex
	subs      []*subscriber.Subscriber
	stops     []func() // other clients' Stop (Track)
	unsettled []unsettled
	lossy     []time.Duration // starts of restarts that lose history (restart.durable: false)
}

// unsettled is a subscriber that still lacked seqs when Settle gave up.
type unsettled struct {
	name    string
	missing []int
}

// New makes the check's Env for transport tr, judged by rules.
func New(t *fw.T, tr fw.Transport, rules history.Rules) *Env {
	e := &Env{T: t, Transport: tr}
	e.Rec = history.NewRecorder(0, map[string]string{
		"check": t.Check.ID, "cell": t.Check.Cell, "transport": string(tr), "target": t.Run.Profile.Target.Name,
		"url": t.Run.BaseURL, "run": t.Run.ID[:8], "backend": Backend(t).Name(),
	}, rules)
	e.Proxy = e.NewProxy("main")
	e.Base = "http://" + e.Proxy.Listen()
	return e
}

// NewProxy makes another proxy of the check's in front of the target (e.g. one for a slow
// subscriber and one for the others); it is deleted when the check ends.
func (e *Env) NewProxy(role string) *toxiproxy.Proxy {
	t := e.T
	u, err := url.Parse(t.Run.BaseURL)
	if err != nil || u.Host == "" {
		t.Harness("target url %q: %v", t.Run.BaseURL, err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.NotSupported("the chaos suites put a TCP fault proxy in front of the target and speak plain HTTP to it; an https target needs a plain-HTTP origin address")
	}
	name := strings.ToLower(strings.NewReplacer("@", "-", ":", "-", "/", "-").Replace(t.Check.Key())) + "-" + role + "-" + t.Run.ID[:6]
	ctx, cancel := t.Within(time.Minute)
	defer cancel()
	p, err := Backend(t).NewProxy(ctx, name, host)
	if err != nil {
		t.Harness("creating fault proxy %s → %s: %v", name, host, err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Delete(c)
	})
	return p
}

// Idle is the silence after which the suite's subscribers give a connection up: twice the
// target's declared heartbeat (SSE heartbeat, WebSocket keepalive) plus a second, or, for a
// long-poll, two seconds beyond the declared hold. 0 when the target declares no heartbeat
// (its black-holed connections cannot be detected).
func Idle(t *fw.T, tr fw.Transport) time.Duration {
	tg := t.Target()
	switch tr {
	case fw.SSE:
		if tg.Has(fw.CapHeartbeat) && tg.SSE != nil && tg.SSE.Heartbeat > 0 {
			return 2*tg.SSE.Heartbeat.D() + time.Second
		}
	case fw.WebSocket:
		if tg.Has(fw.CapHeartbeat) && tg.WebSocket != nil && tg.WebSocket.Keepalive > 0 {
			return 2*tg.WebSocket.Keepalive.D() + time.Second
		}
	case fw.LongPoll:
		return 2 * time.Second
	case fw.HTTPStream:
		if tg.Has(fw.CapHeartbeat) && tg.HTTPStream != nil && tg.HTTPStream.Heartbeat > 0 {
			return 2*tg.HTTPStream.Heartbeat.D() + time.Second
		}
	}
	return 0
}

// ReconnectDelay is the wait before a reconnect the suite's subscribers use when the target
// names none (SSE streams name theirs with retry:).
const ReconnectDelay = 250 * time.Millisecond

// Subscribe starts a subscriber named name through the check's proxy; mod may adjust its
// options (another Base, a Token). It is stopped by Stop or when the check ends.
func (e *Env) Subscribe(name string, mod ...func(*subscriber.Options)) *subscriber.Subscriber {
	o := subscriber.Options{Name: name, Transport: e.Transport, Base: e.Base, Topic: e.T.Topic(), Target: e.T.Target(),
		Rec: e.Rec, Seq: e.T.Seq, Idle: Idle(e.T, e.Transport), Delay: ReconnectDelay, Resume: e.T.ResumeState()}
	for _, m := range mod {
		m(&o)
	}
	s := subscriber.Start(e.T.Context(), o)
	e.mu.Lock()
	e.subs = append(e.subs, s)
	e.mu.Unlock()
	e.T.Cleanup(s.Stop)
	return s
}

// Subscribers starts n subscribers named <prefix>-1 … <prefix>-n.
func (e *Env) Subscribers(prefix string, n int, mod ...func(*subscriber.Options)) []*subscriber.Subscriber {
	out := make([]*subscriber.Subscriber, n)
	for i := range out {
		out[i] = e.Subscribe(fmt.Sprintf("%s-%d", prefix, i+1), mod...)
	}
	return out
}

// Stop stops every subscriber (recording their client-close); call it before Judge.
func (e *Env) Stop() {
	e.mu.Lock()
	stops := append([]func(){}, e.stops...)
	for _, s := range e.subs {
		stops = append(stops, s.Stop)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Add(1)
		go func() { defer wg.Done(); stop() }()
	}
	wg.Wait()
}

// Publish publishes seq (the check's payload, padded to size bytes when size > 0) on the
// check's topic straight to the target, recording invoke and outcome: ok, fail (the target
// refused it), or unknown (a transport error or timeout: it may or may not have happened).
func (e *Env) Publish(publisher string, seq int64, size int) error {
	t := e.T
	p := t.Payload(int(seq))
	if size > 0 {
		p = t.PaddedPayload(int(seq), size)
	}
	e.Rec.PublishInvoke(publisher, t.Topic(), seq)
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	err := t.TryPublish(ctx, t.Topic(), p)
	var refused *fw.PublishRefused
	switch {
	case err == nil:
		e.Rec.PublishOK(publisher, t.Topic(), seq)
	case errors.As(err, &refused):
		e.Rec.PublishFail(publisher, t.Topic(), seq, err)
	default:
		e.Rec.PublishUnknown(publisher, t.Topic(), seq, err)
	}
	return err
}

// Generate publishes seqs from, from+step, … every interval from one publisher until stop is
// closed or the check ends; it returns the seqs the target acknowledged. Publishes that fail
// or whose outcome is unknown are recorded (the checker excuses them) but not returned, so
// nobody waits for them; the generator goes on.
func (e *Env) Generate(publisher string, from int64, step int64, interval time.Duration, size int, stop <-chan struct{}) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		var seqs []int64
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := from; ; seq += step {
			if e.Publish(publisher, seq, size) == nil {
				seqs = append(seqs, seq)
			}
			select {
			case <-stop:
				out <- seqs
				return
			case <-e.T.Context().Done():
				out <- seqs
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// PublishAround runs body while publisher "pub" publishes seqs from next every interval,
// goes on publishing for after once body returns, then settles subs on every seq published
// (bounded by settle).
func (e *Env) PublishAround(subs []*subscriber.Subscriber, next int64, interval, after, settle time.Duration, body func()) {
	stop := make(chan struct{})
	gen := e.Generate("pub", next, 1, interval, 0, stop)
	body()
	Sleep(e.T, after)
	close(stop)
	e.Settle(subs, <-gen, settle)
}

// ListenGrace is how long after its request was written a subscriber still waiting for the
// response headers is taken as subscribed (subscriber.Listening): a server may hold its
// headers until the first event, so Prime publishes then rather than wait for them.
const ListenGrace = 300 * time.Millisecond

// Prime publishes seq from publisher "prime" until every subscriber has received it (a
// subscriber that starts "at now" may connect after a first publish); it returns the next
// free seq. It publishes once every subscriber has connected, or has sent its request
// (ListenGrace ago) and waits for headers that may come only with an event. A target that
// never delivers is a violation.
func (e *Env) Prime(subs []*subscriber.Subscriber, seq int64, within time.Duration) int64 {
	ctx, cancel := e.T.Within(within)
	defer cancel()
	for {
		for _, s := range subs {
			for !s.Listening(ListenGrace) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if ctx.Err() != nil {
			e.T.Violation(fmt.Sprintf("%d subscribers sent their request through the fault proxy within %s", len(subs), within),
				history.Analyze(e.Rec.History()).Summary())
		}
		_ = e.Publish("prime", seq, 0)
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		all := true
		for _, s := range subs {
			if s.WaitFor(wctx, []int{int(seq)}) != nil {
				all = false
			}
		}
		wcancel()
		seq++
		if all {
			return seq
		}
		if ctx.Err() != nil {
			e.T.Violation(fmt.Sprintf("every subscriber receives a published event within %s", within), fmt.Sprintf("seqs up to %d did not reach all", seq-1))
		}
	}
}

// Follower is a client Settle can wait for: a subscriber, or the reference client that
// falls back across transports.
type Follower interface {
	Name() string
	WaitFor(ctx context.Context, want []int) []int
}

// Settle waits until every subscriber has received every seq in want, or d passes; it
// measures how long that took, and which seqs were still missing where (the checker judges
// whether that is a loss).
func (e *Env) Settle(subs []*subscriber.Subscriber, want []int64, d time.Duration) {
	fs := make([]Follower, len(subs))
	for i, s := range subs {
		fs[i] = s
	}
	e.SettleFollowers(fs, want, d)
}

// SettleFollowers is Settle for any Follower.
func (e *Env) SettleFollowers(subs []Follower, want []int64, d time.Duration) {
	start := time.Now()
	ctx, cancel := e.T.Within(d)
	defer cancel()
	ints := make([]int, len(want))
	for i, s := range want {
		ints[i] = int(s)
	}
	var late []string
	for _, s := range subs {
		if m := s.WaitFor(ctx, ints); len(m) > 0 {
			late = append(late, fmt.Sprintf("%s lacks %d (first %d)", s.Name(), len(m), m[0]))
			e.mu.Lock()
			e.unsettled = append(e.unsettled, unsettled{s.Name(), m})
			e.mu.Unlock()
		}
	}
	if len(late) > 0 {
		e.T.Measure("unsettled", "after %s: %s", d, strings.Join(late, "; "))
	} else {
		e.T.Measure("settled", "%d subscribers had every event %s after publishing ended", len(subs), time.Since(start).Round(time.Millisecond))
	}
}

// Track makes Stop (and so Judge) also stop a client the check started itself (the
// reference client), before the history is judged.
func (e *Env) Track(stop func()) {
	e.mu.Lock()
	e.stops = append(e.stops, stop)
	e.mu.Unlock()
	e.T.Cleanup(stop)
}

// Restart restarts the target (capability restart), recorded in the history as the fault
// "restart". A target whose profile declares restart.durable: false keeps no history across
// it: a client resuming from before the restart must then receive the explicit reset signal,
// which NoReset accepts from then on (the history's NoLoss still fails a silent gap, and the
// reset excuses only what it explains). It returns when the target is back.
func (e *Env) Restart() {
	durable := e.T.Target().RestartDurable()
	start := e.Rec.Now()
	detail := "the target restarts (durable: its history survives)"
	if !durable {
		detail = "the target restarts (restart.durable: false: its history is lost)"
		e.mu.Lock()
		e.lossy = append(e.lossy, start)
		e.mu.Unlock()
	}
	e.Rec.FaultStart("restart", detail)
	defer e.Rec.FaultStop("restart", "")
	e.T.Restart()
}

// InvokedAfter keeps the seqs in seqs whose publish was invoked at or after t (the recorder's
// clock).
func (e *Env) InvokedAfter(seqs []int64, t time.Duration) []int64 {
	at := map[int64]time.Duration{}
	for _, op := range e.Rec.History().Ops {
		if op.Kind == history.KindPublishInvoke {
			at[op.Seq] = op.T
		}
	}
	var out []int64
	for _, s := range seqs {
		if v, ok := at[s]; ok && v >= t {
			out = append(out, s)
		}
	}
	return out
}

// Fault puts the named fault profile in effect on p, adjusted by mod, and records its start;
// the returned stop ends it and records the stop. Stop is idempotent; it also runs when the
// check ends.
func (e *Env) Fault(p *toxiproxy.Proxy, name string, mod func(*toxiproxy.Fault)) (stop func()) {
	t := e.T
	f, ok := toxiproxy.FaultNamed(name)
	if !ok {
		t.Harness("no fault profile %q (known: %s)", name, strings.Join(toxiproxy.FaultNames(), ", "))
	}
	if mod != nil {
		mod(&f)
	}
	ctx, cancel := t.Within(30 * time.Second)
	defer cancel()
	e.Rec.FaultStart(f.Name, f.Doc)
	a, err := toxiproxy.Apply(ctx, p, f)
	if err != nil {
		t.Harness("applying fault %s on %s: %v", f.Name, p.Name(), err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := a.Stop(c)
			e.Rec.FaultStop(f.Name, "")
			if err != nil {
				t.Harness("ending fault %s on %s: %v", f.Name, p.Name(), err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Judge stops the subscribers, runs the checker on the history and reports: measurements
// always, and on a violation the saved history and a Violation listing the broken rules.
func (e *Env) Judge() history.Report {
	e.Stop()
	t := e.T
	h := e.Rec.History()
	rep := history.Analyze(h)
	measure(t, rep)
	if !e.Resets {
		rep.Violations = append(rep.Violations, e.liveness(h, rep)...)
	}
	if len(rep.Violations) == 0 {
		// Passing histories are kept too: the HTML report draws every chaos check's timeline
		// (a few tens of KiB each).
		if path, err := h.SaveReport(t.Run.Profile.Report.Dir, t.Check.ID, t.Check.Cell); err == nil {
			t.SetHistory(path)
		}
		return rep
	}
	path, err := h.SaveReport(t.Run.Profile.Report.Dir, t.Check.ID, t.Check.Cell)
	if err == nil {
		t.SetHistory(path)
	}
	if t.Context().Err() != nil {
		// The scenario's waits were cut short: what the history lacks is the harness's, not
		// the target's (a long declared heartbeat can outgrow a check's bound).
		t.Harness("the check's time (%s) ran out before its scenario finished: its history is incomplete and is not judged (%d violations in it; history: %s)",
			t.Check.Timeout, len(rep.Violations), path)
	}
	var b strings.Builder
	rules := map[string]int{}
	for _, v := range rep.Violations {
		rules[v.Rule]++
	}
	var names []string
	for r := range rules {
		names = append(names, r)
	}
	sort.Strings(names)
	if onlyTiming(names) {
		t.TimingOnly()
	}
	if e.Diagnosis != "" {
		t.Diagnose(e.Diagnosis, "%s", e.DiagnosisText)
	} else if key, text := rep.Diagnosis(); key != "" {
		if text == "" {
			text = livenessText[key]
		}
		t.Diagnose(key, "%s", text)
	}
	fmt.Fprintf(&b, "the history breaks %s (%d ops, %d violations):\n", strings.Join(names, ", "), len(h.Ops), len(rep.Violations))
	for i, v := range rep.Violations {
		if i == 8 {
			fmt.Fprintf(&b, "… and %d more (see the history)\n", len(rep.Violations)-i)
			break
		}
		fmt.Fprintf(&b, "%s\n", v)
	}
	t.Violationf("%s", b.String())
	return rep
}

// onlyTiming reports whether every broken rule is a time bound (for Check.Timed).
func onlyTiming(rules []string) bool {
	for _, r := range rules {
		if r != history.RuleMaxLag && r != history.RulePublishWithin {
			return false
		}
	}
	return len(rules) > 0
}

// Diagnoses of the liveness rules (package history names those of its own rules).
const (
	// DiagUnexpectedReset: a reset signal although nothing was lost.
	DiagUnexpectedReset = "reset-within-retention"
	// DiagNotCaughtUp: a subscriber never received events the target acknowledged.
	DiagNotCaughtUp = "not-caught-up"
)

var livenessText = map[string]string{
	DiagUnexpectedReset: "the target sent its reset signal (events lost) although the check stayed within the declared retention: keep what target.retention declares, or declare less (or restart.durable: false when a restart loses history)",
	DiagNotCaughtUp:     "a subscriber never received events the target acknowledged: after a reconnect, deliver every event after the resume token (or the explicit reset signal)",
}

// liveness turns what the safety rules let pass into violations when no loss was provoked:
// a reset signal (the target declared events lost although the check stayed within its
// retention; after a restart the profile declares lossy, a reset is the truthful answer) and
// subscribers that never caught up (on seqs no reset excused).
func (e *Env) liveness(h history.History, rep history.Report) []history.Violation {
	e.mu.Lock()
	defer e.mu.Unlock()
	var v []history.Violation
	resets := map[string]int{}
	for _, op := range h.Ops {
		if op.Kind == history.KindReset && !e.AllowResets && !(len(e.lossy) > 0 && op.T >= e.lossy[0]) {
			resets[op.Client]++
		}
	}
	for _, name := range sortedNames(resets) {
		v = append(v, history.Violation{Rule: "NoReset", Client: name, Diagnosis: DiagUnexpectedReset,
			Msg: fmt.Sprintf("%s received %d reset signal(s) although the check published fewer events than the declared retention (%d) and no restart lost history: the target declared events lost that it had promised to keep", name, resets[name], e.T.Target().Retention)})
	}
	for _, u := range e.unsettled {
		exc := map[int64]bool{}
		for _, q := range rep.Clients[u.name].ExcusedSeqs {
			exc[q] = true
		}
		var left []int
		for _, q := range u.missing {
			if !exc[int64(q)] {
				left = append(left, q)
			}
		}
		if len(left) > 0 {
			v = append(v, history.Violation{Rule: "CaughtUp", Client: u.name, Diagnosis: DiagNotCaughtUp,
				Msg: fmt.Sprintf("a subscriber never caught up: %s lacks %d (first %d) that no reset excused", u.name, len(left), left[0])})
		}
	}
	sort.SliceStable(v, func(i, j int) bool { return v[i].Client < v[j].Client })
	return v
}

func sortedNames(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// measure reports the history's headline numbers.
func measure(t *fw.T, rep history.Report) {
	var events, dups, missing int
	var lag time.Duration
	for _, c := range rep.Clients {
		events += c.Events
		dups += c.Duplicates
		missing += c.Missing
		lag = max(lag, c.MaxLag)
	}
	t.Measure("events", "%d delivered to %d subscribers (%d duplicates, %d missing)", events, len(rep.Clients), dups, missing)
	if lag > 0 {
		t.Measure("max_lag", "%s", lag.Round(time.Millisecond))
	}
	for _, f := range rep.Faults {
		if s := faultSummary(f); s != "" {
			t.Measure("fault_"+f.Name, "%s", s)
		}
	}
}

// faultSummary is the slowest reconnect and detection around one fault.
func faultSummary(f history.FaultMeasures) string {
	var parts []string
	worst := func(m map[string]time.Duration) (string, time.Duration) {
		name, d := "", time.Duration(-1<<62)
		for k, v := range m {
			if v > d || (v == d && k < name) {
				name, d = k, v
			}
		}
		return name, d
	}
	when := func(d time.Duration) string {
		if d < 0 {
			return fmt.Sprintf("%s before the fault ended", (-d).Round(time.Millisecond))
		}
		return fmt.Sprintf("%s after the fault ended", d.Round(time.Millisecond))
	}
	if len(f.Reconnect) > 0 {
		n, d := worst(f.Reconnect)
		parts = append(parts, fmt.Sprintf("%d clients reconnected, the last (%s) %s", len(f.Reconnect), n, when(d)))
	}
	if len(f.FirstEvent) > 0 {
		n, d := worst(f.FirstEvent)
		parts = append(parts, fmt.Sprintf("the last first event (%s) %s", n, when(d)))
	}
	if len(f.NotReconnected) > 0 {
		parts = append(parts, fmt.Sprintf("never reconnected: %s", strings.Join(f.NotReconnected, ", ")))
	}
	if len(f.Detect) > 0 {
		n, d := worst(f.Detect)
		parts = append(parts, fmt.Sprintf("black hole detected by all %d, slowest %s after %s", len(f.Detect), n, d.Round(time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}
