package wsclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

// coderServer serves /echo (echo every message), /ping (ping the client,
// then send "pinged") and /big (send a 2 MiB binary message) with
// github.com/coder/websocket. Server-side read errors are sent on errs.
func coderServer(t *testing.T) (*httptest.Server, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				errs <- err
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(c.CloseRead(r.Context()), 5*time.Second)
		defer cancel()
		if err := c.Ping(ctx); err != nil {
			errs <- err
			return
		}
		_ = c.Write(ctx, websocket.MessageText, []byte("pinged"))
		<-ctx.Done()
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// CloseRead's context ends when the client goes: a hijacked connection's request
		// context does not.
		ctx := c.CloseRead(r.Context())
		_ = c.Write(ctx, websocket.MessageBinary, make([]byte, 2<<20))
		<-ctx.Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, errs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, o DialOptions) (*Conn, *Handshake) {
	t.Helper()
	c, hs, err := Dial(testCtx(t), url, o)
	if err != nil {
		t.Fatalf(
			"dial %s: %v",
			url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, hs
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

func TestFragmentedMessageWithPingInBetween(t *testing.T) {
	srv, _ := coderServer(t)
	c, _ := dial(t, srv.URL+"/echo", DialOptions{})
	parts := []Frame{
		{Fin: false, Op: ws.OpText, Masked: true, Payload: []byte("hel")},
		{Fin: true, Op: ws.OpPing, Masked: true, Payload: []byte("p1")},
		{Fin: false, Op: ws.OpContinuation, Masked: true, Payload: []byte("lo ")},
		{Fin: true, Op: ws.OpContinuation, Masked: true, Payload: []byte("world")},
	}
	for _, f := range parts {
		if err := c.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	op, p, frames, err := c.ReadMessage(testCtx(t), true)
	if err != nil || op != ws.OpText || string(p) != "hello world" {
		t.Fatalf(
			"got %v %q %v",
			op, p, err)
	}
	if len(frames) != 2 || frames[0].Op != ws.OpPong || string(frames[0].Payload) != "p1" {
		t.Errorf(
			"frames %+v",
			frames)
	}
}

func TestClientPingGetsPong(t *testing.T) {
	srv, _ := coderServer(t)
	c, _ := dial(t, srv.URL+"/echo", DialOptions{})
	if err := c.WriteFrame(Frame{Fin: true, Op: ws.OpPing, Masked: true, Payload: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame(testCtx(t))
	if err != nil || f.Op != ws.OpPong || string(f.Payload) != "abc" || f.Masked {
		t.Fatalf(
			"got %+v %v",
			f, err)
	}
}

func TestServerPingAutoPong(t *testing.T) {
	srv, errs := coderServer(t)
	c, _ := dial(t, srv.URL+"/ping", DialOptions{})
	op, p, frames, err := c.ReadMessage(testCtx(t), true)
	if err != nil || op != ws.OpText || string(p) != "pinged" {
		select {
		case serr := <-errs:
			t.Logf(
				"server: %v",
				serr)
		default:
		}
		t.Fatalf(
			"got %v %q %v",
			op, p, err)
	}
	if len(frames) != 2 || frames[0].Op != ws.OpPing {
		t.Errorf(
			"frames %+v",
			frames)
	}
}

func TestCloseHandshake(t *testing.T) {
	srv, _ := coderServer(t)
	c, _ := dial(t, srv.URL+"/echo", DialOptions{})
	ce, err := c.CloseHandshake(testCtx(t), 1000, "bye")
	if err != nil || ce.Code != 1000 {
		t.Fatalf(
			"got %+v %v",
			ce, err)
	}
	// The server then closes TCP.
	if _, err := c.ReadFrame(testCtx(t)); !errors.Is(err, io.EOF) {
		t.Errorf(
			"after close: %v",
			err)
	}
}

func TestUnmaskedClientFrameFailsConnection(t *testing.T) {
	srv, errs := coderServer(t)
	c, _ := dial(t, srv.URL+"/echo", DialOptions{})
	if err := c.WriteFrame(Frame{Fin: true, Op: ws.OpText, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, _, frames, err := c.ReadMessage(testCtx(t), false)
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		if ce.Code != 1002 {
			t.Errorf(
				"close code %d, want 1002",
				ce.Code)
		}
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
		// coder/websocket v1.8.15 drops the connection without a close frame.
		t.Logf(
			"server failed the connection without a close frame: %v (frames %+v)",
			err, frames)
	default:
		t.Fatalf(
			"the server did not fail the connection: %v",
			err)
	}
	if serr := <-errs; !strings.Contains(serr.Error(), "unmasked") {
		t.Errorf(
			"server error %v",
			serr)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

func TestRSVWithoutExtensionGets1002(t *testing.T) {
	srv, _ := coderServer(t)
	c, _ := dial(t, srv.URL+"/echo", DialOptions{})
	if err := c.WriteFrame(Frame{Fin: true, Rsv: 0x2, Op: ws.OpText, Masked: true, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := c.ReadMessage(testCtx(t), false)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1002 {
		t.Fatalf(
			"got %v, want a close frame with 1002",
			err)
	}
}

// rawServer accepts one connection; when upgrade, it reads the request
// head and answers 101 before running script.
func rawServer(t *testing.T, script func(nc net.Conn, br *bufio.Reader), upgrade bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		key := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
				key = strings.TrimSpace(v)
			}
			if line == "\r\n" {
				break
			}
		}
		if upgrade {
			io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Accept: "+AcceptKey(key)+"\r\n\r\n")
		}
		script(nc, br)
	}()
	return ln.Addr().String()
}

func TestFrameOverLimitNotAllocated(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		h := []byte{0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0} // 2^40 bytes declared
		nc.Write(h)
		nc.Write(make([]byte, 4096))
		time.Sleep(500 * time.Millisecond)
	}, true)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, _ := dial(t, "ws://"+addr+"/", DialOptions{Limits: Limits{MaxFrame: 1 << 20}})
	f, err := c.ReadFrame(testCtx(t))
	runtime.ReadMemStats(&after)
	var le *LimitError
	if !errors.As(err, &le) || le.Got != 1<<40 || le.What != "frame" {
		t.Fatalf(
			"got %v",
			err)
	}
	if f.Len != 1<<40 || f.Payload != nil || f.Op != ws.OpBinary {
		t.Errorf(
			"frame %+v",
			f)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf(
			"allocated %d bytes",
			d)
	}
	if _, err2 := c.ReadFrame(testCtx(t)); !errors.As(err2, &le) {
		t.Errorf(
			"connection still usable after a limit error: %v",
			err2)
	}
	if h := c.Frames(); len(h) != 1 || h[0].Len != 1<<40 {
		t.Errorf(
			"history %+v",
			h)
	}
}

func TestMessageOverFrameLimitFromCoder(t *testing.T) {
	srv, _ := coderServer(t)
	c, _ := dial(t, srv.URL+"/big", DialOptions{Limits: Limits{MaxFrame: 1 << 20}})
	_, _, _, err := c.ReadMessage(testCtx(t), false)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf(
			"got %v",
			err)
	}
	c2, _ := dial(t, srv.URL+"/big", DialOptions{Limits: Limits{MaxMessage: 1 << 20}})
	_, _, _, err = c2.ReadMessage(testCtx(t), false)
	if !errors.As(err, &le) || le.What != "message" {
		t.Fatalf(
			"got %v",
			err)
	}
}

func TestServerFrameDetailsRecorded(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		nc.Write([]byte{0x81, 126, 0, 5, 'h', 'e', 'l', 'l', 'o'}) // non-minimal length
		masked := EncodeFrame(Frame{Fin: true, Op: ws.OpText, Masked: true, Payload: []byte("m")})
		nc.Write(masked)
		nc.Write([]byte{0x89, 126, 0, 200}) // ping of 200 bytes
		nc.Write(make([]byte, 200))
		nc.Write([]byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}) // MSB set
		time.Sleep(500 * time.Millisecond)
	}, true)
	c, _ := dial(t, "ws://"+addr, DialOptions{})
	ctx := testCtx(t)
	_, p, frames, err := c.ReadMessage(ctx, false)
	if err != nil || string(p) != "hello" || !frames[0].NonMinimalLength {
		t.Fatalf(
			"got %q %+v %v",
			p, frames, err)
	}
	_, p, frames, err = c.ReadMessage(ctx, false)
	var pe *ProtocolError
	if !errors.As(err, &pe) || !frames[0].Masked || string(frames[0].Payload) != "m" {
		t.Fatalf(
			"masked: %q %+v %v",
			p, frames, err)
	}
	_, _, frames, err = c.ReadMessage(ctx, true)
	if !errors.As(err, &pe) || frames[0].Len != 200 {
		t.Fatalf(
			"big ping: %+v %v",
			frames, err)
	}
	_, err = c.ReadFrame(ctx)
	if !errors.As(err, &pe) {
		t.Fatalf(
			"MSB: %v",
			err)
	}
}

func TestReadTimeoutOnSilentServer(t *testing.T) {
	release := make(chan struct{})
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		<-release
		nc.Write(EncodeFrame(Frame{Fin: true, Op: ws.OpText, Payload: []byte("late")}))
		time.Sleep(500 * time.Millisecond)
	}, true)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before rawServer's cleanup, even on failure
	c, _ := dial(t, "ws://"+addr, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReadFrame(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf(
			"got %v after %v",
			err, time.Since(start))
	}
	// Cancellation without a deadline unblocks a read too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	if _, err := c.ReadFrame(ctx2); !errors.Is(err, context.Canceled) {
		t.Fatalf(
			"got %v",
			err)
	}
	// No byte was consumed: the connection is still usable.
	unblock()
	f, err := c.ReadFrame(testCtx(t))
	if err != nil || string(f.Payload) != "late" {
		t.Fatalf(
			"got %+v %v",
			f, err)
	}
}

