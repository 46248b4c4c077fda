package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// late is the delivery bound: an event (or a first byte) later than this after it was
// published (requested) counts as held. Direct delivery on loopback takes milliseconds.
const late = time.Second

// settleWait is how long a check lets a new stream reach the origin before it publishes.
// A buffering proxy may hold even the response headers, so the check cannot wait for them.
const settleWait = 500 * time.Millisecond

var (
	sseCaps     = []fw.Capability{fw.CapSSE}
	ssePublish  = []fw.Capability{fw.CapSSE, fw.CapPublish}
	sseResume   = []fw.Capability{fw.CapSSE, fw.CapPublish, fw.CapResume}
	sseIdleCaps = []fw.Capability{fw.CapSSE, fw.CapPublish, fw.CapHeartbeat}
	sseRestart  = []fw.Capability{fw.CapSSE, fw.CapRestart}
)

// window is how long a check waits for held events: a proxy that buffers until the response
// ends releases them when its idle timeout cuts the stream.
func (e *env) window() time.Duration { return idle(e.t.Run) + 3*time.Second }

// settle waits until every tap has its first byte, or settleWait passed.
func settle(taps ...*tap) {
	deadline := time.Now().Add(settleWait)
	for _, tp := range taps {
		if tp != nil {
			tp.waitUntil(deadline, func() bool { return !tp.firstByte.IsZero() })
		}
	}
	time.Sleep(time.Until(deadline))
}

// publishSpaced publishes the check's payloads for seqs, gap apart (padded to about pad
// bytes when pad > 0), and returns when each publish was sent.
func publishSpaced(t *fw.T, seqs []int, gap time.Duration, pad int) []published {
	var out []published
	for i, s := range seqs {
		if i > 0 {
			time.Sleep(gap)
		}
		p := t.Payload(s)
		if pad > 0 {
			p = t.PaddedPayload(s, pad)
		}
		at := time.Now()
		t.Publish(p)
		out = append(out, published{seq: s, at: at, size: len(p)})
	}
	return out
}

// published is one publish: the seq, when it was sent, and the payload's size.
type published struct {
	seq  int
	at   time.Time
	size int
}

func seqsOf(ps []published) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.seq)
	}
	return out
}

// delivery is how a tap received a set of publishes.
type delivery struct {
	lat     latency
	missing []int
}

func deliveryOf(t *fw.T, tp *tap, pubs []published) delivery {
	arr := tp.arrivals(t)
	var d delivery
	for _, p := range pubs {
		if ev, ok := arr[p.seq]; ok {
			d.lat = append(d.lat, ev.At.Sub(p.at))
		} else {
			d.missing = append(d.missing, p.seq)
		}
	}
	return d
}

// held reports whether some event is missing or later than the bound.
func (d delivery) held() bool { return len(d.missing) > 0 || d.lat.max() > late }

func (d delivery) String() string {
	s := d.lat.String()
	if len(d.missing) > 0 {
		s += fmt.Sprintf("; never received: %v", d.missing)
	}
	return s
}

// release explains when the held events were let through: by size, at the end of the
// stream, or not at all.
func release(t *fw.T, tp *tap, small, all []published) string {
	s := tp.snap()
	arr := tp.arrivals(t)
	first, ok := arr[small[0].seq]
	if !ok {
		return fmt.Sprintf("never released (%d bytes received in %d reads; stream %s)", s.bytes, s.reads, s.describeEnd())
	}
	var before int // payload bytes published before the release
	for _, p := range all {
		if p.at.Before(first.At) {
			before += p.size
		}
	}
	together := 0
	for _, p := range small {
		if ev, ok := arr[p.seq]; ok && ev.read == first.read {
			together++
		}
	}
	how := fmt.Sprintf("%d of %d events released together in read #%d after %.1f KiB had been published", together, len(small), first.read, float64(before)/1024)
	if s.bodyEnded && s.endedAt.Sub(first.At) < 150*time.Millisecond && s.endedAt.Sub(first.At) > -150*time.Millisecond {
		how += fmt.Sprintf(", when the stream ended %s after the last publish (%s)", ms(s.endedAt.Sub(all[len(all)-1].at)), s.describeEnd())
	}
	return how
}

