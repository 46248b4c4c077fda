package engineio

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// Label marks every Engine.IO check; the checks are also labelled fallback (opt-in).
const Label = "engineio"

const spec = "Engine.IO protocol v4 (socket.io/docs/v4/engine-io-protocol, github.com/socketio/engine.io-protocol README.md)"

var caps = []fw.Capability{fw.CapEngineIO}

func reg(c fw.Check) {
	c.Spec = spec + "; " + c.Spec
	c.Requires = append(slices.Clone(caps), c.Requires...)
	c.Labels = []string{"fallback", Label}
	fw.Register(c)
}

// endpoint is the check's Engine.IO client; topic adds the check's topic to every request.
func endpoint(t *fw.T, topic bool) *client {
	e := t.Target().EngineIO
	if e == nil {
		t.NotSupported("the profile has no target.engineio")
	}
	c := &client{base: t.Run.BaseURL + e.Path, hc: t.HTTP()}
	if topic {
		c.query = map[string][]string{"rtconform_topic": {t.Topic()}}
	}
	return c
}

// open performs the polling handshake for a check that needs a session: the sid, the ping
// interval and timeout must be usable (FB-EIO-001 judges the rest).
func open(t *fw.T, c *client) handshake {
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	h, r, probs, err := c.open(ctx)
	if err != nil {
		// Preflight reached the target: an Engine.IO endpoint that resets or never answers
		// is the target's failure, not the harness's.
		t.Violation("a polling handshake answered at "+c.url("polling", ""), fmt.Sprintf("request failed: %v", err))
	}
	if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 {
		t.Violation("a polling handshake answered 200 with an open packet carrying sid, pingInterval and pingTimeout",
			fmt.Sprintf("%s (answer %d %q)", strings.Join(probs, "; "), r.Status, clip(r.Body)))
	}
	t.Measure("handshake", "sid %s, pingInterval %s, pingTimeout %s", h.SID, h.PingInterval, h.PingTimeout)
	return h
}

// sleep waits d or until the check ends.
func sleep(t *fw.T, d time.Duration) {
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

// upgradeTo opens the WebSocket transport for the session and probes it: 2probe must be
// answered by 3probe, first.
func upgradeTo(t *fw.T, c *client, sid string) *wsConn {
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	ws, res, err := c.dial(ctx, sid, true)
	if err != nil {
		status := "no answer"
		if res != nil {
			status = res.Status
		}
		t.Violation("a WebSocket (101) on "+c.url("websocket", sid)+" for the polling session", fmt.Sprintf("%v (%s)", err, status))
	}
	t.Cleanup(ws.close)
	start := time.Now()
	if err := ws.send(ctx, packet{Type: pPing, Data: "probe"}); err != nil {
		t.Violation("the probe ping sent", err.Error())
	}
	p, ok := ws.next(ctx)
	if !ok {
		t.Violation("3probe answering 2probe within 10 s", "nothing; the WebSocket: "+orOpen(ws.closedBy()))
	}
	if p.Type != pPong || p.Data != "probe" || p.Binary {
		t.Violation("3probe as the first packet on the WebSocket, answering 2probe", fmt.Sprintf("%q", p.String()))
	}
	t.Measure("probe", "3probe after %s", time.Since(start).Round(time.Millisecond))
	return ws
}

func orOpen(s string) string {
	if s == "" {
		return "still open"
	}
	return s
}

// releaseNoop drives polling after the probe until a poll is answered with a noop: the poll
// in flight at the probe, and if a ping (or a message) answered it first, the next ones. The
// server sends a noop to any GET pending during the upgrade; the bound is 3 s after the probe.
func releaseNoop(t *fw.T, c *client, sid string, pending chan response, pendErr chan error) time.Duration {
	const bound = 3 * time.Second
	start := time.Now()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case err := <-pendErr:
			t.Violation("the pending poll released with a noop (6) once the probe was answered", fmt.Sprintf("the poll failed: %v", err))
		case r := <-pending:
			if r.Status != http.StatusOK || r.Err != nil {
				t.Violation("the pending poll released with a noop (6) once the probe was answered", fmt.Sprintf("answer %d %q %v", r.Status, clip(r.Body), r.Err))
			}
			seen = append(seen, r.Body)
			if last := r.Packets[len(r.Packets)-1]; last.Type == pNoop && last.Data == "" {
				took := time.Since(start)
				t.Measure("noop", "the poll was released with %q %s after the probe", r.Body, took.Round(time.Millisecond))
				return took
			}
			for _, p := range r.Packets {
				if p.Type == pPing && p.Data == "" {
					ctx, cancel := t.Within(5 * time.Second)
					_, _ = c.post(ctx, sid, packet{Type: pPong})
					cancel()
				}
			}
			go pollInto(t, c, sid, pending, pendErr)
		case <-deadline.C:
			t.Diagnose("eio-no-noop", "the server does not release a poll pending during the upgrade with a noop (6): a client waits for that poll before it sends 5, so the upgrade stalls until the next ping or the poll's timeout")
			t.Violation(fmt.Sprintf("a poll pending during the upgrade answered with a noop (6) within %s of the probe", bound),
				fmt.Sprintf("poll answers after the probe: %q", seen))
		}
	}
}

