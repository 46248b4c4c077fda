package ordering

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// slowReader opens the check's topic on transport tr straight to the target with a 4 KiB
// receive buffer and reads at most rate bytes a second, never parsing what it reads. stop
// closes it and returns how many bytes it read. For a long-poll it holds one poll open.
func slowReader(t *fw.T, tr fw.Transport, rate int) (stop func() int64) {
	u, err := url.Parse(t.Run.BaseURL)
	if err != nil {
		t.Harness("target url: %v", err)
	}
	tg := t.Target()
	var path, extra string
	method, body := "GET", ""
	switch tr {
	case fw.SSE:
		path, extra = tg.SSE.Path, "Accept: text/event-stream\r\n"
	case fw.WebSocket:
		key := make([]byte, 16)
		_, _ = rand.Read(key)
		path = tg.WebSocket.Path
		extra = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
			base64.StdEncoding.EncodeToString(key) + "\r\n"
	case fw.LongPoll:
		path = tg.LongPoll.Path
	case fw.HTTPStream:
		path = tg.HTTPStream.Path
		if tg.HTTPStream.Method == "POST" {
			method, body = "POST", strings.ReplaceAll(tg.HTTPStream.Body, "{topic}", t.Topic())
			extra = fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
		}
	}
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithCancel(t.Context())
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		cancel()
		t.Harness("slow reader: connecting to %s: %v", u.Host, err)
	}
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n%s", method, fw.Path(path, t.Topic()), u.Host, extra, body)
	if _, err := conn.Write([]byte(req)); err != nil {
		cancel()
		conn.Close()
		t.Harness("slow reader: sending the request: %v", err)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 256)
		tick := time.NewTicker(time.Second / 8)
		defer tick.Stop()
		for {
			budget := rate / 8
			for budget > 0 {
				k, err := conn.Read(buf[:min(len(buf), budget)])
				n.Add(int64(k))
				budget -= k
				if err != nil {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() int64 {
		once.Do(func() {
			cancel()
			conn.Close()
			wg.Wait()
		})
		return n.Load()
	}
	t.Cleanup(func() { stop() })
	return stop
}
