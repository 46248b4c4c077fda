package wsclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Default limits, used for every Limits field that is zero or negative.
const (
	DefaultMaxFrame   = 16 << 20
	DefaultMaxMessage = 64 << 20
)

// Bounds of the frame history kept by a Conn (see Conn.Frames).
const (
	// MaxFrameHistory is how many frames (the last ones) Frames keeps.
	MaxFrameHistory = 4096
	// MaxHistoryPayload is how many payload bytes of each kept frame are
	// copied; Frame.Len always has the full length.
	MaxHistoryPayload = 1024
	// maxReturnedFrames bounds the frames returned by one ReadMessage.
	maxReturnedFrames = 4096
	// preallocLimit is the largest payload allocated up front; a bigger
	// payload grows as its bytes actually arrive.
	preallocLimit = 64 << 10
)

// Limits bounds the memory a Conn may use for one frame and one message.
type Limits struct {
	// MaxFrame is the largest frame payload read (default 16 MiB).
	MaxFrame int64
	// MaxMessage is the largest reassembled message (default 64 MiB).
	MaxMessage int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxFrame <= 0 {
		l.MaxFrame = DefaultMaxFrame
	}
	if l.MaxMessage <= 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	return l
}

// LimitError reports that the server exceeded a limit. The connection is
// unusable afterwards (its frame boundaries are lost).
type LimitError struct {
	// What is "frame" or "message".
	What string
	// Limit is the configured limit in bytes.
	Limit int64
	// Got is the declared frame length, or the message size reached.
	Got int64
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("wsclient: %s of %d bytes exceeds the limit of %d", e.What, e.Got, e.Limit)
}

// CloseError is a close frame received from the server.
type CloseError struct {
	// Code is the status code; 1005 (no status) for an empty payload, -1
	// for a 1-byte payload (itself a protocol error).
	Code int
	// Reason is the rest of the payload (not validated as UTF-8).
	Reason string
	// Raw is the whole close payload.
	Raw []byte
}

// Error implements error.
func (e *CloseError) Error() string {
	return fmt.Sprintf("wsclient: close frame %d %q", e.Code, e.Reason)
}

// ParseClose decodes a close frame payload.
func ParseClose(payload []byte) *CloseError {
	ce := &CloseError{Raw: append([]byte(nil), payload...)}
	switch len(payload) {
	case 0:
		ce.Code = 1005
	case 1:
		ce.Code = -1
	default:
		ce.Code = int(binary.BigEndian.Uint16(payload))
		ce.Reason = string(payload[2:])
	}
	return ce
}

// ProtocolError reports a server frame or message that violates RFC 6455
// (masked server frame, RSV bits without a negotiated extension, fragmented
// or oversized control frame, reserved opcode, bad fragmentation, invalid
// UTF-8 in a text message, 64-bit length with the MSB set). The frames
// concerned are still returned and recorded.
type ProtocolError struct {
	// Reason says what was violated.
	Reason string
}

// Error implements error.
func (e *ProtocolError) Error() string { return "wsclient: protocol error: " + e.Reason }

// Frame is one WebSocket frame as it was on the wire.
type Frame struct {
	// Fin is the FIN bit.
	Fin bool
	// Rsv holds RSV1..RSV3 as in ws.Header.Rsv (RSV1 = 0x4).
	Rsv byte
	// Op is the raw opcode (reserved values included).
	Op ws.OpCode
	// Masked is the MASK bit. A masked frame's payload is returned unmasked.
	Masked bool
	// Payload is the (unmasked) payload. In Conn.Frames it is a copy capped
	// at MaxHistoryPayload bytes; it is nil for a frame over MaxFrame.
	Payload []byte
	// Len is the payload length declared by the header.
	Len int64
	// NonMinimalLength reports a length encoded with more bytes than needed
	// (RFC 6455 §5.2: "the minimal number of bytes MUST be used").
	NonMinimalLength bool
	// At is when the whole frame had been read (for a frame rejected by a
	// limit: when its header had been read).
	At time.Time
}

