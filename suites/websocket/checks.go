package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/jsonptr"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// "The |Sec-WebSocket-Accept| header field ... the server MUST ... concatenate [the key] with
// the Globally Unique Identifier ... take the SHA-1 hash ... base64-encoded"  (RFC 6455 §4.2.2)
var _ = fw.Register(fw.Check{
	ID: "WS-HS-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "The opening handshake is answered 101 with Sec-WebSocket-Accept = base64(SHA-1(key + RFC 6455 GUID)).",
	Quote:       "a |Sec-WebSocket-Accept| header field. The value of this header field is constructed by concatenating /key/ ... with the string \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\", taking the SHA-1 hash of this concatenated value to obtain a 20-byte value and base64-encoding",
	Spec:        "RFC 6455 §4.2.2 (5.4)",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		_, hs := dial(t, "")
		got := hs.Header.Get("Sec-WebSocket-Accept")
		want := wsclient.AcceptKey(hs.Key)
		t.Measure("status", "%q", hs.StatusLine)
		t.Measure("Sec-WebSocket-Accept", "%q", got)
		if hs.Status != 101 {
			t.Violation("101 Switching Protocols", hs.StatusLine)
		}
		if got != want {
			t.Violation(fmt.Sprintf("Sec-WebSocket-Accept: %s", want), fmt.Sprintf("Sec-WebSocket-Accept: %q", got))
		}
	},
})

// "An |Upgrade| header field with value "websocket" ... A |Connection| header field with value
// "Upgrade"."  (RFC 6455 §4.2.2 (5.2, 5.3))
var _ = fw.Register(fw.Check{
	ID: "WS-HS-002", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "The 101 response carries Upgrade: websocket and a Connection header with the Upgrade token.",
	Quote:       "An |Upgrade| header field with value \"websocket\" as per RFC 2616 ... A |Connection| header field with value \"Upgrade\"",
	Spec:        "RFC 6455 §4.2.2 (5.2, 5.3)",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		_, hs := dial(t, "")
		up, conn := hs.Header.Get("Upgrade"), strings.Join(hs.Header.Values("Connection"), ",")
		t.Measure("Upgrade", "%q", up)
		t.Measure("Connection", "%q", conn)
		if !strings.EqualFold(strings.TrimSpace(up), "websocket") {
			t.Violation("Upgrade: websocket", fmt.Sprintf("Upgrade: %q", up))
		}
		if !hasToken(conn, "upgrade") {
			t.Violation("Connection: Upgrade", fmt.Sprintf("Connection: %q", conn))
		}
	},
})

// "If this version does not match a version understood by the server, the server MUST abort
// the WebSocket handshake described in this section and instead send an appropriate HTTP
// error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field
// indicating the version(s) the server is capable of understanding."  (RFC 6455 §4.4)
var _ = fw.Register(fw.Check{
	ID: "WS-HS-003", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A handshake with an unsupported Sec-WebSocket-Version is refused with an HTTP error and a Sec-WebSocket-Version header listing 13.",
	Quote:       "the server MUST abort the WebSocket handshake described in this section and instead send an appropriate HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of understanding",
	Spec:        "RFC 6455 §4.4",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		hs := rawHandshake(t, rawRequest(t, "GET", "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Key", sampleKey, "Sec-WebSocket-Version", "12"))
		v := strings.Join(hs.Header.Values("Sec-WebSocket-Version"), ", ")
		t.Measure("status", "%q", hs.StatusLine)
		t.Measure("Sec-WebSocket-Version", "%q", v)
		if hs.Status == 101 || hs.Status < 400 {
			t.Violation("an HTTP error (426 Upgrade Required)", hs.StatusLine)
		}
		if !hasToken(v, "13") {
			t.Violation("Sec-WebSocket-Version: 13 in the refusal", fmt.Sprintf("Sec-WebSocket-Version: %q", v))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-HS-004", Level: fw.SHOULD, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "The refusal of an unsupported version uses the status RFC 6455 names, 426 Upgrade Required.",
	Quote:       "send an appropriate HTTP error code (such as 426 Upgrade Required)",
	Spec:        "RFC 6455 §4.4; RFC 9110 §15.5.22",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		hs := rawHandshake(t, rawRequest(t, "GET", "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Key", sampleKey, "Sec-WebSocket-Version", "8"))
		t.Measure("status", "%q", hs.StatusLine)
		if hs.Status != 426 {
			t.Violation("426 Upgrade Required", hs.StatusLine)
		}
	},
})

