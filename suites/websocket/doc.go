// Package websocket holds the WebSocket conformance checks: RFC 6455 (opening handshake,
// framing, control frames, UTF-8, closing handshake) with the coverage of Autobahn|Testsuite's
// core case groups, plus event delivery, resume and shutdown through the profile.
//
// # Judging a server that does not echo
//
// Autobahn assumes an echo server; realtime endpoints usually are not. Every framing case is
// therefore judged from what any server must still do, on websocket.path:
//
//   - valid input is accepted: a ping sent right after it is answered (any pong payload; pong
//     payloads are WS-PING's business) and no close frame comes first;
//   - invalid input fails the connection at once: a ping is sent right after the invalid
//     frame, and a pong to it (or to the invalid frame itself) is a violation — the server went
//     on processing frames after the one it had to fail on. "_Fail the WebSocket Connection_"
//     (§7.1.7) makes the close frame a SHOULD, so a TCP close without close frame is accepted;
//     a close frame that is sent must carry the code §7.4.1 assigns (1002 protocol error, 1007
//     invalid UTF-8; 1002 or 1007 for a non-UTF-8 close reason). Message-size checks are the
//     exception: they require a close frame 1009 (a silent drop or a bare TCP close fails).
//   - when the profile declares capability echo (websocket.echo), the echo variants of the
//     valid cases (ID + 500) also compare the echoed message (opcode and bytes).
//   - a valid message above the declared websocket.maxMessage is not sent to websocket.path
//     (NOT_SUPPORTED: it would only test the limit, which WS-LIMIT-001..003 judge). The echo
//     endpoint may accept more than websocket.path, so an echo check (WS-LEN-5NN, WS-FRAG-5NN,
//     WS-LIMIT-101..108) still sends it: echoed, it is judged as usual; refused with a close
//     frame 1009, the check is NOT_SUPPORTED with that reason — the very refusal WS-LIMIT-001
//     requires is never a failure. Without a declared maxMessage a 1009 is a violation (the
//     1 MiB echo checks are SHOULD: the run warns).
//
// # An endpoint that speaks an application protocol (websocket.protocol)
//
// Many realtime servers speak a protocol of their own on their WebSocket (Centrifugo, Socket.IO,
// STOMP, GraphQL over WebSocket) and legitimately close a connection on a message that is not
// one of their commands (Centrifugo: 3501 "bad request"). The rule "valid input is accepted"
// then cannot be judged on that endpoint: whichever of the pong and the close the server
// writes first decides the verdict. A profile says so with websocket.protocol (a name, e.g.
// "centrifugo"), and the framing checks run only where they mean something:
//
//   - the checks whose input is all invalid (it must fail the connection at the frame level,
//     before any protocol sees a message), control frames, ping/pong, the close handshake,
//     the handshake checks and the server's own frames run on websocket.path as always;
//   - the checks that send a data message the server must accept — the valid cases (WS-LEN,
//     WS-FRAG-0NN, WS-UTF8-0NN, WS-LIMIT-005/006) and the invalid cases that send a valid
//     message first (WS-RSV-001..007, WS-OPCODE-1NN, WS-FRAG-107, WS-CLOSE-011) — run on the
//     echo endpoint when the profile declares one (websocket.echo, capability echo), and are
//     NOT_SUPPORTED otherwise, with the reason "websocket.path speaks <protocol>: it may close
//     on a message that is not one of its commands".
//
// The positive control ok-ws-protocol (fixtures/wsbugs: the reference's endpoint closing with
// 3501 on a message that is not a {"cmd":…} command, profile with websocket.protocol and no
// echo) failed 117 such checks before and passes now.
//
// A check that waits for a pong or a close keeps the data frames that arrive meanwhile for its
// next read: a server may inject control frames in the middle of a fragmented message it
// sends (RFC 6455 §5.4), as a streaming echo does (coder/websocket's Reader→Writer echoes
// "fragment1", ping, "fragment2" as text(FIN=0), pong, continuation, continuation(FIN=1)).
//
// Every wait ends as soon as the target answers; only a failing target makes a check wait out
// its bound (5 s for a pong or a close, 2 s for a pong inside a fragmented message or for the
// TCP close after the close handshake, 1 s for fail-fast inside one frame). Against the
// reference the 473 checks take about 3 s in total.
//
// # Keepalive
//
// A declared websocket.keepalive (capability heartbeat) is a promise: WS-KEEP-002 (MUST)
// measures it (no idle gap longer than the interval, +1 s +20 % measuring slack, over twice
// the interval) and diagnoses a broken one "no-heartbeat". WS-KEEP-001 (SHOULD) was that
// measurement at SHOULD level, so a server that never pinged only warned; it is now the
// advice on the value: at most 30 s, half the 60 s idle timeouts of nginx
// (proxy_read_timeout) and AWS ALB, so one late or lost ping does not get a connection cut
// (15 s, the SSE advice, would warn against servers that ping every 20 s — the reference's
// default — while the idle timeouts named above are 60 s or more).
//
// # IDs
//
// Table rows derive their ID from the table, never from an order of execution; tables are
// append-only.
//
//	WS-HS-001..008, 014, 026, 035   handshake: accept key, 101 headers, refusals
//	WS-HS-010..013                  malformed Sec-WebSocket-Key (badKeys)
//	WS-HS-020..025                  unsupported versions (badVersions) → error + Sec-WebSocket-Version: 13
//	WS-HS-030..034                  methods other than GET (badMethods)
//	WS-HS-040..046                  Upgrade/Connection spellings (tokenSpellings) → 101
//	WS-HS-060..062, 070..072        subprotocol and extension negotiation
//	WS-HS-080, 082..087             Origin policy (origin.allowed; foreignOrigins)
//	WS-LEN-0NN / 5NN                payload length boundaries: NN = row+1 text, row+11 binary
//	WS-RSV-0KR                      RSV value R (1..7) on frame kind K (rsvKinds)
//	WS-OPCODE-0NN / 1NN             reserved opcode NN alone / with payload after a message
//	WS-CTRL-001..007                control frame length and fragmentation
//	WS-FRAME-001..007               unmasked client frames; server frames (003)
//	WS-FRAG-0NN / 5NN / 1NN         valid fragmentation / its echo / invalid sequences
//	WS-UTF8-001..068 / 5NN          valid text (utf8Valid, utf8Fragmented) / its echo
//	WS-UTF8-101..170, 201..205      invalid text (utf8Invalid, utf8InvalidSplit)
//	WS-UTF8-301..304                fail-fast (SHOULD)
//	WS-PING-001..010                ping/pong
//	WS-CLOSE-001..011, 511          close frame rules (511: echo before close)
//	WS-CLOSE-101..113 / 201..210    valid close codes answered / invalid codes fail
//	WS-LIMIT-001..006               websocket.maxMessage (1009 above it)
//	WS-LIMIT-101..108               1 MiB messages through the echo endpoint (SHOULD)
//	WS-SERVER-001..005              server-to-client framing
//	WS-DELIVER-001, WS-RESUME-001   events through the envelope; resume token
//	WS-RESUME-002                   an unknown token gets the declared loss signal (websocket.reset,
//	                                target.connect.recovered), a refusal or a close
//	WS-LIFE-001                     close code on shutdown (capability restart)
//	WS-KEEP-001                     the declared websocket.keepalive is at most 30 s (SHOULD advice)
//	WS-KEEP-002                     the declared websocket.keepalive is kept while idle (MUST)
//
// # Autobahn|Testsuite coverage
//
//	1.1.1–1.1.8   text lengths 0…65536, chopped        WS-LEN-001..008 (echo 501..508)
//	1.2.1–1.2.8   binary lengths                       WS-LEN-011..018 (echo 511..518)
//	2.1–2.4, 2.6  ping payloads                        WS-PING-002, 005, 006, 001, 007
//	2.5           ping of 126 bytes                    WS-CTRL-001
//	2.7–2.9       unsolicited pongs                    WS-PING-004, 008
//	2.10, 2.11    10 pings                             WS-PING-009, 010 (and 003)
//	3.1–3.7       RSV bits                             WS-RSV-0KR: 42 cases, every RSV value on 6 frame kinds
//	4.1.1–4.2.5   reserved opcodes                     WS-OPCODE-003..015, 103..115, WS-FRAME-002
//	5.1, 5.2      fragmented ping/pong                 WS-CTRL-004, 005 (and 006: close)
//	5.3–5.8       2 fragments, chops, ping between     WS-FRAG-001..006 (echo 501..506)
//	5.9–5.18      bad fragment sequences               WS-FRAG-101..110 (and 111..113)
//	5.19, 5.20    5 fragments with pings               WS-FRAG-007 (no 1 s pause: no sleeps)
//	6.1.1–6.1.3   empty texts                          WS-LEN-001, WS-FRAG-009, 010
//	6.2.1–6.2.4   valid text, fragmented mid-rune      WS-UTF8-001, 065..067
//	6.3.1, 6.3.2  invalid text, whole and per octet    WS-UTF8-101, 201, 205
//	6.4.1–6.4.4   fail-fast                            WS-UTF8-301..304 (SHOULD)
//	6.5–6.23      132 single-frame payloads            WS-UTF8-002..064 (valid), 102..170 (invalid)
//	7.1.1–7.1.5   close sequencing                     WS-CLOSE-011 (511), 009, 008, 010
//	7.3.1–7.3.5   close payloads                       WS-CLOSE-002, 003, 101, 004, 005
//	7.3.6         close of 126 bytes                   WS-CTRL-003
//	7.5.1         close reason not UTF-8               WS-CLOSE-006
//	7.7.1–7.7.13  valid close codes                    WS-CLOSE-101..113
//	7.9.1–7.9.9   invalid close codes                  WS-CLOSE-201..209 (and 210: 1015)
//	9.1–9.6       large messages                       WS-LIMIT-101..108, at 1 MiB
//
// Not covered: 7.1.6 (outcome implementation-defined), 7.13.x (codes ≥ 5000: "undefined by
// the spec"), 9.x above 1 MiB and 9.7/9.8 (round-trip performance, not conformance), 10.1.1
// (auto-fragmentation of the echo, not a requirement), 12.x/13.x permessage-deflate: the
// reference does not negotiate it and there is no capability for it yet (WS-HS-072 only checks
// that a server accepting it accepts nothing but what was offered).
//
// Beyond Autobahn: the opening handshake (WS-HS), the unmasked-frame rule for every frame kind
// (WS-FRAME-004..007), the 1009 limit against the declared websocket.maxMessage including a 2
// GiB frame header (WS-LIMIT), the server's own frames (WS-SERVER), shutdown (WS-LIFE), event
// delivery and resume.
//
// # Validation against third-party servers
//
// cmd/rtconform/thirdparty_test.go runs the suite (--label-filter websocket) against plain echo
// servers built on three Go libraries (fixtures/thirdparty, profile
// fixtures/profiles/thirdparty.yaml: capabilities websocket and echo, websocket.path
// /ws/{topic} and websocket.echo /echo on the same echo handler, websocket.maxMessage 1 MiB
// = the read limit every server is started with). Each server is the echo its library's
// documentation shows, with default options: gorilla/websocket v1.5.3 (Upgrader{},
// ReadMessage/WriteMessage, SetReadLimit), coder/websocket v1.8.15 (Accept with nil options,
// Read/Write, SetReadLimit), golang.org/x/net/websocket v0.60.0 (Server without Handshake,
// because websocket.Handler refuses clients that send no Origin; a Codec Receive/Send loop
// that keeps text as text, MaxPayloadBytes, deferred Close). In every run 17 checks are
// NOT_SUPPORTED: those that need publish, resume, restart, heartbeat or origin.allowed (17
// since WS-KEEP-002 was added; the verdicts are unchanged by the fixes of issue 11: no
// websocket.protocol is declared, the 1 MiB echo messages are within maxMessage, and the
// echoes are whole messages, so no pong comes in the middle of one).
//
//	server   MUST pass/fail  SHOULD pass/warn  FAIL                           WARN
//	gorilla  367 / 78        8 / 5             WS-UTF8-101..170, 201..205,    WS-UTF8-301..304,
//	                                           WS-CLOSE-003, WS-HS-014, 035   WS-HS-004
//	coder    368 / 77        8 / 5             WS-UTF8-101..170, 201..205,    WS-UTF8-301..304,
//	                                           WS-CLOSE-006, WS-LIMIT-004     WS-HS-004
//	xnet     251 / 194       4 / 9             RSV, OPCODE, UTF8, CLOSE, ...  (below)
//
// The test asserts these exact lists for gorilla and coder, and for x/net that the WS-RSV,
// WS-OPCODE, WS-UTF8 and WS-CLOSE groups each fail and WS-LEN and WS-PING pass. The reasons,
// each read in the library's source:
//
//   - UTF-8 (gorilla, coder): neither library validates the UTF-8 of text messages; gorilla
//     leaves it to the application (its examples/autobahn server checks utf8.Valid itself, its
//     examples/echo does not), coder's own Autobahn run excludes cases "6.*" and "7.5.1".
//     Invalid text is echoed and the connection goes on (FAIL), so it is not failed fast
//     either (WS-UTF8-301..304, WARN).
//   - WS-CLOSE-003 (gorilla): a close code is read only when the close body has ≥ 2 bytes; a
//     1-byte body is taken as "no status" and answered with an empty close frame, not 1002.
//   - WS-HS-014, 035 (gorilla): Upgrader.Upgrade takes the first of two Sec-WebSocket-Key
//     headers and does not check the HTTP version, so both handshakes get 101.
//   - WS-CLOSE-006 (coder): a close reason that is not UTF-8 is accepted, the close echoed
//     (Autobahn 7.5.1).
//   - WS-LIMIT-004 (coder): the read limit counts payload bytes as they arrive, not the length
//     the frame header declares, so a header declaring 2 GiB is refused (1009) only after
//     maxMessage+1 payload bytes, not at once; gorilla refuses at the header.
//   - WS-HS-004 (all three, SHOULD): an unsupported version gets 400, not 426.
//
// x/net/websocket handles frames, not messages, and checks little beyond masking:
//
//	FAIL WS-RSV-001..057 (all 42)        RSV bits are ignored
//	     WS-OPCODE-003..007, 011..015,   reserved opcodes are delivered as data and echoed
//	     103..107, 111..115,
//	     WS-FRAME-002
//	     WS-UTF8-101..170, 201..205      UTF-8 is not validated
//	     WS-CLOSE-003, 006, 201..210     every close is answered by Close(): 1000, whatever the
//	                                     code, reason or body length received
//	     WS-CTRL-001..007                control frames: no length or FIN check
//	     WS-FRAG-101..113                fragment sequences are not checked
//	     WS-FRAG-501..508, 510..512,     each frame is received as its own message, so a
//	     WS-UTF8-565..568                fragmented message is echoed fragment by fragment (a
//	                                     text fragment split mid-rune is then invalid UTF-8)
//	     WS-LIMIT-001..004               MaxPayloadBytes is per frame and ends in Close(): 1000,
//	                                     not 1009; a too-big message in small frames is accepted
//	     WS-HS-010..012, 014, 035        the key's base64 and length, a repeated key and the
//	                                     HTTP version are not checked
//	WARN WS-LIMIT-103..106               1 MiB in fragments: echoed per frame
//	     WS-UTF8-301..304, WS-HS-004
//
// # Negative controls (fixtures/wsbugs)
//
// Every check group is caught by at least one fixture, the reference with one bug:
//
//	WS-HS accept key, tokens          ws-hs-wrong-accept, ws-hs-exact-tokens, ws-hs-no-upgrade-check, ws-hs-no-connection-header
//	WS-HS keys, versions, methods     ws-hs-any-key, ws-hs-any-version, ws-hs-any-method
//	WS-HS negotiation                 ws-hs-fixed-subprotocol, ws-hs-echo-subprotocols, ws-hs-fixed-extension, ws-hs-echo-extensions
//	WS-HS origin                      ws-hs-any-origin, ws-hs-same-origin-only
//	WS-LEN, WS-LIMIT-005/006          ws-limit-off-by-one
//	WS-LIMIT-001..004                 ws-oversize-dropped
//	WS-LIMIT-101..108                 ws-echo-small-limit (WARN; its profile declares no maxMessage)
//	WS-RSV                            ws-rsv-ignored
//	WS-OPCODE, WS-FRAME-002           ws-opcode-ignored
//	WS-CTRL                           ws-control-lax
//	WS-FRAME-001, 004..007            ws-unmasked-accepted
//	WS-FRAG-1NN                       ws-fragments-lax
//	WS-FRAG-004..007 (pings inside)   ws-pong-after-message
//	WS-FRAG-5NN, echo variants        ws-echo-per-frame, ws-echo-as-binary
//	WS-UTF8-1NN, 2NN, 3NN             ws-utf8-unchecked; 3NN also ws-utf8-late (WARN)
//	WS-UTF8-0NN (noncharacters)       ws-utf8-noncharacters
//	WS-PING                           ws-pong-mismatch
//	WS-CLOSE-003, 2NN                 ws-close-code-lax
//	WS-CLOSE-006                      ws-close-reason-lax
//	WS-CLOSE-001..011, 1NN            ws-close-no-reply; 007..010 also ws-close-open-after
//	WS-SERVER-001..005, WS-FRAME-003  ws-event-masked, ws-event-rsv1, ws-event-latin1, ws-nonminimal-length, ws-close-reason-too-long
//	WS-DELIVER-001                    ws-event-rsv1, ws-event-masked, ws-event-latin1
//	WS-RESUME-001, 002                ws-event-rsv1, ws-event-masked (no event is read)
//	WS-RESUME-001, 002                ws-no-resume
//	WS-RESUME-002                     connect-recovered-always (fixtures/connectbugs)
//	WS-LIFE-001                       ws-shutdown-drop
//	WS-KEEP-002                       ws-no-keepalive (WS-KEEP-001 judges the declared value only)
//
// # Through a deployment's proxies (rtconform deploy without --origin)
//
// Before the first WebSocket check, probe (probe.go) dials the endpoint through the public
// URL and publishes one event: a handshake not answered 101 is websocket-upgrade:websocket (a
// 5xx bad-gateway:websocket), an event not delivered within 5 s buffering:websocket, and
// every WebSocket check is then BLOCKED by that one cause. WS-HS-008 and WS-HS-035 carry
// Check.Intermediary (a proxy sets its own Connection and speaks HTTP/1.1 upstream): through
// the proxies their violation is INFO. A tunnel cut before the declared keepalive was due is
// diagnosed idle-timeout:websocket (WS-KEEP-002).
package websocket
