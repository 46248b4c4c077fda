// Package reference is the rtconform reference server: a correct,
// self-contained realtime HTTP server that serves the same topics over
// Server-Sent Events, WebSocket and long-poll. Every rtconform check passes
// against it, so a failure against another server is that server's.
//
// One bounded event log per topic (package eventlog) feeds all three
// transports. Clients hold only a cursor (the id of the last event they
// received) and each stream reads the log from its own cursor: there is no
// per-client queue, so a slow client lags behind and never blocks the
// publisher or other clients. Event ids are "<epoch>-<seq>": the epoch is 8
// random lowercase hex characters chosen when the Server is created (kept by
// Restart), seq counts from 1 per topic. Ids are opaque to clients.
//
// # Wire contract
//
// Topics are 1..128 characters of [A-Za-z0-9._~-]; any other name is
// answered 400 (503 with Retry-After once Config.Log.MaxTopics topics
// exist). A method not allowed on a route is answered 405 with an Allow
// header; unknown paths 404.
//
// POST /publish/{topic}: the body is the payload. It must be valid UTF-8
// (else 400 "payload must be UTF-8": SSE can only carry UTF-8) and at most
// MaxPublishBytes (default 1 MiB; else 413 with a text body naming the
// limit). An empty payload is allowed. Success: 200,
// Content-Type: application/json, body {"id":"<event id>"}.
//
// GET /sse/{topic}: 200 with Content-Type: text/event-stream;
// charset=utf-8, Cache-Control: no-cache, no-transform, X-Accel-Buffering:
// no, and no Content-Length (chunked). The server at once writes and
// flushes "retry: <Retry in ms>\n\n". Then each event is written and
// flushed as
//
//	id: <id>
//	data: <line 1>
//	data: <line 2>
//	<empty line>
//
// with one data line per payload line: the payload is split at CRLF, CR and
// LF (a bare CR would otherwise end the field), so CR and CRLF in a payload
// arrive as LF; a trailing line break yields a final empty "data: " line, so
// the payload round-trips up to that normalisation. Lines always end with
// LF. While idle, a comment ": heartbeat\n\n" is sent every Heartbeat
// (default 10s).
//
// Resume: the Last-Event-ID request header, else the query parameter
// lastEventId (the header wins when both are present; an empty value counts
// as absent). Delivery is exclusive of the given id. Without either the
// stream is live from the head: only events published after the connect.
// When the cursor cannot be resumed without loss, the server first sends
//
//	event: reset
//	data: {"reason":"expired|unknown","requested":"<id>"}
//
// (no id line, so the client's last event id is unchanged) and continues
// from the oldest retained event. "expired": events after the cursor were
// dropped by retention (MaxEvents or MaxAge); "unknown": malformed id,
// another epoch, or ahead of the head. A client that falls behind so far
// that its cursor leaves retention receives the same reset signal in the
// middle of its stream. Every write must complete within WriteTimeout
// (default 10s), else the stream ends. On Shutdown the handler returns, the
// chunked body terminates cleanly and EventSource clients reconnect.
// HEAD /sse/{topic} answers the same status and headers without a body and
// without holding the connection.
//
// GET /ws/{topic}: a WebSocket, served by the reference's own strict RFC
// 6455 implementation (ws_accept.go, ws_conn.go: every client frame is
// validated as it arrives; coder/websocket could not fail fast on invalid
// UTF-8 nor validate close reasons). Handshake refusals: 426 with
// Sec-WebSocket-Version: 13 for another version or missing Upgrade/Connection
// tokens, 405 for a non-GET, 400 for a missing or malformed key; no
// subprotocol or extension is ever selected. Origin policy: requests without
// Origin are accepted; with an Origin, its host must equal the request Host
// or match one of AllowedOrigins (path.Match patterns), else 403. Resume token: query
// since=<id>, exclusive; without it the stream is live from the head. Each
// event is one text message
//
//	{"type":"event","id":"<id>","data":"<payload as a JSON string>"}
//
// A cursor that cannot be resumed yields first
//
//	{"type":"reset","reason":"expired|unknown","requested":"<id>"}
//
// then the events from the oldest retained one. The server pings every
// PingInterval (default 20s); a ping without pong within WriteTimeout drops
// the connection, the wait counted from the last frame read when the client's
// frames keep arriving (its pong can be queued behind a large message). Client messages are read and ignored. Close codes sent by
// the server:
//
//	1000                         the answer to a client close (its code echoed when valid)
//	1001 "server shutting down"  on Shutdown/Restart
//	1002                         a protocol error (unmasked frame, RSV bits, reserved opcode,
//	                             bad fragmentation, oversized or fragmented control frame,
//	                             invalid close code or payload)
//	1007                         invalid UTF-8 in a text message or close reason
//	1009                         a client message larger than ReadLimit (default 64 KiB)
//	1013 "slow consumer"         the client is more than MaxLag (default 1024) events
//	                             behind the head of its topic
//
// Lag is the number of events published since the later of the connect and
// the last event whose write completed; it is checked at every publish,
// including while a write is blocked on a full TCP window. The backlog of a
// resuming client therefore does not count as lag. A write that does not
// complete within WriteTimeout drops the connection without a close frame.
//
// GET /echo: a WebSocket echo endpoint: every text or binary message is sent
// back with the same type and payload (one frame). Same Origin policy and
// close codes, pings and 1001 on Shutdown; messages up to EchoReadLimit
// (16 MiB) are accepted.
//
// Fault switches (ws_faults.go): WithWSFaults attaches WSFaults to a request
// context so that the negative-control fixtures (fixtures/wsbugs) can be the
// reference plus exactly one frame-level bug. The reference never sets them;
// the zero value is the conformant behaviour.
//
// GET /poll/{topic}?cursor=<id>: long-poll. Content-Type: application/json,
// Cache-Control: no-store. Body
//
//	{"events":[{"id":"<id>","data":"<payload>"}],"cursor":"<next cursor>"}
//
// plus "reset":{"reason":"expired|unknown","requested":"<id>"} when there
// was a gap. When events after the cursor exist it answers at once with up
// to PollBatch (default 100) of them in order, and cursor is the id of the
// last one returned (after a gap without any retained event, the head).
// Otherwise it holds up to PollTimeout (default 25s) and answers as soon as
// an event is published, or at the end with {"events":[],"cursor":"<same
// cursor>"}. A missing or empty cursor means the head at request time (the
// request waits for the next event). Long-poll is stateless: a client that
// goes away during the hold consumes nothing; the next poll with the same
// cursor gets the event. On Shutdown every held poll is answered at once with
// an empty batch and the same cursor.
// HEAD /poll/{topic} answers the headers at once, without a body.
//
// GET /stream/{topic}: an HTTP stream of NDJSON lines (the fourth transport). 200 with
// Content-Type: application/x-ndjson, Cache-Control: no-cache, no-transform,
// X-Accel-Buffering: no and no Content-Length (chunked); the response head is flushed at
// once. Each event is one line, written and flushed as
//
//	{"id":"<id>","data":"<payload as a JSON string>"}
//
// terminated by "\n" (JSON escapes every line break of the payload). While idle, the line
// {"type":"heartbeat"} is sent every Heartbeat (default 10s); it has no data member, so it is
// a keep-alive, not an event. Resume: query since=<id>, exclusive; without it the stream is
// live from the head. A cursor that cannot be resumed yields first the WebSocket's reset
// message as a line,
//
//	{"type":"reset","reason":"expired|unknown","requested":"<id>"}
//
// then the events from the oldest retained one. POST /stream/{topic} is the same stream with
// the resume token in a JSON body {"since":"<id>"} (optional; it wins over the query), as
// fetch-streaming APIs do; the body is at most 16 KiB. Slow clients and shutdown as for SSE.
// HEAD answers the headers without a body.
//
// GET /healthz: 200 "ok". GET /metrics: Prometheus text format
// (rtconform_published_events_total, rtconform_sse_clients,
// rtconform_ws_clients, rtconform_echo_clients, rtconform_poll_clients,
// rtconform_stream_clients,
// rtconform_gaps_signalled_total, rtconform_slow_consumers_dropped_total,
// rtconform_write_timeouts_total, rtconform_topics, rtconform_connections_refused_total,
// rtconform_auth_failures_total).
//
// # Exposure: origins, token, limits
//
// The defaults suit a conformance run on loopback; before serving beyond it set Config.Token and
// Config.AllowedOrigins. Token, connection and header refusals are answered before the topic
// is resolved, so such a request creates no topic.
//
//	Origin (WebSocket)    a handshake whose Origin is neither the request's Host nor allowed by
//	                      AllowedOrigins (path.Match host patterns, "null" never) is 403:
//	                      cross-site WebSocket hijacking. No Origin (not a browser) is accepted.
//	CORS (HTTP routes)    only an allowed Origin gets Access-Control-Allow-Origin (naming it,
//	                      never *) and Allow-Credentials; preflights are answered 204 without a
//	                      token (browsers send none on them).
//	Token                 with Config.Token every route but /healthz needs "Authorization:
//	                      Bearer <token>"; the subscribe routes (/sse, /ws, /poll, /stream, /echo)
//	                      also take ?access_token=<token> because EventSource and browser
//	                      WebSockets cannot set headers (the query string reaches access logs);
//	                      publish takes the header only. Missing: 401 with WWW-Authenticate:
//	                      Bearer realm="rtconform"; wrong: the same with error="invalid_token".
//	                      Compared in constant time (SHA-256 of both).
//	MaxHeaderBytes        request line and headers (default 64 KiB): 431 from net/http.
//	MaxPublishBytes       publish body (default 1 MiB): 413.
//	ReadLimit             WebSocket message on /ws (default 64 KiB): close 1009; /echo 16 MiB.
//	MaxConnsPerIP         open connections per client IP (default 1000, WebSockets counted until
//	                      closed): the first request of a connection beyond it is 429 with
//	                      Retry-After: 5 and Connection: close; beyond twice it the connection
//	                      is closed unanswered. Loopback is exempt unless LimitLoopback.
//	Log.MaxTopics         topics (default 10000): a new topic beyond it is 503 with Retry-After.
//
// Header, connection and listener limits apply to Start; a Handler mounted in another
// http.Server gets the token, CORS and Origin policies and the body and topic bounds only.
// Memory is bounded by MaxTopics × MaxEvents × MaxPublishBytes in the worst case: choose them
// together for an exposed server. /metrics counts refusals
// (rtconform_connections_refused_total, rtconform_auth_failures_total).
//
// # Fan-out and memory
//
// Queues are bounded by construction: there is no per-client queue at all. A
// subscriber of any transport holds a cursor into its topic's event log,
// which is bounded by Config.Log (MaxEvents and MaxAge per topic, MaxTopics);
// a slow subscriber only lags behind, and a WebSocket subscriber more than
// MaxLag events behind is closed with 1013. The server's memory is therefore
// the retained events plus a fixed amount per connection, independent of
// how fast or slow the subscribers read.
//
// Every event is encoded at most once per transport (eventlog.Encoding):
// its SSE frame, its NDJSON line (also the elements of long-poll bodies)
// and its whole WebSocket frame (server frames are unmasked, so header and
// payload are the same for every connection) are built by the first
// subscriber that needs them, kept with the retained event, and written
// unchanged to every other subscriber; the bytes are exactly those of the
// wire contract above (an SSE frame is kept as the HTTP/1.1 chunk that
// carries it). A WebSocket connection whose fault switches change
// the event frames encodes its own. After the handshake a WebSocket handler
// returns to net/http (which frees its per-connection state; with
// Config.Wrap set it serves the session inside its call instead) and the
// connection is served by three goroutines (reader, writer, session loop),
// plus one while a ping awaits its pong. An SSE stream on a server started
// with Start and without Config.Wrap is served the same way (sse_hijack.go):
// the handler takes the HTTP/1.1 connection over, writes the response head
// and the chunks net/http would write, byte for byte, and returns; two
// goroutines serve the stream (the stream, and a reader that only notices
// the client's close), about 9 KiB per idle connection instead of 26.
// HTTP/1.0, HTTP/2, HEAD, a request with a body, a server shutting down, a
// Handler mounted in another http.Server and every Config.Wrap keep the
// net/http path. BenchmarkIdleConn measures the
// memory of an idle connection per transport, BenchmarkFanout the delivery
// of one event to 1000 subscribers (see the README's Benchmarks).
//
// # Lifecycle
//
// Start listens on Config.Addr (default 127.0.0.1:8080, loopback; port 0
// picks a free port). Shutdown stops accepting, ends SSE streams, closes
// WebSockets with 1001 and answers held polls, then waits for the handlers.
// Restart is Shutdown followed by Start on the same address with the same
// event logs and epoch, like a restart of a server with durable storage:
// resume tokens stay valid across it. Config.Wrap serves a modified handler
// with this same life cycle; a replacement handler ends its long-lived
// requests on Done and registers hijacked connections with Track.
//
// Package wire holds the wire-level pieces (JSON shapes, topic resolution,
// long-poll responses, cursor arithmetic) for servers built on the same
// event logs.
package reference