// pollInto sends one GET and delivers its answer.
func pollInto(t *fw.T, c *client, sid string, out chan response, errs chan error) {
	r, err := c.poll(t.Context(), sid)
	if err != nil {
		errs <- err
		return
	}
	out <- r
}

// upgradedStrict runs the upgrade with a poll pending during the probe and requires that
// poll released with a noop (FB-EIO-003); it returns the committed WebSocket (pongs
// automatic).
func upgradedStrict(t *fw.T, c *client, h handshake) *wsConn {
	pending, pendErr := make(chan response, 4), make(chan error, 4)
	go pollInto(t, c, h.SID, pending, pendErr)
	sleep(t, 200*time.Millisecond) // let the GET reach the server
	ws := upgradeTo(t, c, h.SID)
	releaseNoop(t, c, h.SID, pending, pendErr)
	commit(t, ws)
	return ws
}

// upgraded runs the upgrade the way engine.io-client does: polling runs (pongs answered)
// until the probe is answered, then the client waits for the poll in flight, whatever
// answers it (a noop, or the next ping: FB-EIO-003 judges which), and sends 5.
func upgraded(t *fw.T, c *client, h handshake) *wsConn {
	p := startPoller(t, c, h.SID, true)
	sleep(t, 200*time.Millisecond)
	ws := upgradeTo(t, c, h.SID)
	pauseFor(t, p, h)
	commit(t, ws)
	return ws
}

// pauseFor stops the poller once the poll in flight is answered (bounded by the next ping).
func pauseFor(t *fw.T, p *poller, h handshake) {
	d := window(h)
	if !p.pause(d) {
		t.Violation(fmt.Sprintf("the poll in flight during the upgrade answered (a noop, a ping or messages) within %s", d), "still held")
	}
	if e := p.ended(); e != "paused" {
		t.Violation("the polling session alive until the upgrade", e)
	}
}

// commit sends the upgrade packet.
func commit(t *fw.T, ws *wsConn) {
	ctx, cancel := t.Within(5 * time.Second)
	defer cancel()
	if err := ws.send(ctx, packet{Type: pUpgrade}); err != nil {
		t.Violation("the upgrade packet (5) sent", err.Error())
	}
}

// window is how long a check waits for a heartbeat it relies on without judging it (the
// first ping of FB-EIO-007, a ping proving the WebSocket lives): twice the client's own
// deadline, so a late pinger fails FB-EIO-002 alone.
func window(h handshake) time.Duration { return 2*(h.PingInterval+h.PingTimeout) + grace }