// "Buffering breaks event streams" — nginx/nginx#1505, closed "as designed"; Cloudflare's
// 524: "origin did not provide an HTTP response before the default 100 seconds Proxy Read
// Timeout", so send a first byte immediately.
var _ = register(check{
	id: "PX-SSE-001", level: fw.SHOULD, transport: fw.SSE, requires: sseCaps,
	requirement: "Through the proxy, an event stream's response headers and first body byte arrive within 1 s (the origin sends them at once).",
	quote:       "origin did not provide an HTTP response before the default 100 seconds Proxy Read Timeout",
	spec:        "operational: Cloudflare error 524 docs; nginx.org ngx_http_proxy_module proxy_buffering (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemBuffering, proxyrun.ProblemWriteDelay},
	run: func(e *env) {
		t := e.t
		px, dt := e.taps()
		firstByte := func(tp *tap) func() bool { return func() bool { return !tp.firstByte.IsZero() } }
		px.waitUntil(time.Now().Add(idle(t.Run)+2*time.Second), firstByte(px))
		s := px.snap()
		var direct time.Duration = -1
		if dt != nil {
			dt.waitUntil(time.Now().Add(2*time.Second), firstByte(dt))
			if d := dt.snap(); d.firstByteReceived {
				direct = d.firstByte.Sub(d.sent)
				t.Measure("first byte direct", "%s", ms(direct))
			}
		} else {
			t.Measure("comparison", "no proxies.direct: absolute bound only")
		}
		if s.reqErr != nil {
			e.fail("a response through the proxy", s.describeEnd(), proxyrun.ProblemBadGateway)
		}
		t.Measure("status", "%d", s.status)
		if s.headersReceived {
			t.Measure("headers", "%s", ms(s.headersAt.Sub(s.sent)))
		}
		if !s.firstByteReceived {
			e.fail("the first body byte within "+ms(late), fmt.Sprintf("none within %s (stream %s)", ms(idle(t.Run)+2*time.Second), s.describeEnd()))
		}
		fb := s.firstByte.Sub(s.sent)
		t.Measure("first byte", "%s", ms(fb))
		if s.status != http.StatusOK {
			e.fail("200", fmt.Sprintf("status %d", s.status), statusProblem(s.status))
		}
		if fb > late {
			obs := fmt.Sprintf("the first byte after %s (headers after %s)", ms(fb), ms(s.headersAt.Sub(s.sent)))
			if direct >= 0 {
				obs += fmt.Sprintf(", directly from the origin after %s", ms(direct))
			}
			if s.bodyEnded && s.endedAt.Sub(s.firstByte) < 150*time.Millisecond {
				obs += "; released only when the stream " + s.describeEnd()
			}
			e.fail("the first byte within "+ms(late), obs)
		}
	},
})

// statusProblem maps a gateway error status to the problem it signals.
func statusProblem(status int) string {
	switch status {
	case http.StatusGatewayTimeout:
		return proxyrun.ProblemIdleTimeout
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return proxyrun.ProblemBadGateway
	}
	return proxyrun.ProblemBuffering
}

// "proxy_buffering on (default): the whole response is buffered ('events arrive in
// batches')" — nginx.org ngx_http_proxy_module; nginx/nginx#1505 "Buffering breaks event
// streams", closed "as designed".
var _ = register(check{
	id: "PX-SSE-002", level: fw.MUST, transport: fw.SSE, requires: ssePublish,
	requirement: "Through the proxy, each event arrives within 1 s of its publish, as it does directly from the origin (the proxy does not buffer the stream).",
	quote:       "Buffering breaks event streams",
	spec:        "operational: nginx.org ngx_http_proxy_module proxy_buffering, proxy_http_version; nginx/nginx#1505; HAProxy http-no-delay (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemBuffering},
	run:         runDelivery,
})

