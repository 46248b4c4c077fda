package reference

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

func TestUTF8CheckMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xfe, 0xff}
	for i := 0; i < 200000; i++ {
		b := make([]byte, rng.IntN(8))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		var whole, bytewise utf8Check
		ok := whole.write(b) && whole.need == 0
		okBytes := true
		for j := range b {
			if !bytewise.write(b[j : j+1]) {
				okBytes = false
				// fail-fast: the prefix up to here has no valid completion
				if utf8.Valid(b[:j+1]) {
					t.Fatalf("%x: failed at byte %d, but the prefix is valid", b, j)
				}
			}
		}
		okBytes = okBytes && bytewise.need == 0
		if ok != utf8.Valid(b) || okBytes != ok {
			t.Fatalf("%x: check %v, bytewise %v, utf8.Valid %v", b, ok, okBytes, utf8.Valid(b))
		}
	}
}

// rawWS dials path with the strict client.
func rawWS(t *testing.T, s *Server, path string) *wsclient.Conn {
	t.Helper()
	c, _, err := wsclient.Dial(ctxT(t), "ws://"+s.Addr()+path, wsclient.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reaction writes b, then a ping, and returns the close code (1006: TCP closed) or 0 for a pong.
func reaction(t *testing.T, c *wsclient.Conn, b []byte) int {
	t.Helper()
	_ = c.WriteRaw(b)
	_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPing, Masked: true, Payload: []byte("probe")})
	for {
		f, err := c.ReadFrame(ctxT(t))
		if err != nil {
			return 1006
		}
		switch f.Op {
		case ws.OpPong:
			return 0
		case ws.OpClose:
			return wsclient.ParseClose(f.Payload).Code
		}
	}
}

func enc(frames ...wsclient.Frame) []byte {
	var b []byte
	for _, f := range frames {
		f.Masked = !f.Masked // the zero value is a masked client frame
		b = append(b, wsclient.EncodeFrame(f)...)
	}
	return b
}

func closeBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func TestWSStrictFraming(t *testing.T) {
	s := startServer(t, Config{ReadLimit: 1024, Logf: func(string, ...any) {}})
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"valid text", enc(wsclient.Frame{Fin: true, Op: ws.OpText, Payload: []byte("héllo")}), 0},
		{"fragmented text split mid-rune", enc(wsclient.Frame{Op: ws.OpText, Payload: []byte{0xc3}}, wsclient.Frame{Fin: true, Op: ws.OpContinuation, Payload: []byte{0xa9}}), 0},
		{"ping inside a fragmented message", enc(wsclient.Frame{Op: ws.OpText, Payload: []byte("a")}, wsclient.Frame{Fin: true, Op: ws.OpPing}), 0},
		{"unmasked", enc(wsclient.Frame{Fin: true, Op: ws.OpText, Masked: true, Payload: []byte("x")}), 1002},
		{"rsv1", enc(wsclient.Frame{Fin: true, Rsv: 4, Op: ws.OpText}), 1002},
		{"opcode 3", enc(wsclient.Frame{Fin: true, Op: 3}), 1002},
		{"opcode 11", enc(wsclient.Frame{Fin: true, Op: 11}), 1002},
		{"ping 126", enc(wsclient.Frame{Fin: true, Op: ws.OpPing, Payload: make([]byte, 126)}), 1002},
		{"fragmented ping", enc(wsclient.Frame{Op: ws.OpPing}), 1002},
		{"stray continuation", enc(wsclient.Frame{Fin: true, Op: ws.OpContinuation}), 1002},
		{"text inside text", enc(wsclient.Frame{Op: ws.OpText}, wsclient.Frame{Fin: true, Op: ws.OpText}), 1002},
		{"invalid utf-8", enc(wsclient.Frame{Fin: true, Op: ws.OpText, Payload: []byte{0xed, 0xa0, 0x80}}), 1007},
		{"truncated utf-8 at the end", enc(wsclient.Frame{Fin: true, Op: ws.OpText, Payload: []byte{0xce}}), 1007},
		{"too big", enc(wsclient.Frame{Fin: true, Op: ws.OpBinary, Payload: make([]byte, 1025)}), 1009},
		{"1-byte close", enc(wsclient.Frame{Fin: true, Op: ws.OpClose, Payload: []byte{3}}), 1002},
		{"close 1005", enc(wsclient.Frame{Fin: true, Op: ws.OpClose, Payload: closeBody(1005, "")}), 1002},
		{"close reason not utf-8", enc(wsclient.Frame{Fin: true, Op: ws.OpClose, Payload: closeBody(1000, "\xff")}), 1007},
		{"close 4000", enc(wsclient.Frame{Fin: true, Op: ws.OpClose, Payload: closeBody(4000, "bye")}), 4000},
		{"empty close", enc(wsclient.Frame{Fin: true, Op: ws.OpClose}), 1005},
	} {
		for _, path := range []string{"/ws/strict", "/echo"} {
			if tc.name == "too big" && path == "/echo" {
				continue // the echo endpoint accepts up to EchoReadLimit
			}
			c := rawWS(t, s, path)
			if got := reaction(t, c, tc.b); got != tc.want {
				t.Errorf("%s on %s: reaction %d, want %d", tc.name, path, got, tc.want)
			}
		}
	}
}

