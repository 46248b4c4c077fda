package websocket

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// The opening handshake (RFC 6455 §4.1, §4.2, §4.4, §10.2). WS-HS-001..006 are in checks.go.
// Tables: WS-HS-010.. malformed keys, WS-HS-020.. versions, WS-HS-030.. methods, WS-HS-040..
// header token spellings, WS-HS-060.. subprotocols, WS-HS-070.. extensions, WS-HS-080..
// Origin policy.

const refuseQuote = "If the server, while reading the handshake, finds that the client did not send a handshake that matches the description below ..., the server MUST stop processing the client's handshake and return an HTTP response with an appropriate error code (such as 400 Bad Request)."

// intermediary says, for the handshake rules a correct proxy in front of the server changes,
// what it does (Check.Intermediary): judged through a deployment's proxies, a violation of
// these is INFO, since the origin never saw the request the check sent. Found by running the
// reference behind each recommended config of proxies/matrix.yaml (rtconform deploy).
var intermediary = map[string]string{
	// nginx's WebSocket recipe (proxy_set_header Connection $connection_upgrade) and Apache's
	// upgrade=websocket send "Connection: upgrade" whenever Upgrade is present: Connection is
	// hop-by-hop, each hop sets its own.
	"WS-HS-008": "sets its own Connection header on the upstream request (Connection is hop-by-hop: nginx's WebSocket recipe " +
		"and Apache's upgrade=websocket send Connection: upgrade whenever the client sent Upgrade), so a handshake without the " +
		"Upgrade token in Connection reaches the origin as a valid one",
	// The HTTP version is hop-by-hop too; Apache also withholds the 101 from an HTTP/1.0
	// client (RFC 9110 §15.2: no 1xx to HTTP/1.0) and tunnels at once.
	"WS-HS-035": "speaks HTTP/1.1 to the origin whatever the client's version (nginx, Apache and Caddy do), so an HTTP/1.0 handshake " +
		"reaches the origin as HTTP/1.1 and is upgraded (Apache then sends no 101 to the HTTP/1.0 client, which may not receive a 1xx, " +
		"and tunnels at once)",
}

