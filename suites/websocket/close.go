package websocket

import (
	"context"
	"errors"
	"fmt"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// The closing handshake (RFC 6455 §5.5.1, §7; Autobahn 7.x). WS-CLOSE-0NN: close frame rules;
// WS-CLOSE-1NN: every valid status code is answered with a close frame; WS-CLOSE-2NN: every
// status code that must not appear on the wire fails the connection (1002).

const closeQuote = "If an endpoint receives a Close frame and did not previously send a Close frame, the endpoint MUST send a Close frame in response. (When sending a Close frame in response, the endpoint typically echos the status code it received.)"

// validCloseCodes are the codes a client may send (Autobahn 7.7.x): row i is WS-CLOSE-(101+i).
var validCloseCodes = []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}

// invalidCloseCodes must never be sent (§7.4.1, §7.4.2; Autobahn 7.9.x, plus 1015): row i is
// WS-CLOSE-(201+i).
var invalidCloseCodes = []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015}

// awaitClose reads until the server's close frame (a violation if none comes).
func awaitClose(t *fw.T, c *wsclient.Conn, after string) outcome {
	o := await(t, c, answerWait)
	if o.kind != "close" {
		t.Violation("a close frame in response to "+after, o.String()+waited(o))
	}
	return o
}

// judgeReply accepts a close answer that echoes code, says 1000, or has no status.
func judgeReply(t *fw.T, o outcome, code int) {
	t.Measure("close answer", "%d %q", o.code, o.reason)
	if o.code != code && o.code != 1000 && o.code != 1005 {
		t.Violation(fmt.Sprintf("a close frame echoing %d (or 1000, or without status)", code), fmt.Sprintf("close code %d", o.code))
	}
}

// awaitTCPClose reads on after the close handshake: no frame may follow, and the server must
// close TCP.
func awaitTCPClose(t *fw.T, c *wsclient.Conn) {
	ctx, cancel := t.Within(tcpCloseWait)
	defer cancel()
	for {
		f, err := c.ReadFrame(ctx)
		if err == nil {
			t.Violation("nothing after the server's close frame", fmt.Sprintf("a %s frame (%d bytes)", opName(f.Op), f.Len))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if t.Context().Err() != nil {
				t.Harness("the check's time ran out")
			}
			t.Violation("the server closes the TCP connection after the close handshake", fmt.Sprintf("still open %s later", tcpCloseWait))
		}
		return
	}
}

var closeRows = []struct {
	id    int
	level fw.Level
	ab    string
	req   string
	quote string
	run   func(t *fw.T, c *wsclient.Conn)
}{
	{2, fw.MUST, "7.3.1", "A close frame without payload is answered with a close frame.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpClose, nil))
		judgeReply(t, awaitClose(t, c, "an empty close frame"), 1000)
	}},
	{3, fw.MUST, "7.3.2", "A close frame with a 1-byte payload fails the connection (1002).",
		"If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer (in network byte order) representing a status code", func(t *fw.T, c *wsclient.Conn) {
			sendBad(c, chopAll, msg(ws.OpClose, []byte{0x03}))
			expectFail(t, c, failProtocol, "a 1-byte close payload")
		}},
	{4, fw.MUST, "7.3.4", "A close frame with status 1000 and a reason is answered with a close frame.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpClose, closePayload(1000, []byte("Hello World!"))))
		judgeReply(t, awaitClose(t, c, "close 1000 \"Hello World!\""), 1000)
	}},
	{5, fw.MUST, "7.3.5", "A close frame with a reason of the maximum length (123 bytes) is answered with a close frame.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpClose, closePayload(1000, pattern(123))))
		judgeReply(t, awaitClose(t, c, "close 1000 with a 123-byte reason"), 1000)
	}},
	{6, fw.MUST, "7.5.1", "A close frame whose reason is not valid UTF-8 fails the connection (1002 or 1007).",
		"the body MAY contain UTF-8-encoded data with value /reason/ ... When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_.", func(t *fw.T, c *wsclient.Conn) {
			sendBad(c, chopAll, msg(ws.OpClose, closePayload(1000, unhex("cebae1bdb9cf83cebcceb5eda080656469746564"))))
			expectFail(t, c, failRule{codes: []int{1002, 1007}, tcp: true}, "a close reason that is not UTF-8")
		}},
	{7, fw.MUST, "7.1.1", "After the close handshake the server closes the TCP connection.",
		"After both sending and receiving a Close message, an endpoint considers the WebSocket connection closed and MUST close the underlying TCP connection.", func(t *fw.T, c *wsclient.Conn) {
			send(t, c, chopAll, msg(ws.OpClose, closePayload(1000, nil)))
			awaitClose(t, c, "close 1000")
			awaitTCPClose(t, c)
		}},
	{8, fw.MUST, "7.1.3, 7.1.4", "Frames after the client's close frame are not processed: a ping and a text message sent after it get no answer; the server's close frame is the last frame.",
		"After sending a Close frame, the application MUST NOT send any more data frames. ... The closing handshake is complete after the endpoint has both sent and received a Close frame", func(t *fw.T, c *wsclient.Conn) {
			send(t, c, chopAll, msg(ws.OpClose, closePayload(1000, nil)), msg(ws.OpPing, []byte("after close")), msg(ws.OpText, []byte("after close")))
			judgeReply(t, awaitClose(t, c, "close 1000"), 1000)
			awaitTCPClose(t, c)
		}},
	{9, fw.MUST, "7.1.2", "Two close frames in a row get one close frame in response, and nothing after it.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpClose, closePayload(1000, nil)), msg(ws.OpClose, closePayload(1001, nil)))
		judgeReply(t, awaitClose(t, c, "close 1000"), 1000)
		awaitTCPClose(t, c)
	}},
	{10, fw.MUST, "7.1.5", "A close frame inside a fragmented message is answered with a close frame, and the final fragment after it is ignored.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, frame(false, ws.OpText, []byte("fragment1")), msg(ws.OpClose, closePayload(1000, nil)), frame(true, ws.OpContinuation, []byte("fragment2")))
		judgeReply(t, awaitClose(t, c, "close 1000 inside a fragmented message"), 1000)
		awaitTCPClose(t, c)
	}},
	{11, fw.MUST, "7.1.1", "A text message followed by a close frame is answered with a close frame.", closeQuote, func(t *fw.T, c *wsclient.Conn) {
		send(t, c, chopAll, msg(ws.OpText, []byte("Hello World!")), msg(ws.OpClose, closePayload(1000, nil)))
		judgeReply(t, awaitClose(t, c, "a message then close 1000"), 1000)
	}},
}

