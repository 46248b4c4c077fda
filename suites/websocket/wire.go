package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Waits. Every wait ends as soon as the target answers; only a failing target makes a check
// wait it out.
const (
	// failFastWait is how long a fail-fast check waits for the close when it cannot probe
	// with a ping (the invalid bytes are in the middle of a frame).
	failFastWait = time.Second
	// midMessageWait bounds the wait for a pong to a ping sent inside a fragmented message.
	midMessageWait = 2 * time.Second
	// tcpCloseWait bounds the wait for the server to close TCP after the close handshake.
	tcpCloseWait = 2 * time.Second
)

// Chops: how the bytes of a sequence of frames are written (Autobahn's "chops").
const (
	chopAll   = 0  // one write for everything
	chopFrame = -1 // one write per frame
	chopOctet = 1  // one write per byte
)

// frame is a masked client frame.
func frame(fin bool, op ws.OpCode, payload []byte) wsclient.Frame {
	return wsclient.Frame{Fin: fin, Op: op, Masked: true, Payload: payload}
}

// msg is a masked, final, single-frame message.
func msg(op ws.OpCode, payload []byte) wsclient.Frame { return frame(true, op, payload) }

// fragments splits payload into frames of at most size bytes (at least one frame), the first
// with opcode op, the others continuations, the last final.
func fragments(op ws.OpCode, payload []byte, size int) []wsclient.Frame {
	var out []wsclient.Frame
	for first := true; first || len(payload) > 0; first = false {
		n := min(size, len(payload))
		o := ws.OpContinuation
		if first {
			o = op
		}
		out = append(out, frame(n == len(payload), o, payload[:n]))
		payload = payload[n:]
	}
	return out
}

// closePayload is a close frame body: the 2-byte code, then reason.
func closePayload(code int, reason []byte) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

// encode concatenates the wire bytes of frames.
func encode(frames ...wsclient.Frame) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = wsclient.EncodeFrame(f)
	}
	return out
}

