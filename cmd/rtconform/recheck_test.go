package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/suites/framework/history"
)

// saved writes a small history (one publisher, one subscriber that resumes) into a report
// dir; dup makes the resume replay the token's own event.
func saved(t *testing.T, dir string, dup bool) string {
	t.Helper()
	rec := history.NewRecorder(0, map[string]string{"check": "RC-SSE-001"}, history.SafetyRules())
	rec.Connect("sse-1", "sse", "t", "", rec.Now(), nil)
	for seq := int64(1); seq <= 3; seq++ {
		rec.PublishInvoke("p", "t", seq)
		rec.PublishOK("p", "t", seq)
		if seq == 3 {
			rec.Disconnect("sse-1", history.CauseEOF)
			rec.Connect("sse-1", "sse", "t", "id-2", rec.Now(), nil)
			if dup {
				rec.Event("sse-1", "id-2", 2)
			}
		}
		rec.Event("sse-1", "id-"+string(rune('0'+seq)), seq)
	}
	path, err := rec.History().SaveReport(dir, "RC-SSE-001", "")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRecheckJudgesSavedHistories(t *testing.T) {
	clean := t.TempDir()
	saved(t, clean, false)
	if r := cli(t, time.Minute, "recheck", clean); r.code != 0 || !strings.Contains(r.stdout, "PASS") {
		t.Fatalf("clean history: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bad := t.TempDir()
	path := saved(t, bad, true)
	r := cli(t, time.Minute, "recheck", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL "+path) || !strings.Contains(r.stdout, "Unique") {
		t.Fatalf("a duplicate on resume: exit %d, want 1 naming the Unique rule\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, time.Minute, "recheck", "-v", path); r.code != 1 || !strings.Contains(r.stdout, "Resumable") {
		t.Fatalf("recheck of one file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	corrupt := filepath.Join(t.TempDir(), "x.jsonl")
	if err := os.WriteFile(corrupt, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, time.Minute, "recheck", corrupt); r.code != 2 || !strings.Contains(r.stderr, "x.jsonl:1") {
		t.Fatalf("a corrupt file: exit %d, want 2 naming file:line\n%s%s", r.code, r.stdout, r.stderr)
	}
}