var _ = func() bool {
	for _, r := range closeRows {
		r := r
		register(fmt.Sprintf("WS-CLOSE-%03d", r.id), r.level, wsCaps, r.req, r.quote, "RFC 6455 §5.5.1, §7; Autobahn "+r.ab,
			func(t *fw.T) { r.run(t, openFor(t, r.id == 11)) }) // 11 sends a text message first
	}
	register("WS-CLOSE-511", fw.MUST, echoCaps, "The echo endpoint echoes a text message sent right before a close frame, then answers the close.",
		closeQuote, "RFC 6455 §5.5.1, §7; Autobahn 7.1.1", func(t *fw.T) {
			c := dialEcho(t)
			send(t, c, chopAll, msg(ws.OpText, []byte("Hello World!")), msg(ws.OpClose, closePayload(1000, nil)))
			expectEcho(t, c, ws.OpText, []byte("Hello World!"))
			judgeReply(t, awaitClose(t, c, "a message then close 1000"), 1000)
		})
	for i, code := range validCloseCodes {
		code := code
		ab := fmt.Sprintf("7.7.%d", i+1)
		register(fmt.Sprintf("WS-CLOSE-%03d", 101+i), fw.MUST, wsCaps,
			fmt.Sprintf("A close frame with the valid status code %d is answered with a close frame (echoing %d, or 1000).", code, code),
			closeQuote, "RFC 6455 §5.5.1, §7.4; Autobahn "+ab, func(t *fw.T) {
				c := openPath(t)
				send(t, c, chopAll, msg(ws.OpClose, closePayload(code, nil)))
				judgeReply(t, awaitClose(t, c, fmt.Sprintf("close %d", code)), code)
			})
	}
	for i, code := range invalidCloseCodes {
		code := code
		ab := "Autobahn 7.9." + fmt.Sprint(i+1)
		if code == 1015 {
			ab = "1015 is reserved for TLS failures"
		}
		register(fmt.Sprintf("WS-CLOSE-%03d", 201+i), fw.MUST, wsCaps,
			fmt.Sprintf("A close frame with the status code %d, which must not be sent, fails the connection (1002).", code),
			"1005 is a reserved value and MUST NOT be set as a status code in a Close control frame by an endpoint. ... 0-999 Status codes in the range 0-999 are not used.",
			"RFC 6455 §7.4.1, §7.4.2; "+ab, func(t *fw.T) {
				c := openPath(t)
				sendBad(c, chopAll, msg(ws.OpClose, closePayload(code, nil)))
				expectFail(t, c, failProtocol, fmt.Sprintf("close code %d", code))
			})
	}
	return true
}()

// validWireCode reports whether a server may send code in a close frame.
func validWireCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}
