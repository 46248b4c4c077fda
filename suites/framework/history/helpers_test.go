package history

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// hb builds handcrafted histories; times are in milliseconds.
type hb struct{ ops []Op }

func at(t int) time.Duration { return time.Duration(t) * ms }

func (b *hb) add(t int, o Op) *hb {
	o.T = at(t)
	b.ops = append(b.ops, o)
	return b
}

func (b *hb) conn(t int, c, topic, token string) *hb {
	return b.add(t, Op{Kind: KindConnect, Client: c, Transport: "sse", Topic: topic, Token: token, Start: at(t)})
}

// connS is a connect that began at start and returned at t.
func (b *hb) connS(t, start int, c, topic, token string) *hb {
	return b.add(t, Op{Kind: KindConnect, Client: c, Transport: "sse", Topic: topic, Token: token, Start: at(start)})
}

func (b *hb) connFail(t, start int, c, topic, token string) *hb {
	return b.add(t, Op{Kind: KindConnect, Client: c, Transport: "sse", Topic: topic, Token: token,
		Start: at(start), Err: "dial tcp: connection refused"})
}

// ev is an event whose id is the seq.
func (b *hb) ev(t int, c string, seq int64) *hb {
	return b.add(t, Op{Kind: KindEvent, Client: c, ID: strconv.FormatInt(seq, 10), Seq: seq})
}

func (b *hb) evs(t int, c string, seqs ...int64) *hb {
	for i, s := range seqs {
		b.ev(t+i, c, s)
	}
	return b
}

func (b *hb) foreign(t int, c, id string) *hb {
	return b.add(t, Op{Kind: KindEvent, Client: c, ID: id, Seq: NoSeq})
}

func (b *hb) evRetry(t int, c string, seq int64, retry int) *hb {
	return b.add(t, Op{Kind: KindEvent, Client: c, ID: strconv.FormatInt(seq, 10), Seq: seq,
		Retry: at(retry), HasRetry: true})
}

func (b *hb) reset(t int, c string) *hb { return b.add(t, Op{Kind: KindReset, Client: c}) }

func (b *hb) disc(t int, c, cause string) *hb {
	return b.add(t, Op{Kind: KindDisconnect, Client: c, Cause: cause})
}

func (b *hb) fstart(t int, name string) *hb { return b.add(t, Op{Kind: KindFaultStart, Name: name}) }
func (b *hb) fstop(t int, name string) *hb  { return b.add(t, Op{Kind: KindFaultStop, Name: name}) }

func (b *hb) pubOp(t int, k Kind, pub, topic string, seq int64) *hb {
	o := Op{Kind: k, Publisher: pub, Topic: topic, Seq: seq}
	if k == KindPublishFail || k == KindPublishUnknown {
		o.Err = "503"
	}
	return b.add(t, o)
}

// pub publishes seq on topic "t" by publisher "p": invoke at t ms, ok at t ms + 0.5 ms.
func (b *hb) pub(t int, seq int64) *hb {
	b.pubOp(t, KindPublishInvoke, "p", "t", seq)
	b.ops = append(b.ops, Op{T: at(t) + ms/2, Kind: KindPublishOK, Publisher: "p", Topic: "t", Seq: seq})
	return b
}

// pubs publishes seqs at t, t+1, … ms.
func (b *hb) pubs(t int, seqs ...int64) *hb {
	for i, s := range seqs {
		b.pub(t+i, s)
	}
	return b
}

// h returns the history with ops sorted by T (stable: equal times keep the written order).
func (b *hb) h(r Rules) History {
	ops := append([]Op(nil), b.ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].T < ops[j].T })
	return History{Meta: map[string]string{MetaCheck: "TEST-001"}, Rules: r, Ops: ops}
}

func all() Rules { return SafetyRules() }

func only(vs []Violation, rule string) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Rule == rule {
			out = append(out, v)
		}
	}
	return out
}

func wantNone(t *testing.T, vs []Violation) {
	t.Helper()
	for _, v := range vs {
		t.Errorf("unexpected violation: %s", v)
	}
}

// wantOne asserts exactly one violation of rule, whose message contains every part.
func wantOne(t *testing.T, vs []Violation, rule string, parts ...string) Violation {
	t.Helper()
	if rule != RuleWellFormed {
		for _, v := range only(vs, RuleWellFormed) {
			t.Errorf("malformed test history: %s", v)
		}
	}
	got := only(vs, rule)
	if len(got) != 1 {
		t.Fatalf("want one %s violation, got %d: %v", rule, len(got), vs)
	}
	for _, p := range parts {
		if !strings.Contains(got[0].Msg, p) {
			t.Errorf("%s message %q lacks %q", rule, got[0].Msg, p)
		}
	}
	return got[0]
}

func wantNote(t *testing.T, notes []string, part string) {
	t.Helper()
	for _, n := range notes {
		if strings.Contains(n, part) {
			return
		}
	}
	t.Errorf("no note contains %q: %q", part, notes)
}

var errBoom = errors.New("boom")