// Conn is an open WebSocket connection. Reads are serialized with each
// other, writes with each other; a read and a write may run concurrently.
type Conn struct {
	nc         net.Conn
	br         *bufio.Reader
	lim        Limits
	wto        time.Duration
	extensions bool // the server accepted an extension: RSV bits may be used

	rmu     sync.Mutex
	broken  error
	pending []Frame // frames put back by Unread: returned before anything is read

	wmu sync.Mutex

	hmu   sync.Mutex
	hist  []Frame // ring
	hnext int
	total int
}

func newConn(nc net.Conn, br *bufio.Reader, o DialOptions) *Conn {
	wto := o.WriteTimeout
	if wto <= 0 {
		wto = DefaultWriteTimeout
	}
	return &Conn{nc: nc, br: br, lim: o.Limits.withDefaults(), wto: wto}
}

// NetConn returns the underlying connection (for TCP-level checks). Reads
// from it bypass the client's buffer.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the TCP connection without a close handshake.
func (c *Conn) Close() error { return c.nc.Close() }

// WriteRaw writes b unchanged (for malformed frames), within the write timeout.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.wto))
	_, err := c.nc.Write(b)
	return err
}

// EncodeFrame returns the wire bytes of f, exactly as given (Fin, the 3 RSV
// bits, the 4 opcode bits, even if invalid); when f.Masked the payload is
// masked with a random key. f.Payload is not modified.
func EncodeFrame(f Frame) []byte {
	h := ws.Header{
		Fin:    f.Fin,
		Rsv:    f.Rsv & 0x7,
		OpCode: f.Op & 0xF,
		Masked: f.Masked,
		Length: int64(len(f.Payload)),
	}
	p := f.Payload
	if f.Masked {
		_, _ = rand.Read(h.Mask[:])
		p = append([]byte(nil), p...)
		ws.Cipher(p, h.Mask, 0)
	}
	var buf bytes.Buffer
	buf.Grow(ws.MaxHeaderSize + len(p))
	_ = ws.WriteHeader(&buf, h) // cannot fail: the length fits in 63 bits
	buf.Write(p)
	return buf.Bytes()
}

// WriteFrame writes one frame (see EncodeFrame). Clients normally set Masked.
func (c *Conn) WriteFrame(f Frame) error { return c.WriteRaw(EncodeFrame(f)) }

// WriteMessage writes payload as one masked, final frame with opcode op.
func (c *Conn) WriteMessage(op ws.OpCode, payload []byte) error {
	return c.WriteFrame(Frame{Fin: true, Op: op, Masked: true, Payload: payload})
}

// ReadFrame reads one frame. ctx's deadline and cancellation interrupt the
// read (the error is then ctx's); a read interrupted before the frame's
// first byte leaves the connection usable, one interrupted later does not.
// A frame declaring more than MaxFrame bytes is returned without payload
// together with a *LimitError, and the connection becomes unusable; nothing
// of that size is allocated. The frame is recorded in Frames.
func (c *Conn) ReadFrame(ctx context.Context) (Frame, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readFrame(ctx)
}

func (c *Conn) readFrame(ctx context.Context) (Frame, error) {
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f, nil
	}
	if c.broken != nil {
		return Frame{}, c.broken
	}
	stop := watchCtx(ctx, c.nc.SetReadDeadline)
	defer stop()
	if _, err := c.br.Peek(1); err != nil {
		err = ctxErr(ctx, err)
		if errors.Is(err, io.EOF) {
			c.broken = err
		}
		return Frame{}, err
	}
	f, err := c.readFrameBody(ctx)
	if err != nil && c.broken == nil {
		c.broken = err
	}
	return f, err
}

