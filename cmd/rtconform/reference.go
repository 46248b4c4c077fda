package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rtconform/rtconform/reference"
	"github.com/rtconform/rtconform/reference/eventlog"
)

// tokenEnv is the environment variable holding the reference server's bearer token (an
// alternative to --token, which ps shows).
const tokenEnv = "RTCONFORM_REFERENCE_TOKEN"

func cmdReference(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default)")
	heartbeat := fs.Duration("heartbeat", 10*time.Second, "SSE heartbeat comment interval")
	retry := fs.Duration("retry", 3*time.Second, "SSE retry: value")
	pollTimeout := fs.Duration("poll-timeout", 25*time.Second, "long-poll hold timeout")
	ping := fs.Duration("ping", 20*time.Second, "WebSocket ping interval")
	retain := fs.Int("retain", 10000, "events kept per topic")
	retainAge := fs.Duration("retain-age", time.Hour, "how long events are kept")
	origins := fs.String("allowed-origins", "", "comma-separated Origin host patterns (path.Match) allowed cross-origin: WebSocket handshakes besides the same host (else 403), and CORS")
	token := fs.String("token", "", "bearer token required on every route but /healthz (Authorization: Bearer, or ?access_token= on subscribe routes); prefer the environment variable "+tokenEnv+", which ps does not show")
	maxHeader := fs.Int("max-header-bytes", reference.DefaultMaxHeaderBytes, "largest request head (request line and headers); larger: 431")
	maxPublish := fs.Int64("max-publish-bytes", reference.DefaultMaxPublishBytes, "largest publish body; larger: 413")
	readLimit := fs.Int64("read-limit", reference.DefaultReadLimit, "largest WebSocket message accepted from a client on /ws/{topic}; larger: close 1009")
	maxConns := fs.Int("max-conns-per-ip", reference.DefaultMaxConnsPerIP, "open connections per client IP address, WebSockets included (-1: unlimited); beyond: 429 with Retry-After; loopback clients are exempt unless --limit-loopback")
	limitLoopback := fs.Bool("limit-loopback", false, "apply --max-conns-per-ip to loopback clients too (off: the conformance and load tests open thousands of connections from 127.0.0.1, and a reverse proxy on the same host is one loopback client)")
	maxTopics := fs.Int("max-topics", eventlog.DefaultMaxTopics, "topics kept by the server; a new topic beyond: 503 with Retry-After")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform reference [flags]\n\nServes the reference server: SSE /sse/{topic}, WebSocket /ws/{topic} and /echo,\n"+
			"long-poll /poll/{topic}, HTTP stream /stream/{topic}, POST /publish/{topic}, /healthz, /metrics.\n"+
			"Stops gracefully on SIGINT/SIGTERM. Before exposing it beyond loopback set a token (%s)\n"+
			"and the allowed origins; see the README's section on exposing the reference server.\n\nFlags:\n", tokenEnv)
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	if *token == "" {
		*token = os.Getenv(tokenEnv)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"max-header-bytes", int64(*maxHeader)}, {"max-publish-bytes", *maxPublish}, {"read-limit", *readLimit}, {"max-topics", int64(*maxTopics)}} {
		if f.v <= 0 {
			fmt.Fprintf(stderr, "rtconform reference: --%s must be positive, got %d\n", f.name, f.v)
			return exitHarness
		}
	}
	if *maxConns == 0 || *maxConns < -1 {
		fmt.Fprintf(stderr, "rtconform reference: --max-conns-per-ip must be positive or -1 (unlimited), got %d\n", *maxConns)
		return exitHarness
	}
	cfg := reference.Config{Addr: *addr, Heartbeat: *heartbeat, Retry: *retry, PollTimeout: *pollTimeout, PingInterval: *ping,
		Token: *token, MaxHeaderBytes: *maxHeader, MaxPublishBytes: *maxPublish, ReadLimit: *readLimit,
		MaxConnsPerIP: *maxConns, LimitLoopback: *limitLoopback}
	cfg.Log.MaxEvents, cfg.Log.MaxAge, cfg.Log.MaxTopics = *retain, *retainAge, *maxTopics
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	srv := reference.New(cfg)
	if err := srv.Start(); err != nil {
		fmt.Fprintf(stderr, "rtconform reference: %v\n", err)
		return exitHarness
	}
	fmt.Fprintf(stdout, "rtconform reference server listening on %s\n", srv.URL())
	if host, _, err := net.SplitHostPort(srv.Addr()); err == nil && cfg.Token == "" {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsLoopback() {
			fmt.Fprintf(stderr, "rtconform reference: warning: listening on %s without a token: anyone who can reach it can publish and subscribe (set %s or --token)\n", srv.Addr(), tokenEnv)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "rtconform reference: shutdown: %v\n", err)
		return exitHarness
	}
	return exitOK
}