// "HAProxy without `option http-no-delay` delays every SSE write (the first byte included)
// by about 200 ms." (shared/notes/proxy-facts.md, measured with Debian's HAProxy 2.6)
var _ = register(check{
	id: "PX-SSE-003", serial: true, level: fw.SHOULD, transport: fw.SSE, requires: ssePublish,
	requirement: "The proxy adds at most 100 ms to an event's delivery (median over 5 events, compared with the origin directly; a deployment needs proxies.direct).",
	quote:       "HAProxy without option http-no-delay delays every SSE write (the first byte included) by about 200 ms.",
	spec:        "operational: HAProxy option http-no-delay, measured with Debian 12's HAProxy 2.6 (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWriteDelay},
	run:         runAdded,
})

// streamAdded opens a stream through the path and one from the origin (when known), publishes
// five events 200 ms apart, waits up to patience after the last for them, and measures.
func (e *env) streamAdded(patience time.Duration) added {
	t := e.t
	px, dt := e.taps()
	settle(px, dt)
	pubs := publishSpaced(t, []int{1, 2, 3, 4, 5}, 200*time.Millisecond, 0)
	want := seqsOf(pubs)
	last := pubs[len(pubs)-1].at
	px.waitSeqs(t, want, last.Add(patience))
	a := added{via: deliveryOf(t, px, pubs)}
	t.Measure("latency via proxy", "%s", a.via)
	if dt == nil {
		return a
	}
	dt.waitSeqs(t, want, last.Add(late))
	a.direct = deliveryOf(t, dt, pubs)
	t.Measure("latency direct", "%s", a.direct)
	e.originOK(a.direct)
	pa, da := px.arrivals(t), dt.arrivals(t)
	for _, s := range want {
		if p, ok := pa[s]; ok {
			a.diff = append(a.diff, p.At.Sub(da[s].At))
		}
	}
	a.compared = true
	return a
}

// maxAdded is how much delivery time a proxy may add to an event (median).
const maxAdded = 100 * time.Millisecond

// "Legacy proxy servers are known to, in certain cases, drop HTTP connections after a short
// timeout. To protect against such proxy servers, authors can include a comment line (one
// starting with a ':' character) every 15 seconds or so." (WHATWG HTML §9.2.7)
var _ = register(check{
	id: "PX-SSE-004", level: fw.MUST, transport: fw.SSE, requires: sseIdleCaps, timeout: 4 * time.Minute,
	requirement: "An event stream with no events stays open through the proxy and then still delivers: it survives twice the path's idle limit, or, when waiting that out is not shorter than deploy.maxIdleWait, its longest silence through the path (the heartbeat) is shorter than the limit.",
	quote:       "Legacy proxy servers are known to, in certain cases, drop HTTP connections after a short timeout. To protect against such proxy servers, authors can include a comment line (one starting with a ':' character) every 15 seconds or so.",
	spec:        "WHATWG HTML §9.2.7; operational: nginx proxy_read_timeout, HAProxy timeout server/client, Varnish between_bytes_timeout, Apache ProxyTimeout (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemIdleTimeout},
	run:         runIdle,
})

// streamStatus fails a stream through the proxy that got no response or not 200.
func (e *env) streamStatus(s snapshot) {
	if s.reqErr != nil {
		e.fail("a response through the proxy", s.describeEnd(), proxyrun.ProblemBadGateway)
	}
	if s.headersReceived && s.status != http.StatusOK {
		e.fail("200", fmt.Sprintf("status %d", s.status), statusProblem(s.status))
	}
}

// deliversAfterIdle publishes an event to a stream that stayed idle and requires it.
func (e *env) deliversAfterIdle(px *tap) {
	t := e.t
	p := publishSpaced(t, []int{1}, 0, 0)
	if !px.waitSeqs(t, []int{1}, time.Now().Add(e.window())) {
		e.fail("an event after the idle period", fmt.Sprintf("none within %s (stream %s)", ms(e.window()), px.snap().describeEnd()), proxyrun.ProblemBuffering)
	}
	t.Measure("event after idle", "%s", deliveryOf(t, px, p).lat)
}