// "If the server, while reading the handshake, finds that the client did not send a handshake
// that matches the description below ..., the server MUST stop processing the client's
// handshake and return an HTTP response with an appropriate error code (such as 400 Bad
// Request)."  (RFC 6455 §4.2.1)
var _ = fw.Register(fw.Check{
	ID: "WS-HS-005", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A handshake without Sec-WebSocket-Key is refused with a 4xx error, never upgraded.",
	Quote:       "the server MUST stop processing the client's handshake and return an HTTP response with an appropriate error code (such as 400 Bad Request)",
	Spec:        "RFC 6455 §4.2.1",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		hs := rawHandshake(t, rawRequest(t, "GET", "Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13"))
		t.Measure("status", "%q", hs.StatusLine)
		if hs.Status/100 != 4 {
			t.Violation("a 4xx refusal (400 Bad Request)", hs.StatusLine)
		}
	},
})

// Header field values "Upgrade" and "websocket" are matched ASCII case-insensitively, and
// Connection is a token list (RFC 6455 §4.2.1 items 3–4; RFC 9110 §7.6.1).
var _ = fw.Register(fw.Check{
	ID: "WS-HS-006", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A handshake with Upgrade: WebSocket (any case) and Connection: keep-alive, Upgrade (a token list, as Firefox sends) is accepted.",
	Quote:       "An |Upgrade| header field containing the value \"websocket\", treated as an ASCII case-insensitive value. ... A |Connection| header field that includes the token \"Upgrade\", treated as an ASCII case-insensitive value.",
	Spec:        "RFC 6455 §4.2.1 (3, 4)",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		hs := rawHandshake(t, rawRequest(t, "GET", "Upgrade", "WebSocket", "Connection", "keep-alive, upgrade",
			"Sec-WebSocket-Key", sampleKey, "Sec-WebSocket-Version", "13"))
		t.Measure("status", "%q", hs.StatusLine)
		if hs.Status != 101 {
			t.Violation("101 Switching Protocols", hs.StatusLine)
		}
		if got := hs.Header.Get("Sec-WebSocket-Accept"); got != wsclient.AcceptKey(sampleKey) {
			t.Violation("Sec-WebSocket-Accept: "+wsclient.AcceptKey(sampleKey), fmt.Sprintf("%q", got))
		}
	},
})

// ping sends one ping and waits for the pong; data frames read meanwhile are kept for the next
// read (see await).
func ping(t *fw.T, c *wsclient.Conn, payload []byte) []byte {
	if err := c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPing, Masked: true, Payload: payload}); err != nil {
		t.Violation("the ping is accepted", err.Error())
	}
	ctx, cancel := t.Within(answerWait)
	defer cancel()
	var kept []wsclient.Frame
	defer func() { c.Unread(kept...) }()
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			t.Violation(fmt.Sprintf("a pong for a %d-byte ping", len(payload)), describe(err, answerWait))
		}
		switch f.Op {
		case ws.OpPong:
			return f.Payload
		case ws.OpClose:
			ce := wsclient.ParseClose(f.Payload)
			t.Violation("a pong", fmt.Sprintf("a close frame %d %q", ce.Code, ce.Reason))
		case ws.OpPing:
			_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPong, Masked: true, Payload: f.Payload})
		default:
			if !f.Op.IsControl() {
				kept = append(kept, f)
			}
		}
	}
}

