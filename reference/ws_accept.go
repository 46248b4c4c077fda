package reference

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// wsGUID is the RFC 6455 §1.3 GUID appended to the key for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// EchoReadLimit is the largest message the echo endpoint accepts (1009 above): Autobahn's
// large-message cases (9.x) send up to 16 MiB.
const EchoReadLimit = 16 << 20

// acceptWS validates the opening handshake (RFC 6455 §4.2.1), applies the Origin policy,
// answers 101 (§4.2.2) and takes over the connection. A refused handshake has been answered
// with an HTTP error when it returns an error:
//
//	not HTTP/1.1+, no "Upgrade" token in Connection,
//	no "websocket" token in Upgrade                      426 (with Upgrade: websocket)
//	method other than GET                                405
//	Sec-WebSocket-Version other than 13                  426 with Sec-WebSocket-Version: 13
//	Sec-WebSocket-Key missing, repeated, not 16 bytes    400
//	Origin not allowed                                   403
//
// No subprotocol and no extension is ever selected.
func (s *Server) acceptWS(w http.ResponseWriter, r *http.Request, limit int64) (*wsConn, error) {
	f := wsFaultsFrom(r.Context())
	if status, msg := checkWSRequest(w, r, f); status != 0 {
		http.Error(w, msg, status)
		return nil, errors.New(msg)
	}
	if !f.AnyOrigin && (!s.wsOriginAllowed(r) || f.SameOriginOnly && !wsSameOrigin(r)) {
		msg := fmt.Sprintf("WebSocket Origin %q is not allowed", r.Header.Get("Origin"))
		http.Error(w, msg, http.StatusForbidden)
		return nil, errors.New(msg)
	}
	key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
	accept := wsAcceptKey(key)
	if f.WrongAccept {
		h := sha1.Sum([]byte(key))
		accept = base64.StdEncoding.EncodeToString(h[:])
	}
	var resp strings.Builder
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
	if !f.NoConnectionHeader {
		resp.WriteString("Connection: Upgrade\r\n")
	}
	fmt.Fprintf(&resp, "Sec-WebSocket-Accept: %s\r\n", accept)
	if v := strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "); f.EchoProtocolHeader && v != "" {
		fmt.Fprintf(&resp, "Sec-WebSocket-Protocol: %s\r\n", v)
	}
	if v := strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", "); f.EchoExtensionsHeader && v != "" {
		fmt.Fprintf(&resp, "Sec-WebSocket-Extensions: %s\r\n", v)
	}
	if f.FixedProtocol {
		resp.WriteString("Sec-WebSocket-Protocol: chat\r\n")
	}
	if f.FixedExtension {
		resp.WriteString("Sec-WebSocket-Extensions: permessage-deflate\r\n")
	}
	resp.WriteString("\r\n")

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection: "+err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	_ = nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := nc.Write([]byte(resp.String())); err != nil {
		nc.Close()
		return nil, err
	}
	return newWSConn(nc, brw.Reader, f, limit, s.cfg.WriteTimeout), nil
}

// wsAcceptKey is base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4).
func wsAcceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkWSRequest returns the refusal status and message for a request that is not a valid
// opening handshake, or 0.
func checkWSRequest(w http.ResponseWriter, r *http.Request, f WSFaults) (int, string) {
	upgradeRequired := func(msg string) (int, string) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return http.StatusUpgradeRequired, msg
	}
	if !r.ProtoAtLeast(1, 1) && !f.NoUpgradeCheck {
		return upgradeRequired(fmt.Sprintf("WebSocket handshake: HTTP/1.1 or later required, got %s", r.Proto))
	}
	hasConn, hasUpgrade := wsHeaderToken(r.Header, "Connection", "upgrade"), wsHeaderToken(r.Header, "Upgrade", "websocket")
	if f.ExactTokens {
		hasConn, hasUpgrade = r.Header.Get("Connection") == "Upgrade", r.Header.Get("Upgrade") == "websocket"
	}
	if !hasConn && !f.NoUpgradeCheck {
		return upgradeRequired(fmt.Sprintf("WebSocket handshake: the Connection header %q has no Upgrade token", r.Header.Get("Connection")))
	}
	if !hasUpgrade && !f.NoUpgradeCheck {
		return upgradeRequired(fmt.Sprintf("WebSocket handshake: the Upgrade header %q has no websocket token", r.Header.Get("Upgrade")))
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		return http.StatusMethodNotAllowed, fmt.Sprintf("WebSocket handshake: method %s, want GET", r.Method)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); (len(v) != 1 || strings.TrimSpace(v[0]) != "13") && !f.AnyVersion {
		// RFC 6455 §4.4: 426 with the versions this server speaks.
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusUpgradeRequired, fmt.Sprintf("unsupported WebSocket version %q: this server speaks version 13", strings.Join(v, ", "))
	}
	if f.AnyKey {
		return 0, ""
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, fmt.Sprintf("WebSocket handshake: %d Sec-WebSocket-Key headers, want exactly 1", len(keys))
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return http.StatusBadRequest, fmt.Sprintf("WebSocket handshake: Sec-WebSocket-Key %q is not 16 base64-encoded bytes", keys[0])
	}
	return 0, ""
}

// wsHeaderToken reports whether a comma-separated header has token (ASCII case-insensitive).
func wsHeaderToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsOriginAllowed applies the Origin policy: no Origin (a non-browser client), the request's
// own host, or a host matching AllowedOrigins.
func (s *Server) wsOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.originAllowed(origin)
}

// wsSameOrigin reports whether the request has no Origin or one naming the request's host.
func wsSameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	u, err := url.Parse(origin)
	return origin == "" || err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// newWSConn wraps a hijacked connection; br holds what the client sent after the handshake.
func newWSConn(nc net.Conn, br *bufio.Reader, f WSFaults, limit int64, wto time.Duration) *wsConn {
	return &wsConn{nc: nc, br: br, faults: f, limit: limit, wto: wto, pings: map[string]chan struct{}{}}
}
