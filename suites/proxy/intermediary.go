package proxy

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// The INFO checks of this file describe what the intermediary changed, comparing the public
// URL with the origin: they measure and never fail. They say why a rule an intermediary
// legitimately changes (Connection/Upgrade normalisation, X-Accel-Buffering consumption, the
// HTTP version upstream) is judged on the origin, not through the path.

// rawUpgrade sends a WebSocket handshake for the topic's path on base with the request line's
// protocol proto and the Connection header conn, and returns the response's status line (or
// what went wrong). It speaks TLS for https bases.
func (e *env) rawUpgrade(base, proto, conn string) (status int, line string) {
	t := e.t
	u, err := url.Parse(e.wsEndpoint(base, t.Target().WebSocket.Path, ""))
	if err != nil {
		return 0, err.Error()
	}
	secure := u.Scheme == "https" || u.Scheme == "wss"
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[secure])
	}
	ctx, cancel := t.Within(5 * time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err.Error()
	}
	defer nc.Close()
	if secure {
		tc := tls.Client(nc, &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, err.Error()
		}
		nc = tc
	}
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := fmt.Sprintf("GET %s %s\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: %s\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), proto, u.Host, conn, base64.StdEncoding.EncodeToString(key))
	if _, err := nc.Write([]byte(req)); err != nil {
		return 0, err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, fmt.Sprintf("%s %s", resp.Proto, resp.Status)
}

// normalisation is one malformed handshake an intermediary may turn into a valid one.
type normalisation struct {
	name, proto, conn string
	rewrite           string // what the intermediary does when the origin refuses it and the path accepts it
}

var normalisations = []normalisation{
	{"Connection without Upgrade", "HTTP/1.1", "keep-alive",
		"the intermediary rewrites Connection to upgrade (nginx's WebSocket recipe `proxy_set_header Connection $connection_upgrade`, Apache `upgrade=websocket`): a handshake without Connection: Upgrade reaches the origin as a valid one, so WS-HS-008 is judged on the origin"},
	{"HTTP/1.0 request", "HTTP/1.0", "Upgrade",
		"the intermediary speaks HTTP/1.1 upstream (nginx's WebSocket recipe `proxy_http_version 1.1`, Caddy): an HTTP/1.0 handshake reaches the origin as HTTP/1.1, so WS-HS-035 is judged on the origin"},
}

// RFC 6455 §4.1: "The request MUST contain a |Connection| header field whose value MUST
// include the "Upgrade" token"; §4.2.1 and RFC 9110 §7.6.1: Connection is hop-by-hop, which
// an intermediary rewrites for its own hop.
var _ = register(check{
	id: "PX-WS-007", level: fw.INFO, transport: fw.WebSocket, requires: wsCaps,
	requirement: "Describes how the path normalises WebSocket handshakes the origin refuses (a Connection header without Upgrade, an HTTP/1.0 request): refused by the origin and accepted through the path means the intermediary rewrites them (INFO: measured, never a failure).",
	quote:       "The request MUST contain a |Connection| header field whose value MUST include the \"Upgrade\" token.",
	spec:        "RFC 6455 §4.1, §4.2.1; RFC 9110 §7.6.1 (Connection is hop-by-hop); operational: nginx.org websocket.html, httpd mod_proxy upgrade= (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemWebSocketUpgrade, proxyrun.ProblemHTTP10},
	run: func(e *env) {
		t := e.t
		for _, n := range normalisations {
			ps, pl := e.rawUpgrade(e.base, n.proto, n.conn)
			if e.direct == "" {
				t.Measure(n.name, "through the path %s (no origin to compare)", pl)
				continue
			}
			ost, ol := e.rawUpgrade(e.direct, n.proto, n.conn)
			var how string
			switch {
			case ps == 0 || ost == 0:
				how = "no HTTP answer on one side within 5 s: not compared"
			case ost != http.StatusSwitchingProtocols && ps == http.StatusSwitchingProtocols:
				how = n.rewrite
			case ost != http.StatusSwitchingProtocols && ps != http.StatusSwitchingProtocols:
				how = "refused on both: passed as sent"
			case ost == http.StatusSwitchingProtocols && ps == http.StatusSwitchingProtocols:
				how = "the origin itself accepts it"
			default:
				how = "the path refuses what the origin accepts"
			}
			t.Measure(n.name, "origin %s, through the path %s: %s", ol, pl, how)
		}
	},
})

// ignoredHeaders vary per response or per hop and say nothing about the intermediary.
var ignoredHeaders = []string{"Date", "Content-Length", "Age", "Expires", "Set-Cookie"}

// headerNotes explain common differences between the origin's and the path's headers.
var headerNotes = map[string]string{
	"X-Accel-Buffering": "nginx honours it and does not forward it, as it should; SSE-RESP-005 is judged on the origin",
	"Via":               "the intermediary names itself",
	"Server":            "the intermediary's own Server header",
	"X-Varnish":         "Varnish's transaction id",
	"Connection":        "hop-by-hop (RFC 9110 §7.6.1): each hop sets its own",
	"Keep-Alive":        "hop-by-hop (RFC 9110 §7.6.1): each hop sets its own",
	"Content-Encoding":  "the path compressed the stream (see PX-SSE-008)",
	"Cache-Control":     "the path rewrote the caching directives",
}

// headerDiff describes which of the origin's response headers the path consumed, added or
// changed.
func headerDiff(origin, path http.Header) (out []string) {
	note := func(k string) string {
		if n := headerNotes[k]; n != "" {
			return " (" + n + ")"
		}
		return ""
	}
	keys := map[string]bool{}
	for k := range origin {
		keys[k] = true
	}
	for k := range path {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if slices.Contains(ignoredHeaders, k) {
			continue
		}
		o, p := strings.Join(origin.Values(k), ", "), strings.Join(path.Values(k), ", ")
		switch {
		case o == p:
		case p == "":
			out = append(out, fmt.Sprintf("consumed %s: %s%s", k, o, note(k)))
		case o == "":
			out = append(out, fmt.Sprintf("added %s: %s%s", k, p, note(k)))
		default:
			out = append(out, fmt.Sprintf("changed %s: %s → %s%s", k, o, p, note(k)))
		}
	}
	return out
}

// "nginx does not forward X-Accel-Buffering to the client: a check that looks for that
// header fails behind every nginx, so judge buffering by measured delivery time, not by that
// header, when a proxy is in front." (shared/notes/proxy-facts.md, measured)
var _ = register(check{
	id: "PX-SSE-011", level: fw.INFO, transport: fw.SSE, requires: sseCaps,
	requirement: "Describes the response headers the path consumed, added or changed on an event stream (X-Accel-Buffering consumed, Via or Server added…), comparing with the origin, and the intermediary recognised in them (INFO: measured, never a failure).",
	quote:       "nginx does not forward X-Accel-Buffering to the client: a check that looks for that header fails behind every nginx",
	spec:        "RFC 9110 §7.6.1 (hop-by-hop), §7.6.3 (Via); operational: nginx X-Accel-Buffering (shared/notes/proxy-facts.md)",
	problems:    []string{proxyrun.ProblemBuffering},
	run: func(e *env) {
		t := e.t
		px, dt := e.taps()
		deadline := time.Now().Add(e.window())
		if !px.waitReady(deadline) {
			t.Measure("headers through the path", "none within %s (the path holds even the headers: see PX-SSE-001)", ms(e.window()))
			return
		}
		ph := px.snap().header
		if l, ok := detectLimit(ph); ok {
			t.Measure("intermediary", "%s", l.source)
		} else {
			t.Measure("intermediary", "not recognised from the headers")
		}
		if dt == nil {
			var via []string
			for _, k := range []string{"Server", "Via", "X-Cache", "X-Varnish", "Cf-Ray"} {
				if v := ph.Get(k); v != "" {
					via = append(via, k+": "+v)
				}
			}
			t.Measure("headers through the path", "%s (no origin to compare)", orNone(strings.Join(via, "; ")))
			return
		}
		if !dt.waitReady(deadline) {
			t.Harness("the origin sent no response headers within %s", ms(e.window()))
		}
		diff := headerDiff(dt.snap().header, ph)
		if len(diff) == 0 {
			t.Measure("headers", "the path passed the origin's response headers unchanged")
		}
		for i, d := range diff {
			t.Measure(fmt.Sprintf("header %d", i+1), "%s", d)
		}
	},
})

func orNone(s string) string {
	if s == "" {
		return "none of Server, Via, X-Cache, X-Varnish, Cf-Ray"
	}
	return s
}
