package websocket

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// Idle WebSockets are cut by proxies and load balancers (nginx proxy_read_timeout 60 s, AWS
// ALB idle timeout 60 s) and a dead peer goes unnoticed without traffic; "a Ping frame may
// serve either as a keepalive or as a means to verify that the remote endpoint is still
// responsive" (RFC 6455 §5.5.2).
var _ = fw.Register(fw.Check{
	ID: "WS-KEEP-001", Level: fw.SHOULD, Transport: fw.WebSocket, Requires: []fw.Capability{fw.CapWebSocket, fw.CapHeartbeat},
	Requirement: "An idle WebSocket receives a frame from the server (a ping, or an application heartbeat) at least every declared keepalive interval (websocket.keepalive).",
	Quote:       "A Ping frame may serve either as a keepalive or as a means to verify that the remote endpoint is still responsive.",
	Spec:        "RFC 6455 §5.5.2; operational (nginx proxy_read_timeout, AWS ALB idle timeout: 60 s)",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		declared := t.Target().WebSocket.Keepalive.D()
		if declared <= 0 {
			t.NotSupported("the profile declares no websocket.keepalive interval")
		}
		slack := time.Second + declared/5
		window := 2*declared + slack
		c, _ := dial(t, "")
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), window)
		defer cancel()
		prev, worst, frames := start, time.Duration(0), 0
		for {
			f, err := c.ReadFrame(ctx)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				t.Violation("the connection stays open while idle", describe(err, window))
			}
			frames++
			worst = max(worst, f.At.Sub(prev))
			prev = f.At
			if f.Op == ws.OpPing {
				_ = c.WriteFrame(wsclient.Frame{Fin: true, Op: ws.OpPong, Masked: true, Payload: f.Payload})
			}
		}
		worst = max(worst, time.Since(prev))
		t.Measure("longest idle gap", "%s over %s (%d frames)", worst.Round(time.Millisecond), window.Round(time.Millisecond), frames)
		t.Measure("declared keepalive", "%s", declared)
		if worst > declared+slack {
			t.Violation(fmt.Sprintf("no idle gap longer than %s (+%s measuring slack)", declared, slack), fmt.Sprintf("an idle gap of %s", worst.Round(time.Millisecond)))
		}
	},
})