// learnIDs opens a stream on the origin (direct when known, else base), publishes from..to
// and returns their event ids in order.
func (e *env) learnIDs(from, to int) []string {
	t := e.t
	origin := e.direct
	if origin == "" {
		origin = e.base
	}
	o := e.openTap("origin", origin, nil)
	settle(o)
	var want []int
	for s := from; s <= to; s++ {
		want = append(want, s)
	}
	publishSpaced(t, want, 0, 0)
	if !o.waitSeqs(t, want, time.Now().Add(e.window())) {
		msg := fmt.Sprintf("events %d..%d on a live stream of %s: got %v (stream %s)", from, to, origin, o.seqs(t), o.snap().describeEnd())
		if origin == e.base {
			e.fail("events on a live stream", msg, proxyrun.ProblemBuffering)
		}
		t.Harness("the origin did not deliver %s", msg)
	}
	arr := o.arrivals(t)
	var ids []string
	for _, s := range want {
		ev := arr[s]
		if !ev.IDSeen || ev.LastEventID == "" {
			t.NotSupported("the origin's events carry no id: field to resume from")
		}
		ids = append(ids, ev.LastEventID)
	}
	o.close()
	return ids
}

// problemResumeHeader is this suite's own problem key: the resume header did not reach the
// origin (no proxyrun problem covers it: no proxy here drops it by default).
const problemResumeHeader = "resume-header"

// resumeByHeaderOrQuery ends a resume check as NOT_SUPPORTED for a target that resumes
// through a connect request of its own (sse.resume.path, websocket.resume.path, or replayed
// events inside a connect reply, target.connect): the proxy suite's SSE and WebSocket resume
// checks send Last-Event-ID or the resume query and read the replay event by event. The wire
// suites and the chaos suite judge such a target's resume; through a proxy it is not covered
// yet. An HTTP stream is covered: its tap reads the connect reply's replayed events and
// fields (the resume body template's epoch), like the httpstream suite.
func (e *env) resumeByHeaderOrQuery(tr fw.Transport) {
	tg := e.t.Target()
	switch {
	case tr != fw.HTTPStream && tg.Connect != nil && tg.Connect.Events != "":
		e.t.NotSupported("the target replays events inside its connect reply (target.connect.events): the proxy suite's resume checks do not read it yet")
	case tr == fw.SSE && tg.SSE.Resume.Path != "":
		e.t.NotSupported("the target resumes through its own request (sse.resume.path), not Last-Event-ID: the proxy suite's resume checks send Last-Event-ID")
	case tr == fw.WebSocket && tg.WebSocket.Resume.Path != "":
		e.t.NotSupported("the target resumes through a path of its own (websocket.resume.path): the proxy suite's resume check sends the token in the query or a message")
	}
}

// "The Last-Event-ID HTTP request header reports an EventSource object's last event ID
// string to the server when the user agent is to reestablish the connection." (WHATWG HTML
// §9.2.4)
var _ = register(check{
	id: "PX-SSE-005", level: fw.MUST, transport: fw.SSE, requires: sseResume,
	requirement: "A reconnect through the proxy with Last-Event-ID receives exactly the events after that id (the header reaches the origin: no gap, no duplicate).",
	quote:       "The Last-Event-ID HTTP request header reports an EventSource object's last event ID string to the server when the user agent is to reestablish the connection.",
	spec:        "WHATWG HTML §9.2.4; operational: request headers pass proxies unless stripped or cached without Vary (shared/notes/proxy-facts.md)",
	problems:    []string{problemResumeHeader, proxyrun.ProblemCaching},
	run:         runResume,
})

