package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic; an error names the input
// and a line ("h.jsonl:N: …"); a history it loads encodes and decodes back to itself (the
// file format is a round trip), and Analyze judges it without panicking and identically
// after the round trip. Seeds: the histories and corrupt files of jsonl_test.go.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	for _, h := range []History{everything(), {}, {Meta: map[string]string{}, Rules: Rules{Slow: []string{}}}} {
		buf.Reset()
		if err := h.Encode(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(buf.Bytes()))
	}
	const hdr = `{"format":"rtconform-history/1","meta":null,"rules":{"ordered":true,"unique":true,"no_loss":true,"settle":"10ms","resumable":true},"ops":4}`
	f.Add([]byte(hdr + "\n" +
		`{"t":"1ms","kind":"connect","client":"s1","transport":"sse","topic":"a","start":"1ms"}` + "\n" +
		`{"t":"1ms","kind":"publish-invoke","publisher":"p","topic":"a","seq":1}` + "\n" +
		`{"t":"2ms","kind":"publish-ok","publisher":"p","topic":"a","seq":1}` + "\n" +
		`{"t":"3ms","kind":"event","client":"s1","id":"1","seq":1}` + "\n"))
	f.Add([]byte(""))
	f.Add([]byte("hello\n"))
	f.Add([]byte(`{"format":"rtconform-history/1","meta":null,"rules":{"max_lag":"x"},"ops":0}`))
	f.Add([]byte(`{"format":"rtconform-history/1","meta":null,"rules":{},"ops":-1}`))
	f.Add([]byte(`{"format":"rtconform-history/1","meta":null,"rules":{},"ops":1}` + "\n" + `{"t":"1ms","kind":"teleport"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := Decode(bytes.NewReader(in), "h.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "h.jsonl:") {
				t.Fatalf("error %q does not name the input and line", err)
			}
			return
		}
		var out bytes.Buffer
		if err := h.Encode(&out); err != nil {
			t.Fatalf("a loaded history does not encode: %v", err)
		}
		back, err := Decode(bytes.NewReader(out.Bytes()), "again.jsonl")
		if err != nil {
			t.Fatalf("the re-encoded history does not load: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(back, h) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, h)
		}
		r := Analyze(h)
		_ = Check(h)
		_, _ = r.Diagnosis()
		if !reflect.DeepEqual(Analyze(back), r) {
			t.Fatal("the re-encoded history is judged differently")
		}
	})
}
