package websocket

import (
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Client-to-server framing (RFC 6455 §5), judged from what a server that does not echo must
// still do: keep the connection healthy after valid frames (a ping sent next is answered) and
// fail it after invalid ones (a ping sent next is NOT answered; a close frame, if any, carries
// the code of §7.4.1). Echo variants (ID + 500, capability echo) compare the echoed message.

// Payload length boundaries of the 7-bit, 16-bit and 64-bit length encodings (Autobahn 1.1.x
// text, 1.2.x binary). Row i: WS-LEN-(i+1) text, WS-LEN-(i+11) binary; +500 echo variants.
var lengthRows = []struct {
	n, chop int
	ab      string // Autobahn case (text; binary is 1.2.x)
}{
	{0, chopAll, "1.1.1"}, {125, chopAll, "1.1.2"}, {126, chopAll, "1.1.3"}, {127, chopAll, "1.1.4"},
	{128, chopAll, "1.1.5"}, {65535, chopAll, "1.1.6"}, {65536, chopAll, "1.1.7"}, {65536, 997, "1.1.8"},
}

var _ = func() bool {
	for i, r := range lengthRows {
		for k, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
			for _, echo := range []bool{false, true} {
				id := i + 1 + 10*k
				if echo {
					id += 500
				}
				r, op, echo := r, op, echo
				how := ""
				if r.chop > 0 {
					how = fmt.Sprintf(", written in %d-byte chops", r.chop)
				}
				req := fmt.Sprintf("A %s message of %d bytes (one frame%s) is accepted: the connection stays open and answers a ping.", opName(op), r.n, how)
				if echo {
					req = fmt.Sprintf("The echo endpoint returns a %s message of %d bytes (one frame%s) unchanged.", opName(op), r.n, how)
				}
				register(fmt.Sprintf("WS-LEN-%03d", id), fw.MUST, caps(echo), req,
					"Payload length: 7 bits, 7+16 bits, or 7+64 bits ... If 0-125, that is the payload length. If 126, the following 2 bytes ... If 127, the following 8 bytes",
					"RFC 6455 §5.2; Autobahn "+r.ab, func(t *fw.T) {
						over := withinLimit(t, r.n, echo)
						c := openValid(t, echo)
						p := pattern(r.n)
						if op == ws.OpBinary {
							p = binaryPattern(r.n)
						}
						sendValid(t, c, r.chop, over, msg(op, p))
						accepted(t, c, echo, op, p, fmt.Sprintf("a %d-byte %s message", r.n, opName(op)))
					})
			}
		}
	}
	return true
}()

// RSV bits without a negotiated extension (Autobahn 3.x) on every kind of frame: WS-RSV-0KR,
// K the frame kind (row of rsvKinds), R the RSV value 1..7 (RSV1 = 4).
var rsvKinds = []struct {
	name string
	ab   string
	// frames returns what is sent: the frame carrying rsv last.
	frames func(rsv byte) []wsclient.Frame
}{
	{"text", "3.1–3.4", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{msg(ws.OpText, []byte("valid first")), withRsv(msg(ws.OpText, []byte("rsv")), rsv)}
	}},
	{"binary", "3.5", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{withRsv(msg(ws.OpBinary, []byte{0, 1, 2}), rsv)}
	}},
	{"ping", "3.6", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{withRsv(msg(ws.OpPing, []byte("rsv ping")), rsv)}
	}},
	{"pong", "3.6 (pong)", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{withRsv(msg(ws.OpPong, []byte("rsv pong")), rsv)}
	}},
	{"close", "3.7", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{withRsv(msg(ws.OpClose, closePayload(1000, nil)), rsv)}
	}},
	{"continuation", "3.x (continuation)", func(rsv byte) []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpText, []byte("first ")), withRsv(frame(true, ws.OpContinuation, []byte("last")), rsv)}
	}},
}

func withRsv(f wsclient.Frame, rsv byte) wsclient.Frame { f.Rsv = rsv; return f }

var _ = func() bool {
	for k, kind := range rsvKinds {
		for rsv := byte(1); rsv <= 7; rsv++ {
			kind, rsv := kind, rsv
			register(fmt.Sprintf("WS-RSV-0%d%d", k, rsv), fw.MUST, wsCaps,
				fmt.Sprintf("A %s frame with RSV bits %03b (no extension negotiated) fails the connection (1002).", kind.name, rsv),
				"MUST be 0 unless an extension is negotiated that defines meanings for non-zero values. If a nonzero value is received and none of the negotiated extensions defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the WebSocket Connection_.",
				"RFC 6455 §5.2, §7.1.7; Autobahn "+kind.ab, func(t *fw.T) {
					// The text kind sends a valid message first: it must be accepted.
					c := openFor(t, k == 0)
					sendBad(c, chopAll, kind.frames(rsv)...)
					expectFail(t, c, failProtocol, fmt.Sprintf("a %s frame with RSV %03b", kind.name, rsv))
				})
		}
	}
	return true
}()

// Reserved opcodes 3–7 (non-control) and 11–15 (control), Autobahn 4.x. WS-OPCODE-0NN: opcode
// NN alone and empty; WS-OPCODE-1NN: with a payload, after a valid text message.
var reservedOpcodes = []int{3, 4, 5, 6, 7, 11, 12, 13, 14, 15}