// "Unless the response is uncacheable or passed, request coalescing (the waiting list) and
// caching apply to SSE too." — Varnish builtin.vcl (shared/notes/proxy-facts.md)
var _ = register(check{
	id: "PX-SSE-006", level: fw.MUST, transport: fw.SSE, requires: ssePublish,
	requirement: "Two clients opening the same event stream URL at the same time through the proxy both get a live stream and every event (no request coalescing).",
	quote:       "Unless the response is uncacheable or passed, request coalescing (the waiting list) and caching apply to SSE too.",
	spec:        "operational: varnish-cache builtin.vcl waiting list; Bunny CDN request coalescing (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCoalescing},
	run:         runConcurrent,
})

// "Bunny CDN: an SSE response with no Cache-Control gets cached for 1 month. A cached stream
// replays in a loop" (shared/notes/proxy-facts.md); Varnish's built-in VCL caches a GET
// response without Cache-Control for default_ttl.
var _ = register(check{
	id: "PX-SSE-007", level: fw.MUST, transport: fw.SSE, requires: sseResume,
	requirement: "Through the proxy, clients resuming from different ids get different data, and a new live stream replays nothing (no stream is served from a cache).",
	quote:       "an SSE response with no Cache-Control gets cached for 1 month. A cached stream replays in a loop, and request coalescing breaks per-user streams.",
	spec:        "operational: Bunny CDN; varnish-cache builtin.vcl default_ttl (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCaching, problemResumeHeader},
	run:         runUncached,
})

// "Compression layers hold data until a flush ... (flush gzip/brotli after each SSE
// write). Mitigations: Cache-Control: no-transform ... or excluding SSE from compression."
// (shared/notes/proxy-facts.md: expressjs/compression#61, tower-rs/tower-http#420)
var _ = register(check{
	id: "PX-SSE-008", level: fw.SHOULD, transport: fw.SSE, requires: ssePublish,
	requirement: "A client asking for gzip (Accept-Encoding: gzip) gets each event through the proxy as soon as a client that does not (compression adds no buffering).",
	quote:       "Compression layers hold data until a flush",
	spec:        "operational: nginx gzip_types; expressjs/compression#61, tower-rs/tower-http#420, cloudflare/workerd#7390 (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemCompression},
	run:         runCompressed,
})

// runDelivery is PX-SSE-002 for the check's stream transport (SSE or an HTTP stream).
func runDelivery(e *env) {
	t := e.t
	px, dt := e.taps()
	settle(px, dt)
	small := publishSpaced(t, []int{1, 2, 3, 4, 5}, 200*time.Millisecond, 0)
	want := seqsOf(small)
	grace := small[len(small)-1].at.Add(late)
	px.waitSeqs(t, want, grace)
	all := small
	if deliveryOf(t, px, small).held() {
		// Held: publish 1 KiB events until the held ones come out, to tell a size
		// threshold (nginx's ~4 KiB buffers) from a proxy that holds until the end.
		for i := 0; i < 16 && !px.waitSeqs(t, want, time.Now()); i++ {
			all = append(all, publishSpaced(t, []int{100 + i}, 0, 1024)...)
			px.waitSeqs(t, want, time.Now().Add(100*time.Millisecond))
		}
		px.waitSeqs(t, want, all[len(all)-1].at.Add(e.window()))
	}
	pd := deliveryOf(t, px, small)
	t.Measure("latency via proxy", "%s", pd)
	if dt != nil {
		dt.waitSeqs(t, want, time.Now().Add(late))
		dd := deliveryOf(t, dt, small)
		t.Measure("latency direct", "%s", dd)
		if pd.held() && dd.held() {
			t.Harness("the origin itself delivered late or not at all (%s): the proxy cannot be judged", dd)
		}
	} else {
		t.Measure("comparison", "no proxies.direct: absolute bound only")
	}
	if pd.held() {
		how := release(t, px, small, all)
		t.Measure("release", "%s", how)
		e.fail(fmt.Sprintf("events 1-5 (published 200 ms apart) each within %s", ms(late)),
			fmt.Sprintf("%s; %s", pd, how))
	}
}

