package longpoll

import (
	"fmt"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// payloadCheck declares a round-trip check of one payload: published as given, it must come
// back as exactly the same string at the envelope's data pointer. A target that refuses the
// payload at publish with a 4xx (while it accepts an ordinary one) states an input policy:
// the check is NOT_SUPPORTED with the target's answer.
func payloadCheck(id, requirement, quote string, build func(t *fw.T) string) bool {
	return fw.Register(fw.Check{
		ID: id, Level: fw.MUST, Transport: fw.LongPoll, Requires: publishCaps,
		Requirement: requirement,
		Quote:       quote,
		Spec:        "RFC 8259 §7 (strings), §8.1 (UTF-8); the profile's envelope.data",
		Timeout:     60 * time.Second,
		Run: func(t *fw.T) {
			want := build(t)
			cur := bootstrap(t)
			// A target may refuse a corner-case payload at publish (its input policy):
			// NOT_SUPPORTED with its answer, never an ERROR of the run.
			t.PublishCorner([]byte(want), "this check's payload")
			r := poll(t, cur)
			t.Measure("payload bytes", "%d", len(want))
			if len(r.Events) != 1 {
				t.Violation("exactly one event", fmt.Sprintf("%d events after %s", len(r.Events), r.Elapsed().Round(time.Millisecond)))
			}
			if got := r.Events[0].Data; got != want {
				t.Violation("data "+clipq(want), "data "+clipq(got)+"; "+firstDiff(want, got))
			}
		},
	})
}

const stringQuote = "All Unicode characters may be placed within the quotation marks, except for the characters that MUST be escaped: quotation mark, reverse solidus, and the control characters (U+0000 through U+001F)."

// An empty payload is a real value (a "ping", a cleared field); omitempty on the data field
// or a "skip empty messages" filter drops it.
var _ = payloadCheck("LP-PAYLOAD-002",
	"An empty payload arrives as an event whose data is the empty string (not dropped, not null, not a missing field).", "",
	func(*fw.T) string { return "" })

// A one-byte payload that is itself a JSON metacharacter: off-by-one trimming and escapers
// that forget the reverse solidus both show.
var _ = payloadCheck("LP-PAYLOAD-003",
	`A one-byte payload (a single reverse solidus "\") arrives exactly.`, stringQuote,
	func(*fw.T) string { return `\` })

// Every UTF-8 length class, combining sequences, bidi controls, noncharacters at the edges of
// the planes. Hand-written "ASCII-safe" escapers write \u%04x for astral code points (which
// need a surrogate pair) and corrupt them.
var _ = payloadCheck("LP-PAYLOAD-004",
	"A payload with every UTF-8 length class, astral-plane characters, combining marks, emoji sequences, right-to-left text and a BOM arrives exactly.",
	"To escape an extended character that is not in the Basic Multilingual Plane, the character is represented as a 12-character sequence, encoding the UTF-16 surrogate pair.",
	func(t *fw.T) string {
		return string(t.Payload(1)) + " a é ß € 𝄞 😀 e\u0301 👩\u200d👩\u200d👧 🇺🇦 שלום مرحبا \u202etxt\u202c \uFEFF \uFFFD \U0010FFFD end"
	})

// NUL is an ordinary JSON string character (escaped as \u0000); storage layers that reject
// it (PostgreSQL text) tempt servers to strip it, C-string handling truncates at it.
var _ = payloadCheck("LP-PAYLOAD-005",
	"A payload containing U+0000 NULL arrives exactly (escaped in JSON, not stripped, not truncated).", stringQuote,
	func(t *fw.T) string { return string(t.Payload(1)) + " before\x00after\x00" })

// Fixed-size buffers and column limits truncate; 64 KiB is the common first one (bufio
// scanner tokens, TEXT columns, some message brokers' frame defaults).
var _ = payloadCheck("LP-PAYLOAD-006",
	"A 64 KiB payload arrives exactly (no truncation at a buffer or column limit).", "",
	func(t *fw.T) string {
		head := string(t.Payload(1)) + " "
		return head + strings.Repeat("0123456789abcdef", (64<<10-len(head))/16+1)[:64<<10-len(head)]
	})

// Every character JSON must escape, those it may, and those that matter when the body meets
// HTML or JavaScript (</script>, U+2028/U+2029).
var _ = payloadCheck("LP-PAYLOAD-007",
	"A payload with every C0 control character, DEL, quotation marks, reverse solidi, solidus, \"</script>\" and U+2028/U+2029 arrives exactly.", stringQuote,
	func(t *fw.T) string {
		var b strings.Builder
		b.WriteString(string(t.Payload(1)))
		for c := 1; c < 0x20; c++ {
			b.WriteByte(byte(c))
		}
		b.WriteString("\x7f \"quoted\" \\back\\slash\\ /solidus/ </script> \u2028\u2029 {\"nested\":\"json\\n\"} \\u0041")
		return b.String()
	})
