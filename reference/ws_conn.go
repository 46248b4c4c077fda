package reference

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close status codes sent by the reference (RFC 6455 §7.4.1; 1013 from the IANA registry).
const (
	closeNormal       = 1000
	closeGoingAway    = 1001
	closeProtocol     = 1002
	closeInvalidData  = 1007
	closeTooBig       = 1009
	closeTryAgain     = 1013
	closeNoStatusRcvd = 1005 // never on the wire: "no status code in the close frame"
)

// wsLinger bounds how long a closing connection waits for the client to close TCP after the
// server half-closed it (so that the client reads the close frame before any reset).
const wsLinger = 2 * time.Second

var errCloseSent = errors.New("reference: close frame already sent")

// wsClosed ends the read loop: the close handshake happened, or the server failed the
// connection (RFC 6455 §7.1.7) with Code.
type wsClosed struct {
	Code   int
	Reason string
	Failed bool // the server failed the connection (a protocol violation by the client)
}

func (e *wsClosed) Error() string {
	if e.Failed {
		return fmt.Sprintf("reference: websocket failed with %d: %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("reference: websocket closed by the client (%d %q)", e.Code, e.Reason)
}

// wsConn is the server side of one RFC 6455 connection, written for strictness: every client
// frame is validated as it arrives (masking, RSV bits, opcodes, control frame rules,
// fragmentation, UTF-8 of text messages byte by byte, the read limit from the frame header,
// close payloads), and a violation fails the connection at once with the status code of
// §7.4.1 (1002, 1007, 1009), after which nothing else is processed. Writes are whole frames,
// serialized, each within the write timeout; nothing is written after a close frame.
type wsConn struct {
	nc     net.Conn
	br     *bufio.Reader
	faults WSFaults
	limit  int64
	wto    time.Duration

	wmu       sync.Mutex
	closeSent bool
	hdr       [14]byte    // the header of the frame being written (guarded by wmu)
	iov       [2][]byte   // its header and payload (guarded by wmu)
	bufs      net.Buffers // iov as written (guarded by wmu)

	pmu   sync.Mutex
	pings map[string]chan struct{} // payloads of the server's pings awaiting a pong
	// lastRead is when the read loop last read a frame header (Unix nanoseconds): a client
	// whose frames keep arriving is alive while its pong waits behind them (Ping).
	lastRead atomic.Int64

	// Read buffers of the read loop: small payloads (control frames) and, from the first
	// larger frame on, 32 KiB chunks.
	ctlBuf  [125]byte
	dataBuf []byte
}

// writeFrame writes one final frame, unmasked with RSV 0.
func (c *wsConn) writeFrame(op byte, p []byte) error { return c.writeFrameBits(op, p, 0, false) }

// writeFrameBits writes one final frame with the given RSV bits, masked if mask (only
// faults use either). An unmasked frame is written without allocating: its header is built in
// the connection's own buffer, under the write lock.
func (c *wsConn) writeFrameBits(op byte, p []byte, rsv byte, mask bool) error {
	b0 := 0x80 | rsv<<4 | op
	if mask {
		hdr := appendFrameHeader(make([]byte, 0, 14), b0, len(p), c.faults.NonMinimalLength)
		hdr[1] |= 0x80
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		hdr = append(hdr, key[:]...)
		q := make([]byte, len(p))
		for i := range p {
			q[i] = p[i] ^ key[i&3]
		}
		return c.writeParts(op, hdr, q)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWrite(op); err != nil {
		return err
	}
	c.iov = [2][]byte{appendFrameHeader(c.hdr[:0], b0, len(p), c.faults.NonMinimalLength), p}
	c.bufs = c.iov[:]
	_, err := c.bufs.WriteTo(c.nc)
	c.iov = [2][]byte{} // keep no reference to p
	return err
}

// appendFrameHeader appends an unmasked frame header: the first byte b0 (FIN, RSV, opcode)
// and the payload length n in the shortest form (the 16-bit form for n < 126 if nonMinimal).
func appendFrameHeader(b []byte, b0 byte, n int, nonMinimal bool) []byte {
	switch {
	case n < 126 && !nonMinimal:
		return append(b, b0, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, b0, 127), uint64(n))
	}
}

// beginWrite prepares a write of a frame of opcode op: it fails after a close frame was sent,
// notes a close frame and sets the write deadline. Callers hold wmu.
func (c *wsConn) beginWrite(op byte) error {
	if c.closeSent && !c.faults.OpenAfterClose {
		return errCloseSent
	}
	if op == opClose {
		c.closeSent = true
	}
	return c.nc.SetWriteDeadline(time.Now().Add(c.wto))
}

// writeParts writes one whole frame of opcode op, hdr followed by p (hdr may be nil), within
// the write timeout, unless a close frame was sent before. Both are only read: they may be
// shared with other connections.
func (c *wsConn) writeParts(op byte, hdr, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWrite(op); err != nil {
		return err
	}
	if hdr == nil {
		_, err := c.nc.Write(p) // one write and no allocation for a shared frame
		return err
	}
	bufs := net.Buffers{hdr, p}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// writeClose sends a close frame: code and reason (cut to 123 bytes on a rune boundary), or
// no payload at all for closeNoStatusRcvd.
func (c *wsConn) writeClose(code int, reason string) error {
	if code == closeNoStatusRcvd {
		return c.writeFrame(opClose, nil)
	}
	for len(reason) > 123 && !c.faults.LongCloseReason {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return c.writeFrame(opClose, append(p, reason...))
}

// WriteEvent writes one event as a text message.
func (c *wsConn) WriteEvent(b []byte) error {
	f := c.faults
	if f.EventLatin1 {
		var l []byte
		for _, r := range string(b) {
			if r > 0xFF {
				r = '?'
			}
			l = append(l, byte(r))
		}
		b = l
	}
	var rsv byte
	if f.EventRSV1 {
		rsv = 4
	}
	return c.writeFrameBits(opText, b, rsv, f.EventMasked)
}

// wsEventFrame is the whole frame of an event's text message (wire.NewWSEvent): server
// frames are unmasked, so header and payload are the same bytes for every connection. It is
// built once per event and written unchanged to every subscriber.
var wsEventFrame = eventlog.NewEncoding(func(ev eventlog.Event) []byte {
	js, _ := wire.Marshal(wire.NewWSEvent(ev)) // a struct of strings always encodes
	return append(appendFrameHeader(make([]byte, 0, 10+len(js)), 0x80|opText, len(js), false), js...)
})

// WriteLogEvent writes the text message of ev: the shared frame of wsEventFrame, or a frame
// of this connection's own when a fault changes the event frames.
func (c *wsConn) WriteLogEvent(ev eventlog.Event) error {
	if f := c.faults; f.EventLatin1 || f.EventRSV1 || f.EventMasked || f.NonMinimalLength {
		b, err := wire.Marshal(wire.NewWSEvent(ev))
		if err != nil {
			return err
		}
		return c.WriteEvent(b)
	}
	return c.writeParts(opText, nil, wsEventFrame.Of(ev))
}

// Close starts the close handshake with code and reason; the read loop completes it.
func (c *wsConn) Close(code int, reason string) error { return c.writeClose(code, reason) }

// Ping sends a ping with payload and waits for the pong carrying it, at most wait after the
// ping or after the last frame read from the client, whichever is later: a pong queued behind
// a large message the server is still reading (1 MiB in 64-byte fragments on a loaded
// machine) is not a dead client, a client that sends nothing and answers nothing is.
func (c *wsConn) Ping(ctx context.Context, payload string, wait time.Duration) error {
	ch := make(chan struct{}, 1)
	c.pmu.Lock()
	c.pings[payload] = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.pings, payload)
		c.pmu.Unlock()
	}()
	if err := c.writeFrame(opPing, []byte(payload)); err != nil {
		return err
	}
	sent := time.Now()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no pong for ping %q: %w", payload, ctx.Err())
		case <-timer.C:
			last := time.Unix(0, c.lastRead.Load())
			if left := time.Until(last.Add(wait)); last.After(sent) && left > 0 {
				timer.Reset(left)
				continue
			}
			return fmt.Errorf("no pong for ping %q and no frame from the client within %s", payload, wait)
		}
	}
}

