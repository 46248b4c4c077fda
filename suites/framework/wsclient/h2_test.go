package wsclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// h2Server is a TLS server speaking HTTP/2 whose handler answers an extended CONNECT
// (:protocol websocket) with 200, sends one text frame and echoes the client's first message.
func h2Server(t *testing.T) *httptest.Server {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Proto != "HTTP/2.0" {
			http.Error(w, "want an extended CONNECT over HTTP/2", http.StatusBadRequest)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		_ = ws.WriteFrame(w, ws.NewTextFrame([]byte("hello")))
		_ = rc.Flush()
		f, err := ws.ReadFrame(r.Body)
		if err != nil {
			return
		}
		_ = ws.WriteFrame(w, ws.NewTextFrame(ws.UnmaskFrame(f).Payload))
		_ = rc.Flush()
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// withXConnect runs the calling test in a child test process whose GODEBUG enables (on) or
// disables extended CONNECT in Go's HTTP/2 server, which reads it once at start; it reports
// whether the caller is that child and should run the test itself.
func withXConnect(t *testing.T, on bool) bool {
	if strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") == on {
		return true
	}
	v := "http2xconnect=0"
	if on {
		v = "http2xconnect=1"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG="+v)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s with GODEBUG=%s: %v\n%s", t.Name(), v, err, out)
	}
	return false
}

func TestDialH2(t *testing.T) {
	if !withXConnect(t, true) {
		return
	}
	s := h2Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, hs, err := DialH2(ctx, s.URL+"/ws", DialOptions{TLSConfig: s.Client().Transport.(*http.Transport).TLSClientConfig})
	if errors.Is(err, ErrNoExtendedConnect) {
		t.Fatalf("Go's HTTP/2 server advertises extended CONNECT, yet: %v", err)
	}
	if err != nil {
		t.Fatalf("DialH2: %v", err)
	}
	defer c.Close()
	if hs.Status != http.StatusOK {
		t.Fatalf("status %d", hs.Status)
	}
	op, p, _, err := c.ReadMessage(ctx, true)
	if err != nil || op != ws.OpText || string(p) != "hello" {
		t.Fatalf("first message: %v %q %v", op, p, err)
	}
	if err := c.WriteMessage(ws.OpText, []byte("echo me")); err != nil {
		t.Fatal(err)
	}
	op, p, _, err = c.ReadMessage(ctx, true)
	if err != nil || string(p) != "echo me" {
		t.Fatalf("echo: %v %q %v", op, p, err)
	}
	// A cancelled read ends the stream and returns.
	rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer rcancel()
	if _, _, _, err := c.ReadMessage(rctx, true); err == nil {
		t.Fatal("a read past its deadline returned no error")
	}
}

// A server without SETTINGS_ENABLE_CONNECT_PROTOCOL: ErrNoExtendedConnect (the text of
// x/net/http2's unexported error is what DialH2 matches).
func TestDialH2WithoutExtendedConnect(t *testing.T) {
	if !withXConnect(t, false) {
		return
	}
	s := h2Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := DialH2(ctx, s.URL+"/ws", DialOptions{TLSConfig: s.Client().Transport.(*http.Transport).TLSClientConfig})
	if !errors.Is(err, ErrNoExtendedConnect) {
		t.Fatalf("err %v, want ErrNoExtendedConnect", err)
	}
}