var _ = func() bool {
	ab := map[int][2]string{3: {"4.1.1", ""}, 4: {"", "4.1.2"}, 5: {"", "4.1.3"}, 6: {"", "4.1.4"}, 7: {"", "4.1.5"},
		11: {"4.2.1", ""}, 12: {"", "4.2.2"}, 13: {"", "4.2.3"}, 14: {"", "4.2.4"}, 15: {"", "4.2.5"}}
	for _, op := range reservedOpcodes {
		for v, after := range []bool{false, true} {
			op, after := op, after
			id := fmt.Sprintf("WS-OPCODE-%d%02d", v, op)
			what := "an empty frame"
			if after {
				what = "a frame with a payload, after a valid text message,"
			}
			spec := "RFC 6455 §5.2"
			if a := ab[op][v]; a != "" {
				spec += "; Autobahn " + a
			}
			register(id, fw.MUST, wsCaps,
				fmt.Sprintf("%s with the reserved opcode 0x%X fails the connection (1002).", upperFirst(what), op),
				"If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_.",
				spec, func(t *fw.T) {
					c := openFor(t, after) // after a valid text message, which must be accepted
					var frames []wsclient.Frame
					p := []byte(nil)
					if after {
						frames = append(frames, msg(ws.OpText, []byte("valid first")))
						p = []byte("reserved opcode payload")
					}
					frames = append(frames, msg(ws.OpCode(op), p))
					sendBad(c, chopAll, frames...)
					expectFail(t, c, failProtocol, fmt.Sprintf("opcode 0x%X", op))
				})
		}
	}
	return true
}()

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-32) + s[1:]
}

// Control frame rules (§5.5): at most 125 bytes, never fragmented. WS-CTRL-NNN.
var ctrlRows = []struct {
	id   int
	what string
	ab   string
	send func(c *wsclient.Conn)
}{
	{1, "a ping with a 126-byte payload", "2.5", func(c *wsclient.Conn) { sendBad(c, chopAll, msg(ws.OpPing, binaryPattern(126))) }},
	{2, "a pong with a 126-byte payload", "", func(c *wsclient.Conn) { sendBad(c, chopAll, msg(ws.OpPong, binaryPattern(126))) }},
	{3, "a close frame with a 124-byte reason (126-byte payload)", "7.3.6", func(c *wsclient.Conn) {
		sendBad(c, chopAll, msg(ws.OpClose, closePayload(1000, pattern(124))))
	}},
	// Fragmented control frames: only the first fragment (FIN clear) is sent, then the probe
	// ping; a continuation would fail a lax server anyway and hide the missing check.
	{4, "a ping with FIN clear (the first of 2 fragments)", "5.1", func(c *wsclient.Conn) {
		sendBad(c, chopAll, frame(false, ws.OpPing, []byte("frag")))
	}},
	{5, "a pong with FIN clear (the first of 2 fragments)", "5.2", func(c *wsclient.Conn) {
		sendBad(c, chopAll, frame(false, ws.OpPong, []byte("frag")))
	}},
	{6, "a close frame with FIN clear (the first of 2 fragments)", "", func(c *wsclient.Conn) {
		sendBad(c, chopAll, frame(false, ws.OpClose, closePayload(1000, []byte("frag"))))
	}},
	{7, "a ping header declaring 65536 bytes (fail on the header, without waiting for the payload)", "", func(c *wsclient.Conn) {
		b := wsclient.EncodeFrame(msg(ws.OpPing, pattern(65536)))
		_ = c.WriteRaw(b[:14+125])
	}},
}

var _ = func() bool {
	for _, r := range ctrlRows {
		r := r
		spec := "RFC 6455 §5.5"
		if r.ab != "" {
			spec += "; Autobahn " + r.ab
		}
		register(fmt.Sprintf("WS-CTRL-%03d", r.id), fw.MUST, wsCaps,
			upperFirst(r.what)+" fails the connection (1002).",
			"All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented.",
			spec, func(t *fw.T) {
				c := openPath(t)
				r.send(c)
				expectFail(t, c, failProtocol, r.what)
			})
	}
	return true
}()

// Unmasked client frames (§5.1): WS-FRAME-001 (text, in checks.go) and these.
var unmaskedRows = []struct {
	id   int
	what string
	send func(c *wsclient.Conn)
}{
	{4, "an unmasked ping", func(c *wsclient.Conn) { sendBad(c, chopAll, unmasked(msg(ws.OpPing, []byte("unmasked")))) }},
	{5, "an unmasked close frame", func(c *wsclient.Conn) { sendBad(c, chopAll, unmasked(msg(ws.OpClose, closePayload(1000, nil)))) }},
	{6, "an unmasked continuation frame in a fragmented message", func(c *wsclient.Conn) {
		sendBad(c, chopAll, frame(false, ws.OpText, []byte("masked ")), unmasked(frame(true, ws.OpContinuation, []byte("unmasked"))))
	}},
	{7, "an unmasked binary message", func(c *wsclient.Conn) { sendBad(c, chopAll, unmasked(msg(ws.OpBinary, binaryPattern(16)))) }},
}

func unmasked(f wsclient.Frame) wsclient.Frame { f.Masked = false; return f }

var _ = func() bool {
	for _, r := range unmaskedRows {
		r := r
		register(fmt.Sprintf("WS-FRAME-%03d", r.id), fw.MUST, wsCaps,
			upperFirst(r.what)+" from the client makes the server close the connection (with 1002, or by closing TCP).",
			"The server MUST close the connection upon receiving a frame that is not masked. In this case, a server MAY send a Close frame with a status code of 1002 (protocol error)",
			"RFC 6455 §5.1", func(t *fw.T) {
				c := openPath(t)
				r.send(c)
				expectFail(t, c, failProtocol, r.what)
			})
	}
	return true
}()