// alive requires a ping over the WebSocket within pingInterval+pingTimeout+grace (answered
// by the automatic pong): the session lives on the new transport. Messages are skipped.
func alive(t *fw.T, ws *wsConn, h handshake, what string) {
	d := window(h)
	ctx, cancel := t.Within(d)
	defer cancel()
	start := time.Now()
	for {
		p, ok := ws.next(ctx)
		if !ok {
			t.Violation(fmt.Sprintf("%s: a ping (2) over the WebSocket within %s", what, d), "none; the WebSocket: "+orOpen(ws.closedBy()))
		}
		switch {
		case p.Type == pPing && p.Data == "":
			t.Measure("ping over the WebSocket", "%s after the upgrade", time.Since(start).Round(time.Millisecond))
			return
		case p.Type == pMessage, p.Type == pNoop:
		default:
			t.Violation(what+": pings and messages over the WebSocket", fmt.Sprintf("%q", p.String()))
		}
	}
}

var _ = func() bool {
	reg(fw.Check{
		ID: "FB-EIO-001", Level: fw.MUST, Transport: fw.LongPoll, Timeout: 30 * time.Second,
		Requirement: `The polling handshake (GET ?EIO=4&transport=polling) is answered 200 with exactly one open packet 0{…} whose JSON carries sid (a non-empty string), upgrades (an array of strings offering "websocket"), pingInterval, pingTimeout and maxPayload (positive integers, ms and bytes).`,
		Quote:       "If the server accepts the connection, then it MUST respond with an `open` packet with the following JSON-encoded payload",
		Spec:        "§Handshake; test-suite: \"successfully opens a session\" (upgrades [\"websocket\"])",
		Run:         handshakeCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-002", Level: fw.MUST, Transport: fw.LongPoll, Timeout: 3 * time.Minute,
		Requirement: "The server pings (2) at the pingInterval it advertised: each ping arrives no later than pingInterval+pingTimeout (+1 s of slack) after the handshake or the previous ping (when a conforming client gives the connection up) and no earlier than half the pingInterval.",
		Quote:       "At a given interval (the `pingInterval` value sent in the handshake) the server sends a `ping` packet and the client has a few seconds (the `pingTimeout` value) to send a `pong` packet back.",
		Spec:        "§Heartbeat (\"if the client does not receive a ping packet within pingInterval + pingTimeout, then it SHOULD consider that the connection is closed\")",
		Run:         heartbeatCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-003", Level: fw.MUST, Transport: fw.WebSocket, Timeout: 2 * time.Minute,
		Requirement: "A polling session upgrades: a WebSocket with its sid is accepted, 2probe is answered by 3probe, the poll pending during the probe is released with a noop (6), and after the client's 5 the session lives on the WebSocket (pings arrive there).",
		Quote:       "The server MUST: send a `noop` packet to any pending `GET` request (if applicable) to cleanly close HTTP long-polling transport; respond with a `pong` packet with the string `probe` in the payload",
		Spec:        "§Upgrade; test-suite: \"successfully upgrades from HTTP long-polling to WebSocket\"",
		Run:         upgradeCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-004", Level: fw.MUST, Transport: fw.WebSocket, Timeout: 2 * time.Minute, Requires: []fw.Capability{fw.CapPublish},
		Requirement: "No message is lost, duplicated or reordered across the upgrade: messages published before, during and after a client's upgrade (polling until its pending poll is answered, then the WebSocket) arrive exactly once, in order.",
		Quote:       "pause the HTTP long-polling transport (no more HTTP request gets sent), to ensure that no packet gets lost",
		Spec:        "§Upgrade (the client's side of the same guarantee); the session's messages are one ordered stream whatever the transport",
		Run:         noLossCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-005", Level: fw.MUST, Transport: fw.WebSocket, Timeout: 2 * time.Minute,
		Requirement: "Once a session has upgraded to WebSocket, a polling GET with its sid is refused (HTTP 400), and the session lives on over the WebSocket.",
		Quote:       "The server MUST return an HTTP 400 response if the session ID (from the `sid` query parameter) is not known.",
		Spec:        "§HTTP long-polling, §Upgrade; test-suite: \"ignores HTTP requests with same sid after upgrade\" (400)",
		Run:         pollAfterUpgradeCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-006", Level: fw.MUST, Transport: fw.WebSocket, Timeout: 2 * time.Minute,
		Requirement: "A second WebSocket for a session already upgraded is closed (refused, or closed within 3 s), and the first one lives on.",
		Quote:       "A client MUST NOT open more than one WebSocket connection per session. Should it happen, the server MUST close the WebSocket connection.",
		Spec:        "§WebSocket; test-suite: \"ignores WebSocket connection with same sid after upgrade\"",
		Run:         secondWebSocketCheck,
	})
	reg(fw.Check{
		ID: "FB-EIO-007", Level: fw.SHOULD, Transport: fw.LongPoll, Timeout: 3 * time.Minute,
		Requirement: "A session whose ping goes unanswered is closed within pingTimeout (+2 s of slack) of that ping: a pending poll gets a close packet (1) or a poll is refused (400).",
		Quote:       "If the server does not receive a `pong` packet back, then it SHOULD consider that the connection is closed.",
		Spec:        "§Heartbeat; test-suite: \"closes the session upon ping timeout\"",
		Run:         sessionTimeoutCheck,
	})
	return true
}()