// "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response ... A Pong
// frame sent in response to a Ping frame must have identical "Application data" as found in
// the message body of the Ping frame being replied to."  (RFC 6455 §5.5.2, §5.5.3)
var _ = fw.Register(fw.Check{
	ID: "WS-PING-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A ping with a 125-byte binary payload is answered by a pong with the identical payload.",
	Quote:       "A Pong frame sent in response to a Ping frame must have identical \"Application data\" as found in the message body of the Ping frame being replied to.",
	Spec:        "RFC 6455 §5.5.2, §5.5.3",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		payload := make([]byte, 125)
		for i := range payload {
			payload[i] = byte(255 - i*2)
		}
		got := ping(t, c, payload)
		if !bytes.Equal(got, payload) {
			t.Violation(fmt.Sprintf("pong payload %x", payload), fmt.Sprintf("pong payload %x (%d bytes)", got, len(got)))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-PING-002", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A ping without payload is answered by a pong without payload.",
	Quote:       "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response",
	Spec:        "RFC 6455 §5.5.2, §5.5.3",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		if got := ping(t, c, nil); len(got) != 0 {
			t.Violation("an empty pong", fmt.Sprintf("pong payload %q", got))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-PING-003", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "Ten pings in a row, each with its own text payload, are each answered by a pong echoing that payload.",
	Quote:       "A Pong frame sent in response to a Ping frame must have identical \"Application data\"",
	Spec:        "RFC 6455 §5.5.3",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		for i := 1; i <= 10; i++ {
			p := fmt.Appendf(nil, "ping %d of 10", i)
			if got := ping(t, c, p); !bytes.Equal(got, p) {
				t.Violation(fmt.Sprintf("pong %q", p), fmt.Sprintf("pong %q", got))
			}
		}
	},
})

// "An unsolicited Pong frame ... A response to an unsolicited Pong frame is not expected."
// (RFC 6455 §5.5.3): the connection must simply stay healthy.
var _ = fw.Register(fw.Check{
	ID: "WS-PING-004", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "An unsolicited pong is ignored: the connection stays open and answers the next ping.",
	Quote:       "A Pong frame MAY be sent unsolicited. This serves as a unidirectional heartbeat. A response to an unsolicited Pong frame is not expected.",
	Spec:        "RFC 6455 §5.5.3",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		if err := c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPong, Masked: true, Payload: []byte("unsolicited")}); err != nil {
			t.Violation("the pong is accepted", err.Error())
		}
		if got := ping(t, c, []byte("still there?")); string(got) != "still there?" {
			t.Violation(`pong "still there?"`, fmt.Sprintf("pong %q", got))
		}
	},
})

// "The server MUST close the connection upon receiving a frame that is not masked. In this
// case, a server MAY send a Close frame with a status code of 1002 (protocol error)"
// (RFC 6455 §5.1)
var _ = fw.Register(fw.Check{
	ID: "WS-FRAME-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "An unmasked frame from the client makes the server close the connection (with 1002, or by closing TCP).",
	Quote:       "The server MUST close the connection upon receiving a frame that is not masked.",
	Spec:        "RFC 6455 §5.1",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		sendBad(c, chopAll, unmasked(msg(ws.OpText, []byte("unmasked"))))
		expectFail(t, c, failProtocol, "an unmasked text frame")
	},
})

// "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
// Connection_."  (RFC 6455 §5.2)
var _ = fw.Register(fw.Check{
	ID: "WS-FRAME-002", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A frame with a reserved opcode (0x3) fails the connection (close 1002, or TCP closed).",
	Quote:       "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_.",
	Spec:        "RFC 6455 §5.2",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		sendBad(c, chopAll, msg(ws.OpCode(0x3), []byte("reserved")))
		expectFail(t, c, failProtocol, "opcode 0x3")
	},
})

// "If an endpoint receives a Close frame and did not previously send a Close frame, the
// endpoint MUST send a Close frame in response."  (RFC 6455 §5.5.1)
var _ = fw.Register(fw.Check{
	ID: "WS-CLOSE-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: wsCaps,
	Requirement: "A client close frame (1000) is answered with a close frame (echoing 1000, or without status).",
	Quote:       "If an endpoint receives a Close frame and did not previously send a Close frame, the endpoint MUST send a Close frame in response.",
	Spec:        "RFC 6455 §5.5.1, §7.1.1",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		ctx, cancel := t.Within(answerWait)
		defer cancel()
		ce, err := c.CloseHandshake(ctx, 1000, "bye")
		if err != nil {
			t.Violation("a close frame in response", describe(err, answerWait))
		}
		judgeReply(t, outcome{kind: "close", code: ce.Code, reason: ce.Reason}, 1000)
	},
})

