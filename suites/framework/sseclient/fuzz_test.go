package sseclient

import (
	"reflect"
	"testing"
)

// FuzzParser checks that the parser never panics and that splitting the
// input in two at any point gives the same result as one Feed, with small
// limits so that the limit paths are fuzzed too.
func FuzzParser(f *testing.F) {
	for _, v := range vectors {
		f.Add([]byte(v.in), uint(len(v.in)/2))
	}
	f.Add([]byte("data:a\r"), uint(7))
	f.Add([]byte("\xEF\xBB\xBF\xEF\xBB\xBFdata:x\r\n\r\n"), uint(2))
	f.Add([]byte("data:\xE2\x82\xAC\xF0\x9F\x98\x80\n\n"), uint(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint) {
		l := Limits{MaxLine: 64, MaxEvent: 128, MaxBytes: 4096, MaxRaw: 32}
		i := int(split % uint(len(in)+1))
		whole := parse(l, in)
		parts := parse(l, in[:i], in[i:])
		if !reflect.DeepEqual(whole, parts) {
			t.Fatalf(
				"split at %d of %q:\n got %+v\nwant %+v",
				i, in, parts, whole)
		}
		_ = parse(Limits{}, in) // default limits: must not panic either
	})
}