func TestWSFailFastAndTCPClose(t *testing.T) {
	s := startServer(t, Config{Logf: func(string, ...any) {}})
	c := rawWS(t, s, "/ws/ff")
	// One text frame declaring 20 bytes; the invalid byte arrives while the rest never does.
	b := enc(wsclient.Frame{Fin: true, Op: ws.OpText, Payload: []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xba\xce\xb5\xf4\x90\x80\x80edited")})
	hdr := len(b) - 21
	_ = c.WriteRaw(b[:hdr+13])
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f, err := c.ReadFrame(ctx)
	if err != nil || f.Op != ws.OpClose || wsclient.ParseClose(f.Payload).Code != 1007 {
		t.Fatalf("got %v %v, want close 1007 before the frame is complete", f, err)
	}
	// After its close frame the server closes TCP (half-close, then waits for ours).
	if _, err := c.ReadFrame(ctx); err == nil {
		t.Fatal("a frame after the close frame")
	}
}

func TestWSHandshakeRefusals(t *testing.T) {
	s := startServer(t, Config{AllowedOrigins: []string{"app.example"}, Logf: func(string, ...any) {}})
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	for _, tc := range []struct {
		name, req string
		status    int
		header    string
	}{
		{"ok", "GET /ws/h HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", 101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
		{"no key", "GET /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400, ""},
		{"short key", "GET /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n", 400, ""},
		{"version 8", "GET /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 8\r\n", 426, "13"},
		{"post", "POST /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n", 405, ""},
		{"head", "HEAD /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", 405, ""},
		{"no upgrade", "GET /ws/h HTTP/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", 426, ""},
		{"foreign origin", "GET /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://evil.example\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", 403, ""},
		{"allowed origin", "GET /ws/h HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://app.example\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", 101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
	} {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = nc.Write([]byte(strings.Replace(tc.req, "\r\n", "\r\nHost: "+s.Addr()+"\r\n", 1) + "\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		nc.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		switch tc.status {
		case 101:
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != tc.header {
				t.Errorf("%s: accept %q, want %q", tc.name, got, tc.header)
			}
		case 426:
			if got := resp.Header.Get("Sec-WebSocket-Version"); got != tc.header {
				t.Errorf("%s: Sec-WebSocket-Version %q, want %q", tc.name, got, tc.header)
			}
		}
	}
}

func TestWSFaultsFromContext(t *testing.T) {
	s := startServer(t, Config{Logf: func(string, ...any) {}, Wrap: func(_ *Server, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(WithWSFaults(r.Context(), WSFaults{IgnoreRSV: true, EmptyPong: true})))
		})
	}})
	c := rawWS(t, s, "/ws/faulty")
	if got := reaction(t, c, enc(wsclient.Frame{Fin: true, Rsv: 4, Op: ws.OpText})); got != 0 {
		t.Fatalf("with IgnoreRSV: reaction %d, want a pong", got)
	}
	_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPing, Masked: true, Payload: []byte("p")})
	for {
		f, err := c.ReadFrame(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if f.Op == ws.OpPong {
			if len(f.Payload) != 0 {
				t.Fatalf("with EmptyPong: pong %q", f.Payload)
			}
			break
		}
	}
}
