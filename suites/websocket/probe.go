package websocket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gobwas/ws"

	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/wsclient"
)

// probeDeliver is how long the probe waits for its published event on an open WebSocket.
const probeDeliver = 5 * time.Second

var _ = fw.RegisterProbe(fw.WebSocket, probe)

// probe establishes, through the deployment's intermediaries and before the first WebSocket
// check, whether the path carries a WebSocket at all: a valid handshake on a topic of its own
// must be answered 101 (a 5xx is bad-gateway:websocket, anything else
// websocket-upgrade:websocket), and an event published
// then (when the target can publish) must arrive within probeDeliver (else
// buffering:websocket). A transport error, a connection the server closes or a publish hook
// that fails are left to the checks: the probe only names a path fault it has measured.
func probe(ctx context.Context, r *fw.Run) *fw.Cause {
	topic := r.ProbeTopic(fw.WebSocket)
	u := r.BaseURL + fw.Path(r.Profile.Target.WebSocket.Path, topic)
	hctx, cancel := context.WithTimeout(ctx, handshakeMax)
	start := time.Now()
	c, _, err := wsclient.Dial(hctx, u, wsclient.DialOptions{})
	upgraded := time.Since(start)
	cancel()
	var he *wsclient.HandshakeError
	switch {
	case errors.As(err, &he) && he.Status >= 500:
		return &fw.Cause{Key: "bad-gateway:websocket", Text: fmt.Sprintf(
			"through %s, a valid WebSocket handshake was answered %q: the path in front of the server does not reach it "+
				"(check the proxy's upstream address and that it tunnels upgrades)", u, he.StatusLine)}
	case errors.As(err, &he):
		return &fw.Cause{Key: "websocket-upgrade:websocket", Text: fmt.Sprintf(
			"through %s, a valid WebSocket handshake was answered %q instead of 101 Switching Protocols: something in front of "+
				"the server does not pass the upgrade (it must forward Upgrade and Connection over HTTP/1.1 and keep the tunnel open; "+
				"give --origin to tell a refusal by the server itself)", u, he.StatusLine)}
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return &fw.Cause{Key: "websocket-upgrade:websocket", Text: fmt.Sprintf(
			"through %s, a valid WebSocket handshake got no answer within %s: something in front of the server holds the upgrade request",
			u, upgraded.Round(100*time.Millisecond))}
	case err != nil:
		return nil
	}
	defer func() { _ = c.Close() }()
	if !r.Profile.Target.Has(fw.CapPublish) {
		return nil
	}
	first, err := r.Profile.Target.WebSocketFirst(topic, "", nil)
	if err != nil {
		return nil // the checks report the template
	}
	for _, m := range first { // the subscribe or connect command of the target's protocol
		if c.WriteMessage(ws.OpText, []byte(m)) != nil {
			return nil
		}
	}
	time.Sleep(300 * time.Millisecond) // let the server subscribe the connection
	if err := r.Publish(ctx, topic, []byte(fmt.Sprintf(`{"run":%q,"probe":"websocket"}`, r.ID))); err != nil {
		return nil
	}
	published := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, probeDeliver)
	defer dcancel()
	for {
		op, payload, _, err := c.ReadMessage(dctx, true)
		switch {
		case err == nil && (op == ws.OpText || op == ws.OpBinary) && strings.Contains(string(payload), r.ID):
			return nil
		case err == nil:
			continue
		case !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
			return nil // closed or broken: the checks judge that themselves
		}
		return &fw.Cause{Key: "buffering:websocket", Text: fmt.Sprintf(
			"through %s, an event published on an open WebSocket (101 after %s) was not delivered within %s: "+
				"something in front of the server holds the tunnel's frames (the proxy must pass an upgraded connection through unbuffered)",
			u, upgraded.Round(time.Millisecond), time.Since(published).Round(100*time.Millisecond))}
	}
}