// runAdded is PX-SSE-003 for the check's stream transport (SSE or an HTTP stream).
func runAdded(e *env) {
	t := e.t
	if e.direct == "" {
		t.NotSupported("the proxy's share of the latency needs the origin's own URL (--origin, deploy.origin or proxies.direct)")
	}
	a := e.streamAdded(late)
	if a.via.held() {
		t.Measure("note", "events are held for more than %s: see %s", ms(late), e.see("PX-SSE-002"))
		return
	}
	added := a.diff.median()
	t.Measure("added by the proxy", "%s (median)", ms(added))
	if added > maxAdded {
		e.fail(fmt.Sprintf("at most %s added per event", ms(maxAdded)),
			fmt.Sprintf("%s added (median; via proxy %s); to make the latency your users accept a MUST, declare it: --latency or deploy.latency (%s)", ms(added), a.via.lat, e.see("PX-SSE-010")))
	}
}

// runIdle is PX-SSE-004 for the check's stream transport (SSE or an HTTP stream).
func runIdle(e *env) {
	t := e.t
	hb := e.heartbeat()
	px := e.openTap("proxy", e.base, nil)
	px.waitReady(time.Now().Add(2 * time.Second))
	l := e.idleLimit(px.snap().header)
	limitMeasure(t, l)
	if !e.waitOut(l) {
		s := e.watchGaps(l, hb, func() gapStat {
			s := px.snap()
			g := gapStat{gaps: max(s.reads-1, 0), longest: s.maxGap}
			if s.bodyEnded {
				g.ended = s.describeEnd()
			}
			return g
		})
		e.streamStatus(px.snap())
		e.judgeMargin(l, "heartbeat", hb, s)
		e.deliversAfterIdle(px)
		return
	}
	wait := 2 * l.d
	t.Measure("idle wait", "%s (2× the limit; heartbeat %s)", ms(wait), ms(hb))
	px.waitUntil(time.Now().Add(wait-time.Since(px.sent)), func() bool { return false })
	s := px.snap()
	e.streamStatus(s)
	t.Measure("longest silence", "%s", ms(s.maxGap))
	if s.bodyEnded {
		t.Measure("cut", "%s", s.describeEnd())
		silent := s.endedAt.Sub(s.sent)
		if s.firstByteReceived {
			silent = s.endedAt.Sub(s.lastRead)
		}
		e.fail(fmt.Sprintf("the stream open for %s without events", ms(wait)),
			fmt.Sprintf("the stream %s, %s after its last byte (%d bytes in %d reads)", s.describeEnd(), ms(silent), s.bytes, s.reads))
	}
	t.Measure("survived", "%s", ms(time.Since(s.sent)))
	e.deliversAfterIdle(px)
}

// runResume is PX-SSE-005 for the check's stream transport (SSE or an HTTP stream).
func runResume(e *env) {
	t := e.t
	e.resumeByHeaderOrQuery(e.t.Check.Transport)
	ids := e.learnIDs(1, 3)
	t.Publish(t.Payload(4))
	t.Publish(t.Payload(5))
	r := e.openResumed("resume", e.base, ids[0])
	r.waitSeqs(t, []int{2, 3, 4, 5}, time.Now().Add(e.window()))
	time.Sleep(200 * time.Millisecond) // a duplicate or a stale replay would follow at once
	got := r.seqs(t)
	t.Measure("seqs after resume", "%v", got)
	t.Measure("resumed from", "%q", ids[0])
	if s := r.snap(); s.headersReceived && s.status != http.StatusOK {
		e.fail("200", fmt.Sprintf("status %d", s.status), statusProblem(s.status))
	}
	if !slices.Equal(got, []int{2, 3, 4, 5}) {
		diag := "a gap or a duplicate"
		switch {
		case r.snap().bytes == 0:
			e.silentResume("payload seqs [2 3 4 5] after resuming from event 1's id", r)
		case len(got) == 0:
			diag = "nothing was replayed: " + e.tokenName() + " did not reach the origin (the stream started live)"
		case got[0] == 1:
			diag = "the resumed id's own event was replayed"
		}
		e.fail("payload seqs [2 3 4 5] after resuming from event 1's id", fmt.Sprintf("%v within %s: %s", got, ms(e.window()), diag))
	}
}