// readFrameBody reads a frame whose first byte is buffered.
func (c *Conn) readFrameBody(ctx context.Context) (Frame, error) {
	var hb [ws.MaxHeaderSize]byte
	if _, err := io.ReadFull(c.br, hb[:2]); err != nil {
		return Frame{}, ctxErr(ctx, err)
	}
	f := Frame{
		Fin:    hb[0]&0x80 != 0,
		Rsv:    (hb[0] >> 4) & 0x7,
		Op:     ws.OpCode(hb[0] & 0x0F),
		Masked: hb[1]&0x80 != 0,
	}
	n := int64(hb[1] & 0x7F)
	extra := 0
	switch n {
	case 126:
		extra = 2
	case 127:
		extra = 8
	}
	if f.Masked {
		extra += 4
	}
	ext := hb[2 : 2+extra]
	if _, err := io.ReadFull(c.br, ext); err != nil {
		return Frame{}, unexpected(ctxErr(ctx, err))
	}
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(ext))
		f.NonMinimalLength = n < 126
		ext = ext[2:]
	case 127:
		u := binary.BigEndian.Uint64(ext)
		ext = ext[8:]
		if u>>63 != 0 {
			f.Len = -1
			f.At = time.Now()
			c.record(f)
			return f, &ProtocolError{Reason: "64-bit payload length with the most significant bit set"}
		}
		n = int64(u)
		f.NonMinimalLength = n <= 0xFFFF
	}
	f.Len = n
	var mask [4]byte
	if f.Masked {
		copy(mask[:], ext)
	}
	if n > c.lim.MaxFrame {
		f.At = time.Now()
		c.record(f)
		return f, &LimitError{What: "frame", Limit: c.lim.MaxFrame, Got: n}
	}
	var p []byte
	if n <= preallocLimit {
		p = make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return Frame{}, unexpected(ctxErr(ctx, err))
		}
	} else {
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, c.br, n); err != nil {
			return Frame{}, unexpected(ctxErr(ctx, err))
		}
		p = buf.Bytes()
	}
	if f.Masked {
		ws.Cipher(p, mask, 0)
	}
	f.Payload = p
	f.At = time.Now()
	c.record(f)
	return f, nil
}

