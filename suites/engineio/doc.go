// Package engineio holds the Engine.IO v4 checks (FB-EIO-…): the fallback protocol of
// Socket.IO, checked like the fallback suite checks rtconform's own transports. A server whose
// fallback is a protocol of its own (Socket.IO's engine: HTTP long-polling first, then an
// upgrade to WebSocket on the same session) declares capability engineio and
// target.engineio.path (e.g. /socket.io/); the checks speak Engine.IO there with a small
// strict client of their own (client.go: byte-exact packets, the \x1e-separated polling
// payload, bounded reads, every wait bounded).
//
// The normative text is the Engine.IO protocol, version 4
// (https://socket.io/docs/v4/engine-io-protocol/, github.com/socketio/engine.io-protocol,
// README.md), and where it is silent its test suite (test-suite/test-suite.js), which the
// reference server passes:
//
//	FB-EIO-001 MUST  the polling handshake: 0{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}, websocket offered
//	FB-EIO-002 MUST  heartbeat: a ping (2) every advertised pingInterval, never later than pingInterval+pingTimeout
//	FB-EIO-003 MUST  the upgrade: WebSocket with the sid, 2probe → 3probe, the pending poll released with a noop (6), 5 commits
//	FB-EIO-004 MUST  no message lost, duplicated or reordered across the upgrade (capability publish)
//	FB-EIO-005 MUST  polling with the sid refused (400) after the upgrade
//	FB-EIO-006 MUST  a second WebSocket for the sid closed, the first one kept
//	FB-EIO-007 SHOULD the session closed pingTimeout after an unanswered ping
//
// Timing bounds use the values the server advertises in its handshake plus 2 s of slack.
//
// FB-EIO-004 needs the server to emit messages it is told to: the suite's handshake carries
// the check's topic as the query parameter rtconform_topic, and the profile's publish hook
// (target.publish, {topic}) must make the server send the published body, as an Engine.IO
// message, to every session opened with that topic (fixtures/thirdparty/socketio does this
// for a Socket.IO server; a message whose data holds the payload JSON-escaped counts too).
//
// Labels: fallback (opt-in, see framework.OptIn) and engineio; `--label-filter engineio`
// runs exactly these checks.
package engineio