// handshakeReq renders a raw handshake request for the check's topic: the request line with
// method and proto, Host, then headers in order (a nil value omits the header).
func handshakeReq(t *fw.T, method, proto string, headers ...string) []byte {
	u, _ := url.Parse(endpoint(t, ""))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", method, u.RequestURI(), proto, u.Host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// validHeaders are the headers of a valid handshake, with replacements: a key in repl
// replaces that header's value, "" drops it.
func validHeaders(repl ...string) []string {
	h := []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", sampleKey, "Sec-WebSocket-Version", "13"}
	for i := 0; i+1 < len(repl); i += 2 {
		found := false
		for j := 0; j+1 < len(h); j += 2 {
			if h[j] == repl[i] {
				h[j+1], found = repl[i+1], true
			}
		}
		if !found {
			h = append(h, repl[i], repl[i+1])
		}
	}
	var out []string
	for j := 0; j+1 < len(h); j += 2 {
		if h[j+1] != "" {
			out = append(out, h[j], h[j+1])
		}
	}
	return out
}

// expectRefused judges a handshake that must not be upgraded: an HTTP error (4xx, or 426),
// or one of the 5xx statuses also given in also.
func expectRefused(t *fw.T, hs *wsclient.Handshake, want string, also ...int) {
	t.Measure("status", "%q", hs.StatusLine)
	if slices.Contains(also, hs.Status) {
		return
	}
	if hs.Status == 101 || hs.Status < 400 || hs.Status >= 500 {
		t.Violation(want, hs.StatusLine)
	}
}

var badKeys = []struct{ what, key string }{
	{"not base64", "not base64!!"},
	{"15 bytes", "AAECAwQFBgcICQoLDA0O"},
	{"17 bytes", "AAECAwQFBgcICQoLDA0ODxA="},
	{"empty", ""},
}

var badVersions = []string{"0", "7", "8", "14", "99", "abc"}

var badMethods = []string{"POST", "PUT", "DELETE", "PATCH", "HEAD"}

// tokenSpellings are valid Upgrade/Connection values in other spellings than the canonical
// "websocket"/"Upgrade" (ASCII case-insensitive; Connection is a token list).
var tokenSpellings = []struct{ upgrade, connection string }{
	{"WebSocket", "Upgrade"},
	{"WEBSOCKET", "Upgrade"},
	{"websocket", "upgrade"},
	{"websocket", "UPGRADE"},
	{"websocket", "keep-alive, Upgrade"},
	{"websocket", "Upgrade, keep-alive"},
	{"wEbSoCkEt", "kEeP-aLiVe,uPgRaDe"},
}

var _ = func() bool {
	register("WS-HS-007", fw.MUST, wsCaps, "A handshake without an Upgrade header is not upgraded (an HTTP 4xx error).", refuseQuote, "RFC 6455 §4.2.1 (3)",
		func(t *fw.T) {
			expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Upgrade", "")...)), "a 4xx refusal (400 or 426)")
		})
	register("WS-HS-008", fw.MUST, wsCaps, "A handshake without the Upgrade token in Connection is not upgraded (an HTTP 4xx error).", refuseQuote, "RFC 6455 §4.2.1 (4)",
		func(t *fw.T) {
			expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Connection", "keep-alive")...)), "a 4xx refusal (400 or 426)")
		})
	for i, k := range badKeys {
		k := k
		register(fmt.Sprintf("WS-HS-%03d", 10+i), fw.MUST, wsCaps,
			fmt.Sprintf("A handshake whose Sec-WebSocket-Key is %s (not 16 base64-encoded bytes) is refused with a 4xx error (400).", k.what),
			refuseQuote+" ... A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16 bytes in length.",
			"RFC 6455 §4.2.1 (5)", func(t *fw.T) {
				key := k.key
				if key == "" {
					key = " "
				}
				expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Sec-WebSocket-Key", key)...)), "a 4xx refusal (400 Bad Request)")
			})
	}
	register("WS-HS-014", fw.MUST, wsCaps, "A handshake with two Sec-WebSocket-Key headers is refused with a 4xx error.",
		"The |Sec-WebSocket-Key| header field MUST NOT appear more than once in an HTTP request.", "RFC 6455 §11.3.1, §4.2.1",
		func(t *fw.T) {
			h := append(validHeaders(), "Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODw==")
			expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", h...)), "a 4xx refusal (400 Bad Request)")
		})
	for i, v := range badVersions {
		v := v
		register(fmt.Sprintf("WS-HS-%03d", 20+i), fw.MUST, wsCaps,
			fmt.Sprintf("A handshake with Sec-WebSocket-Version: %s is refused with an HTTP error and Sec-WebSocket-Version: 13.", v),
			"If this version does not match a version understood by the server, the server MUST abort the WebSocket handshake described in this section and instead send an appropriate HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of understanding.",
			"RFC 6455 §4.4, §4.2.2", func(t *fw.T) {
				hs := rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Sec-WebSocket-Version", v)...))
				expectRefused(t, hs, "an HTTP error (426 Upgrade Required)")
				got := strings.Join(hs.Header.Values("Sec-WebSocket-Version"), ", ")
				t.Measure("Sec-WebSocket-Version", "%q", got)
				if !hasToken(got, "13") {
					t.Violation("Sec-WebSocket-Version: 13 in the refusal", fmt.Sprintf("%q", got))
				}
			})
	}
	register("WS-HS-026", fw.MUST, wsCaps, "A handshake without Sec-WebSocket-Version is refused with a 4xx error.",
		refuseQuote+" ... A |Sec-WebSocket-Version| header field, with a value of 13.", "RFC 6455 §4.2.1 (6)",
		func(t *fw.T) {
			expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Sec-WebSocket-Version", "")...)), "a 4xx refusal (400 or 426)")
		})
	for i, m := range badMethods {
		m := m
		register(fmt.Sprintf("WS-HS-%03d", 30+i), fw.MUST, wsCaps,
			fmt.Sprintf("A handshake with method %s (not GET) is not upgraded (an HTTP 4xx error).", m),
			"The method of the request MUST be GET, and the HTTP version MUST be at least 1.1.", "RFC 6455 §4.1 (2), §4.2.1 (1)",
			func(t *fw.T) {
				expectRefused(t, rawHandshake(t, handshakeReq(t, m, "HTTP/1.1", validHeaders()...)), "a 4xx refusal (405 Method Not Allowed)")
			})
	}
	// 505 HTTP Version Not Supported (gobwas/ws's answer) names the very problem: an
	// "appropriate error code" as much as 400 is.
	register("WS-HS-035", fw.MUST, wsCaps, "A handshake in HTTP/1.0 is not upgraded (an HTTP 4xx error, or 505 HTTP Version Not Supported).",
		"The method of the request MUST be GET, and the HTTP version MUST be at least 1.1. ... the server MUST stop processing the client's handshake and return an HTTP response with an appropriate error code (such as 400 Bad Request).", "RFC 6455 §4.1 (2), §4.2.1 (1); RFC 9110 §15.6.6 (505)",
		func(t *fw.T) {
			expectRefused(t, rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.0", validHeaders()...)), "a 4xx refusal or 505 HTTP Version Not Supported", http.StatusHTTPVersionNotSupported)
		})
	for i, s := range tokenSpellings {
		s := s
		register(fmt.Sprintf("WS-HS-%03d", 40+i), fw.MUST, wsCaps,
			fmt.Sprintf("A handshake with Upgrade: %s and Connection: %s is accepted (101 with the right Sec-WebSocket-Accept).", s.upgrade, s.connection),
			"An |Upgrade| header field containing the value \"websocket\", treated as an ASCII case-insensitive value. ... A |Connection| header field that includes the token \"Upgrade\", treated as an ASCII case-insensitive value.",
			"RFC 6455 §4.2.1 (3, 4); RFC 9110 §7.6.1", func(t *fw.T) {
				hs := rawHandshake(t, handshakeReq(t, "GET", "HTTP/1.1", validHeaders("Upgrade", s.upgrade, "Connection", s.connection)...))
				t.Measure("status", "%q", hs.StatusLine)
				if hs.Status != 101 {
					t.Violation("101 Switching Protocols", hs.StatusLine)
				}
				if got := hs.Header.Get("Sec-WebSocket-Accept"); got != wsclient.AcceptKey(sampleKey) {
					t.Violation("Sec-WebSocket-Accept: "+wsclient.AcceptKey(sampleKey), fmt.Sprintf("%q", got))
				}
			})
	}
	registerNegotiation()
	registerOrigin()
	return true
}()

// dialWith opens the WebSocket with options and returns the handshake (refusals included).
func dialWith(t *fw.T, o wsclient.DialOptions) (*wsclient.Conn, *wsclient.Handshake, error) {
	ctx, cancel := t.Within(handshakeMax)
	defer cancel()
	c, hs, err := wsclient.Dial(ctx, endpoint(t, ""), o)
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	if hs == nil {
		t.Violation("an HTTP response to the handshake", err.Error())
	}
	return c, hs, err
}

func headerList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func registerNegotiation() {
	register("WS-HS-060", fw.MUST, wsCaps, "Without an offered subprotocol, the 101 response has no Sec-WebSocket-Protocol.",
		"If the client's handshake did not contain such a header field or if the server does not agree to any of the client's requested subprotocols, the only acceptable value is null. The absence of such a field is equivalent to the null value",
		"RFC 6455 §4.2.2 (5.4), §4.1", func(t *fw.T) {
			_, hs, err := dialWith(t, wsclient.DialOptions{})
			if err != nil {
				t.Violation("101 Switching Protocols", hs.StatusLine)
			}
			if v := hs.Header.Values("Sec-WebSocket-Protocol"); len(v) > 0 {
				t.Violation("no Sec-WebSocket-Protocol", fmt.Sprintf("Sec-WebSocket-Protocol: %q", v))
			}
		})
	for i, offer := range [][]string{{"rtconform.unknown.v1", "rtconform.other.v2"}, {"rtconform.unknown.v1"}} {
		offer := offer
		register(fmt.Sprintf("WS-HS-%03d", 61+i), fw.MUST, wsCaps,
			fmt.Sprintf("Offered the subprotocols %s, the server selects none or exactly one of them.", strings.Join(offer, ", ")),
			"the value of the |Sec-WebSocket-Protocol| header field ... MUST be a single value ... one of the values sent by the client",
			"RFC 6455 §4.2.2 (5.4), §4.1 (6)", func(t *fw.T) {
				_, hs, err := dialWith(t, wsclient.DialOptions{Protocols: offer})
				if err != nil {
					t.Measure("status", "%q", hs.StatusLine)
					return // refusing an unsupported subprotocol is allowed
				}
				got := hs.Header.Values("Sec-WebSocket-Protocol")
				t.Measure("Sec-WebSocket-Protocol", "%q", got)
				if len(got) == 0 {
					return
				}
				if len(got) != 1 || !slices.Contains(offer, strings.TrimSpace(got[0])) {
					t.Violation("no Sec-WebSocket-Protocol, or a single one of "+strings.Join(offer, ", "), fmt.Sprintf("Sec-WebSocket-Protocol: %q", got))
				}
			})
	}
	register("WS-HS-070", fw.MUST, wsCaps, "Without an offered extension, the 101 response has no Sec-WebSocket-Extensions.",
		"The server MUST NOT ... a list of extensions that the client did not request", "RFC 6455 §4.2.2 (5.5), §9.1", func(t *fw.T) {
			_, hs, err := dialWith(t, wsclient.DialOptions{})
			if err != nil {
				t.Violation("101 Switching Protocols", hs.StatusLine)
			}
			if v := hs.Header.Values("Sec-WebSocket-Extensions"); len(v) > 0 {
				t.Violation("no Sec-WebSocket-Extensions", fmt.Sprintf("Sec-WebSocket-Extensions: %q", v))
			}
		})
	for i, offer := range []string{"x-rtconform-unknown; level=1", "permessage-deflate; client_max_window_bits"} {
		offer := offer
		name, _, _ := strings.Cut(offer, ";")
		register(fmt.Sprintf("WS-HS-%03d", 71+i), fw.MUST, wsCaps,
			fmt.Sprintf("Offered the extension %q, the server accepts nothing but extensions the client offered%s.", offer, map[bool]string{true: " (an unknown one is never accepted)", false: ""}[i == 0]),
			"The list of extensions ... MUST NOT include any extension that was not offered by the client (the server's response can only contain extensions that the client offered)",
			"RFC 6455 §9.1, §4.2.2 (5.5)", func(t *fw.T) {
				_, hs, err := dialWith(t, wsclient.DialOptions{Extensions: []string{offer}})
				if err != nil {
					t.Measure("status", "%q", hs.StatusLine)
					return
				}
				got := hs.Header.Values("Sec-WebSocket-Extensions")
				t.Measure("Sec-WebSocket-Extensions", "%q", got)
				for _, e := range headerList(got) {
					n, _, _ := strings.Cut(e, ";")
					n = strings.TrimSpace(n)
					if i == 0 || n != name {
						t.Violation("no extension but an offered, supported one", fmt.Sprintf("Sec-WebSocket-Extensions: %q", got))
					}
				}
			})
	}
}

// foreignOrigins derives origins that are not allowed from an allowed one: other hosts that
// share a prefix or suffix with it, another port, "null", an unrelated site.
func foreignOrigins(allowed string) []struct{ what, origin string } {
	u, err := url.Parse(allowed)
	if err != nil || u.Host == "" {
		u = &url.URL{Scheme: "https", Host: "app.example"}
	}
	host, port := u.Hostname(), u.Port()
	p, _ := strconv.Atoi(port)
	other := "8443"
	if p == 8443 {
		other = "9443"
	}
	return []struct{ what, origin string }{
		{"an unrelated site", u.Scheme + "://evil.example"},
		{"\"null\" (a sandboxed or file: page)", "null"},
		{"the allowed host as a subdomain of another site", u.Scheme + "://" + host + ".evil.example"},
		{"a host ending with the allowed host", u.Scheme + "://evil" + host},
		{"the allowed host on another port", u.Scheme + "://" + net.JoinHostPort(host, other)},
		{"a subdomain of the allowed host", u.Scheme + "://evil." + host},
	}
}

func registerOrigin() {
	originQuote := "Servers that are not intended to process input from any web page but only for certain sites SHOULD verify the |Origin| field is an origin they expect. If the origin indicated is unacceptable to the server, then it SHOULD respond to the WebSocket handshake with a reply containing HTTP 403 Forbidden status code."
	allowed := func(t *fw.T) string {
		a := t.Target().Origin.Allowed
		if len(a) == 0 {
			t.NotSupported("the profile declares no origin.allowed list")
		}
		return a[0]
	}
	register("WS-HS-080", fw.MUST, wsCaps, "A handshake from an allowed Origin (the first of origin.allowed) is accepted.", originQuote,
		"RFC 6455 §4.2.2, §10.2; the profile's origin.allowed", func(t *fw.T) {
			_, hs, err := dialWith(t, wsclient.DialOptions{Origin: allowed(t)})
			t.Measure("status", "%q", hs.StatusLine)
			if err != nil {
				t.Violation("101 Switching Protocols for Origin "+allowed(t), hs.StatusLine)
			}
		})
	for i := range 6 {
		i := i
		what := foreignOrigins("")[i].what
		register(fmt.Sprintf("WS-HS-%03d", 82+i), fw.MUST, wsCaps,
			fmt.Sprintf("A handshake from a foreign Origin (%s) is refused (403) when the profile declares an origin allow-list (cross-site WebSocket hijacking).", what),
			originQuote, "RFC 6455 §10.2, §4.2.2; the profile's origin.allowed", func(t *fw.T) {
				o := foreignOrigins(allowed(t))[i].origin
				for _, a := range t.Target().Origin.Allowed {
					if strings.EqualFold(a, o) {
						t.NotSupported("the foreign origin %q is in origin.allowed", o)
					}
				}
				t.Measure("Origin", "%q", o)
				_, hs, _ := dialWith(t, wsclient.DialOptions{Origin: o})
				expectRefused(t, hs, "a refusal (403 Forbidden) of Origin "+o)
			})
	}
}
