package proxyrun

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TLS is a certificate authority and one server certificate generated for a run (issue 18
// part 2: TLS and HTTP/2 at the edge). The certificate names the loopback addresses
// (127.0.0.1 and ::1 as IP SANs, and localhost), where every proxy listens. Nothing is
// installed in the system's trust store: only clients built with ClientConfig (the suite's)
// trust it, so a browser or curl on the machine does not.
type TLS struct {
	// CAFile, CertFile and KeyFile are PEM files in the directory given to NewTLS: the CA's
	// certificate, the server certificate (leaf, then the CA) and the server's private key.
	// CertKeyFile is the chain followed by the key in one file, as HAProxy's `crt` takes it.
	CAFile, CertFile, KeyFile, CertKeyFile string
	pool                                   *x509.CertPool
}

// NewTLS generates a CA (ECDSA P-256, valid for a day) and a server certificate signed by
// it, and writes them to dir (created if needed; the key is mode 0600).
func NewTLS(dir string) (*TLS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "rtconform test CA (one run)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	t := &TLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		CertKeyFile: filepath.Join(dir, "cert+key.pem"), pool: x509.NewCertPool()}
	t.pool.AddCert(caCert)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, f := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{
		{t.CAFile, caPEM, 0o644}, {t.CertFile, chain, 0o644},
		{t.KeyFile, keyPEM, 0o600},
		{t.CertKeyFile, append(append([]byte(nil), chain...), keyPEM...), 0o600},
	} {
		if err := os.WriteFile(f.path, f.b, f.mode); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// Pool returns a pool holding the run's CA only.
func (t *TLS) Pool() *x509.CertPool { return t.pool }

// ClientConfig returns a TLS client config that trusts the run's CA (and nothing else),
// offering h2 and http/1.1 by ALPN.
func (t *TLS) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: t.pool, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}

// tlsNames are the proxies and edges whose templates have a TLS listener.
var tlsNames = []string{"nginx", "haproxy", "caddy", "varnish", "cloudflare-like", "fastly-like", "cloudfront-like", "alb-like", "heroku-like"}

// TLSNames returns the proxies and edges that can listen with TLS and HTTP/2
// (Options.TLS): nginx (`listen … ssl http2`), HAProxy (`bind … ssl crt … alpn h2,http/1.1`),
// Caddy (an https:// site with `tls cert key`), Varnish behind hitch (TLS, ALPN h2, PROXY v2 to
// Varnish with feature=+http2), and the edges built on them: cloudflare-like, fastly-like,
// cloudfront-like, alb-like, heroku-like. Apache is left out (proxies/README.md says why).
func TLSNames() []string { return append([]string(nil), tlsNames...) }

// SupportsTLS reports whether Start accepts Options.TLS for the proxy or edge.
func SupportsTLS(name string) bool { return slices.Contains(tlsNames, name) }

var (
	http2OnOnce sync.Once
	http2On     bool
)

// nginxHTTP2On reports whether the installed nginx takes the `http2 on;` directive (1.25.1
// and later; Debian 12's 1.22.1 takes only `listen ... ssl http2`).
func nginxHTTP2On() bool {
	http2OnOnce.Do(func() {
		v, err := Version("nginx")
		if err != nil {
			return
		}
		http2On = nginxAtLeast(v, 1, 25, 1)
	})
	return http2On
}

// nginxAtLeast reports whether a version line ("nginx version: nginx/1.22.1") names at
// least major.minor.patch.
func nginxAtLeast(line string, major, minor, patch int) bool {
	_, v, ok := strings.Cut(line, "nginx/")
	if !ok {
		return false
	}
	var got [3]int
	for i, f := range strings.SplitN(strings.Fields(v + " ")[0], ".", 3) {
		got[i], _ = strconv.Atoi(f)
	}
	want := [3]int{major, minor, patch}
	for i := range got {
		if got[i] != want[i] {
			return got[i] > want[i]
		}
	}
	return true
}

// hitchSpec finds the TLS terminator put in front of a proxy without TLS (spec.tlsFront).
var hitchSpec = &spec{name: "hitch", pkg: "hitch", bins: []string{"hitch"}}

// TLSFrontAvailable reports whether the TLS terminator that gives Varnish and the
// Varnish-based edges their TLS and HTTP/2 listener (hitch) can run here.
func TLSFrontAvailable() error {
	_, err := hitchSpec.binary()
	return err
}

// startTLSFront starts hitch on d.Listen: TLS with the run's certificate, ALPN h2 and
// http/1.1, each connection forwarded to d.Inner with a PROXY v2 header that carries the
// negotiated protocol (Varnish then speaks HTTP/2 on it). Its output goes to hitch.log.
func startTLSFront(d *data, dir string) (*Instance, error) {
	bin, err := hitchSpec.binary()
	if err != nil {
		return nil, err
	}
	innerHost, innerPort, err := net.SplitHostPort(d.Inner)
	if err != nil {
		return nil, err
	}
	args := []string{"--frontend=[" + d.Host + "]:" + strconv.Itoa(d.Port), "--backend=[" + innerHost + "]:" + innerPort,
		"--write-proxy-v2=on", "--alpn-protos=h2,http/1.1", "--daemon=off", "--workers=1"}
	if d.Root { // hitch drops its privileges after loading the certificate
		args = append(args, "--user="+d.RunUser)
	}
	args = append(args, d.CertKey)
	out, err := os.OpenFile(filepath.Join(dir, "hitch.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "== %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %v", bin, err)
	}
	f := &Instance{name: "hitch", variant: "tls", addr: d.Listen, cmd: cmd, done: make(chan struct{})}
	go func() {
		f.waitErr = cmd.Wait()
		out.Close()
		close(f.done)
	}()
	return f, nil
}