func handshakeCheck(t *fw.T) {
	c := endpoint(t, false)
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	h, r, probs, err := c.open(ctx)
	if err != nil {
		// Preflight reached the target: an Engine.IO endpoint that resets or never answers
		// is the target's failure, not the harness's.
		t.Violation("a polling handshake answered at "+c.url("polling", ""), fmt.Sprintf("request failed: %v", err))
	}
	t.Measure("answer", "%d %q", r.Status, clip(r.Body))
	if len(probs) == 0 && len(r.Packets) != 1 {
		probs = append(probs, fmt.Sprintf("%d packets in the handshake answer, want exactly the open packet", len(r.Packets)))
	}
	if len(probs) == 0 && !slices.Contains(h.Upgrades, "websocket") {
		probs = append(probs, fmt.Sprintf("upgrades %q does not offer websocket: the session can never leave polling", h.Upgrades))
	}
	if len(probs) > 0 {
		t.Diagnose("eio-bad-handshake", "the Engine.IO open packet is not what v4 clients parse: %s", strings.Join(probs, "; "))
		t.Violation(`0{"sid":string,"upgrades":[…"websocket"…],"pingInterval":int,"pingTimeout":int,"maxPayload":int}`, strings.Join(probs, "; "))
	}
}

func heartbeatCheck(t *fw.T) {
	c := endpoint(t, false)
	h := open(t, c)
	start := time.Now()
	n := 3
	if h.PingInterval > 20*time.Second {
		n = 2
	}
	max, min := h.PingInterval+h.PingTimeout, h.PingInterval/2
	p := startPoller(t, c, h.SID, true)
	prev := start
	var gaps []string
	deadline := time.After(time.Duration(n)*max + grace)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seen := 0
	for seen < n {
		select {
		case <-deadline:
			t.Diagnose("eio-ping-late", "the server does not ping at the pingInterval it advertises (%s): clients give the connection up after pingInterval+pingTimeout without a ping", h.PingInterval)
			t.Violation(fmt.Sprintf("%d pings, each within %s of the previous", n, max), fmt.Sprintf("%d pings (gaps %s) after %s; polling: %s", seen, strings.Join(gaps, ", "), time.Since(start).Round(time.Millisecond), orOpen(p.ended())))
		case <-tick.C:
		}
		if e := p.ended(); e != "" {
			t.Violation("a live polling session answering pings", e)
		}
		var pings []time.Time
		for _, r := range p.packets() {
			if r.P.Type == pPing && r.P.Data == "" {
				pings = append(pings, r.At)
			}
		}
		for ; seen < len(pings) && seen < n; seen++ {
			gap := pings[seen].Sub(prev)
			prev = pings[seen]
			gaps = append(gaps, gap.Round(time.Millisecond).String())
			t.Measure(fmt.Sprintf("ping %d", seen+1), "%s after the %s", gap.Round(time.Millisecond), map[bool]string{true: "handshake", false: "previous ping"}[seen == 0])
			if gap > max+grace/2 {
				t.Diagnose("eio-ping-late", "the server does not ping at the pingInterval it advertises (%s): clients give the connection up after pingInterval+pingTimeout without a ping", h.PingInterval)
				t.Violation(fmt.Sprintf("a ping within pingInterval+pingTimeout = %s", max), fmt.Sprintf("ping %d after %s", seen+1, gap.Round(time.Millisecond)))
			}
			if gap < min {
				t.Violation(fmt.Sprintf("pings no more often than half the advertised pingInterval (%s)", min), fmt.Sprintf("ping %d after %s", seen+1, gap.Round(time.Millisecond)))
			}
		}
	}
}

