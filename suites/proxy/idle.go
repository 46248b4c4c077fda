package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// limit is the idle limit an idle check judges survival against: the shortest proxy or CDN
// idle timeout on the path, and where the value comes from. d == 0 with known set: the path
// has no idle limit (Caddy's default).
type limit struct {
	d      time.Duration
	source string
}

func (l limit) String() string {
	if l.d == 0 {
		return "none (" + l.source + ")"
	}
	return ms(l.d) + " (" + l.source + ")"
}

// commonIdle is the limit assumed when none is declared or detected: the shortest of the
// common defaults (Debian's haproxy.cfg `timeout server 50s`; nginx, Varnish, Apache and AWS
// ALB 60 s, Heroku 55 s, Cloudflare 100 s).
const commonIdle = 50 * time.Second

// signature is how an intermediary shows in response headers, and its default idle limit
// (shared/notes/proxy-facts.md, proxies/proxyrun/facts.go).
type signature struct {
	name  string
	match func(h http.Header) bool
	idle  time.Duration // 0: no idle limit by default
	what  string
}

func headerHas(h http.Header, key, sub string) bool {
	for _, v := range h.Values(key) {
		if strings.Contains(strings.ToLower(v), sub) {
			return true
		}
	}
	return false
}

var signatures = []signature{
	{"nginx", func(h http.Header) bool { return headerHas(h, "Server", "nginx") }, 60 * time.Second, "nginx proxy_read_timeout 60s"},
	{"Varnish", func(h http.Header) bool { return headerHas(h, "Via", "varnish") || h.Get("X-Varnish") != "" },
		60 * time.Second, "Varnish between_bytes_timeout / first_byte_timeout / pipe_timeout 60s"},
	{"Apache httpd", func(h http.Header) bool { return headerHas(h, "Server", "apache") }, 60 * time.Second, "Apache Timeout / ProxyTimeout 60s"},
	{"Cloudflare", func(h http.Header) bool { return h.Get("Cf-Ray") != "" || headerHas(h, "Server", "cloudflare") },
		100 * time.Second, "Cloudflare Proxy Read Timeout 100s (524)"},
	{"AWS ALB", func(h http.Header) bool {
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "x-amzn-") {
				return true
			}
		}
		return headerHas(h, "Server", "awselb")
	}, 60 * time.Second, "AWS ALB idle timeout 60s"},
	{"Heroku", func(h http.Header) bool { return headerHas(h, "Via", "vegur") }, 55 * time.Second, "Heroku router rolling 55s window"},
	{"Caddy", func(h http.Header) bool { return headerHas(h, "Server", "caddy") || headerHas(h, "Via", "caddy") }, 0,
		"Caddy reverse_proxy: no read_timeout by default"},
}

// detectLimit recognises the intermediaries in h and returns the shortest of their default
// idle limits (ok false when none is recognised).
func detectLimit(h http.Header) (l limit, ok bool) {
	var names []string
	for _, s := range signatures {
		if !s.match(h) {
			continue
		}
		names = append(names, s.name)
		switch {
		case !ok:
			l, ok = limit{s.idle, s.what}, true
		case s.idle > 0 && (l.d == 0 || s.idle < l.d):
			l = limit{s.idle, s.what}
		}
	}
	if ok {
		l.source = fmt.Sprintf("detected %s from the response headers: %s; declare the real one with --idle or deploy.idle",
			strings.Join(names, ", "), l.source)
	}
	return l, ok
}

// publicHeaders are the response headers of a GET of the public URL's root (fetched once a
// run; nil when it could not be reached), from which the intermediary is recognised.
func (e *env) publicHeaders() http.Header {
	v, _ := e.t.Run.Shared("proxy:public-headers", func() (any, func(), error) {
		ctx, cancel := e.t.Within(5 * time.Second)
		defer cancel()
		resp, err := e.t.Get(ctx, e.base+"/", nil)
		if err != nil {
			return http.Header(nil), nil, nil
		}
		resp.Body.Close()
		return resp.Header, nil, nil
	})
	h, _ := v.(http.Header)
	return h
}

