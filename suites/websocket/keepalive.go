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

// Keepalive. Idle WebSockets are cut by proxies and load balancers (nginx proxy_read_timeout
// 60 s, AWS ALB idle timeout 60 s, Cloudflare 100 s) and a dead peer goes unnoticed without
// traffic; "a Ping frame may serve either as a keepalive or as a means to verify that the
// remote endpoint is still responsive" (RFC 6455 §5.5.2).
//
//   - WS-KEEP-002 (MUST) measures the promise: a target that declares websocket.keepalive
//     (capability heartbeat) sends a frame at least that often while idle. A declared promise
//     measured broken is a failure, diagnosed "no-heartbeat".
//   - WS-KEEP-001 (SHOULD) is the advice on the promise itself: at most keepaliveAdvice
//     (30 s), half the common 60 s idle timeouts, so that one late or lost ping does not get
//     the connection cut. It judges the declared value; WS-KEEP-002 measures that it is kept.

// keepaliveAdvice is the longest keepalive interval WS-KEEP-001 accepts.
const keepaliveAdvice = 30 * time.Second

const keepQuote = "A Ping frame may serve either as a keepalive or as a means to verify that the remote endpoint is still responsive."

// declaredKeepalive returns websocket.keepalive, or ends the check NOT_SUPPORTED.
func declaredKeepalive(t *fw.T) time.Duration {
	d := t.Target().WebSocket.Keepalive.D()
	if d <= 0 {
		t.NotSupported("the profile declares no websocket.keepalive interval")
	}
	return d
}

// diagnoseCut names an idle limit in front of the server as the cause when a WebSocket judged
// through a deployment's intermediaries was cut after a silence shorter than the server's
// declared keepalive: the server was not due to ping yet, so the path cut the tunnel
// (idle-timeout:websocket, the key the proxy suite's deployment cell reports for it).
func diagnoseCut(t *fw.T, silent, declared time.Duration) {
	if !t.Run.ViaIntermediary() || silent < time.Second || silent >= declared {
		return
	}
	t.Diagnose("idle-timeout:websocket", "through %s, the WebSocket was cut after %s of silence, before the server's declared keepalive (%s) was due: "+
		"an idle limit in front of the server cuts quiet tunnels; raise it above the keepalive (HAProxy timeout tunnel, nginx proxy_read_timeout, "+
		"Varnish pipe_timeout, Apache ProxyTimeout)", t.Run.PublicURL(), silent.Round(100*time.Millisecond), declared)
}

var _ = fw.Register(fw.Check{
	ID: "WS-KEEP-001", Level: fw.SHOULD, Transport: fw.WebSocket, Requires: []fw.Capability{fw.CapWebSocket, fw.CapHeartbeat},
	Requirement: "The server keeps an idle WebSocket alive at least every 30 s (the declared websocket.keepalive is at most 30 s, half the common 60 s proxy idle timeouts).",
	Quote:       keepQuote,
	Spec:        "RFC 6455 §5.5.2; operational (nginx proxy_read_timeout, AWS ALB idle timeout: 60 s)",
	Timeout:     20 * time.Second,
	Run: func(t *fw.T) {
		declared := declaredKeepalive(t)
		t.Measure("declared keepalive", "%s", declared)
		if declared > keepaliveAdvice {
			t.Remedy("ping idle WebSockets at least every %s (proxies and load balancers commonly cut idle connections after 60 s)", keepaliveAdvice)
			t.Violation(fmt.Sprintf("a keepalive interval of at most %s", keepaliveAdvice), fmt.Sprintf("websocket.keepalive %s", declared))
		}
	},
})

var _ = fw.Register(fw.Check{
	ID: "WS-KEEP-002", Level: fw.MUST, Transport: fw.WebSocket, Requires: []fw.Capability{fw.CapWebSocket, fw.CapHeartbeat}, Timed: true,
	Requirement: "An idle WebSocket receives a frame from the server (a ping, or an application heartbeat) at least every declared keepalive interval (websocket.keepalive): the declared promise is kept.",
	Quote:       keepQuote,
	Spec:        "RFC 6455 §5.5.2; the profile's websocket.keepalive (capability heartbeat)",
	Timeout:     2 * time.Minute,
	Run: func(t *fw.T) {
		declared := declaredKeepalive(t)
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
				if errors.Is(err, context.DeadlineExceeded) && t.Context().Err() == nil {
					break
				}
				if t.Context().Err() != nil {
					t.Harness("the check's time ran out")
				}
				diagnoseCut(t, time.Since(prev), declared)
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
			what := fmt.Sprintf("an idle gap of %s", worst.Round(time.Millisecond))
			if frames == 0 {
				what = fmt.Sprintf("no frame at all in %s", window.Round(time.Millisecond))
			}
			t.Diagnose("no-heartbeat", "the declared keepalive never comes (websocket.keepalive %s): %s; ping idle WebSockets at the declared interval, or declare the interval the server really uses", declared, what)
			t.TimingOnly() // a gap past the bound: judged again alone (fw.Check.Timed)
			t.Violation(fmt.Sprintf("no idle gap longer than %s (+%s measuring slack)", declared, slack), what)
		}
	},
})