// "A server MUST NOT mask any frames that it sends to the client."  (RFC 6455 §5.1); RSV bits
// "MUST be 0 unless an extension is negotiated" (§5.2).
var _ = fw.Register(fw.Check{
	ID: "WS-FRAME-003", Level: fw.MUST, Transport: fw.WebSocket, Requires: publishCaps,
	Requirement: "The server's frames are unmasked, have RSV bits 0 (no extension negotiated), and its text messages are valid UTF-8.",
	Quote:       "A server MUST NOT mask any frames that it sends to the client.",
	Spec:        "RFC 6455 §5.1, §5.2, §8.1",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		for i := 1; i <= 3; i++ {
			t.Publish(t.Payload(i))
		}
		// nextEvent fails on a *wsclient.ProtocolError (masked, RSV, bad UTF-8), naming it.
		collect(t, c, 3, "events 1..3")
		_ = ping(t, c, []byte("p"))
		for _, f := range c.Frames() {
			if f.Masked || f.Rsv != 0 {
				t.Violation("unmasked frames with RSV 0", fmt.Sprintf("a frame op=%d masked=%v rsv=%03b", f.Op, f.Masked, f.Rsv))
			}
		}
		t.Measure("frames received", "%d", c.FrameCount())
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-DELIVER-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: publishCaps,
	Requirement: "Published events reach an open WebSocket in order, one message each, with the exact payload at the envelope's data pointer.",
	Spec:        "operational: the profile's envelope (envelope.data)",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		time.Sleep(100 * time.Millisecond)
		want := []string{string(t.Payload(1)), string(t.Payload(2)) + "\nwith a line break and \"quotes\" é ✓", string(t.Payload(3))}
		for _, p := range want {
			t.Publish([]byte(p))
		}
		got := collect(t, c, 3, "the 3 published events")
		for i := range want {
			if got[i].Data != want[i] {
				t.Violation(fmt.Sprintf("event %d data %q", i+1, want[i]), fmt.Sprintf("data %q", got[i].Data))
			}
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-RESUME-001", Level: fw.MUST, Transport: fw.WebSocket, Requires: resumeCaps,
	Requirement: "A reconnect with the resume token of an event receives every later event, in order, without that event, without a gap or a duplicate, then live events.",
	Spec:        "operational: the profile's websocket.resume",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		c, _ := dial(t, "")
		time.Sleep(100 * time.Millisecond)
		for i := 1; i <= 3; i++ {
			t.Publish(t.Payload(i))
		}
		first := collect(t, c, 3, "events 1..3")
		if s := seqs(t, first); !slices.Equal(s, []int{1, 2, 3}) {
			t.Violation("events 1,2,3", fmt.Sprintf("seqs %v", s))
		}
		token := first[0].ID
		t.Measure("resume token", "%q", token)
		if token == "" {
			t.Violation("events carry an id at "+t.Target().Envelope.ID, "event 1 has none")
		}
		_ = c.Close()
		t.Publish(t.Payload(4))
		t.Publish(t.Payload(5))
		r, _ := dial(t, token)
		got := seqs(t, collectUpTo(t, r, 4, "events 2..5 after resuming from event 1"))
		t.Measure("seqs after resume", "%v", got)
		if !slices.Equal(got, []int{2, 3, 4, 5}) {
			diagnoseResume(t, got)
			obs := fmt.Sprintf("seqs %v", got)
			if len(got) == 0 {
				obs = fmt.Sprintf("no event within %s", answerWait)
			}
			t.Violation("seqs [2 3 4 5] (exclusive of the token, no gap, no duplicate)", obs)
		}
		t.Publish(t.Payload(6))
		if s := seqs(t, collect(t, r, 1, "event 6 live after the replay")); !slices.Equal(s, []int{6}) {
			t.Violation("event 6", fmt.Sprintf("seqs %v", s))
		}
	},
})

// diagnoseResume names the cause of a wrong replay after resuming from event 1 of 1..5 (the
// shared cause keys, so the report groups WS-RESUME-001 with the SSE, long-poll and chaos
// checks of the same bug).
func diagnoseResume(t *fw.T, got []int) {
	seen := map[int]bool{}
	dup := false
	for _, s := range got {
		dup = dup || seen[s]
		seen[s] = true
	}
	switch {
	case len(got) == 0:
		t.Diagnose("resume-ignored", "the resume token is ignored: a reconnect with the id of event 1 as its token got none of the events published since (the stream restarted from now); replay every event after the token")
	case seen[1]:
		t.Diagnose("resume-inclusive", "the resume was inclusive: the event of the resume token (event 1) was delivered again; resume with the event after it")
	case dup:
		t.Diagnose("resume-duplicate", "a resume delivered events twice (%v): resume strictly after the token's event, each event once", got)
	case !slices.IsSorted(got):
		t.Diagnose("reordered", "the events replayed after a resume came out of order (%v): replay in publish order", got)
	default:
		t.Diagnose("resume-gap", "a resume skipped events that follow the resume token (got %v of 2..5): deliver every event after the token, or the explicit reset signal when they are gone", got)
	}
}

func hasToken(list, token string) bool {
	for _, p := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(p), token) {
			return true
		}
	}
	return false
}

