package history

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the type of an Op.
type Kind string

// The op kinds; see the package documentation for what each one means and which Op fields it
// uses.
const (
	KindConnect        Kind = "connect"
	KindEvent          Kind = "event"
	KindRetry          Kind = "retry"
	KindReset          Kind = "reset"
	KindDisconnect     Kind = "disconnect"
	KindFaultStart     Kind = "fault-start"
	KindFaultStop      Kind = "fault-stop"
	KindPublishInvoke  Kind = "publish-invoke"
	KindPublishOK      Kind = "publish-ok"
	KindPublishFail    Kind = "publish-fail"
	KindPublishUnknown Kind = "publish-unknown"
	KindOverflow       Kind = "overflow"
)

var kinds = map[Kind]bool{
	KindConnect: true, KindEvent: true, KindRetry: true, KindReset: true, KindDisconnect: true,
	KindFaultStart: true, KindFaultStop: true, KindPublishInvoke: true, KindPublishOK: true,
	KindPublishFail: true, KindPublishUnknown: true, KindOverflow: true,
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return kinds[k] }

// hasSeq reports whether Seq is meaningful for ops of kind k.
func (k Kind) hasSeq() bool {
	switch k {
	case KindEvent, KindPublishInvoke, KindPublishOK, KindPublishFail, KindPublishUnknown:
		return true
	}
	return false
}

// NoSeq is the Seq of an event whose payload is not one the suite published (a foreign payload,
// a heartbeat event, a payload that does not parse). Such events are counted, never judged.
const NoSeq int64 = -1

// Disconnect causes with a fixed spelling; an error is recorded as ErrorCause(err).
const (
	CauseEOF              = "eof"
	CauseHeartbeatTimeout = "heartbeat-timeout"
	CauseClientClose      = "client-close"
)

// ErrorCause is the disconnect cause for a connection that ended with err: "error: " + err.
func ErrorCause(err error) string {
	if err == nil {
		return "error: unknown"
	}
	return "error: " + err.Error()
}

// Op is one recorded operation. Which fields an op uses depends on its Kind (see the package
// documentation); the others stay zero.
type Op struct {
	// T is the time of the op since the Recorder was created (monotonic clock).
	T    time.Duration
	Kind Kind

	// Client names a subscriber (connect, event, retry, reset, disconnect), e.g. "sse-3".
	Client string
	// Publisher names a publisher (publish-*).
	Publisher string
	// Transport is "sse", "websocket" or "longpoll" (connect).
	Transport string
	// Topic is the topic subscribed to (connect) or published on (publish-*).
	Topic string
	// Token is the resume token sent (connect); "" is a fresh start.
	Token string
	// Start is when a connect attempt began; T is when it returned. Zero means unknown, and
	// the checker then uses T.
	Start time.Duration
	// Err is why a connect failed ("" = it succeeded), or the error of a failed or unknown
	// publish.
	Err string
	// ID is the target's event id or cursor (event): what a resume would send as Token.
	ID string
	// Seq is the payload sequence number (event, publish-*); NoSeq on an event marks a
	// payload that is not ours.
	Seq int64
	// Retry is the reconnection time the target set (retry, event); it is meaningful only
	// when HasRetry is set.
	Retry time.Duration
	// HasRetry says the op carries a retry value (always so for a retry op).
	HasRetry bool
	// Cause is why the connection ended (disconnect): CauseEOF, ErrorCause(err), ….
	Cause string
	// Name and Detail describe a fault (fault-start, fault-stop) or the overflow.
	Name   string
	Detail string
}

// OK reports whether a connect op succeeded.
func (o Op) OK() bool { return o.Err == "" }

