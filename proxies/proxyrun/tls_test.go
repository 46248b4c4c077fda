package proxyrun

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The run's certificate names the loopback addresses, is signed by the run's CA, and only a
// client given that CA trusts it.
func TestNewTLS(t *testing.T) {
	c, err := NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1"}); err == nil {
		t.Errorf("the system roots trust the run's certificate")
	}
	for _, v := range []struct {
		line string
		want bool
	}{{"nginx version: nginx/1.22.1", false}, {"nginx version: nginx/1.25.1", true}, {"nginx version: nginx/1.29.7 (Ubuntu)", true}, {"x", false}} {
		if got := nginxAtLeast(v.line, 1, 25, 1); got != v.want {
			t.Errorf("nginxAtLeast(%q, 1.25.1) = %v", v.line, got)
		}
	}
}

// Every proxy of TLSNames() listens with TLS and HTTP/2 when Options.TLS is set, with the
// installed nginx's own syntax: a client trusting the run's CA negotiates h2 (ALPN), gets
// the upstream's answer (the upstream still sees HTTP/1.x) without the hop-by-hop headers
// h2 forbids, and, through the recommended config, the first SSE event at once; a client
// with the system roots refuses the certificate. A proxy without a TLS listener is refused.
func TestTLSHTTP2(t *testing.T) {
	requireProxies(t, "nginx", "haproxy", "varnish", "caddy", "apache")
	requireTLSFront(t)
	up := newUpstream(t)
	cert, err := NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Upstream: up.Listener.Addr().String(), Idle: testIdle, Heartbeat: testHeartbeat,
		StreamIdle: testStreamIdle, Dir: t.TempDir(), ReadyPath: "/plain", TLS: cert}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Start(ctx, "apache", Naive, opts); err == nil || !strings.Contains(err.Error(), "no TLS listener") {
		t.Errorf("apache with TLS: %v, want refused (no TLS listener)", err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cert.ClientConfig(), ForceAttemptHTTP2: true}}
	for _, name := range TLSNames() {
		for _, variant := range Variants() {
			t.Run(name+":"+variant, func(t *testing.T) {
				inst, err := Start(ctx, name, variant, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer inst.Stop()
				if !strings.HasPrefix(inst.URL(), "https://127.0.0.1:") || inst.TLS() != cert {
					t.Errorf("URL %s, TLS %v", inst.URL(), inst.TLS())
				}
				resp, err := client.Get(inst.URL() + "/proto")
				if err != nil {
					t.Fatalf("GET /proto over TLS: %v\n%s", err, inst.Tail(2048))
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
					t.Errorf("proto %s, ALPN %v, want HTTP/2.0 negotiated as h2", resp.Proto, resp.TLS)
				}
				if !strings.HasPrefix(string(body), "HTTP/1.") {
					t.Errorf("the upstream saw %q, want HTTP/1.x", body)
				}
				for _, h := range []string{"Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade"} {
					if v := resp.Header.Get(h); v != "" {
						t.Errorf("h2 response carries %s: %s", h, v)
					}
				}
				_, err = http.Get(inst.URL() + "/plain")
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Errorf("a client with the system roots: %v, want an unknown authority", err)
				}
				if variant != Recommended {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, inst.URL()+"/sse", nil)
				req.Header.Set("Accept-Encoding", "identity")
				began := time.Now()
				resp, err = client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				line, err := bufio.NewReader(resp.Body).ReadString('\n')
				if took := time.Since(began); err != nil || !strings.HasPrefix(line, "data: first-event") || took > firstEventIn || resp.ProtoMajor != 2 {
					t.Errorf("SSE over %s: first line %q after %v (err %v), want the first event within %v", resp.Proto, line, took, err, firstEventIn)
				}
			})
		}
	}
}
