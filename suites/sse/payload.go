package sse

import (
	"fmt"
	"strings"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// payloadCheck declares a round-trip check of one payload (what names it): published as
// given, it must arrive as the same data (line breaks already LF, which SSE carries exactly).
// A target that refuses the payload at publish has that input policy: NOT_SUPPORTED.
func payloadCheck(id string, level fw.Level, what, requirement, quote string, build func(t *fw.T) string) bool {
	return fw.Register(fw.Check{
		ID: id, Level: level, Transport: fw.SSE, Requires: publishCaps,
		Requirement: requirement,
		Quote:       quote,
		Spec:        "WHATWG HTML §9.2.5, §9.2.6",
		Timeout:     30 * time.Second,
		Run: func(t *fw.T) {
			want := build(t)
			ev := publishOne(t, want, what)
			t.Measure("payload bytes", "%d", len(want))
			if ev.Data != want {
				t.Violation("data "+clipq(want), "data "+clipq(ev.Data)+"; "+firstDiff(want, ev.Data))
			}
		},
	})
}

const dataQuote = "append the field value to the data buffer, then append a single U+000A LINE FEED (LF) character to the data buffer"

// "If the data buffer is an empty string, set the data buffer and the event type buffer to the
// empty string and return." — a data: line with an empty value still makes the buffer "\n",
// so an empty payload is deliverable; an event with no data line at all is never dispatched.
var _ = payloadCheck("SSE-PAYLOAD-001", fw.MUST, "an empty payload",
	"An empty payload arrives as a message event with empty data (sent as an empty data: line, not dropped).",
	"If the data buffer is an empty string, set the data buffer and the event type buffer to the empty string and return.",
	func(*fw.T) string { return "" })

var _ = payloadCheck("SSE-PAYLOAD-002", fw.MUST, "a payload with leading and trailing blanks",
	"A payload with leading and trailing spaces and tabs arrives exactly (not trimmed).", dataQuote,
	func(t *fw.T) string { return "   " + string(t.Payload(1)) + " \t  " })

var _ = payloadCheck("SSE-PAYLOAD-003", fw.MUST, "a payload of every UTF-8 length class",
	"A payload with every UTF-8 length class, combining marks, emoji sequences and right-to-left text arrives exactly.",
	"Event streams in this format must always be encoded as UTF-8.",
	func(t *fw.T) string {
		return string(t.Payload(1)) + " a é ß € 𝄞 e\u0301 👩\u200d👩\u200d👧 🇺🇦 שלום مرحبا \u202etxt\u202c \uFFFD \U0010FFFD"
	})

// "U+0000 NULL" in data is an ordinary character (WPT format-null-character).
var _ = payloadCheck("SSE-PAYLOAD-004", fw.MUST, "a payload containing U+0000 NULL",
	"A payload containing U+0000 NULL arrives exactly (NUL is ordinary data in SSE).", dataQuote,
	func(t *fw.T) string { return string(t.Payload(1)) + " before\x00after" })

// "If value starts with a U+0020 SPACE character, remove it from value." — exactly one space
// is removed, so a server must write "data: " + line for a line that itself starts with a space.
var _ = payloadCheck("SSE-PAYLOAD-005", fw.MUST, "payload lines starting with spaces",
	"Payload lines that start with one or more spaces keep them.",
	"If value starts with a U+0020 SPACE character, remove it from value.",
	func(t *fw.T) string { return " " + string(t.Payload(1)) + "\n  two spaces\n\tand a tab" })

var _ = payloadCheck("SSE-PAYLOAD-006", fw.MUST, "payload lines that look like fields",
	"Payload lines that start with a colon or look like fields stay data (no comment, no field).",
	"If the line starts with a U+003A COLON character (:) Ignore the line.",
	func(t *fw.T) string {
		return string(t.Payload(1)) + "\n:not a comment\nevent: not-a-type\nretry: 1\n data: nested"
	})

// data lines are joined with LF and one trailing LF is removed at dispatch: a payload that
// itself ends with a line break needs a final empty data: line.
var _ = payloadCheck("SSE-PAYLOAD-007", fw.MUST, "a payload ending with line breaks",
	"A payload ending with a line break (and one made of two breaks) keeps its trailing breaks.",
	"If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove the last character from the data buffer.",
	func(t *fw.T) string { return string(t.Payload(1)) + "\n\n" })

// r3labs/sse#97, openai-go#368, hertz#1441: bufio.Scanner's 64 KiB token limit truncates or
// drops long lines.
var _ = payloadCheck("SSE-PAYLOAD-008", fw.MUST, "a 64 KiB single-line payload",
	"A 64 KiB single-line payload arrives exactly (no truncation at a 64 KiB line buffer).", dataQuote,
	func(t *fw.T) string { return bigPayload(t, 64<<10, false) })

var _ = payloadCheck("SSE-PAYLOAD-009", fw.SHOULD, "a 1 MiB payload",
	"A 1 MiB payload with many lines arrives exactly.", dataQuote,
	func(t *fw.T) string { return bigPayload(t, 1<<20, true) })

// Only CR and LF end SSE lines; Unicode-aware line splitters (regex \R, some "lines()"
// helpers) also split on U+2028, U+2029, U+0085, VT and FF and corrupt such payloads.
var _ = payloadCheck("SSE-PAYLOAD-010", fw.MUST, "a payload with Unicode line separators and VT/FF",
	"A payload containing U+2028, U+2029, U+0085, vertical tab and form feed arrives exactly (only CR and LF are SSE line breaks).",
	"end-of-line = ( cr lf / cr / lf )",
	func(t *fw.T) string {
		return string(t.Payload(1)) + " ls\u2028ps\u2029nel\u0085vt\vff\f end"
	})

// The classic injection: a payload whose lines look like fields must not become fields.
var _ = fw.Register(fw.Check{
	ID: "SSE-PAYLOAD-011", Level: fw.MUST, Transport: fw.SSE, Requires: publishCaps,
	Requirement: "A payload containing \"id:\", \"event:\", \"retry:\" lines and a blank line arrives as one event with exactly that data, changing neither the last event id, the event type nor the retry time.",
	Quote:       "If the line is empty (a blank line) Dispatch the event",
	Spec:        "WHATWG HTML §9.2.6",
	Timeout:     30 * time.Second,
	Run: func(t *fw.T) {
		s := live(t)
		want := string(t.Payload(1)) + "\nid: injected\nevent: injected\nretry: 1\n\ndata: second"
		t.PublishCorner([]byte(want), "a payload with field-like lines and a blank line")
		ev := nextEvent(t, s, deliveryWait, "the published event")
		switch {
		case ev.Data != want:
			t.Violation("data "+clipq(want), "data "+clipq(ev.Data)+" (the payload's lines were parsed as fields or split into two events)")
		case ev.LastEventID == "injected" || ev.Type == "injected":
			t.Violation("id and type unchanged by the payload", fmt.Sprintf("id %q, type %q", ev.LastEventID, ev.Type))
		}
		if r, ok := s.Retry(); ok && r == time.Millisecond {
			t.Violation("retry unchanged by the payload", "the payload's retry: 1 line was applied")
		}
	},
})

// bigPayload builds an n-byte payload that starts with the check's own payload.
func bigPayload(t *fw.T, n int, lines bool) string {
	var b strings.Builder
	b.WriteString(string(t.Payload(1)))
	i := 0
	for b.Len() < n {
		if lines && i%100 == 99 {
			b.WriteByte('\n')
		} else {
			b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[i%36])
		}
		i++
	}
	return b.String()[:n]
}
