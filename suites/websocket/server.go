package websocket

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Server-to-client framing (RFC 6455 §5.1, §5.2, §5.5, §7.4), WS-SERVER-NNN, and the close
// code on shutdown, WS-LIFE-001. The SERVER checks read raw frames, so each judges only its
// own rule.

// subscribeWait lets a target finish subscribing a new connection before the check publishes
// (the reference subscribes before its 101; other servers may do it afterwards).
const subscribeWait = 100 * time.Millisecond

// publishAndRead publishes payloads and returns the raw frames received until as many final
// data frames have arrived (server pings are answered), then the pongs of a 0- and a 125-byte
// ping.
func publishAndRead(t *fw.T, payloads ...[]byte) []wsclient.Frame {
	c, _ := dial(t, "")
	time.Sleep(subscribeWait)
	for _, p := range payloads {
		t.Publish(p)
	}
	ctx, cancel := t.Within(answerWait)
	defer cancel()
	var frames []wsclient.Frame
	for done := 0; done < len(payloads); {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			t.Violation(fmt.Sprintf("%d event messages", len(payloads)), fmt.Sprintf("%d, then %s", done, describe(err, answerWait)))
		}
		frames = append(frames, f)
		switch {
		case f.Op == ws.OpPing:
			_ = c.WriteFrame(frame(true, ws.OpPong, f.Payload))
		case f.Op == ws.OpClose:
			t.Violation(fmt.Sprintf("%d event messages", len(payloads)), fmt.Sprintf("a close frame %q", f.Payload))
		case !f.Op.IsControl() && f.Fin:
			done++
		}
	}
	for _, n := range []int{0, 125} {
		send(t, c, chopAll, msg(ws.OpPing, binaryPattern(n)))
		for {
			f, err := c.ReadFrame(ctx)
			if err != nil {
				t.Violation("a pong", describe(err, answerWait))
			}
			frames = append(frames, f)
			if f.Op == ws.OpPong {
				break
			}
		}
	}
	return frames
}

// eventPayloads are published by the SERVER checks: short, multi-byte UTF-8, and sizes that
// need the 16-bit and the 64-bit length encodings.
func eventPayloads(t *fw.T) [][]byte {
	return [][]byte{
		t.Payload(1),
		[]byte(string(t.Payload(2)) + " é ✓ κόσμε 😀 \u2028"),
		append(t.Payload(3), strings.Repeat("x", 300)...),
		append(t.Payload(4), strings.Repeat("y", 70000)...),
	}
}

func frameDesc(f wsclient.Frame) string {
	return fmt.Sprintf("a %s frame (fin=%v rsv=%03b masked=%v, %d bytes)", opName(f.Op), f.Fin, f.Rsv, f.Masked, f.Len)
}

var serverRows = []struct {
	id    int
	req   string
	quote string
	spec  string
	judge func(t *fw.T, frames []wsclient.Frame)
}{
	{1, "The server's frames (events, pongs) are not masked.", "A server MUST NOT mask any frames that it sends to the client.", "RFC 6455 §5.1",
		func(t *fw.T, frames []wsclient.Frame) {
			for _, f := range frames {
				if f.Masked {
					t.Violation("unmasked frames", frameDesc(f))
				}
			}
		}},
	{2, "The server's frames have RSV bits 0 (no extension was negotiated).", "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is negotiated that defines meanings for non-zero values.", "RFC 6455 §5.2",
		func(t *fw.T, frames []wsclient.Frame) {
			for _, f := range frames {
				if f.Rsv != 0 {
					t.Violation("RSV bits 000", frameDesc(f))
				}
			}
		}},
	{3, "The server's text messages (events with multi-byte characters) are valid UTF-8.", "The \"Payload data\" is text data encoded as UTF-8.", "RFC 6455 §5.6, §8.1",
		func(t *fw.T, frames []wsclient.Frame) {
			var text []byte
			inText := false
			for _, f := range frames {
				switch {
				case f.Op == ws.OpText:
					text, inText = append([]byte{}, f.Payload...), true
				case f.Op == ws.OpContinuation && inText:
					text = append(text, f.Payload...)
				default:
					continue
				}
				if f.Fin {
					inText = false
					if !utf8.Valid(text) {
						t.Violation("valid UTF-8 text messages", fmt.Sprintf("a text message %s", preview(text)))
					}
				}
			}
		}},
	{4, "The server encodes every payload length with the minimal number of bytes.", "In all cases, the minimal number of bytes MUST be used to encode the length, for example, the length of a 124-byte-long string can't be encoded as the sequence 126, 0, 124.", "RFC 6455 §5.2",
		func(t *fw.T, frames []wsclient.Frame) {
			for _, f := range frames {
				if f.NonMinimalLength {
					t.Violation("minimal length encodings", frameDesc(f)+" with a longer length encoding than needed")
				}
			}
		}},
}