// String renders the op on one line, for messages and debugging.
func (o Op) String() string {
	s := fmt.Sprintf("%s %s", fmtT(o.T), o.Kind)
	switch o.Kind {
	case KindConnect:
		s += fmt.Sprintf(" %s %s topic=%s token=%q", o.Client, o.Transport, o.Topic, o.Token)
		if o.Err != "" {
			s += " err=" + o.Err
		}
	case KindEvent:
		s += fmt.Sprintf(" %s id=%q seq=%d", o.Client, o.ID, o.Seq)
		if o.HasRetry {
			s += " retry=" + o.Retry.String()
		}
	case KindRetry:
		s += fmt.Sprintf(" %s retry=%s", o.Client, o.Retry)
	case KindReset:
		s += " " + o.Client
	case KindDisconnect:
		s += fmt.Sprintf(" %s cause=%s", o.Client, o.Cause)
	case KindFaultStart, KindFaultStop, KindOverflow:
		s += fmt.Sprintf(" %s %s", o.Name, o.Detail)
	default:
		s += fmt.Sprintf(" %s topic=%s seq=%d", o.Publisher, o.Topic, o.Seq)
		if o.Err != "" {
			s += " err=" + o.Err
		}
	}
	return s
}

// Meta keys the suites use; Meta is free-form and may carry others.
const (
	MetaTarget    = "target"
	MetaTransport = "transport"
	MetaCheck     = "check"
	MetaCell      = "cell"
	MetaRun       = "run"
)

// History is what a check recorded: free metadata, the rules to judge it by, and the ops in
// recording order (non-decreasing T).
type History struct {
	Meta  map[string]string
	Rules Rules
	Ops   []Op
}

// DefaultBlackHole is the fault name DetectWithin watches when Rules.BlackHole is empty.
const DefaultBlackHole = "blackhole"

// Rules says which rules Check applies. A false flag or a zero duration turns a rule off.
// The precise definitions are in the package documentation.
type Rules struct {
	// Ordered: per topic, one total order fits every subscriber's observations and the
	// real-time order of publishes.
	Ordered bool
	// Unique: no client receives the same seq twice, across reconnects too.
	Unique bool
	// NoLoss: every ok publish reaches every client accountable for it; failed publishes and
	// never-published seqs are never delivered.
	NoLoss bool
	// Settle exempts from NoLoss the publishes acknowledged less than Settle before the end
	// of a subscription window.
	Settle time.Duration
	// Resumable: the first event after a resume from token T is the successor of T's event.
	Resumable bool

	// RetryHonoured: after a disconnect, a client that was sent retry R waits at least
	// R - RetryTolerance before its next connect attempt.
	RetryHonoured  bool
	RetryTolerance time.Duration
	// ReconnectWithin: a client disconnected during a fault connects again within this
	// duration of the fault stop.
	ReconnectWithin time.Duration
	// DetectWithin: a client connected when a BlackHole fault starts records a
	// heartbeat-timeout disconnect within this duration.
	DetectWithin time.Duration
	// BlackHole is the fault name DetectWithin watches ("" = DefaultBlackHole).
	BlackHole string
	// MaxLag: every ok publish reaches each client not listed in Slow within this duration
	// of its publish-ok.
	MaxLag time.Duration
	// Slow lists clients exempt from MaxLag (the deliberately slow consumers).
	Slow []string
	// PublishWithin: every publish is answered (ok or refused) within this duration of its
	// invoke; a slower answer, or none before the publisher gave up (outcome unknown after
	// longer than this), is a violation (a publisher held back by its subscribers).
	PublishWithin time.Duration
}

// SafetyRules enables Ordered, Unique, NoLoss and Resumable, with no timing rule.
func SafetyRules() Rules {
	return Rules{Ordered: true, Unique: true, NoLoss: true, Resumable: true}
}

func (r Rules) blackHole() string {
	if r.BlackHole == "" {
		return DefaultBlackHole
	}
	return r.BlackHole
}

// fmtT renders a time or duration in seconds, with at least millisecond and at most microsecond
// precision: "1.203s", "0.1005s".
func fmtT(d time.Duration) string {
	s := fmt.Sprintf("%.6f", d.Seconds())
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 4 {
		s = s[:len(s)-1]
	}
	return s + "s"
}