// silentResume fails a resumed stream through the proxy that received no byte within the
// window. Either the proxy holds the stream (buffering), or the resume token did not reach
// the origin, which then started a live stream with nothing to send yet (an HTTP stream sends
// nothing before its first event or keep-alive; a CDN that forwards no query string, such as
// CloudFront by default, drops the resume query). A live stream opened through the proxy now
// tells them apart: an event published to it arrives within the bound unless the proxy holds
// streams.
func (e *env) silentResume(expected string, r *tap) {
	s := r.snap()
	silent := fmt.Sprintf("no byte of the resumed stream passed the proxy within %s (stream %s)", ms(e.window()), s.describeEnd())
	if lat, ok := e.liveProbe(); ok {
		e.t.Measure("live stream through the proxy", "an event published to it arrived after %s", ms(lat))
		e.fail(expected, fmt.Sprintf("%s, while a live stream through the proxy got an event %s after its publish: %s did not reach the origin, "+
			"which started a live stream with nothing to send yet", silent, ms(lat), e.tokenName()), problemResumeHeader)
	}
	e.fail(expected, fmt.Sprintf("%s: it holds the stream (see %s)", silent, e.see("PX-SSE-002")), proxyrun.ProblemBuffering)
}

// probeSeq is the payload seq of liveProbe's event (outside every check's own seqs).
const probeSeq = 90

// liveProbe opens a live stream through the proxy, publishes one event and reports how long
// it took to arrive (ok false: not within the delivery bound).
func (e *env) liveProbe() (time.Duration, bool) {
	t := e.t
	tp := e.openTap("live probe", e.base, nil)
	defer tp.close()
	settle(tp)
	p := publishSpaced(t, []int{probeSeq}, 0, 0)
	if !tp.waitSeqs(t, []int{probeSeq}, p[0].at.Add(late)) {
		return 0, false
	}
	d := deliveryOf(t, tp, p)
	return d.lat.max(), len(d.missing) == 0 && d.lat.max() <= late
}

// runConcurrent is PX-SSE-006 for the check's stream transport (SSE or an HTTP stream).
func runConcurrent(e *env) {
	t := e.t
	a := e.openTap("client 1", e.base, nil)
	b := e.openTap("client 2", e.base, nil)
	settle(a, b)
	pubs := publishSpaced(t, []int{1, 2}, 200*time.Millisecond, 0)
	deadline := time.Now().Add(e.window())
	a.waitSeqs(t, []int{1, 2}, deadline)
	b.waitSeqs(t, []int{1, 2}, deadline)
	var bad []string
	for i, tp := range []*tap{a, b} {
		s := tp.snap()
		d := deliveryOf(t, tp, pubs)
		head := "no headers"
		if s.headersReceived {
			head = fmt.Sprintf("status %d after %s", s.status, ms(s.headersAt.Sub(s.sent)))
		}
		t.Measure(fmt.Sprintf("client %d", i+1), "%s; %s", head, d)
		if !s.headersReceived || s.status != http.StatusOK || len(d.missing) > 0 {
			bad = append(bad, fmt.Sprintf("client %d: %s, %s (stream %s)", i+1, head, d, s.describeEnd()))
		}
	}
	if len(bad) == 2 && a.snap().status == http.StatusOK {
		e.fail("both clients receive events 1 and 2", strings.Join(bad, "; "), proxyrun.ProblemBuffering)
	}
	if len(bad) > 0 {
		e.fail("both clients receive events 1 and 2", strings.Join(bad, "; "))
	}
}