// CloseNow closes the TCP connection.
func (c *wsConn) CloseNow() error { return c.nc.Close() }

// Serve reads frames until the connection ends, calling onMessage (if not nil) with every
// complete data message, then closes the connection: after a close frame was exchanged it
// half-closes TCP and waits (at most wsLinger) for the client to close its side. The error
// is a *wsClosed after a close handshake or a failure, else the I/O error.
func (c *wsConn) Serve(onMessage func(op byte, msg []byte) error) error {
	err := c.readFrames(onMessage)
	c.linger()
	return err
}

func (c *wsConn) linger() {
	c.wmu.Lock()
	sent := c.closeSent
	c.wmu.Unlock()
	if sent {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(wsLinger))
		_, _ = io.Copy(io.Discard, c.br)
	}
	_ = c.nc.Close()
}

// fail fails the connection (RFC 6455 §7.1.7): a close frame with code, then no more frames.
func (c *wsConn) fail(code int, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if c.faults.LongCloseReason {
		reason += ": the frame was refused by the WebSocket protocol parser of this server; see the server log for the frame header, the connection id and the stack trace"
	}
	_ = c.writeClose(code, reason)
	return &wsClosed{Code: code, Reason: reason, Failed: true}
}

// frameHeader is one decoded frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     byte
	masked bool
	length int64
	key    [4]byte
}

