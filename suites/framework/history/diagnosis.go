package history

// Diagnoses: the root causes a violation's evidence points at. The keys are the ones the
// conformance suites use for the same causes (framework.T.Diagnose), so that a report groups
// the chaos checks a bug breaks with the conformance checks it breaks, as one finding.
const (
	// DiagResumeInclusive: a resume replayed the event of its own token.
	DiagResumeInclusive = "resume-inclusive"
	// DiagResumeGap: a resume skipped events that follow its token.
	DiagResumeGap = "resume-gap"
	// DiagResumeDuplicate: a resume delivered events the client already had.
	DiagResumeDuplicate = "resume-duplicate"
	// DiagReordered: subscribers saw one topic's events in orders no single order fits.
	DiagReordered = "reordered"
	// DiagSilentLoss: events a client was due never arrived, and no reset signal said so.
	DiagSilentLoss = "silent-loss"
	// DiagDuplicate: an event delivered twice on one connection, or again on a fresh one.
	DiagDuplicate = "duplicate-delivery"
	// DiagSlowConsumerBlocks: one slow reader delayed the publisher or the other subscribers.
	DiagSlowConsumerBlocks = "slow-consumer-blocks"
	// DiagNoHeartbeat: a black-holed connection went unnoticed for lack of heartbeats.
	DiagNoHeartbeat = "no-heartbeat"
)

// diagnoses ranks the keys, most specific first: an inclusive resume also shows as a
// duplicate, a resume gap also as a loss, so the more specific evidence names the cause. A
// slow reader that holds back the publisher or the fan-out also leaves events "missing" when
// the history ends (they are still queued behind it): the blocking is the cause, not a loss.
var diagnoses = []struct{ key, text string }{
	{DiagResumeInclusive, "the resume was inclusive: the event of the resume token (Last-Event-ID, since, cursor) was delivered again; resume with the event after it"},
	{DiagReordered, "subscribers of one topic saw its events in different orders: deliver each topic's events in one total order to every subscriber"},
	{DiagResumeGap, "a resume skipped events that follow the resume token: deliver every event after the token, or the explicit reset signal when they are gone"},
	{DiagResumeDuplicate, "a resume delivered events the client already had: resume strictly after the token's event"},
	{DiagSlowConsumerBlocks, "one slow reader held back the publisher or the other subscribers: give every subscriber its own bounded queue and disconnect (or reset) a client that falls behind; never make the publish or the fan-out wait for one client's writes"},
	{DiagSilentLoss, "events were lost without the explicit reset signal: when a client cannot be given every event, send the declared reset signal (or disconnect it so that it resumes)"},
	{DiagDuplicate, "an event was delivered twice to one subscriber: deliver each event once per subscription"},
	{DiagNoHeartbeat, "a black-holed connection went unnoticed: send heartbeats (SSE comments, WebSocket pings) at the declared interval"},
}

// DiagnosisText is the sentence for a diagnosis key ("" for a key this package does not know).
func DiagnosisText(key string) string {
	for _, d := range diagnoses {
		if d.key == key {
			return d.text
		}
	}
	return ""
}

// Diagnosis names the root cause of the report's violations: the most specific diagnosis any
// violation carries (see the ranking above), else the first one a violation carries; "" when
// none does. text is the sentence for the key.
func (r Report) Diagnosis() (key, text string) {
	has := map[string]bool{}
	first := ""
	for _, v := range r.Violations {
		if v.Diagnosis != "" {
			has[v.Diagnosis] = true
			if first == "" {
				first = v.Diagnosis
			}
		}
	}
	for _, d := range diagnoses {
		if has[d.key] {
			return d.key, d.text
		}
	}
	return first, DiagnosisText(first)
}
