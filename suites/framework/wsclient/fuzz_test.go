package wsclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"runtime"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// memConn is a net.Conn reading from fixed bytes and keeping what is written (the pongs).
// It counts the bytes read so that the frame boundaries can be found in the input.
type memConn struct {
	r *bytes.Reader
	n int
	w bytes.Buffer
}

func (m *memConn) Read(b []byte) (int, error) {
	n, err := m.r.Read(b)
	m.n += n
	return n, err
}
func (m *memConn) Write(b []byte) (int, error)      { return m.w.Write(b) }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

func fuzzConn(in []byte, l Limits) (*Conn, *memConn) {
	mc := &memConn{r: bytes.NewReader(in)}
	return newConn(mc, bufio.NewReader(mc), DialOptions{Limits: l}), mc
}

// fuzzSeeds are server streams: the frames of the tests (fragments with a ping between,
// close frames, masked and RSV frames, non-minimal lengths, reserved opcodes, invalid
// UTF-8) and headers announcing 2 GiB, 2^40 bytes and a length with the MSB set.
func fuzzSeeds() [][]byte {
	enc := func(fs ...Frame) []byte {
		var b []byte
		for _, f := range fs {
			b = append(b, EncodeFrame(f)...)
		}
		return b
	}
	return [][]byte{
		enc(Frame{Op: ws.OpText, Payload: []byte("hel")}, Frame{Fin: true, Op: ws.OpPing, Payload: []byte("p")},
			Frame{Fin: true, Op: ws.OpContinuation, Payload: []byte("lo")}),
		enc(Frame{Fin: true, Op: ws.OpBinary, Payload: bytes.Repeat([]byte{7}, 300)}),
		enc(Frame{Fin: true, Op: ws.OpText, Masked: true, Payload: []byte("masked")}),
		enc(Frame{Fin: true, Rsv: 4, Op: ws.OpText, Payload: []byte("x")}),
		enc(Frame{Fin: true, Op: ws.OpClose, Payload: []byte{0x03, 0xE8, 'b', 'y', 'e'}}),
		enc(Frame{Fin: true, Op: ws.OpClose, Payload: []byte{1}}),
		enc(Frame{Fin: true, Op: 0x3}, Frame{Fin: true, Op: ws.OpText, Payload: []byte{0xFF, 0xFE}}),
		enc(Frame{Fin: true, Op: ws.OpPong, Payload: bytes.Repeat([]byte("a"), 126)}),
		{0x81, 126, 0, 3, 'a', 'b', 'c'},                                      // 16-bit length for 3 bytes
		{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'},                         // 64-bit length for 2 bytes
		{0x82, 127, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3},                       // 2 GiB announced
		{0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0},                                   // 2^40 bytes announced
		{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},                                // MSB set
		{0x82, 126, 0xFF, 0xFF, 1, 2},                                         // 64 KiB announced, 2 sent
		{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1}, // masked
		{0x81},
		{},
	}
}

// allocBudget bounds what reading in may allocate: a constant (history, buffers, the last,
// truncated frame's up-front allocation of at most preallocLimit) plus a multiple of the
// input. A header announcing more than the input is never allocated up front beyond that.
func allocBudget(in []byte) uint64 { return 2<<20 + 64*uint64(len(in)) }

// FuzzReadFrame reads frames from arbitrary server bytes with fuzzed limits. It must not
// panic and must stop: every frame consumes at least 2 bytes, and after an error the
// connection stays broken. Each frame read is checked against its bytes in the input (flags,
// opcode, length, the payload unmasked with its key; a minimal unmasked frame re-encodes to
// exactly its bytes); a frame over MaxFrame is a *LimitError with the declared length and no
// payload; the allocation stays within allocBudget whatever the headers announce.
func FuzzReadFrame(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint32(0), uint32(0))
		f.Add(s, uint32(100), uint32(4))
		f.Add(s, uint32(math.MaxUint32), uint32(math.MaxUint32)) // 4 GiB: the 2 GiB header is within it
	}
	f.Fuzz(func(t *testing.T, in []byte, maxFrame, maxMessage uint32) {
		l := Limits{MaxFrame: int64(maxFrame), MaxMessage: int64(maxMessage)}
		c, mc := fuzzConn(in, l)
		lim := l.withDefaults()
		ctx := context.Background()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		prev, frames := 0, 0
		for {
			if frames > len(in)/2 {
				t.Fatalf("%d frames from %d bytes", frames, len(in))
			}
			fr, err := c.ReadFrame(ctx)
			cur := mc.n - c.br.Buffered()
			if err != nil {
				var le *LimitError
				var pe *ProtocolError
				switch {
				case errors.As(err, &le):
					frames++
					if n, ok := declared(in[prev:]); !ok || le.What != "frame" || le.Limit != lim.MaxFrame || le.Got != n || fr.Len != n || n <= lim.MaxFrame || fr.Payload != nil {
						t.Fatalf("limit error %+v for frame %+v (limit %d)", le, fr, lim.MaxFrame)
					}
				case errors.As(err, &pe):
					frames++
					if n, ok := declared(in[prev:]); !ok || n != -1 || fr.Len != -1 {
						t.Fatalf("protocol error %v for frame %+v at %q", err, fr, in[prev:])
					}
				case err == io.EOF:
					if prev != len(in) {
						t.Fatalf("EOF at %d of %d bytes", prev, len(in))
					}
				case err == io.ErrUnexpectedEOF:
					if prev == len(in) {
						t.Fatalf("unexpected EOF at the end of the input")
					}
					if n, ok := declared(in[prev:]); ok && (n < 0 || n > lim.MaxFrame) {
						t.Fatalf("a header announcing %d bytes (limit %d) read as a truncated frame", n, lim.MaxFrame)
					}
				default:
					t.Fatalf("error %v", err)
				}
				if _, err2 := c.ReadFrame(ctx); err2 == nil {
					t.Fatalf("connection usable after %v", err)
				}
				break
			}
			frames++
			checkFrame(t, fr, in[prev:cur], lim)
			prev = cur
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > allocBudget(in) {
			t.Fatalf("reading %d bytes allocated %d bytes", len(in), d)
		}
		if c.FrameCount() != frames || len(c.Frames()) != min(frames, MaxFrameHistory) {
			t.Fatalf("%d frames read, %d counted, %d kept", frames, c.FrameCount(), len(c.Frames()))
		}
	})
}