// writeChopped writes the encoded frames as chop says and returns the first write error.
func writeChopped(c *wsclient.Conn, chop int, encoded [][]byte) error {
	switch chop {
	case chopFrame:
		for _, b := range encoded {
			if err := c.WriteRaw(b); err != nil {
				return err
			}
		}
		return nil
	case chopAll:
		return c.WriteRaw(bytes.Join(encoded, nil))
	}
	all := bytes.Join(encoded, nil)
	for len(all) > 0 {
		n := min(chop, len(all))
		if err := c.WriteRaw(all[:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// send writes valid frames; a write error is a violation (the server closed on them).
func send(t *fw.T, c *wsclient.Conn, chop int, frames ...wsclient.Frame) {
	if err := writeChopped(c, chop, encode(frames...)); err != nil {
		t.Violation("the frames are accepted", "writing failed: "+err.Error())
	}
}

// sendBad writes frames the server is expected to fail on: write errors are expected.
func sendBad(c *wsclient.Conn, chop int, frames ...wsclient.Frame) {
	_ = writeChopped(c, chop, encode(frames...))
}

// outcome is how the target reacted to what a check sent.
type outcome struct {
	kind    string // "close", "tcp", "pong", "timeout", "flood"
	code    int    // close code for "close"
	reason  string
	payload []byte // pong payload for "pong"
	frames  int    // data frames read for "flood"
	bytes   int    // their payload bytes
}

func (o outcome) String() string {
	switch o.kind {
	case "close":
		return fmt.Sprintf("a close frame %d %q", o.code, o.reason)
	case "tcp":
		return "the TCP connection closed without a close frame"
	case "pong":
		return fmt.Sprintf("a pong %q: the connection went on", o.payload)
	case "flood":
		return fmt.Sprintf("%d data frames (%d payload bytes) and no close frame or pong: the client stopped reading there", o.frames, o.bytes)
	}
	return "nothing"
}

// await reads frames until a close frame, a pong, the end of TCP or the timeout. Server pings
// are skipped. Data frames read before a pong (or the timeout) are kept for the next read
// (c.Unread): a server may inject the pong in the middle of a fragmented message it sends
// (RFC 6455 §5.4), as a streaming echo does. Those read before a close frame are dropped: they
// came before it, and a read after the close judges what comes after it. At most keepFrames
// data frames or keepBytes of their payload are kept: a server flooding data frames instead
// of answering ends the wait with a "flood" outcome, so memory stays bounded.
func await(t *fw.T, c *wsclient.Conn, d time.Duration) (o outcome) {
	ctx, cancel := t.Within(d)
	defer cancel()
	var kept []wsclient.Frame
	defer func() {
		if o.kind == "pong" || o.kind == "timeout" {
			c.Unread(kept...)
		}
	}()
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				if t.Context().Err() != nil {
					t.Harness("the check's time ran out")
				}
				return outcome{kind: "timeout"}
			}
			var le *wsclient.LimitError
			if errors.As(err, &le) {
				t.Violation("frames within the client's limits", err.Error())
			}
			return outcome{kind: "tcp"}
		}
		switch f.Op {
		case ws.OpClose:
			ce := wsclient.ParseClose(f.Payload)
			return outcome{kind: "close", code: ce.Code, reason: ce.Reason}
		case ws.OpPong:
			return outcome{kind: "pong", payload: f.Payload}
		}
		if !f.Op.IsControl() {
			kept = append(kept, f)
			o.bytes += len(f.Payload)
			if len(kept) >= keepFrames || o.bytes >= keepBytes {
				return outcome{kind: "flood", frames: len(kept), bytes: o.bytes}
			}
		}
	}
}

// Bounds of the data frames await keeps while it waits for a close frame or a pong: far
// beyond any echo a check provokes, far below memory trouble.
const (
	keepFrames = 4096
	keepBytes  = 8 << 20
)

// alivePing is the payload of the probe that proves a connection healthy, or proves that a
// server did not fail a connection where it had to.
const alivePing = "rtconform: still open?"

// expectHealthy proves that the connection survived what was sent: a ping is answered by a
// pong (any payload: pong payloads are judged by the WS-PING checks) before any close.
func expectHealthy(t *fw.T, c *wsclient.Conn, after string) {
	if err := c.WriteFrame(frame(true, ws.OpPing, []byte(alivePing))); err != nil {
		t.Violation("the connection stays open after "+after, "writing a ping failed: "+err.Error())
	}
	if o := await(t, c, answerWait); o.kind != "pong" {
		t.Violation("the connection stays open after "+after+" (a ping sent next is answered)", o.String()+waited(o))
	}
}

func waited(o outcome) string { return waitedFor(o, answerWait) }

func waitedFor(o outcome, d time.Duration) string {
	if o.kind == "timeout" {
		return fmt.Sprintf(" within %s", d)
	}
	return ""
}

// failRule says how a check accepts a failed connection.
type failRule struct {
	codes []int // close codes accepted in a close frame
	tcp   bool  // a TCP close without a close frame is also accepted
}

var (
	// "_Fail the WebSocket Connection_": close with 1002 (RFC 6455 §7.1.7 says SHOULD send a
	// close frame, so a TCP close is allowed, but a close frame sent must carry 1002).
	failProtocol = failRule{codes: []int{1002}, tcp: true}
	// invalid UTF-8 in a text message: 1007 (§8.1, §7.4.1), or TCP close.
	failUTF8 = failRule{codes: []int{1007}, tcp: true}
	// message above the declared maximum: a close frame with 1009 (§7.4.1), not a silent
	// drop and not a bare TCP close.
	failTooBig = failRule{codes: []int{1009}}
)

func (r failRule) String() string {
	s := "a close frame with "
	for i, c := range r.codes {
		if i > 0 {
			s += " or "
		}
		s += fmt.Sprint(c)
	}
	if r.tcp {
		s += " (or a TCP close without close frame)"
	}
	return s
}

// expectFail proves that the server failed the connection on what was just sent: a ping is
// sent after it, and a server that answers that ping went on processing frames after the
// invalid one. A close frame must carry a code of rule; a TCP close counts when rule allows.
func expectFail(t *fw.T, c *wsclient.Conn, rule failRule, what string) {
	_ = c.WriteFrame(frame(true, ws.OpPing, []byte(alivePing)))
	judgeFail(t, await(t, c, answerWait), rule, what)
}

func judgeFail(t *fw.T, o outcome, rule failRule, what string) {
	want := "after " + what + ": " + rule.String()
	switch o.kind {
	case "close":
		t.Measure("close", "%d %q", o.code, o.reason)
		for _, code := range rule.codes {
			if o.code == code {
				return
			}
		}
	case "tcp":
		t.Measure("close", "TCP closed without a close frame")
		if rule.tcp {
			return
		}
	}
	t.Violation(want, o.String()+waited(o))
}

// expectEcho reads the next data message and compares it with what was sent. A message
// above the declared websocket.maxMessage that is refused with 1009 ends the check
// NOT_SUPPORTED: the echo endpoint enforces the declared limit.
func expectEcho(t *fw.T, c *wsclient.Conn, op ws.OpCode, payload []byte) {
	wait := echoWait(len(payload))
	ctx, cancel := t.Within(wait)
	defer cancel()
	began := time.Now()
	gotOp, got, frames, err := c.ReadMessage(ctx, true)
	if err == nil && len(payload) >= largeEcho {
		t.Measure("echo_time", "%s after the message was sent", time.Since(began).Round(time.Millisecond))
	}
	var ce *wsclient.CloseError
	if err != nil && errors.As(err, &ce) && ce.Code == 1009 && aboveLimit(t, len(payload)) {
		t.Measure("close", "%d %q", ce.Code, ce.Reason)
		t.NotSupported("a %d-byte message is above the declared websocket.maxMessage %d: the echo endpoint refused it with 1009, as WS-LIMIT-001..003 require",
			len(payload), t.Target().WebSocket.MaxMessage)
	}
	if err != nil {
		t.Violation(fmt.Sprintf("the %d-byte %s message echoed", len(payload), opName(op)), describe(err, wait))
	}
	t.Measure("echo", "%s, %d bytes in %d frames", opName(gotOp), len(got), len(frames))
	if gotOp != op || !bytes.Equal(got, payload) {
		t.Violation(fmt.Sprintf("an echo: %s, %d bytes %s", opName(op), len(payload), preview(payload)),
			fmt.Sprintf("%s, %d bytes %s", opName(gotOp), len(got), preview(got)))
	}
}

// largeEcho is the size from which an echo gets largeEchoWait: a megabyte echoed by a server
// validating UTF-8 and unmasking per byte, on a loaded machine (or under the race detector, with
// the reference in the same process), can take seconds without anything being wrong; a server
// that loses or stalls the message is still caught, and the time taken is measured.
const (
	largeEcho     = 64 << 10
	largeEchoWait = 15 * time.Second // within the check's 20 s
)

// echoWait is how long an echo of n bytes may take.
func echoWait(n int) time.Duration {
	if n >= largeEcho {
		return largeEchoWait
	}
	return answerWait
}

func opName(op ws.OpCode) string {
	switch op {
	case ws.OpText:
		return "text"
	case ws.OpBinary:
		return "binary"
	case ws.OpContinuation:
		return "continuation"
	case ws.OpPing:
		return "ping"
	case ws.OpPong:
		return "pong"
	case ws.OpClose:
		return "close"
	}
	return fmt.Sprintf("opcode 0x%X", byte(op))
}

func preview(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("%x…", b[:48])
	}
	return fmt.Sprintf("%x", b)
}