func (c *wsConn) readHeader() (frameHeader, error) {
	var b [14]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return frameHeader{}, err
	}
	h := frameHeader{fin: b[0]&0x80 != 0, rsv: (b[0] >> 4) & 7, op: b[0] & 0xF, masked: b[1]&0x80 != 0}
	n := int64(b[1] & 0x7F)
	ext := 0
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if h.masked {
		ext += 4
	}
	if _, err := io.ReadFull(c.br, b[2:2+ext]); err != nil {
		return frameHeader{}, unexpectedEOF(err)
	}
	rest := b[2 : 2+ext]
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		u := binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		if u>>63 != 0 {
			h.length = -1
			return h, nil
		}
		n = int64(u)
	}
	h.length = n
	copy(h.key[:], rest)
	return h, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readPayload reads n payload bytes as they arrive (not waiting for the whole frame), unmasks
// them and passes each chunk to sink; a sink error stops the read.
func (c *wsConn) readPayload(h frameHeader, sink func([]byte) error) error {
	buf := c.ctlBuf[:]
	if h.length > int64(len(buf)) {
		if c.dataBuf == nil { // allocated at the first large frame: an idle connection has none
			c.dataBuf = make([]byte, 32<<10)
		}
		buf = c.dataBuf
	}
	pos := 0
	for remaining := h.length; remaining > 0; {
		k, err := c.br.Read(buf[:min(remaining, int64(len(buf)))])
		if k > 0 {
			chunk := buf[:k]
			if h.masked {
				for i := range chunk {
					chunk[i] ^= h.key[(pos+i)&3]
				}
			}
			pos += k
			remaining -= int64(k)
			if serr := sink(chunk); serr != nil {
				return serr
			}
		}
		if err != nil {
			if remaining > 0 {
				return unexpectedEOF(err)
			}
			return nil
		}
	}
	return nil
}

