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
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

func TestAcceptKey(t *testing.T) {
	// RFC 6455 §1.3 example.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf(
			"AcceptKey=%q",
			got)
	}
}

func TestDialAndTextMessage(t *testing.T) {
	srv, _ := coderServer(t)
	c, hs := dial(t, wsURL(srv, "/echo?x=1"), DialOptions{
		Origin: srv.URL,
		Header: http.Header{"X-Test": {"1"}},
	})
	if hs.Status != 101 || !strings.HasPrefix(hs.StatusLine, "HTTP/1.1 101") {
		t.Fatalf(
			"status %d %q",
			hs.Status, hs.StatusLine)
	}
	if got := hs.Header.Get("Sec-WebSocket-Accept"); got != AcceptKey(hs.Key) {
		t.Errorf(
			"accept %q, want %q",
			got, AcceptKey(hs.Key))
	}
	for _, want := range []string{"GET /echo?x=1 HTTP/1.1\r\n", "Sec-WebSocket-Version: 13\r\n", "X-Test: 1\r\n", "Origin: " + srv.URL + "\r\n"} {
		if !bytes.Contains(hs.Request, []byte(want)) {
			t.Errorf(
				"request lacks %q:\n%s",
				want, hs.Request)
		}
	}
	if !bytes.HasSuffix(hs.Response, []byte("\r\n\r\n")) {
		t.Errorf(
			"raw response %q",
			hs.Response)
	}
	if err := c.WriteMessage(ws.OpText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	op, p, frames, err := c.ReadMessage(testCtx(t), false)
	if err != nil || op != ws.OpText || string(p) != "hello" {
		t.Fatalf(
			"got %v %q %v",
			op, p, err)
	}
	f := frames[0]
	if len(frames) != 1 || f.Masked || f.Rsv != 0 || !f.Fin || f.At.IsZero() || f.Len != 5 {
		t.Errorf(
			"frames %+v",
			frames)
	}
	if h := c.Frames(); len(h) != 1 || string(h[0].Payload) != "hello" {
		t.Errorf(
			"history %+v",
			h)
	}
}

func TestDialHTTPSchemeAndNon101(t *testing.T) {
	srv, _ := coderServer(t)
	c, hs, err := Dial(testCtx(t), srv.URL+"/nothing", DialOptions{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 404 || c != nil || hs == nil || hs.Status != 404 {
		t.Fatalf(
			"got %v %v %+v",
			c, err, hs)
	}
}

func TestRawHandshakeBadVersion(t *testing.T) {
	srv, _ := coderServer(t)
	req := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
	hs, nc, err := RawHandshake(context.Background(), srv.Listener.Addr().String(), []byte(req), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// RFC 6455 §4.2.2 asks for "an appropriate HTTP error code (such as 426
	// Upgrade Required)" and the supported versions; coder/websocket answers 400.
	if hs.Status != 400 || hs.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf(
			"coder/websocket: %d %v",
			hs.Status, hs.Header)
	}
	if string(hs.Request) != req {
		t.Error("request not recorded verbatim")
	}

	// A server following the RFC's example answers 426.
	rfc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-WebSocket-Version") != "13" {
			w.Header().Set("Sec-WebSocket-Version", "13")
			w.WriteHeader(http.StatusUpgradeRequired)
		}
	}))
	defer rfc.Close()
	hs, nc2, err := RawHandshake(context.Background(), rfc.Listener.Addr().String(), []byte(req), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if hs.Status != 426 || hs.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf(
			"got %d %v",
			hs.Status, hs.Header)
	}
}

func TestRawHandshakeHeaderLimit(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		io.WriteString(nc, "HTTP/1.1 200 OK\r\n")
		line := "X-Big: " + strings.Repeat("a", 1000) + "\r\n"
		for i := 0; i < 100; i++ {
			if _, err := io.WriteString(nc, line); err != nil {
				return
			}
		}
	}, false)
	hs, _, err := RawHandshake(context.Background(), addr, []byte("GET / HTTP/1.1\r\n\r\n"), 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exceed") || len(hs.Response) > MaxHandshakeHeader {
		t.Errorf(
			"got %v, %d bytes",
			err, len(hs.Response))
	}
}

func TestDialTimeoutOnSilentServer(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		time.Sleep(time.Second)
	}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Dial(ctx, "ws://"+addr, DialOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 900*time.Millisecond {
		t.Fatalf(
			"got %v after %v",
			err, time.Since(start))
	}
}

func TestDialTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, p, err := c.Read(r.Context())
		if err == nil {
			_ = c.Write(r.Context(), typ, p)
		}
	}))
	defer srv.Close()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, hs := dial(t, "wss"+strings.TrimPrefix(srv.URL, "https"), DialOptions{TLSConfig: cfg})
	if hs.Status != 101 {
		t.Fatalf(
			"status %d",
			hs.Status)
	}
	if err := c.WriteMessage(ws.OpBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	op, p, _, err := c.ReadMessage(testCtx(t), false)
	if err != nil || op != ws.OpBinary || !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatalf(
			"got %v %v %v",
			op, p, err)
	}
}
