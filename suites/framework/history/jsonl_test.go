package history

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// everything is a history with every op kind and every rule field set.
func everything() History {
	r := NewRecorder(0, map[string]string{MetaTarget: "reference", MetaCheck: "RC-SSE-001"}, Rules{
		Ordered: true, Unique: true, NoLoss: true, Settle: 250 * ms, Resumable: true,
		RetryHonoured: true, RetryTolerance: 50 * ms, ReconnectWithin: 2 * time.Second,
		DetectWithin: 1500 * ms, BlackHole: "bh", MaxLag: time.Nanosecond, Slow: []string{"slow-1"},
	})
	steps := []time.Duration{time.Nanosecond, time.Hour + time.Nanosecond, 1234567 * time.Microsecond}
	i := 0
	var now time.Duration
	r.clock = func() time.Duration { now += steps[i%len(steps)]; i++; return now }
	r.Connect("sse-1", "sse", "topic/a", "", time.Nanosecond, nil)
	r.Connect("sse-1", "sse", "topic/a", "41", 0, errBoom)
	r.Event("sse-1", "id \"quoted\" <&>", 0)
	r.Event("sse-1", "", NoSeq)
	r.EventRetry("sse-1", "42", 42, 0)
	r.Retry("sse-1", 3*time.Second)
	r.Reset("sse-1")
	r.Disconnect("sse-1", CauseHeartbeatTimeout)
	r.FaultStart("bh", "timeout=0")
	r.FaultStop("bh", "")
	r.PublishInvoke("pub-1", "topic/a", 0)
	r.PublishOK("pub-1", "topic/a", 0)
	r.PublishFail("pub-1", "topic/a", -5, errBoom)
	r.PublishUnknown("pub-1", "topic/a", 9, nil)
	r.Record(Op{Kind: KindDisconnect, Client: "ünïcode", Cause: "error: ✓", Seq: 3})
	return r.History()
}

func TestJSONLRoundTrip(t *testing.T) {
	h := everything()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, h)
	}
	if !reflect.DeepEqual(Analyze(got), Analyze(h)) {
		t.Error("the loaded history is judged differently")
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1+len(h.Ops) ||
		!strings.HasPrefix(lines[0], `{"format":"rtconform-history/1","meta":{"check":"RC-SSE-001","target":"reference"},"rules":{"ordered":true`) ||
		lines[5] != `{"t":"2h0m1.234567004s","kind":"event","client":"sse-1","id":"42","seq":42,"retry":"0s"}` {
		t.Errorf("file:\n%s", b)
	}
	// Empty and nil values read back as written.
	for _, h := range []History{{}, {Meta: map[string]string{}, Rules: Rules{Slow: []string{}}}} {
		if err := h.Save(path); err != nil {
			t.Fatal(err)
		}
		if got, err := Load(path); err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("%+v read back as %+v, %v", h, got, err)
		}
	}
}

func TestSaveReport(t *testing.T) {
	dir := t.TempDir()
	path, err := everything().SaveReport(dir, "RC-SSE-001", "")
	if err != nil || path != filepath.Join(dir, "histories", "RC-SSE-001.jsonl") {
		t.Fatalf("path %q, %v", path, err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if got := FileName("RC-SSE-001", "blackhole/sse x"); got != "RC-SSE-001-blackhole_sse_x.jsonl" {
		t.Errorf("FileName %q", got)
	}
	if got := FileName("", ""); got != "history.jsonl" {
		t.Errorf("FileName %q", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "histories"))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestLoadCorrupt(t *testing.T) {
	const hdr = `{"format":"rtconform-history/1","meta":null,"rules":{"ordered":true},"ops":2}`
	const op = `{"t":"1ms","kind":"event","client":"s1","id":"1","seq":1}`
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "h.jsonl:1: empty file: missing header"},
		{"not json header", "hello\n", "h.jsonl:1: bad header"},
		{"wrong format", `{"format":"other/9","meta":null,"rules":{},"ops":0}`, `h.jsonl:1: format "other/9"`},
		{"broken op", hdr + "\n" + op + "\n" + `{"t":"2ms","kind":"ev`, "h.jsonl:3: unexpected EOF"},
		{"unknown kind", hdr + "\n" + `{"t":"1ms","kind":"teleport"}` + "\n" + op, `h.jsonl:2: unknown op kind "teleport"`},
		{"unknown field", hdr + "\n" + op + "\n" + `{"t":"1ms","kind":"reset","colour":"red"}`, `h.jsonl:3: json: unknown field "colour"`},
		{"bad duration", hdr + "\n" + `{"t":"soon","kind":"reset"}` + "\n" + op, `h.jsonl:2: field "t"`},
		{"missing t", hdr + "\n" + `{"kind":"reset"}` + "\n" + op, `h.jsonl:2: missing "t"`},
		{"truncated", hdr + "\n" + op + "\n", "h.jsonl:2: header announces 2 ops, file has 1 (truncated?)"},
		{"bad rule duration", `{"format":"rtconform-history/1","meta":null,"rules":{"max_lag":"x"},"ops":0}`, `h.jsonl:1: bad header: field "max_lag"`},
		{"two values on a line", hdr + "\n" + op + " {}\n" + op, "h.jsonl:2: trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.jsonl")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