func upgradeCheck(t *fw.T) {
	c := endpoint(t, false)
	h := open(t, c)
	if !slices.Contains(h.Upgrades, "websocket") {
		t.NotSupported("the handshake offers no websocket upgrade (upgrades %q; FB-EIO-001 judges that)", h.Upgrades)
	}
	ws := upgradedStrict(t, c, h)
	alive(t, ws, h, "after 5")
}

func pollAfterUpgradeCheck(t *fw.T) {
	c := endpoint(t, false)
	h := open(t, c)
	if !slices.Contains(h.Upgrades, "websocket") {
		t.NotSupported("the handshake offers no websocket upgrade (upgrades %q)", h.Upgrades)
	}
	ws := upgraded(t, c, h)
	sleep(t, 200*time.Millisecond) // the 5 reaches the server
	d := h.PingInterval + h.PingTimeout + grace
	ctx, cancel := t.Within(d)
	r, err := c.poll(ctx, h.SID)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		t.Diagnose("eio-poll-after-upgrade", "the server still serves polling for a session that moved to WebSocket: a stale poll holds (or takes) the session's packets")
		t.Violation("a polling GET with the sid of an upgraded session refused with 400", fmt.Sprintf("the GET was held for %s without an answer", d))
	case err != nil:
		t.Violation("a polling GET with the sid of an upgraded session refused with 400", err.Error())
	}
	t.Measure("poll after upgrade", "%d %q", r.Status, clip(r.Body))
	if r.Status != http.StatusBadRequest {
		t.Diagnose("eio-poll-after-upgrade", "the server still serves polling for a session that moved to WebSocket: a stale poll holds (or takes) the session's packets")
		t.Violation("a polling GET with the sid of an upgraded session refused with 400", fmt.Sprintf("answered %d %q after %s", r.Status, clip(r.Body), r.Took.Round(time.Millisecond)))
	}
	alive(t, ws, h, "after the refused poll")
}

func secondWebSocketCheck(t *fw.T) {
	c := endpoint(t, false)
	h := open(t, c)
	if !slices.Contains(h.Upgrades, "websocket") {
		t.NotSupported("the handshake offers no websocket upgrade (upgrades %q)", h.Upgrades)
	}
	ws := upgraded(t, c, h)
	sleep(t, 200*time.Millisecond)
	ctx, cancel := t.Within(10 * time.Second)
	defer cancel()
	ws2, res, err := c.dial(ctx, h.SID, false)
	if err != nil {
		status := "no HTTP answer"
		if res != nil {
			status = res.Status
		}
		t.Measure("second WebSocket", "refused: %s", status)
	} else {
		t.Cleanup(ws2.close)
		_ = ws2.send(ctx, packet{Type: pPing, Data: "probe"})
		const bound = 3 * time.Second
		wctx, wcancel := t.Within(bound)
		var got []string
		for {
			p, ok := ws2.next(wctx)
			if !ok {
				break
			}
			got = append(got, p.String())
		}
		wcancel()
		if ws2.closedBy() == "" {
			t.Diagnose("eio-second-websocket", "the server accepts a second WebSocket for a session that already has one: two transports for one session")
			t.Violation(fmt.Sprintf("the second WebSocket for sid %s closed within %s", h.SID, bound), fmt.Sprintf("still open; it received %q", got))
		}
		t.Measure("second WebSocket", "accepted, then closed (%s) after receiving %q", ws2.closedBy(), got)
	}
	alive(t, ws, h, "the first WebSocket after the second was closed")
}

