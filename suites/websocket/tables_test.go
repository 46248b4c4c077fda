package websocket

import (
	"testing"
	"unicode/utf8"
)

// The transcribed Autobahn payloads agree with Go's UTF-8 decoder, so a row's verdict does not
// depend on the transcription.
func TestUTF8Tables(t *testing.T) {
	for i, r := range utf8Valid {
		if !utf8.Valid(r.bytes()) {
			t.Errorf("utf8Valid[%d] (Autobahn %s) %s is not valid UTF-8", i, r.ab, r.hex)
		}
	}
	for i, r := range utf8Invalid {
		if utf8.Valid(r.bytes()) {
			t.Errorf("utf8Invalid[%d] (Autobahn %s) %s is valid UTF-8", i, r.ab, r.hex)
		}
	}
	for _, r := range utf8Fragmented {
		var b []byte
		for _, p := range r.texts {
			b = append(b, p...)
		}
		if !utf8.Valid(b) {
			t.Errorf("utf8Fragmented %q is not valid UTF-8", r.what)
		}
	}
	if len(utf8Valid) != 64 || len(utf8Invalid) != 70 {
		t.Errorf("tables changed size (%d valid, %d invalid): rows are append-only and the fixtures' Breaks mirror them", len(utf8Valid), len(utf8Invalid))
	}
}