func TestEncodeFrameExactBits(t *testing.T) {
	b := EncodeFrame(Frame{Fin: false, Rsv: 0x5, Op: 0xB, Payload: []byte("x")})
	if !bytes.Equal(b, []byte{0x5B, 0x01, 'x'}) {
		t.Errorf(
			"got % x",
			b)
	}
	p := []byte("payload")
	m := EncodeFrame(Frame{Fin: true, Op: ws.OpBinary, Masked: true, Payload: p})
	if string(p) != "payload" || m[1] != 0x80|7 || len(m) != 2+4+7 {
		t.Fatalf(
			"got % x",
			m)
	}
	h, err := ws.ReadHeader(bytes.NewReader(m))
	if err != nil {
		t.Fatal(err)
	}
	body := append([]byte(nil), m[6:]...)
	ws.Cipher(body, h.Mask, 0)
	if string(body) != "payload" {
		t.Errorf(
			"unmasked %q",
			body)
	}
}

func TestParseClose(t *testing.T) {
	cases := []struct {
		in   []byte
		code int
		why  string
	}{
		{
			in:   nil,
			code: 1005,
		},
		{
			in:   []byte{3},
			code: -1,
		},
		{
			in:   []byte{0x03, 0xE8, 'o', 'k'},
			code: 1000,
			why:  "ok",
		},
	}
	for _, c := range cases {
		ce := ParseClose(c.in)
		if ce.Code != c.code || ce.Reason != c.why || !bytes.Equal(ce.Raw, c.in) {
			t.Errorf(
				"%v: got %+v",
				c.in, ce)
		}
	}
}

