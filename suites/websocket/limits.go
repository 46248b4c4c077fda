package websocket

import (
	"encoding/binary"
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Message size limits. WS-LIMIT-0NN run on websocket.path against the declared
// websocket.maxMessage; WS-LIMIT-1NN send large valid messages to the echo endpoint (Autobahn
// 9.x, at 1 MiB).

const tooBigQuote = "1009 indicates that an endpoint is terminating the connection because it has received a message that is too big for it to process."

// maxMessage returns the declared maximum, or ends the check as NOT_SUPPORTED.
func maxMessage(t *fw.T) int {
	m := t.Target().WebSocket.MaxMessage
	if m <= 0 {
		t.NotSupported("the profile declares no websocket.maxMessage")
	}
	if m > 64<<20 {
		t.NotSupported("websocket.maxMessage %d is above what the suite sends (64 MiB)", m)
	}
	return int(m)
}

var limitRows = []struct {
	id  int
	req string
	run func(t *fw.T, c *wsclient.Conn, max int)
}{
	{1, "A text message one byte above the declared maxMessage is refused with a close frame 1009 (not a silent drop, not a bare TCP close).", func(t *fw.T, c *wsclient.Conn, max int) {
		sendBad(c, chopAll, msg(ws.OpText, pattern(max+1)))
		expectFail(t, c, failTooBig, fmt.Sprintf("a %d-byte text message", max+1))
	}},
	{2, "A binary message one byte above the declared maxMessage is refused with a close frame 1009.", func(t *fw.T, c *wsclient.Conn, max int) {
		sendBad(c, chopAll, msg(ws.OpBinary, binaryPattern(max+1)))
		expectFail(t, c, failTooBig, fmt.Sprintf("a %d-byte binary message", max+1))
	}},
	{3, "A message fragmented into 1 KiB frames whose total is one byte above maxMessage is refused with a close frame 1009.", func(t *fw.T, c *wsclient.Conn, max int) {
		sendBad(c, chopAll, fragments(ws.OpBinary, binaryPattern(max+1), 1024)...)
		expectFail(t, c, failTooBig, fmt.Sprintf("a %d-byte message in 1 KiB fragments", max+1))
	}},
	{4, "A frame header declaring 2 GiB is refused with 1009 at once, without waiting for (or allocating) the payload.", func(t *fw.T, c *wsclient.Conn, max int) {
		hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		binary.BigEndian.PutUint64(hdr[2:10], 1<<31)
		sendRaw(c, append(hdr, make([]byte, 1024)...))
		expectFail(t, c, failTooBig, "a frame header declaring 2 GiB")
	}},
	{5, "A message of exactly maxMessage bytes, fragmented into 1 KiB frames, is accepted.", func(t *fw.T, c *wsclient.Conn, max int) {
		send(t, c, chopAll, fragments(ws.OpText, pattern(max), 1024)...)
		expectHealthy(t, c, fmt.Sprintf("a %d-byte message (the declared maximum)", max))
	}},
	{6, "A binary message of exactly maxMessage bytes in one frame is accepted.", func(t *fw.T, c *wsclient.Conn, max int) {
		send(t, c, chopAll, msg(ws.OpBinary, binaryPattern(max)))
		expectHealthy(t, c, fmt.Sprintf("a %d-byte message (the declared maximum)", max))
	}},
}

// sendRaw writes bytes the server may refuse (a write error is expected then).
func sendRaw(c *wsclient.Conn, b []byte) { _ = c.WriteRaw(b) }

// Large echoed messages: row i is WS-LIMIT-(101+i).
var largeRows = []struct {
	ab   string
	op   ws.OpCode
	size int // total bytes
	frag int // fragment size (0: one frame)
	chop int // write chop (0: one write)
}{
	{"9.1.3", ws.OpText, 1 << 20, 0, 0},
	{"9.2.3", ws.OpBinary, 1 << 20, 0, 0},
	{"9.3.3 at 1 MiB", ws.OpText, 1 << 20, 1 << 10, 0},
	{"9.4.6 at 1 MiB", ws.OpBinary, 1 << 20, 64 << 10, 0},
	{"9.3.1 at 1 MiB", ws.OpText, 1 << 20, 64, 0},
	{"9.4.2 at 1 MiB", ws.OpBinary, 1 << 20, 256, 0},
	{"9.5.5", ws.OpText, 1 << 20, 0, 1 << 10},
	{"9.6.6", ws.OpBinary, 1 << 20, 0, 2 << 10},
}

var _ = func() bool {
	for _, r := range limitRows {
		r := r
		register(fmt.Sprintf("WS-LIMIT-%03d", r.id), fw.MUST, wsCaps, r.req, tooBigQuote,
			"RFC 6455 §7.4.1, §10.4; the profile's websocket.maxMessage", func(t *fw.T) {
				max := maxMessage(t)
				r.run(t, openFor(t, r.id >= 5), max) // 5, 6: a message of maxMessage bytes is accepted
			})
	}
	for i, r := range largeRows {
		r := r
		how := "in one frame"
		if r.frag > 0 {
			how = fmt.Sprintf("in %d-byte fragments", r.frag)
		}
		if r.chop > 0 {
			how += fmt.Sprintf(", written in %d-byte chops", r.chop)
		}
		register(fmt.Sprintf("WS-LIMIT-%03d", 101+i), fw.SHOULD, echoCaps,
			fmt.Sprintf("The echo endpoint returns a 1 MiB %s message sent %s unchanged.", opName(r.op), how),
			"The length of the \"Payload data\" ... 7+64 bits ... a message MAY be fragmented into any number of frames",
			"RFC 6455 §5.2, §5.4; Autobahn "+r.ab, func(t *fw.T) {
				c := dialEcho(t)
				p := pattern(r.size)
				if r.op == ws.OpBinary {
					p = binaryPattern(r.size)
				}
				frames := []wsclient.Frame{msg(r.op, p)}
				if r.frag > 0 {
					frames = fragments(r.op, p, r.frag)
				}
				sendValid(t, c, r.chop, withinLimit(t, r.size, true), frames...)
				expectEcho(t, c, r.op, p)
			})
	}
	return true
}()