// declared parses the payload length of the frame header at the start of raw on its own:
// -1 for a 64-bit length with the MSB set, ok false when the header (length and masking
// key) is not all there.
func declared(raw []byte) (n int64, ok bool) {
	if len(raw) < 2 {
		return 0, false
	}
	size := 2
	if raw[1]&0x80 != 0 {
		size += 4
	}
	switch n = int64(raw[1] & 0x7F); n {
	case 126:
		if len(raw) < size+2 {
			return 0, false
		}
		return int64(binary.BigEndian.Uint16(raw[2:])), true
	case 127:
		if len(raw) < size+8 {
			return 0, false
		}
		u := binary.BigEndian.Uint64(raw[2:])
		if u>>63 != 0 {
			return -1, true
		}
		return int64(u), true
	}
	return n, len(raw) >= size
}

// checkFrame compares a frame read with its bytes on the wire.
func checkFrame(t *testing.T, f Frame, raw []byte, lim Limits) {
	t.Helper()
	if n, _ := declared(raw); f.Len != n || f.Len != int64(len(f.Payload)) || f.Len > lim.MaxFrame || len(raw) < 2+len(f.Payload) {
		t.Fatalf("frame %+v (limit %d) from %d bytes", f, lim.MaxFrame, len(raw))
	}
	if f.Fin != (raw[0]&0x80 != 0) || f.Rsv != (raw[0]>>4)&7 || f.Op != ws.OpCode(raw[0]&0xF) || f.Masked != (raw[1]&0x80 != 0) {
		t.Fatalf("frame %+v from header % x", f, raw[:2])
	}
	body := raw[len(raw)-len(f.Payload):]
	want := bytes.Clone(body)
	if f.Masked {
		var key [4]byte
		copy(key[:], raw[len(raw)-len(f.Payload)-4:])
		ws.Cipher(want, key, 0)
	}
	if !bytes.Equal(f.Payload, want) {
		t.Fatalf("payload %q, want %q", f.Payload, want)
	}
	if !f.Masked && !f.NonMinimalLength && !bytes.Equal(EncodeFrame(f), raw) {
		t.Fatalf("frame %+v re-encodes to % x, read from % x", f, EncodeFrame(f), raw)
	}
}

