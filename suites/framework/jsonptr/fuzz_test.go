package jsonptr

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// escape is the inverse of the unescaping in Tokens (RFC 6901 §3: "~" as "~0", "/" as "~1").
func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// FuzzGet evaluates arbitrary pointers on arbitrary JSON. Beyond never panicking:
//   - re-escaping the tokens of a pointer gives a pointer with the same tokens and the same
//     value (unescape∘escape is the identity);
//   - "" is the whole document, a pointer without a leading "/" finds nothing;
//   - every member of an object and element of an array is found by its escaped key or index;
//   - GetText agrees with Get and Text, and Text of a string is the string itself.
func FuzzGet(f *testing.F) {
	docs := []string{
		`{"events":[{"id":"1","data":"a"},{"id":2,"data":{"x":[1,2]}}],"cursor":"c-2"}`,
		`{"a/b":{"m~n":1},"":{"":2},"~1":3}`,
		`[0,1,[2,3]]`, `"s"`, `null`, `1.5e3`, `{"foo":["bar","baz"]," ":7}`,
	}
	ptrs := []string{"", "/", "/events", "/events/1/data/x/0", "/a~1b/m~0n", "//", "/~01", "/01", "/-", "events", "/~", "/0/2/1"}
	for i, d := range docs {
		f.Add([]byte(d), ptrs[i%len(ptrs)])
		f.Add([]byte(d), ptrs[(i+5)%len(ptrs)])
	}
	f.Fuzz(func(t *testing.T, raw []byte, ptr string) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil {
			doc = string(raw) // a scalar document then
		}
		if v, ok := Get(doc, ""); !ok || !reflect.DeepEqual(v, doc) {
			t.Fatalf(`Get("") = %v, %v; want the document`, v, ok)
		}
		v, ok := Get(doc, ptr)
		if !Valid(ptr) {
			if ok {
				t.Fatalf("invalid pointer %q found %v", ptr, v)
			}
		} else {
			toks := Tokens(ptr)
			var b strings.Builder
			for _, tok := range toks {
				b.WriteString("/" + escape(tok))
			}
			again := b.String()
			if got := Tokens(again); !reflect.DeepEqual(got, toks) {
				t.Fatalf("tokens of %q: %q; re-escaped %q has tokens %q", ptr, toks, again, got)
			}
			v2, ok2 := Get(doc, again)
			if ok2 != ok || !reflect.DeepEqual(v2, v) {
				t.Fatalf("%q gives %v, %v; re-escaped %q gives %v, %v", ptr, v, ok, again, v2, ok2)
			}
		}
		s, okText := GetText(doc, ptr)
		if okText != (ok && v != nil) || okText && s != Text(v) {
			t.Fatalf("GetText(%q) = %q, %v; Get gives %v, %v", ptr, s, okText, v, ok)
		}
		if str, isStr := v.(string); isStr && Text(v) != str {
			t.Fatalf("Text(%q) = %q", str, Text(v))
		}
		switch d := doc.(type) {
		case map[string]any:
			for k, want := range d {
				if got, ok := Get(doc, "/"+escape(k)); !ok || !reflect.DeepEqual(got, want) {
					t.Fatalf("member %q: got %v, %v", k, got, ok)
				}
			}
		case []any:
			for i, want := range d {
				if got, ok := Get(doc, "/"+strconv.Itoa(i)); !ok || !reflect.DeepEqual(got, want) {
					t.Fatalf("element %d: got %v, %v", i, got, ok)
				}
			}
		}
	})
}
