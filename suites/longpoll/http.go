package longpoll

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// cacheControlOK reports whether a Cache-Control value has no-store or no-cache.
func cacheControlOK(cc string) bool {
	for _, d := range strings.Split(cc, ",") {
		d, _, _ = strings.Cut(strings.TrimSpace(strings.ToLower(d)), "=")
		if d == "no-store" || d == "no-cache" {
			return true
		}
	}
	return false
}

// The empty answer at the end of a hold is the response most often produced by another code
// path (a timeout handler, a framework's default) and the one a cache replays most
// harmfully: every later poll with that cursor gets "nothing new" from the cache.
var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-003", Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
	Requirement: "The empty answer that ends a hold also carries Cache-Control: no-store (or no-cache).",
	Quote:       "The no-store response directive indicates that a cache MUST NOT store any part of either the immediate request or the response and MUST NOT use the response to satisfy any other request.",
	Spec:        "RFC 9111 §5.2.2.5, §5.2.2.4; RFC 6202 §2.2 (caching)",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		cur := bootstrap(t)
		r := poll(t, cur)
		cc := strings.Join(r.Header.Values("Cache-Control"), ", ")
		t.Measure("empty answer", "%d events after %s, Cache-Control %q", len(r.Events), r.Elapsed().Round(time.Millisecond), cc)
		if !cacheControlOK(cc) {
			t.Violation("Cache-Control: no-store (or no-cache) on the empty answer", fmt.Sprintf("Cache-Control: %q", cc))
		}
	},
})

const foreignOrigin = "https://evil.rtconform.invalid"

// allowedOrigin is the first origin of the declared allow-list (origin.allowed).
func allowedOrigin(t *fw.T) string {
	if len(t.Target().Origin.Allowed) == 0 {
		t.NotSupported("the profile declares no origin.allowed list")
	}
	return t.Target().Origin.Allowed[0]
}

// corsPoll sends a poll (with a cursor whose event is pending) carrying Origin and returns
// the response with its body read.
func corsPoll(t *fw.T, cursor, origin string) (*http.Response, []byte) {
	u, err := url.Parse(endpoint(t, 0))
	if err != nil {
		t.Harness("bad poll URL: %v", err)
	}
	q := u.Query()
	q.Set(t.Target().LongPoll.Cursor.Query, cursor)
	u.RawQuery = q.Encode()
	ctx, cancel := t.Within(hold(t) + slack)
	defer cancel()
	resp, err := t.Get(ctx, u.String(), http.Header{"Origin": {origin}, "Accept": {"application/json"}})
	if err != nil {
		t.Violation("an answer to a poll with an Origin header", err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body
}

// A long-poll client in a browser page on another origin is a CORS request (XHR/fetch);
// without Access-Control-Allow-Origin the browser withholds every answer.
var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-004", Level: fw.MUST, Transport: fw.LongPoll, Requires: corsCaps,
	Requirement: "A poll from an allowed origin gets Access-Control-Allow-Origin naming that origin (or *).",
	Quote:       "Access-Control-Allow-Origin: Indicates whether the response can be shared, via returning the literal value of the `Origin` request header (which can be `null`) or `*` in a response.",
	Spec:        "WHATWG Fetch §3.2.3; the profile's origin.allowed",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		origin := allowedOrigin(t)
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		resp, _ := corsPoll(t, cur, origin)
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		t.Measure("Access-Control-Allow-Origin", "%q (status %d)", acao, resp.StatusCode)
		if resp.StatusCode != 200 {
			t.Violation("200 for a poll from an allowed origin", fmt.Sprintf("status %d", resp.StatusCode))
		}
		if acao != origin && acao != "*" {
			t.Violation("Access-Control-Allow-Origin: "+origin, fmt.Sprintf("%q", acao))
		}
	},
})

// A declared allow-list is a security policy: a foreign page must not read the events.
var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-005", Level: fw.MUST, Transport: fw.LongPoll, Requires: corsCaps,
	Requirement: "A poll from an origin outside the declared allow-list gets no Access-Control-Allow-Origin for it (neither echoed nor *).",
	Spec:        "WHATWG Fetch §3.2.5 (CORS check); the profile's origin.allowed",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		allowedOrigin(t)
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		resp, _ := corsPoll(t, cur, foreignOrigin)
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		t.Measure("Access-Control-Allow-Origin", "%q (status %d)", acao, resp.StatusCode)
		if acao == foreignOrigin || acao == "*" {
			t.Violation("no Access-Control-Allow-Origin for "+foreignOrigin, fmt.Sprintf("%q", acao))
		}
	},
})

// An answer whose Access-Control-Allow-Origin depends on the request's Origin, if stored by a
// shared cache (some ignore no-store), must not be served to another origin: Vary: Origin
// says so. One answer cannot show that the value is computed (a static single-origin setup
// needs no Vary); two answers for two origins that differ do.
var _ = fw.Register(fw.Check{
	ID: "LP-HTTP-006", Level: fw.SHOULD, Transport: fw.LongPoll, Requires: corsCaps,
	Requirement: "When Access-Control-Allow-Origin depends on the request's Origin, the poll answer carries Vary: Origin.",
	Quote:       "If CORS protocol requirements are more complicated than setting `Access-Control-Allow-Origin` to * or a static origin, `Vary` is to be used.",
	Spec:        "WHATWG Fetch §3.2 (CORS protocol and HTTP caches); RFC 9110 §12.5.5",
	Timeout:     60 * time.Second,
	Run: func(t *fw.T) {
		origin := allowedOrigin(t)
		cur := bootstrap(t)
		t.Publish(t.Payload(1))
		resp, _ := corsPoll(t, cur, origin)
		other, _ := corsPoll(t, cur, foreignOrigin)
		acao, acaoOther := resp.Header.Get("Access-Control-Allow-Origin"), other.Header.Get("Access-Control-Allow-Origin")
		vary := strings.Join(resp.Header.Values("Vary"), ", ")
		t.Measure("CORS headers", "for %s: Allow-Origin %q, Vary %q; for %s: Allow-Origin %q", origin, acao, vary, foreignOrigin, acaoOther)
		if acao == acaoOther {
			return // the same for both origins: static, nothing to vary on
		}
		for _, v := range strings.Split(vary, ",") {
			if v = strings.TrimSpace(v); strings.EqualFold(v, "origin") || v == "*" {
				return
			}
		}
		t.Violation("Vary: Origin (Access-Control-Allow-Origin differs between origins)", fmt.Sprintf("Vary %q", vary))
	},
})