// dialEcho opens the target's echo endpoint.
func dialEcho(t *fw.T) *wsclient.Conn {
	path := t.Target().WebSocket.Echo
	if path == "" {
		t.NotSupported("the profile declares no websocket.echo path")
	}
	ctx, cancel := t.Within(handshakeMax)
	defer cancel()
	u := t.URL(path)
	c, hs, err := wsclient.Dial(ctx, u, wsclient.DialOptions{})
	if err != nil {
		obs := dialFailure(hs, err)
		t.Violation("GET "+u+" upgrades to a WebSocket (101)", obs)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openPath dials websocket.path for a framing check whose verdict does not depend on a data
// message being accepted: invalid input that must fail the connection at the frame level,
// control frames, the close handshake.
func openPath(t *fw.T) *wsclient.Conn {
	c, _ := dial(t, "")
	return c
}

// openValid dials the endpoint of a framing check that sends a data message the server must
// accept: the echo endpoint for echo variants; otherwise websocket.path, unless the profile
// declares that websocket.path speaks an application protocol (websocket.protocol), which may
// legitimately close on a message that is not one of its commands (Centrifugo: 3501 "bad
// request"). The check then runs on the echo endpoint when one is declared (capability echo),
// and is NOT_SUPPORTED otherwise.
func openValid(t *fw.T, echo bool) *wsclient.Conn {
	if echo {
		return dialEcho(t)
	}
	if p := t.Target().WebSocket.Protocol; p != "" {
		if t.Target().Has(fw.CapEcho) && t.Target().WebSocket.Echo != "" {
			return dialEcho(t)
		}
		t.NotSupported("websocket.path speaks %s: it may close on a message that is not one of its commands (declare an echo endpoint, websocket.echo and capability echo, to run this check there)", p)
	}
	return openPath(t)
}

// openFor is openValid (on the plain endpoint) for a check whose input has a data message the
// server must accept before the part the check judges, openPath otherwise.
func openFor(t *fw.T, accepts bool) *wsclient.Conn {
	if accepts {
		return openValid(t, false)
	}
	return openPath(t)
}

// caps returns the capabilities of a check on the plain endpoint or its echo variant.
func caps(echo bool) []fw.Capability {
	if echo {
		return echoCaps
	}
	return wsCaps
}

// accepted finishes a check whose input was valid: the echo variant compares the echo, the
// plain one proves the connection healthy.
func accepted(t *fw.T, c *wsclient.Conn, echo bool, op ws.OpCode, payload []byte, what string) {
	if echo {
		expectEcho(t, c, op, payload)
	}
	expectHealthy(t, c, what)
}

// register declares one WebSocket check.
func register(id string, level fw.Level, requires []fw.Capability, requirement, quote, spec string, run func(t *fw.T)) {
	fw.Register(fw.Check{ID: id, Level: level, Transport: fw.WebSocket, Requires: requires,
		Requirement: requirement, Quote: quote, Spec: spec, Timeout: 20 * time.Second, Run: run,
		Intermediary: intermediary[id]})
}

// aboveLimit reports whether an n-byte message is above the declared websocket.maxMessage.
func aboveLimit(t *fw.T, n int) bool {
	m := t.Target().WebSocket.MaxMessage
	return m > 0 && int64(n) > m
}

// withinLimit ends a check on websocket.path whose message is larger than the declared
// maximum as NOT_SUPPORTED (sending it would only test the limit, which WS-LIMIT-001..003
// judge). An echo check goes on, since an echo endpoint may accept more than websocket.path
// does; it reports whether the message is above the declared maximum, and then a refusal
// with 1009 makes the check NOT_SUPPORTED too (see expectEcho), never a failure.
func withinLimit(t *fw.T, n int, echo bool) (over bool) {
	if !aboveLimit(t, n) {
		return false
	}
	if !echo {
		t.NotSupported("a %d-byte message is above the declared websocket.maxMessage %d", n, t.Target().WebSocket.MaxMessage)
	}
	return true
}

// sendValid writes a valid message; when it is above the declared maximum (over, echo
// checks only) the server may refuse it with 1009 while it is being written, so a write
// error is left to the read that follows.
func sendValid(t *fw.T, c *wsclient.Conn, chop int, over bool, frames ...wsclient.Frame) {
	if over {
		sendBad(c, chop, frames...)
		return
	}
	send(t, c, chop, frames...)
}

// pattern returns n bytes of a repeating printable pattern (valid UTF-8).
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// binaryPattern returns n bytes of every byte value (not valid UTF-8).
func binaryPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(255 - i%256)
	}
	return b
}