// Unread puts frames returned by ReadFrame back: the next reads (ReadFrame, ReadMessage,
// CloseHandshake) return them first, in the given order, before frames still pending from
// an earlier Unread and before anything else is read. A reader that waits for a control
// frame (a pong, a close) uses it to keep the data frames that arrived meanwhile: a server
// may inject control frames in the middle of a fragmented message (RFC 6455 §5.4), so those
// frames belong to a message a later read assembles. The frames are not recorded in Frames
// again; their payloads must be whole, as ReadFrame returned them.
func (c *Conn) Unread(frames ...Frame) {
	if len(frames) == 0 {
		return
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.pending = append(append([]Frame(nil), frames...), c.pending...)
}

// unexpected turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// record appends a capped copy of f to the history ring.
func (c *Conn) record(f Frame) {
	if f.Payload != nil {
		f.Payload = append([]byte{}, f.Payload[:min(len(f.Payload), MaxHistoryPayload)]...)
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.total++
	if len(c.hist) < MaxFrameHistory {
		c.hist = append(c.hist, f)
		return
	}
	c.hist[c.hnext] = f
	c.hnext = (c.hnext + 1) % MaxFrameHistory
}

// Frames returns the last MaxFrameHistory frames received, oldest first,
// with payload copies capped at MaxHistoryPayload bytes.
func (c *Conn) Frames() []Frame {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	out := make([]Frame, 0, len(c.hist))
	out = append(out, c.hist[c.hnext:]...)
	return append(out, c.hist[:c.hnext]...)
}

// FrameCount returns how many frames were received in total.
func (c *Conn) FrameCount() int {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.total
}

// ReadMessage reads frames until a whole data message has arrived and
// returns its opcode (that of the first frame), its reassembled payload and
// every frame read on the way (control frames included; at most 4096).
//
// Pings are answered with a masked pong carrying the same payload when
// autoPong. A close frame ends the call with op ws.OpClose, its payload and
// a *CloseError (no close frame is sent back: see CloseHandshake). A server
// violation ends the call with a *ProtocolError (the frames so far are
// returned); a message over MaxMessage ends it with a *LimitError and makes
// the connection unusable. Permessage extensions are not decoded: when the
// server accepted one, RSV bits are allowed and text is not UTF-8 checked
// if RSV1 is set.
func (c *Conn) ReadMessage(ctx context.Context, autoPong bool) (op ws.OpCode, payload []byte, frames []Frame, err error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	started, compressed := false, false
	for {
		f, err := c.readFrame(ctx)
		if err != nil {
			if f.At.IsZero() {
				return op, payload, frames, err
			}
			return op, payload, appendFrame(frames, f), err
		}
		frames = appendFrame(frames, f)
		if f.Masked {
			return op, payload, frames, &ProtocolError{Reason: "masked frame from the server"}
		}
		if f.Rsv != 0 && !c.extensions {
			return op, payload, frames, &ProtocolError{Reason: fmt.Sprintf("RSV bits %03b set without a negotiated extension", f.Rsv)}
		}
		if f.Op.IsControl() {
			if !f.Fin {
				return op, payload, frames, &ProtocolError{Reason: "fragmented control frame"}
			}
			if f.Len > 125 {
				return op, payload, frames, &ProtocolError{Reason: fmt.Sprintf("control frame payload of %d bytes", f.Len)}
			}
		}
		switch f.Op {
		case ws.OpPing:
			if autoPong {
				werr := c.WriteFrame(Frame{Fin: true, Op: ws.OpPong, Masked: true, Payload: f.Payload})
				if werr != nil {
					return op, payload, frames, werr
				}
			}
		case ws.OpPong:
		case ws.OpClose:
			return ws.OpClose, f.Payload, frames, ParseClose(f.Payload)
		case ws.OpContinuation:
			if !started {
				return op, payload, frames, &ProtocolError{Reason: "continuation frame without a message to continue"}
			}
		case ws.OpText, ws.OpBinary:
			if started {
				return op, payload, frames, &ProtocolError{Reason: "new data frame inside a fragmented message"}
			}
			started, op, compressed = true, f.Op, f.Rsv&0x4 != 0
		default:
			return op, payload, frames, &ProtocolError{Reason: fmt.Sprintf("reserved opcode 0x%X", byte(f.Op))}
		}
		if f.Op.IsControl() {
			continue
		}
		if int64(len(payload))+f.Len > c.lim.MaxMessage {
			lerr := &LimitError{What: "message", Limit: c.lim.MaxMessage, Got: int64(len(payload)) + f.Len}
			c.broken = lerr
			return op, payload, frames, lerr
		}
		payload = append(payload, f.Payload...)
		if f.Fin {
			if op == ws.OpText && !compressed && !utf8.Valid(payload) {
				return op, payload, frames, &ProtocolError{Reason: "invalid UTF-8 in a text message"}
			}
			if payload == nil {
				payload = []byte{}
			}
			return op, payload, frames, nil
		}
	}
}

func appendFrame(frames []Frame, f Frame) []Frame {
	if len(frames) >= maxReturnedFrames {
		return frames
	}
	return append(frames, f)
}

// CloseHandshake sends a masked close frame (code and reason; no payload
// when code < 0) and reads frames until the server's close frame, which it
// returns. Frames read meanwhile are only recorded in Frames. The TCP
// connection is left open: read on to see whether the server closes it,
// then call Close.
func (c *Conn) CloseHandshake(ctx context.Context, code int, reason string) (*CloseError, error) {
	var p []byte
	if code >= 0 {
		p = make([]byte, 2, 2+len(reason))
		binary.BigEndian.PutUint16(p, uint16(code))
		p = append(p, reason...)
	}
	if err := c.WriteFrame(Frame{Fin: true, Op: ws.OpClose, Masked: true, Payload: p}); err != nil {
		return nil, err
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		f, err := c.readFrame(ctx)
		if err != nil {
			return nil, err
		}
		if f.Op == ws.OpClose {
			return ParseClose(f.Payload), nil
		}
	}
}