func sessionTimeoutCheck(t *fw.T) {
	c := endpoint(t, false)
	h := open(t, c)
	start := time.Now()
	p := startPoller(t, c, h.SID, false)
	// The first ping starts the server's pingTimeout; a server that never pings is judged
	// from when it should have (FB-EIO-002 judges the ping itself).
	var pingAt time.Time
	firstBy := start.Add(window(h))
	for pingAt.IsZero() && time.Now().Before(firstBy) && t.Context().Err() == nil {
		for _, r := range p.packets() {
			if r.P.Type == pPing && r.P.Data == "" {
				pingAt = r.At
				break
			}
		}
		if e := p.ended(); e != "" && pingAt.IsZero() {
			if at, how := p.closed(); !at.IsZero() {
				t.Measure("closed", "%s, %s after the handshake, before any ping", how, at.Sub(start).Round(time.Millisecond))
				return
			}
			t.Violation("a polling session alive until its first ping", e)
		}
		sleep(t, 20*time.Millisecond)
	}
	from, what := pingAt, "the unanswered ping"
	if pingAt.IsZero() {
		from, what = start.Add(h.PingInterval), "when the first ping was due (none came)"
	} else {
		t.Measure("ping", "%s after the handshake, not answered", pingAt.Sub(start).Round(time.Millisecond))
	}
	deadline := from.Add(h.PingTimeout + grace)
	for time.Now().Before(deadline) && t.Context().Err() == nil {
		if at, how := p.closed(); !at.IsZero() {
			t.Measure("closed", "%s, %s after %s (pingTimeout %s)", how, at.Sub(from).Round(time.Millisecond), what, h.PingTimeout)
			return
		}
		if e := p.ended(); e != "" {
			t.Violation("a close packet (1) or a refused poll (400) once pingTimeout passed", e)
		}
		sleep(t, 20*time.Millisecond)
	}
	var kinds []string
	for _, r := range p.packets() {
		kinds = append(kinds, r.P.String())
	}
	t.Diagnose("eio-no-ping-timeout", "the server keeps sessions whose pings go unanswered: dead clients' sessions (and their buffers) are never reclaimed")
	t.Violation(fmt.Sprintf("the session closed (a close packet or a 400) within pingTimeout (%s) + %s of %s", h.PingTimeout, grace, what),
		fmt.Sprintf("still open %s later; polls received %q", time.Since(from).Round(time.Millisecond), kinds))
}

// seqOf finds the seq of a published payload of this check in a message's data (the data is
// the payload, or holds it JSON-escaped, as Socket.IO's event arrays do).
var seqRe = regexp.MustCompile(`"check":"FB-EIO-004","seq":([0-9]+)`)

