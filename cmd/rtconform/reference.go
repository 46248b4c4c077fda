package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rtconform/rtconform/reference"
)

func cmdReference(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default)")
	heartbeat := fs.Duration("heartbeat", 10*time.Second, "SSE heartbeat comment interval")
	retry := fs.Duration("retry", 3*time.Second, "SSE retry: value")
	pollTimeout := fs.Duration("poll-timeout", 25*time.Second, "long-poll hold timeout")
	ping := fs.Duration("ping", 20*time.Second, "WebSocket ping interval")
	retain := fs.Int("retain", 10000, "events kept per topic")
	retainAge := fs.Duration("retain-age", time.Hour, "how long events are kept")
	origins := fs.String("allowed-origins", "", "comma-separated WebSocket Origin patterns allowed besides the same host")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform reference [flags]\n\nServes the reference server: SSE /sse/{topic}, WebSocket /ws/{topic} and /echo,\n"+
			"long-poll /poll/{topic}, POST /publish/{topic}, /healthz, /metrics. Stops gracefully on SIGINT/SIGTERM.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	cfg := reference.Config{Addr: *addr, Heartbeat: *heartbeat, Retry: *retry, PollTimeout: *pollTimeout, PingInterval: *ping}
	cfg.Log.MaxEvents, cfg.Log.MaxAge = *retain, *retainAge
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	srv := reference.New(cfg)
	if err := srv.Start(); err != nil {
		fmt.Fprintf(stderr, "rtconform reference: %v\n", err)
		return exitHarness
	}
	fmt.Fprintf(stdout, "rtconform reference server listening on %s\n", srv.URL())
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
