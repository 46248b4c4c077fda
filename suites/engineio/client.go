package engineio

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The Engine.IO v4 packet types (engine.io-protocol, "Protocol").
const (
	pOpen    byte = '0'
	pClose   byte = '1'
	pPing    byte = '2'
	pPong    byte = '3'
	pMessage byte = '4'
	pUpgrade byte = '5'
	pNoop    byte = '6'
)

// sep separates the packets of an HTTP long-polling payload.
const sep = '\x1e'

// maxBody bounds every polling response the client reads, maxFrame every WebSocket message.
const (
	maxBody  = 1 << 20
	maxFrame = 1 << 20
	maxQueue = 1024 // WebSocket packets buffered unread
)

// packet is one Engine.IO packet: its type and payload (binary: decoded from base64 on
// polling, a binary frame on WebSocket).
type packet struct {
	Type   byte
	Data   string
	Binary bool
}

func (p packet) String() string {
	if p.Binary {
		return fmt.Sprintf("b<%d bytes>", len(p.Data))
	}
	return string(p.Type) + p.Data
}

// parsePacket decodes one text packet: a type digit 0…6 and the rest as payload. Byte-exact:
// no trimming, no other type characters.
func parsePacket(s string) (packet, error) {
	if s == "" {
		return packet{}, errors.New("an empty packet (no type)")
	}
	if s[0] < pOpen || s[0] > pNoop {
		return packet{}, fmt.Errorf("packet type %q is not 0…6", s[0])
	}
	return packet{Type: s[0], Data: s[1:]}, nil
}

// parsePayload splits a polling response body into packets at \x1e; a record starting with
// b is a base64 binary message.
func parsePayload(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errors.New("an empty payload")
	}
	var out []packet
	for i, rec := range bytes.Split(body, []byte{sep}) {
		if len(rec) > 0 && rec[0] == 'b' {
			raw, err := base64.StdEncoding.DecodeString(string(rec[1:]))
			if err != nil {
				return nil, fmt.Errorf("record %d: binary payload is not base64: %v", i, err)
			}
			out = append(out, packet{Type: pMessage, Data: string(raw), Binary: true})
			continue
		}
		p, err := parsePacket(string(rec))
		if err != nil {
			return nil, fmt.Errorf("record %d (%q): %v", i, clip(string(rec)), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// encodePayload joins packets for a polling POST.
func encodePayload(ps ...packet) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = string(p.Type) + p.Data
	}
	return strings.Join(parts, string(sep))
}

// handshake is the open packet's JSON payload.
type handshake struct {
	SID          string
	Upgrades     []string
	PingInterval time.Duration
	PingTimeout  time.Duration
	MaxPayload   int64
}

// parseOpen decodes the open packet's payload strictly: a JSON object with sid (a non-empty
// string), upgrades (an array of strings), pingInterval, pingTimeout and maxPayload (positive
// integers). It returns what it could read and every problem found.
func parseOpen(data string) (handshake, []string) {
	var h handshake
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &raw); err != nil {
		return h, []string{fmt.Sprintf("the open payload is not a JSON object: %v", err)}
	}
	var probs []string
	if v, ok := raw["sid"]; !ok || json.Unmarshal(v, &h.SID) != nil || h.SID == "" {
		probs = append(probs, fmt.Sprintf("sid is not a non-empty string (%s)", show(v, ok)))
	}
	if v, ok := raw["upgrades"]; !ok || json.Unmarshal(v, &h.Upgrades) != nil || h.Upgrades == nil {
		probs = append(probs, fmt.Sprintf("upgrades is not an array of strings (%s)", show(v, ok)))
	}
	num := func(key string) int64 {
		v, ok := raw[key]
		var n int64
		if !ok || json.Unmarshal(v, &n) != nil || n <= 0 {
			probs = append(probs, fmt.Sprintf("%s is not a positive integer (%s)", key, show(v, ok)))
			return 0
		}
		return n
	}
	h.PingInterval = time.Duration(num("pingInterval")) * time.Millisecond
	h.PingTimeout = time.Duration(num("pingTimeout")) * time.Millisecond
	h.MaxPayload = num("maxPayload")
	return h, probs
}