var _ = func() bool {
	for _, r := range serverRows {
		r := r
		register(fmt.Sprintf("WS-SERVER-%03d", r.id), fw.MUST, publishCaps, r.req, r.quote, r.spec, func(t *fw.T) {
			frames := publishAndRead(t, eventPayloads(t)...)
			t.Measure("frames", "%d", len(frames))
			r.judge(t, frames)
		})
	}
	register("WS-SERVER-005", fw.MUST, wsCaps,
		"The server's control frames are final and at most 125 bytes, and its close frame carries a status code that may be sent and a UTF-8 reason (checked on the pong of a 125-byte ping and on the close after a protocol error).",
		"All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented.", "RFC 6455 §5.5, §7.4",
		func(t *fw.T) {
			c := openPath(t)
			send(t, c, chopAll, msg(ws.OpPing, binaryPattern(125)))
			sendBad(c, chopAll, msg(ws.OpCode(0x3), []byte("reserved opcode")))
			ctx, cancel := t.Within(answerWait)
			defer cancel()
			for {
				f, err := c.ReadFrame(ctx)
				if err != nil {
					// A TCP close leaves no close frame to judge (allowed); a server that
					// ignores the reserved opcode sends none either — the WS-OPCODE group
					// judges that, this check only judges the frames that did come.
					return
				}
				if !f.Op.IsControl() {
					continue
				}
				if !f.Fin || f.Len > 125 {
					t.Violation("final control frames of at most 125 bytes", frameDesc(f))
				}
				if f.Op != ws.OpClose {
					continue
				}
				if len(f.Payload) == 1 {
					t.Violation("a close frame with a 2-byte status code", "a 1-byte close payload")
				}
				if len(f.Payload) >= 2 {
					code := int(binary.BigEndian.Uint16(f.Payload))
					t.Measure("close", "%d %q", code, f.Payload[2:])
					if !validWireCode(code) {
						t.Violation("a status code that may be sent (1000–1003, 1007–1014, 3000–4999)", fmt.Sprintf("close code %d", code))
					}
					if !utf8.Valid(f.Payload[2:]) {
						t.Violation("a UTF-8 close reason", fmt.Sprintf("%x", f.Payload[2:]))
					}
				}
				return
			}
		})
	register("WS-LIFE-001", fw.MUST, []fw.Capability{fw.CapWebSocket, fw.CapRestart},
		"When the server shuts down (restart), an open WebSocket gets a close frame 1001 (going away) or 1012 (service restart), not just a dropped TCP connection (1006).",
		"1001 indicates that an endpoint is \"going away\", such as a server going down",
		"RFC 6455 §7.4.1; IANA WebSocket close codes (1012)", func(t *fw.T) {
			c := openPath(t)
			got := make(chan outcome, 1)
			go func() {
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				for {
					f, err := c.ReadFrame(ctx)
					if err != nil {
						got <- outcome{kind: "tcp"}
						return
					}
					switch f.Op {
					case ws.OpPing:
						_ = c.WriteFrame(frame(true, ws.OpPong, f.Payload))
					case ws.OpClose:
						ce := wsclient.ParseClose(f.Payload)
						if len(f.Payload) >= 2 {
							_ = c.WriteFrame(frame(true, ws.OpClose, f.Payload[:2]))
						}
						got <- outcome{kind: "close", code: ce.Code, reason: ce.Reason}
						// Let the server close TCP first (§7.1.1), then close ours.
						for {
							if _, err := c.ReadFrame(ctx); err != nil {
								_ = c.Close()
								return
							}
						}
					}
				}
			}()
			t.Restart()
			var o outcome
			select {
			case o = <-got:
			case <-time.After(answerWait):
				o = outcome{kind: "timeout"}
			}
			if o.kind == "close" {
				t.Measure("close", "%d %q", o.code, o.reason)
			}
			if o.kind != "close" || (o.code != 1001 && o.code != 1012) {
				t.Violation("a close frame 1001 or 1012 on shutdown", o.String()+waited(o))
			}
		})
	return true
}()
