package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

var (
	wsCaps      = []fw.Capability{fw.CapWebSocket}
	publishCaps = []fw.Capability{fw.CapWebSocket, fw.CapPublish}
	resumeCaps  = []fw.Capability{fw.CapWebSocket, fw.CapPublish, fw.CapResume}
	echoCaps    = []fw.Capability{fw.CapWebSocket, fw.CapEcho}
)

const (
	answerWait   = 5 * time.Second // for a pong, a close, an event
	handshakeMax = 10 * time.Second
)

// endpoint is the WebSocket URL of the check's topic, with an optional resume token (in the
// declared query parameter, or the declared resume path rendered with it).
func endpoint(t *fw.T, token string) string {
	p, err := t.Target().WebSocketPath(t.Topic(), token, t.ResumeState().Fields(t.Topic()))
	if err != nil {
		t.Harness("%v", err)
	}
	u := t.URL(p)
	if q := t.Target().WebSocket.Resume.Query; token != "" && q != "" {
		u = fw.WithQuery(u, q, token)
	}
	return u
}

// dial opens the check's WebSocket; a refused handshake is a violation.
func dial(t *fw.T, token string) (*wsclient.Conn, *wsclient.Handshake) {
	c, hs, err := dialOrRefused(t, token)
	if err != nil && c != nil {
		t.Violation("the connect reply (target.connect.match) after the open messages", describe(err, answerWait))
	}
	if err != nil {
		obs := dialFailure(hs, err)
		t.Violation("GET "+endpoint(t, token)+" upgrades to a WebSocket (101)", obs)
	}
	return c, hs
}

// dialFailure says how a handshake failed: the status line of a refusal, or what went wrong
// after it (a head that never ended, headers beyond the client's bound) or before it.
func dialFailure(hs *wsclient.Handshake, err error) string {
	var he *wsclient.HandshakeError
	timedOut := errors.Is(err, context.DeadlineExceeded)
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("%q", he.StatusLine)
	case hs != nil && hs.StatusLine != "" && timedOut:
		return fmt.Sprintf("%q, then the response head did not end within %s (%d bytes read)", hs.StatusLine, handshakeMax, len(hs.Response))
	case hs != nil && hs.StatusLine != "":
		return fmt.Sprintf("%q, then %v", hs.StatusLine, err)
	case timedOut:
		return fmt.Sprintf("no response head within %s", handshakeMax)
	}
	return err.Error()
}

// dialOrRefused is dial returning a failed handshake (hs says how it was refused) instead of
// reporting it; once upgraded it sends the first messages and awaits the connect reply (an
// error then comes with the connection).
func dialOrRefused(t *fw.T, token string) (*wsclient.Conn, *wsclient.Handshake, error) {
	ctx, cancel := t.Within(handshakeMax)
	defer cancel()
	u := endpoint(t, token)
	c, hs, err := wsclient.Dial(ctx, u, wsclient.DialOptions{})
	if err != nil {
		return nil, hs, err
	}
	t.Cleanup(func() { _ = c.Close() })
	first, err := t.Target().WebSocketFirst(t.Topic(), token, t.ResumeState().Fields(t.Topic()))
	if err != nil {
		t.Harness("%v", err)
	}
	for _, m := range first {
		if err := c.WriteMessage(ws.OpText, []byte(m)); err != nil {
			t.Violation("the first messages (websocket.open, websocket.resume.message) are accepted", err.Error())
		}
	}
	q := &replyQueue{topic: t.Topic(), token: token}
	replies.Store(c, q)
	t.Cleanup(func() { replies.Delete(c) })
	// A declared connect reply comes whether the connect request went in the first messages
	// or in the URL (Centrifugo's cf_connect): the target has subscribed the connection only
	// once it is sent.
	if t.Target().Connect != nil {
		if err := awaitReply(t, c, q); err != nil {
			return c, hs, err
		}
	}
	return c, hs, nil
}

