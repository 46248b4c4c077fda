package websocket

import (
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Fragmentation (RFC 6455 §5.4, Autobahn 5.x and 6.1). WS-FRAG-0NN: valid fragmented messages,
// accepted (echo variant +500); WS-FRAG-1NN: invalid fragment sequences, fail with 1002.

// step is a part of what a fragmentation check sends: frames written with a chop, then
// optionally a ping whose pong must come back while the message is still open.
type step struct {
	frames   []wsclient.Frame
	pingNext bool
}

var fragValid = []struct {
	id    int
	ab    string
	what  string
	op    ws.OpCode
	chop  int
	steps func() []step
}{
	{1, "5.3", "a text message in 2 fragments", ws.OpText, chopAll, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpContinuation, []byte("fragment2"))}}}
	}},
	{2, "5.4", "a text message in 2 fragments, written frame by frame", ws.OpText, chopFrame, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpContinuation, []byte("fragment2"))}}}
	}},
	{3, "5.5", "a text message in 2 fragments, written byte by byte", ws.OpText, chopOctet, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpContinuation, []byte("fragment2"))}}}
	}},
	{4, "5.6", "a text message in 2 fragments with a ping in between", ws.OpText, chopAll, pingBetween},
	{5, "5.7", "a text message in 2 fragments with a ping in between, written frame by frame", ws.OpText, chopFrame, pingBetween},
	{6, "5.8", "a text message in 2 fragments with a ping in between, written byte by byte", ws.OpText, chopOctet, pingBetween},
	{7, "5.19, 5.20", "a text message in 5 fragments with pings after the 2nd and the 4th", ws.OpText, chopFrame, func() []step {
		return []step{
			{frames: []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(false, ws.OpContinuation, []byte("fragment2")), frame(true, ws.OpPing, []byte("pongme 1!"))}, pingNext: true},
			{frames: []wsclient.Frame{frame(false, ws.OpContinuation, []byte("fragment3")), frame(false, ws.OpContinuation, []byte("fragment4")), frame(true, ws.OpPing, []byte("pongme 2!"))}, pingNext: true},
			{frames: []wsclient.Frame{frame(true, ws.OpContinuation, []byte("fragment5"))}},
		}
	}},
	{8, "5.3 (binary)", "a binary message in 2 fragments", ws.OpBinary, chopAll, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpBinary, []byte{0xff, 0}), frame(true, ws.OpContinuation, []byte{0x80, 1})}}}
	}},
	{9, "6.1.2", "a text message of 3 empty fragments", ws.OpText, chopAll, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpText, nil), frame(false, ws.OpContinuation, nil), frame(true, ws.OpContinuation, nil)}}}
	}},
	{10, "6.1.3", "a text message of 3 fragments, the first and last empty", ws.OpText, chopAll, func() []step {
		return []step{{frames: []wsclient.Frame{frame(false, ws.OpText, nil), frame(false, ws.OpContinuation, []byte("middle frame payload")), frame(true, ws.OpContinuation, nil)}}}
	}},
	{11, "", "a 1000-byte text message in 1000 one-byte fragments", ws.OpText, chopAll, func() []step {
		return []step{{frames: fragments(ws.OpText, pattern(1000), 1)}}
	}},
	{12, "", "a 65536-byte binary message in 64 fragments of 1 KiB", ws.OpBinary, chopAll, func() []step {
		return []step{{frames: fragments(ws.OpBinary, binaryPattern(65536), 1024)}}
	}},
}

func pingBetween() []step {
	return []step{
		{frames: []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpPing, []byte("ping payload"))}, pingNext: true},
		{frames: []wsclient.Frame{frame(true, ws.OpContinuation, []byte("fragment2"))}},
	}
}

// payloadOf reassembles the data payload of steps.
func payloadOf(steps []step) []byte {
	var p []byte
	for _, s := range steps {
		for _, f := range s.frames {
			if !f.Op.IsControl() {
				p = append(p, f.Payload...)
			}
		}
	}
	if p == nil {
		p = []byte{}
	}
	return p
}

var _ = func() bool {
	for _, r := range fragValid {
		for _, echo := range []bool{false, true} {
			r, echo := r, echo
			id := r.id
			req := upperFirst(r.what) + " is accepted: the connection stays open (a ping sent next is answered)."
			if echo {
				id += 500
				req = "The echo endpoint returns " + r.what + " as the reassembled message."
			}
			for _, s := range r.steps() {
				if s.pingNext {
					req += " A ping inside the message is answered before the message ends."
					break
				}
			}
			spec := "RFC 6455 §5.4"
			if r.ab != "" {
				spec += "; Autobahn " + r.ab
			}
			register(fmt.Sprintf("WS-FRAG-%03d", id), fw.MUST, caps(echo), req,
				"Control frames (see Section 5.5) MAY be injected in the middle of a fragmented message. ... An endpoint MUST be capable of handling control frames in the middle of a fragmented message.",
				spec, func(t *fw.T) {
					c := openValid(t, echo)
					steps := r.steps()
					total := payloadOf(steps)
					over := withinLimit(t, len(total), echo)
					for _, s := range steps {
						sendValid(t, c, r.chop, over, s.frames...)
						if s.pingNext {
							ping := s.frames[len(s.frames)-1].Payload
							// Any pong counts here: pong payloads are judged by WS-PING-*.
							if o := await(t, c, midMessageWait); o.kind != "pong" {
								t.Violation(fmt.Sprintf("a pong to the ping %q while the fragmented message is still open", ping), o.String()+waitedFor(o, midMessageWait))
							}
						}
					}
					accepted(t, c, echo, r.op, total, r.what)
				})
		}
	}
	return true
}()