func show(v json.RawMessage, ok bool) string {
	if !ok {
		return "absent"
	}
	return clip(string(v))
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// client speaks Engine.IO v4 to one endpoint (base: the endpoint URL without query).
type client struct {
	base  string
	query url.Values // extra query parameters of every request (topic)
	hc    *http.Client
}

func (c *client) url(transport, sid string) string {
	q := url.Values{}
	for k, v := range c.query {
		q[k] = v
	}
	q.Set("EIO", "4")
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	return c.base + "?" + q.Encode()
}

// response is one polling request's answer.
type response struct {
	Status  int
	Body    string
	Packets []packet
	Err     error // parsing the body (a 200 only)
	Took    time.Duration
}

// do sends one polling request and reads at most maxBody bytes of the answer.
func (c *client) do(ctx context.Context, method, sid, body string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url("polling", sid), rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	start := time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return response{}, fmt.Errorf("reading the %s answer: %w", method, err)
	}
	if len(b) > maxBody {
		return response{}, fmt.Errorf("the %s answer exceeds %d bytes", method, maxBody)
	}
	r := response{Status: res.StatusCode, Body: string(b), Took: time.Since(start)}
	if method == http.MethodGet && r.Status == http.StatusOK {
		r.Packets, r.Err = parsePayload(b)
	}
	return r, nil
}

// open performs the polling handshake and returns the parsed open packet and the raw answer.
func (c *client) open(ctx context.Context) (handshake, response, []string, error) {
	r, err := c.do(ctx, http.MethodGet, "", "")
	if err != nil {
		return handshake{}, r, nil, err
	}
	if r.Status != http.StatusOK {
		return handshake{}, r, []string{fmt.Sprintf("the handshake was answered %d (%q)", r.Status, clip(r.Body))}, nil
	}
	if r.Err != nil {
		return handshake{}, r, []string{"the handshake payload: " + r.Err.Error()}, nil
	}
	if len(r.Packets) == 0 || r.Packets[0].Type != pOpen {
		return handshake{}, r, []string{fmt.Sprintf("the first packet is not open (0): %q", clip(r.Body))}, nil
	}
	h, probs := parseOpen(r.Packets[0].Data)
	return h, r, probs, nil
}

// poll sends one GET for sid.
func (c *client) poll(ctx context.Context, sid string) (response, error) {
	return c.do(ctx, http.MethodGet, sid, "")
}

// post sends packets for sid.
func (c *client) post(ctx context.Context, sid string, ps ...packet) (response, error) {
	return c.do(ctx, http.MethodPost, sid, encodePayload(ps...))
}

// wsConn is an Engine.IO WebSocket transport: a reader goroutine queues every packet (bounded)
// and records how the connection ended; it never reads with a context that could close the
// connection under a waiting check.
type wsConn struct {
	c        *websocket.Conn
	packets  chan packet
	done     chan struct{}
	mu       sync.Mutex
	err      error // why reading stopped
	autoPong bool
}

// dial opens the WebSocket transport (sid "" for a WebSocket-only session).
func (c *client) dial(ctx context.Context, sid string, autoPong bool) (*wsConn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(c.url("websocket", sid), "http")
	conn, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.hc})
	if err != nil {
		return nil, res, err
	}
	conn.SetReadLimit(maxFrame)
	w := &wsConn{c: conn, packets: make(chan packet, maxQueue), done: make(chan struct{}), autoPong: autoPong}
	go w.read()
	return w, res, nil
}

func (w *wsConn) read() {
	defer close(w.done)
	for {
		typ, b, err := w.c.Read(context.Background())
		if err != nil {
			w.stop(err)
			return
		}
		var p packet
		if typ == websocket.MessageBinary {
			p = packet{Type: pMessage, Data: string(b), Binary: true}
		} else if p, err = parsePacket(string(b)); err != nil {
			w.stop(fmt.Errorf("a malformed frame %q: %v", clip(string(b)), err))
			_ = w.c.Close(websocket.StatusProtocolError, "malformed packet")
			return
		}
		if w.autoPong && p.Type == pPing && p.Data == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = w.c.Write(ctx, websocket.MessageText, []byte{pPong})
			cancel()
		}
		select {
		case w.packets <- p:
		default:
			w.stop(fmt.Errorf("more than %d packets unread", maxQueue))
			_ = w.c.CloseNow()
			return
		}
	}
}

func (w *wsConn) stop(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// closedBy says how the connection ended ("" while open).
func (w *wsConn) closedBy() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		return ""
	}
	if s := websocket.CloseStatus(w.err); s != -1 {
		return fmt.Sprintf("close frame %d", s)
	}
	return w.err.Error()
}

// next returns the next packet within ctx; ok false when the connection ended or ctx did.
func (w *wsConn) next(ctx context.Context) (packet, bool) {
	select {
	case p := <-w.packets:
		return p, true
	default:
	}
	select {
	case p := <-w.packets:
		return p, true
	case <-w.done:
		select {
		case p := <-w.packets:
			return p, true
		default:
			return packet{}, false
		}
	case <-ctx.Done():
		return packet{}, false
	}
}

// send writes one packet as a text frame.
func (w *wsConn) send(ctx context.Context, p packet) error {
	return w.c.Write(ctx, websocket.MessageText, []byte(string(p.Type)+p.Data))
}

func (w *wsConn) close() { _ = w.c.Close(websocket.StatusNormalClosure, "") }
