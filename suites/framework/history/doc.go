// Package history records what a chaos check's subscribers, publishers and fault injector
// did, saves it as JSONL, and judges it with a pure checker, in the manner of Jepsen and etcd's
// tests/robustness: generator → faults → history → checker. A failing history is saved next
// to the report and can be re-checked offline with Load and Check.
//
// # Use
//
//	rec := history.NewRecorder(0, map[string]string{history.MetaCheck: "RC-SSE-001"}, rules)
//	start := rec.Now()                     // before dialling
//	stream, err := dial(ctx, token)
//	rec.Connect("sse-1", "sse", topic, token, start, err)
//	rec.Event("sse-1", ev.ID, seqOf(ev))   // for each event; history.NoSeq if not ours
//	rec.Disconnect("sse-1", history.CauseEOF)
//	…
//	h := rec.History()
//	if rep := history.Analyze(h); len(rep.Violations) > 0 {
//		path, err := h.SaveReport(reportDir, "RC-SSE-001", cell) // histories/RC-SSE-001-<cell>.jsonl
//		…
//	}
//
// # The op model
//
// A History is Meta (free key/values: target, transport, check ID, run ID, …), Rules (what to
// check) and Ops in recording order. Every op carries T, the time since the Recorder was
// created, read from Go's monotonic clock under the recorder's lock, so that the op order is
// the T order. The kinds and the fields they use:
//
//	connect         Client tried to subscribe to Topic over Transport, sending Token ("" = a
//	                fresh start). Err is "" when the subscription is established. Start is
//	                when the attempt began, T when it returned.
//	event           Client received one message: ID is the target's event id or cursor (what
//	                a resume sends as Token), Seq the payload's sequence number, or NoSeq for
//	                a payload that is not ours. HasRetry/Retry: it also carried SSE "retry:".
//	retry           Client was sent a reconnection time without an event.
//	reset           The target told Client that events were lost (token older than retention).
//	disconnect      Client's connection ended; Cause is "eof", "error: …",
//	                "heartbeat-timeout", "client-close", ….
//	fault-start     The fault Name (Detail: its parameters) was injected …
//	fault-stop      … and removed. Starts and stops of one name pair up first-in first-out.
//	publish-invoke  Publisher is about to publish Seq on Topic (recorded before the request
//	                leaves) …
//	publish-ok      … and it was acknowledged (recorded after the acknowledgement arrived),
//	publish-fail    … or it was definitely not published,
//	publish-unknown … or its outcome is unknown (timeout, cut connection, 5xx). A publish
//	                with no outcome recorded counts as unknown.
//	overflow        The recorder reached its op limit; every later op was dropped.
//
// The contract the rules rely on: a client subscribes to one topic and runs one connection at a
// time (connect → events/resets → disconnect); seqs are unique per topic (several publishers
// use disjoint seqs); an event belongs to the topic of its client's current connection; the
// token a client sends is the ID of an event (for long-poll: record as ID the cursor that a
// later poll would send). A history that breaks the contract gets WellFormed violations (a
// harness bug, reported rather than guessed around).
//
// # Definitions
//
// A client's segment is a run of its successful connections chained by resume tokens: a
// segment starts at the T of a connect that sent no token (or of the client's first connect)
// and ends when its last connection ends (its disconnect, or the end of the history). Between
// segments the client deliberately started afresh, so it is not accountable for that gap.
//
// The topic order is the precedence graph over the topic's seqs (those any client received,
// plus every ok publish) with an edge a → b when (1) one connection received b right after a
// (first receipts, foreign events skipped; edges never span two connections, so a fresh
// connect that replays old events does not contradict anything), or (2) a's publish-ok was
// recorded before b's publish-invoke (real-time order; with one publisher publishing ascending
// seqs one at a time this is ascending seq order; overlapping publishes stay unordered).
// "a precedes b" means a path a → … → b. A token's event is the last event of the client
// before that connect whose ID equals the token, else the first event with that ID any client
// of the topic received.
//
// # Rules
//
// Complete (always): the history was not truncated. On a truncated history the rules that need
// to see something happen (NoLoss's missing events, a reconnect or detection that never came,
// a MaxLag event never received) are not judged; everything observed still is.
//
// Ordered: per topic, one total order fits every connection's observations and the real-time
// order of publishes, i.e. the topic order is acyclic. The violation gives the first evidence
// found: two connections that saw two seqs in opposite orders, else one connection that saw b
// before a although a was acknowledged before b was sent, else the whole cycle.
//
// Unique: no client receives a seq twice, on one connection or across reconnects. Every extra
// receipt is a violation naming both times and how the second connection started.
//
// NoLoss: (1) no client receives a seq whose publish failed, nor (when the topic has publish
// ops) a seq never published on its topic; (2) a client receives every seq it is accountable
// for: the ok publishes of its topic invoked strictly after the start of one of its segments
// and acknowledged no later than that segment's end minus Rules.Settle. A client that joined
// late is therefore not blamed for earlier seqs, and a publish with an unknown outcome is never
// required (but, if delivered, it is part of the order and of Unique). Exception: a reset at
// time R on a connection that resumed from token T excuses the missing seqs invoked before R
// that do not precede (or equal) T's event; with no known token event, every seq invoked
// before R. Excused seqs are listed in the notes.
//
// Resumable: on every connection that sent a token T whose event (seq s) is known, the first
// event of ours received must be a successor of s: not s again (an inclusive resume), not a
// seq that precedes s (rewound), and with no seq that must lie between s and it (a gap; the
// skipped seqs are listed). A reset received before that first event satisfies the rule. With
// concurrent publishers, any seq not ordered against s is accepted. A token no recorded event
// carries is noted, not judged; on a topic with no consistent order (an Ordered violation)
// only the inclusive resume is judged.
//
// RetryHonoured (Rules.RetryHonoured, tolerance Rules.RetryTolerance): once a client has been
// sent retry R (the latest value counts, across connections), each connect attempt that follows
// the end of a connection (a disconnect other than client-close, or a failed attempt) starts at
// least R − tolerance after that end (exactly R − tolerance passes). Start is the attempt's
// start, not its return.
//
// ReconnectWithin D: a client is disconnected during a fault when it recorded a disconnect or a
// failed connect with fault start ≤ T ≤ fault stop. Its next successful connect after the last
// such op must return no later than stop + D (exactly D passes; back before the stop counts as
// a negative time). Never connecting again is a violation. The first event after reconnecting
// is measured, not judged.
//
// DetectWithin D (black hole: the fault named Rules.BlackHole, default "blackhole"): every
// connection open at the fault start (connected at or before it, not yet ended) must end with
// cause heartbeat-timeout no later than start + D (exactly D passes). Ending with another cause,
// ending later, or never ending are violations.
//
// MaxLag D (slow-consumer isolation): for each client not listed in Rules.Slow, every ok
// publish invoked strictly inside one of its segments is received no later than publish-ok +
// D (exactly D passes); one never received is a violation when the segment lasted beyond
// publish-ok + D and no reset excuses it. Faults delay deliveries: use MaxLag in checks without
// outages.
//
// PublishWithin D (slow-consumer isolation, the publisher's side): every publish is answered
// (ok or refused) no later than invoke + D; an answer later than that, an unknown outcome
// recorded more than D after the invoke (the publisher gave up: a timeout), or no outcome at
// all when the history ended more than D after the invoke is a violation — one per topic,
// listing the slow publishes. A publisher that waits for its subscribers shows here, not in
// MaxLag (which measures from publish-ok).
//
// Timing rules compare T values of one recorder, so they judge what the suite's process saw,
// scheduling delays included; leave slack in D.
//
// # Diagnoses
//
// A violation whose evidence points at a root cause carries its key in Diagnosis
// (resume-inclusive, resume-gap, resume-duplicate, reordered, silent-loss, duplicate-delivery,
// slow-consumer-blocks, no-heartbeat: the keys the conformance suites use for the same causes);
// Report.Diagnosis picks the most specific one of a history (an inclusive resume also breaks
// Unique, a resume gap also NoLoss) with a sentence a user can act on.
//
// # Measures
//
// Analyze also returns what the suites print whether or not a rule is on: per client counts
// (events, foreign, duplicates, missing, excused and which, resets) and max lag; per topic publish
// outcomes and whether an order fits; per fault the reconnect time, time to first event and
// (black hole) detection time of each client; every reconnect wait after a retry value.
package history