// FuzzReadMessage reads messages from arbitrary server bytes (pings answered) until the
// connection breaks. It must stop (every call reads a frame or breaks the connection); a
// message returned is a text or binary message within MaxMessage, a text one valid UTF-8,
// and its payload is the concatenation of its data frames; every valid ping read was
// answered, in order, by a masked pong with its payload, and nothing else was written.
func FuzzReadMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint32(0), uint32(0))
		f.Add(s, uint32(64), uint32(4))
		f.Add(s, uint32(math.MaxUint32), uint32(math.MaxUint32))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxFrame, maxMessage uint32) {
		l := Limits{MaxFrame: int64(maxFrame), MaxMessage: int64(maxMessage)}
		c, mc := fuzzConn(in, l)
		lim := l.withDefaults()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for calls := 0; c.broken == nil; calls++ {
			if calls > len(in)/2+1 {
				t.Fatalf("%d calls on %d bytes without the end", calls, len(in))
			}
			op, payload, frames, err := c.ReadMessage(context.Background(), true)
			if err != nil {
				continue
			}
			if op != ws.OpText && op != ws.OpBinary || int64(len(payload)) > lim.MaxMessage ||
				op == ws.OpText && !utf8.Valid(payload) || len(frames) == 0 || !frames[len(frames)-1].Fin {
				t.Fatalf("message op %v of %d bytes (limit %d), %d frames", op, len(payload), lim.MaxMessage, len(frames))
			}
			var joined []byte
			for _, fr := range frames {
				if !fr.Op.IsControl() {
					joined = append(joined, fr.Payload...)
				}
			}
			if !bytes.Equal(joined, payload) {
				t.Fatalf("payload %q, frames carry %q", payload, joined)
			}
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > allocBudget(in)+2*uint64(len(in)) {
			t.Fatalf("reading %d bytes allocated %d bytes", len(in), d)
		}
		if c.FrameCount() <= MaxFrameHistory {
			checkPongs(t, c.Frames(), mc.w.Bytes())
		}
	})
}

// checkPongs checks that written holds exactly one masked pong per valid ping of frames (final,
// unmasked, no RSV bit, at most 125 bytes, read whole: a ping over MaxFrame has no payload and
// is not answered), in order, each with its ping's payload.
func checkPongs(t *testing.T, frames []Frame, written []byte) {
	t.Helper()
	var pings [][]byte
	for _, f := range frames {
		if f.Op == ws.OpPing && f.Fin && !f.Masked && f.Rsv == 0 && f.Len <= 125 && f.Payload != nil {
			pings = append(pings, f.Payload)
		}
	}
	pc, _ := fuzzConn(written, Limits{})
	for i := 0; ; i++ {
		f, err := pc.ReadFrame(context.Background())
		if err == io.EOF && i == len(pings) {
			return
		}
		if err != nil || i >= len(pings) || !f.Masked || !f.Fin || f.Op != ws.OpPong || !bytes.Equal(f.Payload, pings[i]) {
			t.Fatalf("written frame %d: %+v, %v; the pings were %q", i, f, err, pings)
		}
	}
}
