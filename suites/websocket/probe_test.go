package websocket

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
)

// holdingTunnel is a TCP proxy to upstream that passes the client's bytes and the upstream's
// response head at once, but holds every later upstream byte in a 64 KiB buffer: a tunnel
// that buffers the WebSocket's frames.
func holdingTunnel(t *testing.T, upstream string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", strings.TrimPrefix(upstream, "http://"))
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				br := bufio.NewReader(up)
				var head bytes.Buffer
				for {
					line, err := br.ReadBytes('\n')
					head.Write(line)
					if err != nil || len(bytes.TrimSpace(line)) == 0 {
						break
					}
				}
				_, _ = c.Write(head.Bytes())
				bw := bufio.NewWriterSize(c, 64<<10)
				_, _ = io.Copy(struct{ io.Writer }{bw}, struct{ io.Reader }{br}) // no ReadFrom/WriteTo: it really buffers
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestProbeUpgradesThroughACorrectPath(t *testing.T) {
	// httputil's reverse proxy passes upgrades; without publish only the handshake is judged.
	fwtest.ProbePassesCorrectPaths(t, probe, fw.CapWebSocket)
}

func TestProbeNamesARefusedUpgrade(t *testing.T) {
	ref := fwtest.Reference(t, reference.Config{})
	u, _ := url.Parse(ref)
	// A proxy that drops the hop-by-hop Upgrade and Connection headers (nginx without its
	// WebSocket recipe): the origin sees a plain GET and refuses it.
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
	}}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	for _, caps := range [][]fw.Capability{nil, {fw.CapWebSocket}} {
		c := probe(context.Background(), fwtest.DeploymentRun(proxy.URL, caps...))
		if c == nil || c.Key != "websocket-upgrade:websocket" || !strings.Contains(c.Text, "instead of 101") || !strings.Contains(c.Text, proxy.URL) {
			t.Errorf("capabilities %v: cause %+v, want websocket-upgrade:websocket with the status line", caps, c)
		}
	}
}

func TestProbeNamesAHoldingTunnel(t *testing.T) {
	ref := fwtest.Reference(t, reference.Config{})
	base := holdingTunnel(t, ref)
	r := fwtest.DeploymentRun(base)
	r.Profile.Target.Publish.Path = ref + "/publish/{topic}" // the tunnel is the WebSocket's path only
	start := time.Now()
	c := probe(context.Background(), r)
	if c == nil || c.Key != "buffering:websocket" || !strings.Contains(c.Text, "not delivered within 5s") {
		t.Fatalf("cause %+v, want buffering:websocket", c)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the probe took %s", d)
	}
	if c := probe(context.Background(), fwtest.DeploymentRun(base, fw.CapWebSocket)); c != nil {
		t.Errorf("without publish: cause %+v, want none (the upgrade itself passes)", *c)
	}
}

func TestProbeNamesBadGateway(t *testing.T) {
	base := fwtest.BadGatewayProxy(t) // the upstream is unreachable: the proxy answers 502
	c := probe(context.Background(), fwtest.DeploymentRun(base))
	if c == nil || c.Key != "bad-gateway:websocket" || !strings.Contains(c.Text, "502") {
		t.Errorf("cause %+v, want bad-gateway:websocket with the status", c)
	}
}
