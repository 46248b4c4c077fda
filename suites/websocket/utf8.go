package websocket

import (
	"encoding/hex"
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// UTF-8 in text messages (RFC 6455 §5.6, §8.1; Autobahn 6.x). IDs:
//
//	WS-UTF8-001..064  valid payloads of utf8Valid, one frame each: accepted
//	WS-UTF8-065..068  valid payloads in fragments split inside code points: accepted
//	WS-UTF8-5NN       echo variants of WS-UTF8-0NN
//	WS-UTF8-101..170  invalid payloads of utf8Invalid, one frame each: fail with 1007
//	WS-UTF8-201..205  invalid payloads across fragments or write chops: fail with 1007
//	WS-UTF8-301..304  fail-fast (SHOULD): fail as soon as the invalid byte arrives, before
//	                  the message is complete (Autobahn 6.4.x)

type utf8Row struct {
	ab  string // Autobahn case id
	hex string // the payload
}

func (r utf8Row) bytes() []byte {
	b, err := hex.DecodeString(r.hex)
	if err != nil {
		panic(err)
	}
	return b
}

const utf8Quote = "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."

// utf8Fragmented are valid texts sent as several fragments.
var utf8Fragmented = []struct {
	ab    string
	what  string
	texts [][]byte
}{
	{"6.2.2", "in 2 fragments split on a code point boundary", [][]byte{unhex("48656c6c6f2dc2b540c39fc3b6c3a4"), unhex("c3bcc3a0c3a12d5554462d382121")}},
	{"6.2.3", "in 1-byte fragments (split inside code points)", splitBytes(unhex("48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121"))},
	{"6.2.4", "\"κόσμε\" in 1-byte fragments", splitBytes(unhex("cebae1bdb9cf83cebcceb5"))},
	{"", "with a 4-byte code point split 2+2 across fragments", [][]byte{unhex("61f09f"), unhex("9880")}},
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func splitBytes(b []byte) [][]byte {
	var out [][]byte
	for i := range b {
		out = append(out, b[i:i+1])
	}
	return out
}

// textFragments turns texts into one fragmented text message.
func textFragments(texts [][]byte) []wsclient.Frame {
	var fs []wsclient.Frame
	for i, p := range texts {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		fs = append(fs, frame(i == len(texts)-1, op, p))
	}
	return fs
}

var _ = func() bool {
	for i, r := range utf8Valid {
		for _, echo := range []bool{false, true} {
			r, echo := r, echo
			id, req := i+1, fmt.Sprintf("A text message of valid UTF-8 (%s) is accepted: the connection stays open.", r.hex)
			if echo {
				id += 500
				req = fmt.Sprintf("The echo endpoint returns a valid UTF-8 text message (%s) unchanged.", r.hex)
			}
			register(fmt.Sprintf("WS-UTF8-%03d", id), fw.MUST, caps(echo), req,
				"The \"Payload data\" is text data encoded as UTF-8.", "RFC 6455 §5.6, §8.1; RFC 3629; Autobahn "+r.ab,
				func(t *fw.T) {
					c := openValid(t, echo)
					p := r.bytes()
					send(t, c, chopAll, msg(ws.OpText, p))
					accepted(t, c, echo, ws.OpText, p, fmt.Sprintf("the valid text %s", r.hex))
				})
		}
	}
	for i, r := range utf8Fragmented {
		for _, echo := range []bool{false, true} {
			r, echo := r, echo
			id, req := 65+i, "A valid UTF-8 text message "+r.what+" is accepted: the connection stays open."
			if echo {
				id += 500
				req = "The echo endpoint returns a valid UTF-8 text message sent " + r.what + " as the reassembled text."
			}
			spec := "RFC 6455 §5.4, §5.6, §8.1"
			if r.ab != "" {
				spec += "; Autobahn " + r.ab
			}
			register(fmt.Sprintf("WS-UTF8-%03d", id), fw.MUST, caps(echo), req,
				"The \"Payload data\" is text data encoded as UTF-8. Note that a particular text frame might include a partial UTF-8 sequence; however, the whole message MUST contain valid UTF-8.",
				spec, func(t *fw.T) {
					c := openValid(t, echo)
					send(t, c, chopAll, textFragments(r.texts)...)
					var whole []byte
					for _, p := range r.texts {
						whole = append(whole, p...)
					}
					accepted(t, c, echo, ws.OpText, whole, "a valid text message "+r.what)
				})
		}
	}
	for i, r := range utf8Invalid {
		r := r
		register(fmt.Sprintf("WS-UTF8-%03d", 101+i), fw.MUST, wsCaps,
			fmt.Sprintf("A text message that is not valid UTF-8 (%s) fails the connection (1007).", r.hex),
			utf8Quote, "RFC 6455 §8.1, §7.4.1; RFC 3629; Autobahn "+r.ab, func(t *fw.T) {
				c := openPath(t)
				sendBad(c, chopAll, msg(ws.OpText, r.bytes()))
				expectFail(t, c, failUTF8, fmt.Sprintf("the invalid text %s", r.hex))
			})
	}
	for _, r := range utf8InvalidSplit {
		r := r
		spec := "RFC 6455 §8.1, §5.6"
		if r.ab != "" {
			spec += "; Autobahn " + r.ab
		}
		register(fmt.Sprintf("WS-UTF8-%03d", r.id), fw.MUST, wsCaps,
			"A text message that is not valid UTF-8, sent "+r.what+", fails the connection (1007).",
			utf8Quote, spec, func(t *fw.T) {
				c := openPath(t)
				sendBad(c, r.chop, r.frames()...)
				expectFail(t, c, failUTF8, "an invalid text message sent "+r.what)
			})
	}
	for _, r := range utf8FailFast {
		r := r
		register(fmt.Sprintf("WS-UTF8-%03d", r.id), fw.SHOULD, wsCaps,
			"Invalid UTF-8 "+r.what+" fails the connection (1007) as soon as the invalid byte arrives, before the rest of the message.",
			utf8Quote+" (Autobahn: \"fail fast\" — the connection is failed at the first invalid octet.)",
			"RFC 6455 §8.1; Autobahn "+r.ab, func(t *fw.T) {
				c := openPath(t)
				p1, p2 := unhex(r.parts[0]), unhex(r.parts[1])
				whole := append(append(append([]byte{}, p1...), p2...), unhex(r.parts[2])...)
				if r.sameFrame {
					// One frame declaring the whole message; only its first two parts are
					// written, so the server can only fail by validating as bytes arrive.
					b := wsclient.EncodeFrame(msg(ws.OpText, whole))
					hdr := len(b) - len(whole)
					_ = c.WriteRaw(b[:hdr+len(p1)])
					_ = c.WriteRaw(b[hdr+len(p1) : hdr+len(p1)+len(p2)])
					judgeFail(t, await(t, c, failFastWait), failUTF8, "the invalid octets, with the frame's rest not yet sent")
					return
				}
				sendBad(c, chopFrame, frame(false, ws.OpText, p1), frame(false, ws.OpContinuation, p2))
				expectFail(t, c, failUTF8, "a fragment with the invalid octets, the message not finished")
			})
	}
	return true
}()

var utf8InvalidSplit = []struct {
	id     int
	ab     string
	what   string
	chop   int
	frames func() []wsclient.Frame
}{
	{201, "6.3.2", "in 1-byte fragments", chopAll, func() []wsclient.Frame {
		return textFragments(splitBytes(unhex("cebae1bdb9cf83cebcceb5eda080656469746564")))
	}},
	{202, "", "in 2 fragments, the last ending with a truncated code point", chopAll, func() []wsclient.Frame {
		return textFragments([][]byte{unhex("cebae1bdb9"), unhex("cf83cebcce")})
	}},
	{203, "", "in 2 fragments with a UTF-16 surrogate (ED A0 80) split across them", chopAll, func() []wsclient.Frame {
		return textFragments([][]byte{unhex("68656c6c6fed"), unhex("a080")})
	}},
	{204, "", "in 2 fragments, the first valid, the second with a 0xFF byte", chopAll, func() []wsclient.Frame {
		return textFragments([][]byte{unhex("68656c6c6f20"), unhex("776fff726c64")})
	}},
	{205, "6.3.1 (octet-wise)", "in one frame written byte by byte", chopOctet, func() []wsclient.Frame {
		return []wsclient.Frame{msg(ws.OpText, unhex("cebae1bdb9cf83cebcceb5eda080656469746564"))}
	}},
}

var utf8FailFast = []struct {
	id        int
	ab        string
	what      string
	parts     [3]string
	sameFrame bool
}{
	{301, "6.4.1", "in the 2nd of 3 fragments", [3]string{"cebae1bdb9cf83cebcceb5", "f4908080", "656469746564"}, false},
	{302, "6.4.2", "in the 2nd of 3 fragments, which is the single invalid octet", [3]string{"cebae1bdb9cf83cebcceb5f4", "90", "8080656469746564"}, false},
	{303, "6.4.3", "in the middle of one frame", [3]string{"cebae1bdb9cf83cebcceb5", "f4908080", "656469746564"}, true},
	{304, "6.4.4", "in the middle of one frame, at the single invalid octet", [3]string{"cebae1bdb9cf83cebcceb5f4", "90", "8080656469746564"}, true},
}
