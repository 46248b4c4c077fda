package websocket

import (
	"bytes"
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Ping and pong (RFC 6455 §5.5.2, §5.5.3; Autobahn 2.x). WS-PING-001..004 are in checks.go.

const pongQuote = "A Pong frame sent in response to a Ping frame must have identical \"Application data\" as found in the message body of the Ping frame being replied to."

// expectPongs reads n pongs and compares them, in order, with want.
func expectPongs(t *fw.T, c *wsclient.Conn, want [][]byte) {
	for i, w := range want {
		o := await(t, c, answerWait)
		if o.kind != "pong" {
			t.Violation(fmt.Sprintf("pong %d of %d with payload %q", i+1, len(want), w), o.String()+waited(o))
		}
		if !bytes.Equal(o.payload, w) {
			t.Violation(fmt.Sprintf("pong %d of %d with payload %q", i+1, len(want), w), fmt.Sprintf("payload %q", o.payload))
		}
	}
}

var pingRows = []struct {
	id  int
	ab  string
	req string
	run func(t *fw.T, c *wsclient.Conn)
}{
	{5, "2.2", "A ping with a short text payload is answered by a pong with the identical payload.", func(t *fw.T, c *wsclient.Conn) {
		p := []byte("Hello, world!")
		send(t, c, chopAll, msg(ws.OpPing, p))
		expectPongs(t, c, [][]byte{p})
	}},
	{6, "2.3", "A ping with a short binary payload (not UTF-8) is answered by a pong with the identical payload.", func(t *fw.T, c *wsclient.Conn) {
		p := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
		send(t, c, chopAll, msg(ws.OpPing, p))
		expectPongs(t, c, [][]byte{p})
	}},
	{7, "2.6", "A ping with a 125-byte payload written byte by byte is answered by a pong with the identical payload.", func(t *fw.T, c *wsclient.Conn) {
		p := binaryPattern(125)
		send(t, c, chopOctet, msg(ws.OpPing, p))
		expectPongs(t, c, [][]byte{p})
	}},
	{8, "2.7, 2.9", "An unsolicited empty pong is ignored, and a ping sent after it is answered with its payload.", func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpPong, nil), msg(ws.OpPing, []byte("ping after an unsolicited pong")))
		expectPongs(t, c, [][]byte{[]byte("ping after an unsolicited pong")})
	}},
	{9, "2.10", "Ten pings written at once are answered by ten pongs, in order, each with its ping's payload.", func(t *fw.T, c *wsclient.Conn) {
		frames, want := tenPings()
		send(t, c, chopAll, frames...)
		expectPongs(t, c, want)
	}},
	{10, "2.11", "Ten pings written byte by byte are answered by ten pongs, in order, each with its ping's payload.", func(t *fw.T, c *wsclient.Conn) {
		frames, want := tenPings()
		send(t, c, chopOctet, frames...)
		expectPongs(t, c, want)
	}},
}

func tenPings() ([]wsclient.Frame, [][]byte) {
	var frames []wsclient.Frame
	var want [][]byte
	for i := 1; i <= 10; i++ {
		p := fmt.Appendf(nil, "payload-%d", i)
		frames = append(frames, msg(ws.OpPing, p))
		want = append(want, p)
	}
	return frames, want
}

var _ = func() bool {
	for _, r := range pingRows {
		r := r
		register(fmt.Sprintf("WS-PING-%03d", r.id), fw.MUST, wsCaps, r.req, pongQuote, "RFC 6455 §5.5.2, §5.5.3; Autobahn "+r.ab,
			func(t *fw.T) { r.run(t, openPath(t)) })
	}
	return true
}()