func TestFrameHistoryBounded(t *testing.T) {
	c := &Conn{}
	big := make([]byte, 5000)
	for i := 0; i < MaxFrameHistory+10; i++ {
		c.record(Frame{Op: ws.OpBinary, Payload: big, Len: int64(i)})
	}
	h := c.Frames()
	if len(h) != MaxFrameHistory || h[0].Len != 10 || h[len(h)-1].Len != MaxFrameHistory+9 ||
		len(h[0].Payload) != MaxHistoryPayload || c.FrameCount() != MaxFrameHistory+10 {
		t.Errorf(
			"len %d first %d last %d payload %d",
			len(h), h[0].Len, h[len(h)-1].Len, len(h[0].Payload))
	}
}

func TestInvalidUTF8TextIsProtocolError(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		nc.Write(EncodeFrame(Frame{Fin: false, Op: ws.OpText, Payload: []byte{0xE2, 0x82}}))
		nc.Write(EncodeFrame(Frame{Fin: true, Op: ws.OpContinuation, Payload: []byte{0xAC}})) // valid once joined
		nc.Write(EncodeFrame(Frame{Fin: true, Op: ws.OpText, Payload: []byte{0xFF}}))
		nc.Write(EncodeFrame(Frame{Fin: true, Op: ws.OpContinuation, Payload: []byte("x")}))
		time.Sleep(500 * time.Millisecond)
	}, true)
	c, _ := dial(t, "ws://"+addr, DialOptions{})
	ctx := testCtx(t)
	if _, p, _, err := c.ReadMessage(ctx, false); err != nil || string(p) != "\u20AC" {
		t.Fatalf(
			"split euro sign: %q %v",
			p, err)
	}
	var pe *ProtocolError
	if _, _, _, err := c.ReadMessage(ctx, false); !errors.As(err, &pe) {
		t.Fatalf(
			"invalid UTF-8: %v",
			err)
	}
	if _, _, _, err := c.ReadMessage(ctx, false); !errors.As(err, &pe) || !strings.Contains(pe.Reason, "continuation") {
		t.Fatalf(
			"orphan continuation: %v",
			err)
	}
}