func (c *wsConn) readFrames(onMessage func(op byte, msg []byte) error) error {
	f := c.faults
	var (
		inMsg    bool   // a fragmented message is open
		msgOp    byte   // its opcode
		msgLen   int64  // its size so far
		msg      []byte // its payload (kept for onMessage only)
		dropping bool   // DropOversize: discarding the open message
		utf      utf8Check
		pending  [][]byte // PongAfterMessage: pongs held until the message ends
		received bool     // a close frame was received (OpenAfterClose)
	)
	for {
		h, err := c.readHeader()
		c.lastRead.Store(time.Now().UnixNano())
		if err != nil {
			if received {
				return &wsClosed{Code: closeNormal}
			}
			return err
		}
		if h.length < 0 {
			return c.fail(closeProtocol, "64-bit payload length with the most significant bit set")
		}
		if !h.masked && !f.AcceptUnmasked {
			return c.fail(closeProtocol, "unmasked client frame")
		}
		if h.rsv != 0 && !f.IgnoreRSV {
			return c.fail(closeProtocol, "RSV bits %03b set without a negotiated extension", h.rsv)
		}
		switch h.op {
		case opContinuation:
			if !inMsg {
				if f.LaxFragments {
					if err := c.readPayload(h, func([]byte) error { return nil }); err != nil {
						return err
					}
					continue
				}
				return c.fail(closeProtocol, "continuation frame without a message to continue")
			}
		case opText, opBinary:
			if inMsg && !f.LaxFragments {
				return c.fail(closeProtocol, "new data frame inside a fragmented message")
			}
		case opClose, opPing, opPong:
			if h.length > 125 && !f.LaxControl {
				return c.fail(closeProtocol, "control frame with a %d-byte payload", h.length)
			}
			if !h.fin && !f.LaxControl {
				return c.fail(closeProtocol, "fragmented control frame")
			}
		default:
			if f.SkipReservedOpcodes {
				if err := c.readPayload(h, func([]byte) error { return nil }); err != nil {
					return err
				}
				continue
			}
			return c.fail(closeProtocol, "reserved opcode 0x%X", h.op)
		}

		if h.op >= opClose {
			if h.length > c.limit {
				return c.fail(closeTooBig, "control frame of %d bytes", h.length)
			}
			p := make([]byte, 0, h.length)
			if err := c.readPayload(h, func(b []byte) error { p = append(p, b...); return nil }); err != nil {
				return err
			}
			switch h.op {
			case opPing:
				if f.EmptyPong {
					p = nil
				}
				if f.PongAfterMessage && inMsg {
					pending = append(pending, p)
					continue
				}
				if err := c.writeFrame(opPong, p); err != nil {
					return err
				}
			case opPong:
				c.pmu.Lock()
				if ch, ok := c.pings[string(p)]; ok {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
				c.pmu.Unlock()
			case opClose:
				if err := c.handleClose(p); err != nil {
					return err
				}
				received = true
			}
			continue
		}

		if h.op != opContinuation {
			inMsg, msgOp, msgLen, msg, dropping = true, h.op, 0, msg[:0], false
			utf = utf8Check{}
		}
		over := msgLen+h.length > c.limit || (f.LimitOffByOne && msgLen+h.length >= c.limit)
		if over && !f.DropOversize {
			return c.fail(closeTooBig, "message larger than %d bytes", c.limit)
		}
		if over {
			dropping = true
		}
		msgLen += h.length
		checkUTF8 := msgOp == opText && !f.NoUTF8 && !dropping
		frameStart := len(msg)
		err = c.readPayload(h, func(b []byte) error {
			if checkUTF8 && !utf.write(b) && !f.UTF8AtEnd {
				return c.fail(closeInvalidData, "invalid UTF-8 in a text message")
			}
			if (onMessage != nil || f.RejectNoncharacters && msgOp == opText) && !dropping {
				msg = append(msg, b...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if f.EchoPerFrame && onMessage != nil && !dropping {
			if err := onMessage(msgOp, msg[frameStart:]); err != nil {
				return err
			}
		}
		if !h.fin {
			continue
		}
		inMsg = false
		if checkUTF8 && (utf.bad || utf.need != 0) {
			return c.fail(closeInvalidData, "invalid UTF-8 in a text message")
		}
		if checkUTF8 && f.RejectNoncharacters && hasNoncharacter(msg) {
			return c.fail(closeInvalidData, "invalid UTF-8 in a text message")
		}
		for _, p := range pending {
			if err := c.writeFrame(opPong, p); err != nil {
				return err
			}
		}
		pending = pending[:0]
		if onMessage != nil && !dropping && !f.EchoPerFrame {
			if err := onMessage(msgOp, msg); err != nil {
				return err
			}
		}
	}
}

// handleClose validates a client close payload (RFC 6455 §5.5.1, §7.4) and answers it with a
// close frame echoing the status code (or an empty one for an empty payload).
func (c *wsConn) handleClose(p []byte) error {
	f := c.faults
	code, reason := closeNoStatusRcvd, ""
	switch {
	case len(p) == 0:
	case len(p) == 1:
		if !f.LaxCloseCode {
			return c.fail(closeProtocol, "close frame with a 1-byte payload")
		}
	default:
		code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
		if !validCloseCode(code) && !f.LaxCloseCode {
			return c.fail(closeProtocol, "invalid close status code %d", code)
		}
		if !utf8.ValidString(reason) && !f.LaxCloseReason {
			return c.fail(closeInvalidData, "close reason is not valid UTF-8")
		}
	}
	if f.NoCloseReply {
		return &wsClosed{Code: code, Reason: reason}
	}
	if err := c.writeClose(code, ""); err != nil && !errors.Is(err, errCloseSent) {
		return err
	}
	if f.OpenAfterClose {
		return nil
	}
	return &wsClosed{Code: code, Reason: reason}
}

// hasNoncharacter reports whether text contains a Unicode noncharacter.
func hasNoncharacter(text []byte) bool {
	for _, r := range string(text) {
		if r&0xFFFE == 0xFFFE || r >= 0xFDD0 && r <= 0xFDEF {
			return true
		}
	}
	return false
}

// validCloseCode reports whether code may appear in a close frame: 1000–1003, 1007–1014
// (RFC 6455 §7.4.1 and the IANA registry), 3000–4999; never 1004, 1005, 1006, 1015.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// utf8Check validates UTF-8 incrementally: write fails at the first byte that cannot be part
// of a valid sequence (so a truncated prefix of a valid sequence is accepted until more
// arrives); need is the count of continuation bytes still expected.
type utf8Check struct {
	need   int
	lo, hi byte
	bad    bool
}

func (u *utf8Check) write(p []byte) bool {
	if u.bad {
		return false
	}
	for _, b := range p {
		if u.need == 0 {
			switch {
			case b < 0x80:
				continue
			case b >= 0xC2 && b <= 0xDF:
				u.need, u.lo, u.hi = 1, 0x80, 0xBF
			case b == 0xE0:
				u.need, u.lo, u.hi = 2, 0xA0, 0xBF
			case b == 0xED:
				u.need, u.lo, u.hi = 2, 0x80, 0x9F
			case b >= 0xE1 && b <= 0xEF:
				u.need, u.lo, u.hi = 2, 0x80, 0xBF
			case b == 0xF0:
				u.need, u.lo, u.hi = 3, 0x90, 0xBF
			case b >= 0xF1 && b <= 0xF3:
				u.need, u.lo, u.hi = 3, 0x80, 0xBF
			case b == 0xF4:
				u.need, u.lo, u.hi = 3, 0x80, 0x8F
			default:
				u.bad = true
				return false
			}
			continue
		}
		if b < u.lo || b > u.hi {
			u.bad = true
			return false
		}
		u.need--
		u.lo, u.hi = 0x80, 0xBF
	}
	return true
}
