package wsclient

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// loopConn serves the same bytes over and over: an endless stream of
// identical frames, read through the real bufio/Conn path.
type loopConn struct {
	net.Conn // nil: only the methods below are used
	data     []byte
	off      int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) Close() error                     { return nil }

func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{16, 125, 64 << 10} {
		for _, masked := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/masked=%v", size, masked), func(b *testing.B) {
				payload := make([]byte, size)
				for i := range payload {
					payload[i] = byte('a' + i%26)
				}
				f := Frame{Fin: true, Op: ws.OpText, Masked: masked, Payload: payload}
				frame := EncodeFrame(f)
				// Several frames per loop so a Read never ends mid-buffer
				// at the same place.
				var data []byte
				for range 8 {
					data = append(data, frame...)
				}
				nc := &loopConn{data: data}
				c := newConn(nc, bufio.NewReaderSize(nc, 4096), DialOptions{})
				ctx := context.Background()
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					got, err := c.ReadFrame(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if len(got.Payload) != size || got.Payload[size-1] != payload[size-1] {
						b.Fatalf("payload %d bytes (or unmasked wrongly), want %d", len(got.Payload), size)
					}
				}
			})
		}
	}
}