// A streaming echo answers a ping inside a fragmented message between the fragments of its
// echo (coder/websocket's Reader→Writer: text(FIN=0), pong, continuation, continuation(FIN=1)).
// A reader that waits for the pong with ReadFrame and puts the data frames back with Unread
// gets the whole message from the next ReadMessage.
func TestUnreadKeepsDataFramesReadWhileWaitingForAPong(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, rd, err := c.Reader(r.Context())
			if err != nil {
				return
			}
			wr, err := c.Writer(r.Context(), typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, _ := dial(t, srv.URL+"/stream", DialOptions{})
	for _, f := range []Frame{
		{Fin: false, Op: ws.OpText, Masked: true, Payload: []byte("fragment1")},
		{Fin: true, Op: ws.OpPing, Masked: true, Payload: []byte("ping")},
	} {
		if err := c.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	var kept []Frame
	for {
		f, err := c.ReadFrame(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if f.Op == ws.OpPong {
			break
		}
		kept = append(kept, f)
	}
	if len(kept) != 1 || kept[0].Op != ws.OpText || kept[0].Fin {
		t.Fatalf("frames before the pong %+v, want the echo's first fragment (text, FIN clear)", kept)
	}
	c.Unread(kept...)
	if err := c.WriteFrame(Frame{Fin: true, Op: ws.OpContinuation, Masked: true, Payload: []byte("fragment2")}); err != nil {
		t.Fatal(err)
	}
	op, p, _, err := c.ReadMessage(testCtx(t), true)
	if err != nil || op != ws.OpText || string(p) != "fragment1fragment2" {
		t.Fatalf("ReadMessage = %v %q %v, want text \"fragment1fragment2\"", op, p, err)
	}
}