// awaitReply reads until the connect reply to the open messages arrived (as a client of such
// a protocol does before it counts as subscribed), so that a check does not publish before
// the target subscribed the connection; events before it are kept for readEvent.
func awaitReply(t *fw.T, c *wsclient.Conn, q *replyQueue) error {
	ctx, cancel := t.Within(answerWait)
	defer cancel()
	env := t.Target().Envelope
	for {
		op, payload, _, err := c.ReadMessage(ctx, true)
		if err != nil {
			return err
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if r, ok := t.Target().Connect.Open(payload, q.topic); ok {
			q.learn(t, r, time.Now())
			return nil
		}
		var doc any
		if json.Unmarshal(payload, &doc) == nil {
			if data, ok := jsonptr.GetText(doc, env.Data); ok {
				id, _ := jsonptr.GetText(doc, env.ID)
				q.pending = append(q.pending, event{ID: id, Data: data, At: time.Now()})
			}
		}
	}
}

// replies holds, per connection dial opened, the events of the target's connect reply
// (target.connect) that readEvent has not returned yet.
var replies sync.Map // *wsclient.Conn → *replyQueue

type replyQueue struct {
	topic, token string // the connection's topic and resume token ("": a fresh connect)
	pending      []event
	// lost: the connect reply to the resume did not say recovered (target.connect.recovered),
	// the target's loss signal; WS-RESUME-002 reads it.
	lost bool
}

// learn handles a connect reply r on the connection of q: its fields are kept, its loss
// signal noted, its replayed events queued.
func (q *replyQueue) learn(t *fw.T, r fw.Reply, at time.Time) {
	t.ResumeState().Learn(q.topic, r.Fields)
	q.lost = q.lost || q.token != "" && t.Target().Connect.Lost(r)
	for _, e := range r.Events {
		q.pending = append(q.pending, event{ID: e.ID, Data: e.Data, At: at})
	}
}

// event is one event message: its id and payload through the envelope pointers.
type event struct {
	ID, Data string
	At       time.Time
}

// nextEvent reads messages (answering pings) until one carries a payload at the envelope's
// data pointer; control messages of the target (resets, acks) are skipped.
func nextEvent(t *fw.T, c *wsclient.Conn, d time.Duration, want string) event {
	ev, err := readEvent(t, c, d, want)
	if err != nil {
		t.Violation(want, describe(err, d))
	}
	return ev
}

// readEvent is nextEvent returning a read error (a timeout, a close) instead of reporting it.
func readEvent(t *fw.T, c *wsclient.Conn, d time.Duration, want string) (event, error) {
	ctx, cancel := t.Within(d)
	defer cancel()
	env := t.Target().Envelope
	var q *replyQueue
	if v, ok := replies.Load(c); ok {
		q = v.(*replyQueue)
	}
	for {
		if q != nil && len(q.pending) > 0 {
			ev := q.pending[0]
			q.pending = q.pending[1:]
			return ev, nil
		}
		op, payload, frames, err := c.ReadMessage(ctx, true)
		if err != nil {
			return event{}, err
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		var doc any
		if err := json.Unmarshal(payload, &doc); err != nil {
			t.Violation(want+" as a JSON message", fmt.Sprintf("a non-JSON message %.200q", payload))
		}
		at := time.Now()
		if len(frames) > 0 {
			at = frames[len(frames)-1].At
		}
		if q != nil {
			if r, ok := t.Target().Connect.Open(payload, q.topic); ok {
				q.learn(t, r, at)
				continue
			}
		}
		data, ok := jsonptr.GetText(doc, env.Data)
		if !ok {
			continue
		}
		id, _ := jsonptr.GetText(doc, env.ID)
		return event{ID: id, Data: data, At: at}, nil
	}
}

// collectUpTo reads up to n events and returns those that came before a read ended (a
// timeout of answerWait, a close), for checks that diagnose what is missing; a frame that
// breaks RFC 6455 is a violation, as in collect.
func collectUpTo(t *fw.T, c *wsclient.Conn, n int, want string) []event {
	var out []event
	for len(out) < n {
		ev, err := readEvent(t, c, answerWait, want)
		if err != nil {
			if t.Context().Err() != nil {
				t.Harness("the check's time ran out")
			}
			var pe *wsclient.ProtocolError
			var le *wsclient.LimitError
			if errors.As(err, &pe) || errors.As(err, &le) {
				t.Violation(fmt.Sprintf("%s (got %d of %d)", want, len(out), n), describe(err, answerWait))
			}
			break
		}
		out = append(out, ev)
	}
	return out
}

func collect(t *fw.T, c *wsclient.Conn, n int, want string) []event {
	var out []event
	for len(out) < n {
		out = append(out, nextEvent(t, c, answerWait, fmt.Sprintf("%s (got %d of %d)", want, len(out), n)))
	}
	return out
}

func describe(err error, d time.Duration) string {
	var ce *wsclient.CloseError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("the server closed the connection (%d %q)", ce.Code, ce.Reason)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("nothing within %s", d)
	}
	return err.Error()
}

func seqs(t *fw.T, evs []event) []int {
	var d []string
	for _, e := range evs {
		d = append(d, e.Data)
	}
	return t.Seqs(d)
}

// hostPort is the target's address for raw handshakes.
func hostPort(t *fw.T) string {
	u, err := url.Parse(t.Run.BaseURL)
	if err != nil {
		t.Harness("target url: %v", err)
	}
	if u.Scheme == "https" {
		t.NotSupported("raw handshake checks speak plain TCP; the target is https")
	}
	if u.Port() == "" {
		return u.Hostname() + ":80"
	}
	return u.Host
}

// rawRequest renders a handshake request for the check's topic; headers are written in
// order, exactly as given.
func rawRequest(t *fw.T, method string, headers ...string) []byte {
	u, _ := url.Parse(endpoint(t, ""))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

const sampleKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3's example key

func rawHandshake(t *fw.T, req []byte) *wsclient.Handshake {
	hs, nc, err := wsclient.RawHandshake(t.Context(), hostPort(t), req, handshakeMax)
	if err != nil {
		t.Violation("an HTTP response to the handshake", err.Error())
	}
	_ = nc.Close()
	return hs
}
