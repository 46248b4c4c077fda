package reference

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// benchEvents returns the event of a log for each benchmark payload: 64 bytes on one line,
// and 1 KiB of 16 lines.
func benchEvents() []benchEvent {
	l, _ := eventlog.NewTopics(eventlog.Options{}).Get("bench")
	return []benchEvent{
		{"64B", l.Append(bytes.Repeat([]byte("x"), 64))},
		{"1KiB-lines", l.Append(bytes.Repeat(append(bytes.Repeat([]byte("y"), 63), '\n'), 16))},
	}
}

type benchEvent struct {
	name string
	ev   eventlog.Event
}

// BenchmarkSSEEncode encodes an event as an SSE frame (what the first subscriber of an event
// pays), and the shared frame that every other subscriber gets (sseFrame.Of).
//
//	go test -run '^$' -bench 'SSEEncode|WSFrameWrite|StreamEncode' -benchmem ./reference/
func BenchmarkSSEEncode(b *testing.B) {
	for _, be := range benchEvents() {
		name, ev := be.name, be.ev
		b.Run("build/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				buf = appendSSEEvent(buf[:0], ev)
			}
		})
		b.Run("shared/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				sseFrame.Of(ev)
			}
		})
	}
}

// BenchmarkStreamEncode encodes an event as an NDJSON line of the HTTP stream (and of
// long-poll bodies): the JSON encoding the first reader pays.
func BenchmarkStreamEncode(b *testing.B) {
	for _, be := range benchEvents() {
		name, ev := be.name, be.ev
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				wire.Marshal(wire.PollEvent{ID: ev.ID, Data: string(ev.Data)})
			}
		})
	}
}

// discardConn is a net.Conn whose writes succeed at once and go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkWSFrameWrite writes WebSocket frames to a connection that discards them: an
// event's shared frame (WriteLogEvent, encoded by an earlier subscriber), the same event
// encoded for this connection alone (JSON, then header and payload), and a message of the
// echo endpoint (header and payload in one vectored write).
func BenchmarkWSFrameWrite(b *testing.B) {
	c := newWSConn(discardConn{}, nil, WSFaults{}, DefaultReadLimit, time.Second)
	for _, be := range benchEvents() {
		name, ev := be.name, be.ev
		b.Run("shared/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				if err := c.WriteLogEvent(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("per-connection/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				js, _ := wire.Marshal(wire.NewWSEvent(ev))
				if err := c.WriteEvent(js); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("echo/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				if err := c.writeFrame(opText, ev.Data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSharedFramesMatchPerConnection: the frames written to every subscriber are the bytes
// each connection used to encode for itself.
func TestSharedFramesMatchPerConnection(t *testing.T) {
	for _, be := range benchEvents() {
		name, ev := be.name, be.ev
		js, _ := wire.Marshal(wire.NewWSEvent(ev))
		var want bytes.Buffer
		c := newWSConn(&recordConn{w: &want}, nil, WSFaults{}, DefaultReadLimit, time.Second)
		if err := c.writeFrame(opText, js); err != nil {
			t.Fatal(err)
		}
		if got := wsEventFrame.Of(ev); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: WebSocket frame %q, want %q", name, got, want.Bytes())
		}
		if got, want := sseFrame.Of(ev), appendSSEEvent(nil, ev); !bytes.Equal(got, want) {
			t.Errorf("%s: SSE frame %q, want %q", name, got, want)
		}
		line, _ := wire.Marshal(StreamEvent{ID: ev.ID, Data: string(ev.Data)})
		if got := wire.EventLine.Of(ev); string(got) != string(line)+"\n" {
			t.Errorf("%s: stream line %q, want %q", name, got, string(line)+"\n")
		}
	}
}

// recordConn is a net.Conn that records what is written.
type recordConn struct {
	net.Conn
	w *bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error)    { return c.w.Write(p) }
func (*recordConn) SetWriteDeadline(time.Time) error { return nil }