// runUncached is PX-SSE-007 for the check's stream transport (SSE or an HTTP stream).
func runUncached(e *env) {
	t := e.t
	e.resumeByHeaderOrQuery(e.t.Check.Transport)
	ids := e.learnIDs(1, 3)
	read := func(label, id string, want []int) []int {
		var tp *tap
		if id != "" {
			tp = e.openResumed(label, e.base, id)
		} else {
			tp = e.openTap(label, e.base, nil)
			settle(tp)
			t.Publish(t.Payload(4))
		}
		tp.waitSeqs(t, want, time.Now().Add(e.window()))
		time.Sleep(200 * time.Millisecond)
		got := tp.seqs(t)
		t.Measure(label, "%v", got)
		if s := tp.snap(); s.bytes == 0 {
			if id != "" {
				e.silentResume(fmt.Sprintf("%v for the %s", want, label), tp)
			}
			e.fail(fmt.Sprintf("%v for the %s", want, label),
				fmt.Sprintf("no byte of the stream passed the proxy within %s (stream %s): it holds the stream (see %s)", ms(e.window()), s.describeEnd(), e.see("PX-SSE-002")),
				proxyrun.ProblemBuffering)
		}
		tp.close()
		return got
	}
	a := read("client resuming from id 1", ids[0], []int{2, 3})
	b := read("client resuming from id 2", ids[1], []int{3})
	c := read("new live client", "", []int{4})
	switch {
	case slices.Equal(b, a) && len(a) > 0:
		e.fail("[3] for the client resuming from id 2", fmt.Sprintf("%v, the answer of the client resuming from id 1: a cached stream", b))
	case len(c) > 0 && c[0] != 4:
		e.fail("[4] for a new live client", fmt.Sprintf("%v: old events replayed to a live client (a cached stream)", c))
	case !slices.Equal(a, []int{2, 3}) || !slices.Equal(b, []int{3}) || !slices.Equal(c, []int{4}):
		e.fail("[2 3], [3] and [4]", fmt.Sprintf("%v, %v and %v", a, b, c), problemResumeHeader, proxyrun.ProblemCaching)
	}
}

// runCompressed is PX-SSE-008 for the check's stream transport (SSE or an HTTP stream).
func runCompressed(e *env) {
	t := e.t
	g := e.openTap("gzip", e.base, http.Header{"Accept-Encoding": {"gzip"}})
	p := e.openTap("plain", e.base, nil)
	settle(g, p)
	pubs := publishSpaced(t, []int{1, 2, 3, 4, 5}, 200*time.Millisecond, 0)
	want := seqsOf(pubs)
	deadline := pubs[len(pubs)-1].at.Add(late)
	if !g.waitSeqs(t, want, deadline) || !p.waitSeqs(t, want, deadline) {
		deadline = pubs[len(pubs)-1].at.Add(e.window())
		g.waitSeqs(t, want, deadline)
		p.waitSeqs(t, want, deadline)
	}
	gs := g.snap()
	enc := "identity"
	if gs.headersReceived && gs.header.Get("Content-Encoding") != "" {
		enc = gs.header.Get("Content-Encoding")
	}
	gd, pd := deliveryOf(t, g, pubs), deliveryOf(t, p, pubs)
	t.Measure("Content-Encoding", "%s", enc)
	t.Measure("latency with gzip", "%s", gd)
	t.Measure("latency without", "%s", pd)
	if gs.reqErr != nil || (gs.headersReceived && gs.status != http.StatusOK) {
		e.fail("200 with Accept-Encoding: gzip", gs.describeEnd()+fmt.Sprintf(" (status %d)", gs.status), statusProblem(gs.status))
	}
	if len(gd.missing) > len(pd.missing) || (gd.lat.max() > late && gd.lat.max() > pd.lat.max()+500*time.Millisecond) {
		e.fail(fmt.Sprintf("events with gzip within %s, like without", ms(late)),
			fmt.Sprintf("with gzip (%s): %s; without: %s", enc, gd, pd))
	}
	if pd.held() {
		t.Measure("note", "events are held with or without compression: see %s", e.see("PX-SSE-002"))
	}
}