// lossSignalFirst reads the connection c, resumed from a token the target cannot resume from,
// until the declared loss signal — a message with websocket.reset's pointer (and value), or
// a connect reply to the resume without recovered (target.connect.recovered) — or an event
// arrives. signal names the signal seen; a read error (a close, a timeout) is returned.
func lossSignalFirst(t *fw.T, c *wsclient.Conn) (signal string, ev event, err error) {
	var q *replyQueue
	if v, ok := replies.Load(c); ok {
		q = v.(*replyQueue)
	}
	ctx, cancel := t.Within(answerWait)
	defer cancel()
	tg := t.Target()
	for {
		if q != nil && q.lost {
			return "a connect reply without true at " + tg.Connect.Recovered, event{}, nil
		}
		if q != nil && len(q.pending) > 0 {
			return "", q.pending[0], nil
		}
		op, payload, _, err := c.ReadMessage(ctx, true)
		if err != nil {
			return "", event{}, err
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if q != nil {
			if r, ok := tg.Connect.Open(payload, q.topic); ok {
				q.learn(t, r, time.Now())
				continue
			}
		}
		var doc any
		if json.Unmarshal(payload, &doc) != nil {
			return "", event{Data: string(payload)}, nil
		}
		if p := tg.WebSocket.Reset; p.Pointer != "" {
			if v, ok := jsonptr.Get(doc, p.Pointer); ok && v != nil && (p.Value == "" || jsonptr.Text(v) == p.Value) {
				return fmt.Sprintf("the message %.200s (websocket.reset)", payload), event{}, nil
			}
		}
		if data, ok := jsonptr.GetText(doc, tg.Envelope.Data); ok {
			id, _ := jsonptr.GetText(doc, tg.Envelope.ID)
			return "", event{ID: id, Data: data}, nil
		}
	}
}

// A client that resumes from a position the target does not have must learn that it missed
// events: the WebSocket counterpart of SSE-RESUME-005 and HS-RESUME-002.
var _ = fw.Register(fw.Check{
	ID: "WS-RESUME-002", Level: fw.MUST, Transport: fw.WebSocket, Requires: resumeCaps,
	Requirement: "A reconnect with a token the target never issued (a foreign one, and one of its own shape beyond its head) first gets the declared loss signal (a websocket.reset message, or a connect reply without recovered, target.connect.recovered), a refused handshake or a close: never a silent restart from now.",
	Spec:        "operational: an explicit loss signal, as SSE's reset event and the HTTP stream's reset line (the profile's websocket.reset)",
	Timeout:     40 * time.Second,
	Run: func(t *fw.T) {
		tg := t.Target()
		c, _ := dial(t, "")
		time.Sleep(100 * time.Millisecond)
		t.Publish(t.Payload(1))
		id := collect(t, c, 1, "event 1")[0].ID
		if id == "" {
			t.Violation("events carry an id at "+tg.Envelope.ID, "event 1 has none")
		}
		_ = c.Close()
		declared := tg.WebSocket.Reset.Pointer != "" || tg.Connect != nil && tg.Connect.Recovered != ""
		for i, token := range fw.UnknownIDs(t.Run.ID[:8], id, tg.ResumeTemplated(fw.WebSocket)) {
			t.Measure("unknown token", "%q", token)
			why := fmt.Sprintf("the unknown token %q", token)
			r, hs, err := dialOrRefused(t, token)
			if err != nil && r != nil { // upgraded, then no connect reply
				var ce *wsclient.CloseError
				if errors.As(err, &ce) {
					t.Measure("closed", "%d %q before the connect reply (an explicit signal)", ce.Code, ce.Reason)
					continue
				}
				t.Violation("the connect reply (target.connect.match) after the open messages, for "+why, describe(err, answerWait))
			}
			if err != nil {
				if hs != nil && hs.StatusLine != "" {
					t.Measure("resume refused", "%q (an explicit signal)", hs.StatusLine)
					continue
				}
				t.Violation("an answer to the resume from "+why, err.Error())
			}
			time.Sleep(100 * time.Millisecond)
			t.Publish(t.Payload(2 + i))
			signal, ev, err := lossSignalFirst(t, r)
			_ = r.Close()
			var ce *wsclient.CloseError
			switch {
			case err == nil && signal != "":
				t.Measure("loss signal", "%s", signal)
			case errors.As(err, &ce):
				t.Measure("closed", "%d %q before any event (an explicit signal)", ce.Code, ce.Reason)
			case err != nil:
				t.Violation("the loss signal for "+why, describe(err, answerWait))
			default:
				t.Diagnose("silent-loss", "a resume from a token the target cannot resume from goes on without a loss signal: the client never learns it missed events")
				if !declared {
					t.Remedy("send an explicit message (e.g. {\"type\":\"reset\"}) and declare it as websocket.reset")
				}
				t.Violation("for "+why+", the declared loss signal before any event", fmt.Sprintf("event %.200q first: a silent gap", ev.Data))
			}
		}
	},
})