var fragInvalid = []struct {
	id     int
	ab     string
	what   string
	chop   int
	frames func() []wsclient.Frame
}{
	{101, "5.9", "a continuation frame (FIN set) with nothing to continue, then a text message", chopAll, contThenText(true)},
	{102, "5.10", "a continuation frame (FIN set) with nothing to continue, then a text message, written frame by frame", chopFrame, contThenText(true)},
	{103, "5.11", "a continuation frame (FIN set) with nothing to continue, then a text message, written byte by byte", chopOctet, contThenText(true)},
	{104, "5.12", "a continuation frame (FIN clear) with nothing to continue, then a text message", chopAll, contThenText(false)},
	{105, "5.13", "a continuation frame (FIN clear) with nothing to continue, then a text message, written frame by frame", chopFrame, contThenText(false)},
	{106, "5.14", "a continuation frame (FIN clear) with nothing to continue, then a text message, written byte by byte", chopOctet, contThenText(false)},
	{107, "5.15", "a text message in 2 fragments, then a continuation frame with nothing to continue", chopAll, func() []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpContinuation, []byte("fragment2")),
			frame(false, ws.OpContinuation, []byte("fragment3")), frame(true, ws.OpText, []byte("fragment4"))}
	}},
	{108, "5.16", "twice: a continuation frame (FIN clear) with nothing to continue, then a text message in 2 fragments", chopAll, func() []wsclient.Frame {
		var fs []wsclient.Frame
		for range 2 {
			fs = append(fs, frame(false, ws.OpContinuation, []byte("fragment1")), frame(false, ws.OpText, []byte("fragment2")), frame(true, ws.OpContinuation, []byte("fragment3")))
		}
		return fs
	}},
	{109, "5.17", "twice: a continuation frame (FIN set) with nothing to continue, then a text message in 2 fragments", chopAll, func() []wsclient.Frame {
		var fs []wsclient.Frame
		for range 2 {
			fs = append(fs, frame(true, ws.OpContinuation, []byte("fragment1")), frame(false, ws.OpText, []byte("fragment2")), frame(true, ws.OpContinuation, []byte("fragment3")))
		}
		return fs
	}},
	{110, "5.18", "a text fragment followed by a second text frame instead of a continuation", chopAll, func() []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpText, []byte("fragment2"))}
	}},
	{111, "", "a text fragment followed by a binary frame instead of a continuation", chopAll, func() []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), frame(true, ws.OpBinary, []byte("fragment2"))}
	}},
	{112, "", "a binary fragment followed by a text fragment and a continuation", chopAll, func() []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpBinary, []byte("fragment1")), frame(false, ws.OpText, []byte("fragment2")), frame(true, ws.OpContinuation, []byte("fragment3"))}
	}},
	{113, "", "a text fragment, a ping, then a new text frame instead of a continuation", chopAll, func() []wsclient.Frame {
		return []wsclient.Frame{frame(false, ws.OpText, []byte("fragment1")), msg(ws.OpPing, nil), frame(true, ws.OpText, []byte("fragment2"))}
	}},
}

func contThenText(fin bool) func() []wsclient.Frame {
	return func() []wsclient.Frame {
		return []wsclient.Frame{frame(fin, ws.OpContinuation, []byte("non-continuation payload")), msg(ws.OpText, []byte("Hello, world!"))}
	}
}

var _ = func() bool {
	for _, r := range fragInvalid {
		r := r
		spec := "RFC 6455 §5.4, §7.1.7"
		if r.ab != "" {
			spec += "; Autobahn " + r.ab
		}
		register(fmt.Sprintf("WS-FRAG-%03d", r.id), fw.MUST, wsCaps,
			upperFirst(r.what)+" fails the connection (1002).",
			"A fragmented message consists of a single frame with the FIN bit clear and an opcode other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0, and terminated by a single frame with the FIN bit set and an opcode of 0.",
			spec, func(t *fw.T) {
				c := openFor(t, r.id == 107) // 107 sends a valid message first
				frames := r.frames()
				if r.id == 113 {
					// The ping inside the message is valid and answered first.
					send(t, c, chopAll, frames[:2]...)
					if o := await(t, c, midMessageWait); o.kind != "pong" {
						t.Violation("a pong to the ping inside the fragmented message", o.String()+waitedFor(o, midMessageWait))
					}
					frames = frames[2:]
				}
				sendBad(c, r.chop, frames...)
				expectFail(t, c, failProtocol, r.what)
			})
	}
	return true
}()