func seqOf(run, data string) (int, bool) {
	d := strings.ReplaceAll(data, `\"`, `"`)
	if !strings.Contains(d, `"run":"`+run+`"`) {
		return 0, false
	}
	m := seqRe.FindStringSubmatch(d)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

func noLossCheck(t *fw.T) {
	c := endpoint(t, true)
	h := open(t, c)
	if !slices.Contains(h.Upgrades, "websocket") {
		t.NotSupported("the handshake offers no websocket upgrade (upgrades %q)", h.Upgrades)
	}
	p := startPoller(t, c, h.SID, true)
	// Before: three messages over polling.
	for i := 1; i <= 3; i++ {
		t.Publish(t.Payload(i))
	}
	waitSeqs(t, func() []received { return p.packets() }, 3, 5*time.Second, "the first 3 messages over polling, before the upgrade")
	// During and after: a publisher every 20 ms.
	stop, next := make(chan struct{}), make(chan int, 1)
	go func() {
		seq := 4
		defer func() { next <- seq }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := t.Within(5 * time.Second)
			err := t.TryPublish(ctx, t.Topic(), t.Payload(seq))
			cancel()
			if err != nil {
				return
			}
			seq++
		}
	}()
	sleep(t, 300*time.Millisecond)
	ws := upgradeTo(t, c, h.SID)
	func() {
		defer func() {
			if r := recover(); r != nil {
				close(stop)
				<-next
				panic(r)
			}
		}()
		pauseFor(t, p, h)
		// The client's 5 takes a round trip to reach the server: 300 ms of a slow network,
		// during which the server must buffer what it emits for the WebSocket.
		sleep(t, 300*time.Millisecond)
		commit(t, ws)
	}()
	sleep(t, 500*time.Millisecond)
	close(stop)
	last := <-next - 1
	t.Measure("published", "%d messages (1…3 before the upgrade, 4…%d while and after it)", last, last)
	// Collect the WebSocket's packets until every published message arrived (or 5 s).
	var wsGot []received
	wctx, wcancel := t.Within(5 * time.Second)
	defer wcancel()
	count := func() int {
		n := 0
		for _, r := range append(p.packets(), wsGot...) {
			if _, ok := seqOf(t.Run.ID[:8], r.P.Data); ok && r.P.Type == pMessage {
				n++
			}
		}
		return n
	}
	for count() < last {
		pk, ok := ws.next(wctx)
		if !ok {
			break
		}
		wsGot = append(wsGot, received{P: pk, At: time.Now(), Via: "websocket"})
	}
	var seqs []int
	via := map[string]int{}
	for _, r := range append(p.packets(), wsGot...) {
		if r.P.Type != pMessage {
			continue
		}
		if n, ok := seqOf(t.Run.ID[:8], r.P.Data); ok {
			seqs = append(seqs, n)
			via[r.Via]++
		}
	}
	t.Measure("received", "%d over polling, %d over the WebSocket", via["polling"], via["websocket"])
	var lost, dup []int
	count1 := map[int]int{}
	for _, s := range seqs {
		count1[s]++
	}
	for s := 1; s <= last; s++ {
		if count1[s] == 0 {
			lost = append(lost, s)
		}
		if count1[s] > 1 {
			dup = append(dup, s)
		}
	}
	ordered := slices.IsSorted(seqs)
	if len(lost) > 0 || len(dup) > 0 || !ordered {
		t.Diagnose("eio-upgrade-loss", "messages emitted while a session upgrades are lost, repeated or reordered between the polling and WebSocket transports")
		t.Violation(fmt.Sprintf("messages 1…%d exactly once, in order", last), fmt.Sprintf("lost %v, duplicated %v, order %v", lost, dup, compact(seqs)))
	}
}

// waitSeqs waits until get holds n messages of this check.
func waitSeqs(t *fw.T, get func() []received, n int, d time.Duration, what string) {
	ctx, cancel := t.Within(d)
	defer cancel()
	for {
		k := 0
		for _, r := range get() {
			if _, ok := seqOf(t.Run.ID[:8], r.P.Data); ok && r.P.Type == pMessage {
				k++
			}
		}
		if k >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Violation(what+" within "+d.String(), fmt.Sprintf("%d of them (the server must send each published body to the sessions opened with ?rtconform_topic=<topic>)", k))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// compact renders a seq list, collapsing runs (1-40).
func compact(s []int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(",")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		} else {
			fmt.Fprintf(&b, "%d", s[i])
		}
		i = j + 1
	}
	return "[" + b.String() + "]"
}
