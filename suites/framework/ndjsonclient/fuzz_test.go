package ndjsonclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzLines feeds arbitrary bytes, split at an arbitrary point, to a Parser with a small line
// limit: it never panics, never keeps more than the limit, numbers lines from 1 without
// gaps, returns every complete line (valid ones exactly as JSON and UTF-8, the others with an
// error naming the line), and the lines and what is left reassemble the input.
func FuzzLines(f *testing.F) {
	for _, s := range []string{"", "{}\n", "1\r\n2\n", "{\"a\":\"\\u2028\"}\n[", "\n\n", "\"\xff\"\n", "{}{}\n", "123456789012345678901234567890123\n", "null"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		const limit = 32
		p := NewParser(Limits{MaxLine: limit})
		k := int(cut) % (len(in) + 1)
		var lines []Line
		var err error
		for _, part := range [][]byte{in[:k], in[k:]} {
			var ls []Line
			ls, err = p.Feed(part, time.Now())
			lines = append(lines, ls...)
			if p.Pending() > limit+1 {
				t.Fatalf("%d bytes pending over a limit of %d", p.Pending(), limit)
			}
			if err != nil {
				break
			}
		}
		var rebuilt []byte
		for i, l := range lines {
			if l.N != i+1 {
				t.Fatalf("line %d numbered %d", i+1, l.N)
			}
			if len(l.Raw) > limit {
				t.Fatalf("line %d of %d bytes over the limit", l.N, len(l.Raw))
			}
			valid := utf8.Valid(l.Raw) && json.Valid(l.Raw)
			if valid != (l.Err == nil) {
				t.Fatalf("line %q: valid %v, Err %v", l.Raw, valid, l.Err)
			}
			if l.Err != nil && l.Err.Line != l.N {
				t.Fatalf("error %v names line %d", l.Err, l.Err.Line)
			}
			if bytes.IndexByte(l.Raw, '\n') >= 0 {
				t.Fatalf("line %q holds a newline", l.Raw)
			}
			rebuilt = append(rebuilt, l.Raw...)
			if l.CR {
				rebuilt = append(rebuilt, '\r')
			}
			rebuilt = append(rebuilt, '\n')
		}
		var le *LimitError
		if errors.As(err, &le) {
			if !bytes.HasPrefix(in, rebuilt) {
				t.Fatalf("lines %q are not a prefix of the input %q", rebuilt, in)
			}
			return
		}
		if err != nil {
			t.Fatalf("Feed: %v", err)
		}
		rest := p.PendingBytes(limit + 2)
		cerr := p.Close()
		if (len(rest) > 0) != (cerr != nil) {
			t.Fatalf("pending %q, Close %v", rest, cerr)
		}
		if !bytes.Equal(append(rebuilt, rest...), in) {
			t.Fatalf("lines and rest %q != input %q", append(rebuilt, rest...), in)
		}
	})
}