// idleLimit is the idle limit of the path: a local cell's proxies.idle (its config is rendered
// with it); for the deployment, deploy.idle, else proxies.idle when the profile sets it, else
// the default of the intermediary recognised in seen (a response of the check's own) or in
// the public root's headers, else commonIdle.
func (e *env) idleLimit(seen http.Header) limit {
	r := e.t.Run
	if e.inst != nil {
		return limit{idle(r), "proxies.idle, the local proxy's rendered idle limit"}
	}
	if d := r.Profile.Deploy.Idle.D(); d > 0 {
		return limit{d, "declared: --idle / deploy.idle"}
	}
	if d := r.Profile.Proxies.Idle.D(); d > 0 {
		return limit{d, "declared: proxies.idle"}
	}
	for _, h := range []http.Header{seen, e.publicHeaders()} {
		if l, ok := detectLimit(h); ok {
			return l
		}
	}
	return limit{commonIdle, fmt.Sprintf("not declared, no known intermediary in the headers: the shortest common default (Debian's HAProxy `timeout server 50s`; nginx, Varnish, Apache, AWS ALB 60 s, Heroku 55 s); declare the real one with --idle or deploy.idle")}
}

// waitOut reports whether an idle check waits out twice the limit (a local cell always; the
// deployment when that is shorter than deploy.maxIdleWait), rather than measuring the margin.
func (e *env) waitOut(l limit) bool {
	return e.inst != nil || (l.d > 0 && 2*l.d < e.t.Run.MaxIdleWait())
}

// gapStat is what an idle check in margin mode saw through the path: how many gaps between
// received bytes or frames, the longest silence (the trailing one included), and whether the
// connection ended.
type gapStat struct {
	gaps    int
	longest time.Duration
	ended   string // how it ended; "" while open
}

// watchGaps watches the path's silences until three gaps were seen over at least twice the
// declared keep-alive interval, the silence reaches the limit, the connection ends, or the
// run's max idle wait passes.
func (e *env) watchGaps(l limit, interval time.Duration, stat func() gapStat) gapStat {
	start, maxWait := time.Now(), e.t.Run.MaxIdleWait()
	for {
		s := stat()
		el := time.Since(start)
		if s.ended != "" || (l.d > 0 && s.longest >= l.d) || el >= maxWait || (s.gaps >= 3 && el >= 2*interval) {
			return s
		}
		select {
		case <-e.t.Context().Done():
			return s
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// judgeMargin compares the longest silence the path showed with the limit: the silence
// reaching it fails (the path cuts the connection), else the margin is measured.
// what names the keep-alive ("heartbeat", "keepalive").
func (e *env) judgeMargin(l limit, what string, declared time.Duration, s gapStat) {
	t := e.t
	why := fmt.Sprintf("waiting out 2× the limit is not shorter than --max-idle-wait %s", ms(t.Run.MaxIdleWait()))
	if l.d == 0 {
		why = "no idle limit to wait out"
	}
	t.Measure("mode", "margin (%s): the %s measured through the path", why, what)
	t.Measure("longest silence", "%s over %d gaps (declared %s %s)", ms(s.longest), s.gaps, what, ms(declared))
	if s.ended != "" {
		t.Measure("cut", "%s", s.ended)
		e.fail("the connection open while the margin is measured", fmt.Sprintf("the connection %s (longest silence %s)", s.ended, ms(s.longest)))
	}
	if l.d > 0 && s.longest >= l.d {
		e.fail(fmt.Sprintf("a %s more often than the idle limit %s", what, l),
			fmt.Sprintf("a silence of %s through the path without a %s: a path with this limit cuts the connection at %s", ms(s.longest), what, ms(l.d)))
	}
	if s.gaps == 0 {
		t.NotSupported("no %s came through the path within %s (--max-idle-wait): the margin to the idle limit %s cannot be measured; raise --max-idle-wait above the %s interval", what, ms(s.longest), l, what)
	}
	t.Measure("margin", "%s", margin(what, s.longest, l))
}

// margin renders "heartbeat 15 s < limit 60 s: safe by 4×".
func margin(what string, d time.Duration, l limit) string {
	if l.d == 0 {
		return fmt.Sprintf("%s %s; the path has no idle limit", what, ms(d))
	}
	return fmt.Sprintf("%s %s < limit %s: safe by %s", what, ms(d), ms(l.d), factor(l.d, d))
}

// factor renders a/b as "4×" or "1.3×".
func factor(a, b time.Duration) string {
	if b <= 0 {
		return "∞"
	}
	f := float64(a) / float64(b)
	if f >= 10 {
		return fmt.Sprintf("%.0f×", f)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + "×"
}

// limitMeasure records the limit an idle check judges against.
func limitMeasure(t *fw.T, l limit) { t.Measure("idle limit", "%s", l) }
