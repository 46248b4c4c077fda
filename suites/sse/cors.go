package sse

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

var corsCaps = []fw.Capability{fw.CapSSE, fw.CapCORS}

const foreignOrigin = "https://evil.rtconform.invalid"

// allowedOrigin is the first origin of the declared allow-list (origin.allowed).
func allowedOrigin(t *fw.T) string {
	if len(t.Target().Origin.Allowed) == 0 {
		t.NotSupported("the profile declares no origin.allowed list")
	}
	return t.Target().Origin.Allowed[0]
}

// A cross-origin EventSource is a CORS request; without Access-Control-Allow-Origin the
// browser blocks the response (Fetch §3.2; WPT eventsource-cross-origin).
var _ = fw.Register(fw.Check{
	ID: "SSE-CORS-001", Level: fw.MUST, Transport: fw.SSE, Requires: corsCaps,
	Requirement: "A stream request from an allowed origin gets Access-Control-Allow-Origin naming that origin (or *).",
	Quote:       "Access-Control-Allow-Origin: Indicates whether the response can be shared, via returning the literal value of the `Origin` request header (which can be `null`) or `*` in a response.",
	Spec:        "WHATWG Fetch §3.2.3; WHATWG HTML §9.2.2",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		origin := allowedOrigin(t)
		s := headOK(t, bounded(t), header("Origin", origin), nil)
		acao := s.Resp.Header.Get("Access-Control-Allow-Origin")
		t.Measure("Access-Control-Allow-Origin", "%q", acao)
		if acao != origin && acao != "*" {
			t.Violation("Access-Control-Allow-Origin: "+origin, fmt.Sprintf("%q", acao))
		}
	},
})

// Last-Event-ID is CORS-safelisted only for short safe values; otherwise the browser sends a
// preflight that must allow it (WPT eventsource-cross-origin-preflight).
var _ = fw.Register(fw.Check{
	ID: "SSE-CORS-002", Level: fw.MUST, Transport: fw.SSE, Requires: corsCaps,
	Requirement: "A CORS preflight for GET with Access-Control-Request-Headers: last-event-id is answered 2xx and allows that header for the origin.",
	Quote:       "Access-Control-Allow-Headers: Indicates which headers are supported by the response's URL for the purposes of the CORS protocol.",
	Spec:        "WHATWG Fetch §3.2.3, §4.8 (CORS-preflight fetch)",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		origin := allowedOrigin(t)
		ctx, cancel := t.Within(10 * time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, t.URL(t.Target().SSE.Path), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		resp, err := t.HTTP().Do(req)
		if err != nil {
			t.Violation("an answer to the preflight", err.Error())
		}
		resp.Body.Close()
		acao, acah := resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Headers")
		t.Measure("preflight", "%d, Allow-Origin %q, Allow-Headers %q", resp.StatusCode, acao, acah)
		if resp.StatusCode/100 != 2 {
			t.Violation("a 2xx preflight answer", fmt.Sprintf("status %d", resp.StatusCode))
		}
		if acao != origin && acao != "*" {
			t.Violation("Access-Control-Allow-Origin: "+origin, fmt.Sprintf("%q", acao))
		}
		if !hasListItem(acah, "last-event-id") && strings.TrimSpace(acah) != "*" {
			t.Violation("Access-Control-Allow-Headers including last-event-id", fmt.Sprintf("%q", acah))
		}
	},
})

// new EventSource(url, {withCredentials: true}) sends credentials; the response is shared
// only with the exact origin and Access-Control-Allow-Credentials: true (never with *).
var _ = fw.Register(fw.Check{
	ID: "SSE-CORS-003", Level: fw.SHOULD, Transport: fw.SSE, Requires: corsCaps,
	Requirement: "For an allowed origin the stream names the exact origin (not *) and sends Access-Control-Allow-Credentials: true, so withCredentials EventSources work.",
	Quote:       "Access-Control-Allow-Credentials: Indicates whether the response can be shared when request's credentials mode is \"include\".",
	Spec:        "WHATWG Fetch §3.2.3, §3.2.5; WHATWG HTML §9.2.2 (withCredentials)",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		origin := allowedOrigin(t)
		s := headOK(t, bounded(t), header("Origin", origin, "Cookie", "rtconform=1"), nil)
		acao, acac := s.Resp.Header.Get("Access-Control-Allow-Origin"), s.Resp.Header.Get("Access-Control-Allow-Credentials")
		t.Measure("CORS headers", "Allow-Origin %q, Allow-Credentials %q", acao, acac)
		if acao != origin || acac != "true" {
			t.Violation(fmt.Sprintf("Allow-Origin %q and Allow-Credentials \"true\"", origin), fmt.Sprintf("%q and %q", acao, acac))
		}
	},
})

// A declared allow-list is a security policy: a foreign origin must not be granted access.
var _ = fw.Register(fw.Check{
	ID: "SSE-CORS-004", Level: fw.MUST, Transport: fw.SSE, Requires: corsCaps,
	Requirement: "A stream request from an origin outside the declared allow-list gets no Access-Control-Allow-Origin for it (neither echoed nor *).",
	Spec:        "WHATWG Fetch §3.2.5 (CORS check); the profile's origin.allowed",
	Timeout:     15 * time.Second,
	Run: func(t *fw.T) {
		allowedOrigin(t)
		s := head(t, bounded(t), header("Origin", foreignOrigin), nil)
		acao := s.Resp.Header.Get("Access-Control-Allow-Origin")
		t.Measure("Access-Control-Allow-Origin", "%q (status %d)", acao, s.Resp.StatusCode)
		if acao == foreignOrigin || acao == "*" {
			t.Violation("no Access-Control-Allow-Origin for "+foreignOrigin, fmt.Sprintf("%q", acao))
		}
	},
})

func hasListItem(list, item string) bool {
	for _, p := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(p), item) {
			return true
		}
	}
	return false
}
