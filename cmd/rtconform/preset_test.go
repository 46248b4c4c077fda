package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rtconform/rtconform/presets"
)

// TestPresetFlags: list --presets names every embedded preset with its description, and a
// preset mistake is a configuration error (exit 2) that says what to do.
func TestPresetFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cmdList([]string{"--presets"}, &out, &errb); code != exitOK {
		t.Fatalf("list --presets: exit %d: %s", code, errb.String())
	}
	for _, n := range presets.Names() {
		if !strings.Contains(out.String(), n+" ") || !strings.Contains(out.String(), presets.Describe(n)) {
			t.Errorf("list --presets does not show %s: %s", n, out.String())
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "nope", "--target", "http://127.0.0.1:9"}, `<flags>: --preset: unknown preset "nope" (known: `},
		{[]string{"--preset", "reference"}, `target.url: preset "reference" describes a kind of server`},
	} {
		out.Reset()
		errb.Reset()
		if code := cmdRun(c.args, &out, &errb); code != exitHarness || !strings.Contains(errb.String(), c.want) {
			t.Errorf("run %v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
	out.Reset()
	if code := cmdList([]string{"--preset", "reference", "--label-filter", "id:PX-SSE-009 || id:SSE-WIRE-001"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "NOT_SUPPORTED (needs restart)") || !strings.Contains(out.String(), "judged") {
		t.Errorf("list --preset reference: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
