package toxiproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
)

// upstream is the tiny target every behaviour test proxies to:
//
//	/bytes?n=N     N bytes of 'x' (Content-Length), then the connection closes
//	/stream?every  "tick N\n" lines every interval (default 20 ms), flushed, for at most 60 s
func newUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n < 0 || n > 8<<20 {
			http.Error(w, "n out of range", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(bytes.Repeat([]byte{'x'}, n))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		every, err := time.ParseDuration(r.URL.Query().Get("every"))
		if err != nil || every <= 0 {
			every = 20 * time.Millisecond
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		tick := time.NewTicker(every)
		defer tick.Stop()
		limit := time.After(60 * time.Second)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
				return
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-limit:
				return
			case <-tick.C:
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func upstreamAddr(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// request dials addr and sends a GET for path (Connection: close).
func request(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n", path); err != nil {
		t.Fatalf("write request to %s: %v", addr, err)
	}
	return c
}

// readResult is what readUntil saw: bytes, number of Read calls that returned
// data, and how it ended (nil when max bytes were read).
type readResult struct {
	data  []byte
	reads int
	err   error
	first time.Time // when the first byte arrived
	end   time.Time // when the read loop ended
}

// readUntil reads from c until EOF, an error, max bytes, or the deadline.
func readUntil(c net.Conn, max int, within time.Duration) readResult {
	_ = c.SetReadDeadline(time.Now().Add(within))
	var r readResult
	buf := make([]byte, 32<<10)
	for len(r.data) < max {
		n, err := c.Read(buf[:min(len(buf), max-len(r.data))])
		if n > 0 {
			if r.reads == 0 {
				r.first = time.Now()
			}
			r.reads++
			r.data = append(r.data, buf[:n]...)
		}
		if err != nil {
			r.err = err
			break
		}
	}
	r.end = time.Now()
	return r
}

// body returns the part after the HTTP header.
func body(data []byte) []byte {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[i+4:]
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isClosed(err error) bool {
	return err != nil && !isTimeout(err)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// openOrRequireDocker opens a container backend; without a Docker daemon the test is
// skipped with a "not tested:" line, or fails with it under RTCONFORM_REQUIRE_DOCKER=1
// (package internal/need).
func openOrRequireDocker(t *testing.T, cfg Config) Backend {
	t.Helper()
	need.Require(t, "docker")
	cfg.Backend = Container
	cfg.Logf = t.Logf
	ctx := testCtx(t, 5*time.Minute) // a cold image build compiles Toxiproxy
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open container backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("close container backend: %v", err)
		}
	})
	return b
}

// dialable reports whether a TCP connect to addr succeeds quickly.
func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// drain reads whatever arrives on c for d (data in flight when a fault starts).
func drain(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	if isTimeout(err) {
		return nil
	}
	if err == nil {
		return io.EOF
	}
	return err
}
