// Package longpoll holds the long-polling conformance checks: cursor semantics, holding, no
// loss between polls, batching, concurrency, the HTTP headers a poll needs to pass proxies
// and browsers, and payload round trips. The target's response shape (event array, next
// cursor, id and payload, the reset signal) comes from the profile; cursors stay opaque and
// order and loss are judged from the suite's own payloads.
//
// Most checks cost at most one hold (the declared longpoll.timeout): a check that needs a
// cursor gets one by a cursor-less poll completed by a publish (bootstrap), and events are
// published before the poll that must return them, so the answer is immediate on a correct
// target. Waits are bounded by the declared hold + 5 s; latency bounds are at least 1 s.
//
// # Detection table
//
// Every check has at least one negative control in fixtures/pollbugs (the reference server
// with one bug); TestFixturesFailExactlyTheirChecks in cmd/rtconform proves that against
// each fixture exactly its checks FAIL (MUST) or WARN (SHOULD).
//
//	check           level   what it catches                                  fixture(s)
//	LP-HTTP-001     MUST    cacheable poll answers                           poll-cacheable
//	LP-HTTP-002     SHOULD  Content-Type not JSON                            poll-sniffed-type
//	LP-HTTP-003     MUST    the empty hold answer is cacheable               poll-timeout-cacheable, poll-cacheable
//	LP-HTTP-004     MUST    no CORS for an allowed origin                    poll-no-cors
//	LP-HTTP-005     MUST    CORS granted to any origin                       poll-cors-any-origin
//	LP-HTTP-006     SHOULD  origin-dependent CORS without Vary: Origin       poll-cors-any-origin
//	LP-HOLD-001     MUST    no hold (busy loop)                              poll-busy-loop
//	LP-HOLD-002     MUST    empty answer late or with an unusable cursor     poll-gap-loss
//	LP-HOLD-003     SHOULD  hold above 25 s (proxy limits)                   (none: see below)
//	LP-DELIVER-001  MUST    an event during the hold is not delivered soon   poll-busy-loop, poll-tick
//	LP-DELIVER-002  SHOULD  latency above 1 s in any of five rounds          poll-tick
//	LP-CURSOR-001   MUST    not exactly the events after the cursor          poll-gap-loss
//	LP-CURSOR-002   MUST    the returned cursor repeats its last event       poll-gap-loss
//	LP-CURSOR-003   SHOULD  a cursor-less poll replays history               poll-start-oldest
//	LP-CURSOR-004   MUST    expired cursor without the reset signal          poll-silent-gap, poll-gap-loss, poll-silent-gap-undeclared
//	LP-CURSOR-005   MUST    unknown cursor without the reset signal          poll-silent-gap, poll-gap-loss, poll-silent-gap-undeclared
//	LP-CURSOR-006   MUST    the reset's cursor resets again / loses events   poll-reset-loop, poll-silent-gap
//	LP-CURSOR-007   MUST    a repeated cursor does not return its events     poll-ack-on-write, poll-gap-loss
//	LP-GAP-001      MUST    events published between polls are lost          poll-gap-loss
//	LP-GAP-002      MUST    loss under a continuous publisher                poll-cursor-after-render, poll-gap-loss
//	LP-GAP-003      MUST    an event goes to a request whose client left     poll-ack-on-write, poll-gap-loss
//	LP-BATCH-001    SHOULD  a backlog is not returned in one response        poll-batch-head, poll-gap-loss
//	LP-BATCH-002    MUST    loss or disorder across batch boundaries         poll-batch-head, poll-gap-loss, poll-cursor-after-render
//	LP-CONC-001     MUST    one of two same-cursor polls silently empty      poll-wake-one
//	LP-CONC-002     MUST    held polls block other clients                   poll-worker-pool, poll-gap-loss
//	LP-CONC-003     SHOULD  fan-out to 20 held polls slow or incomplete      poll-wake-one, poll-tick
//	LP-PAYLOAD-001  MUST    escaping of quotes, breaks, non-ASCII            poll-payload-handrolled, poll-payload-ascii, poll-gap-loss
//	LP-PAYLOAD-002  MUST    empty payload dropped                            poll-payload-omitempty, poll-gap-loss
//	LP-PAYLOAD-003  MUST    one-byte payload "\"                             poll-payload-handrolled, poll-gap-loss
//	LP-PAYLOAD-004  MUST    UTF-8 classes, astral characters                 poll-payload-ascii, poll-gap-loss
//	LP-PAYLOAD-005  MUST    NUL                                              poll-payload-handrolled, poll-gap-loss
//	LP-PAYLOAD-006  MUST    64 KiB                                           poll-payload-truncated, poll-gap-loss
//	LP-PAYLOAD-007  MUST    C0 controls, DEL, JSON and HTML specials         poll-payload-handrolled, poll-gap-loss
//
// One SHOULD check has no fixture: LP-HOLD-003. A server holding over 25 s would also break
// every check bounded by the declared 3 s hold of the fixture profile, and cost 25 s per
// hold; its logic (one poll, one comparison) is the same as LP-HOLD-002's.
//
// # Loss without a declared signal
//
// LP-CURSOR-004 and 005 judge a cursor the target cannot resume. With longpoll.reset declared,
// the response must carry it (005 also accepts a 4xx refusal). Without it, a target that
// claims resume (capability resume) is judged all the same: the only signal a client can then
// see is an explicit 4xx refusal, so an answer that loses events without one is a silent gap
// (FAIL, cause silent-loss, with the remedy to send a signal and declare it). A target that
// still has every event (it keeps more than it declared) passes 004. Proved by
// poll-silent-gap-undeclared (fixtures/profiles/no-reset.yaml).
//
// # Corner-case payloads refused at publish
//
// A target may refuse a payload at publish (a bare CR, which SSE cannot carry, say): a 4xx for
// the check's payload while an ordinary payload is accepted is the target's input policy, and
// the payload check is NOT_SUPPORTED with the target's answer, not an ERROR (ok-poll-refuse-cr).
//
// # Batching against a profile whose retention equals its batch
//
// LP-BATCH-002 publishes the declared batch + 10 events, capped at the declared retention
// (more would overrun retention, which LP-CURSOR-004 judges). When retention <= batch (the
// bundled profiles: 100 and 100) the backlog fits in one response of a correct target, and
// the batch boundary is crossed only by targets that batch below their declaration.
//
// # Through a deployment's proxies (rtconform deploy without --origin)
//
// Before the first long-poll check, probe (probe.go) sends a poll through the public URL and
// publishes one event: a 5xx is bad-gateway:longpoll, a poll not answered within 5 s of the
// publish buffering:longpoll, and every long-poll check is then BLOCKED by that one cause. A
// 502/503/504 to a held poll before the declared hold ended is diagnosed
// idle-timeout:longpoll (a proxy's idle limit shorter than the hold), a fast one
// bad-gateway:longpoll.
package longpoll
