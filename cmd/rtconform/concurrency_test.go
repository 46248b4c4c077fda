package main

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/fixtures"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// Judging checks concurrently (the default) must not change a single verdict: the default
// suite against the reference, and the broadest conformance fixture (the one whose bug
// fails the most checks) over its transports, run once one check at a time and once with
// the default concurrency, give the same verdict for every check and the same exit code.
func TestConcurrentVerdictsMatchSequential(t *testing.T) {
	t.Parallel()
	type target struct {
		name, fixture, profile, filter string
	}
	targets := []target{{name: "reference"}}
	best, most := "", 0
	for _, name := range fixtures.Names() {
		f, _ := fixtures.Lookup(name)
		var ids []string
		for _, id := range f.Breaks {
			if c, ok := fw.Lookup(id); ok && !c.OptIn() {
				ids = append(ids, id)
			}
		}
		if len(ids) > most && f.Profile == "" {
			best, most = name, len(ids)
		}
	}
	if best == "" {
		t.Fatal("no fixture breaks a conformance check")
	}
	f, _ := fixtures.Lookup(best)
	targets = append(targets, target{name: best, fixture: best, profile: filepath.Join("fixtures", "profiles", "fixture.yaml"),
		filter: strings.Join(transportsOf(f.Breaks), " || ")})
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			verdicts := map[int]map[string]fw.Verdict{}
			codes := map[int]int{}
			for _, n := range []int{1, fw.DefaultConcurrency} {
				args := []string{"run", "--report-dir", t.TempDir(), "--concurrency", strconv.Itoa(n)}
				var env []string
				if tg.fixture != "" {
					env = []string{"RTCONFORM_FIXTURE=" + tg.fixture}
					args = append(args, "--config", tg.profile, "--label-filter", tg.filter)
				}
				r := cliEnv(t, 10*time.Minute, env, args...)
				if r.report == nil {
					t.Fatalf("--concurrency %d: no report (exit %d)\n%s%s", n, r.code, r.stdout, r.stderr)
				}
				verdicts[n] = map[string]fw.Verdict{}
				for _, c := range r.report.Checks {
					verdicts[n][c.Key()] = c.Verdict
				}
				codes[n] = r.code
			}
			seq, con := verdicts[1], verdicts[fw.DefaultConcurrency]
			if len(seq) == 0 {
				t.Fatal("no check was judged")
			}
			for _, k := range slices.Sorted(maps.Keys(seq)) {
				if seq[k] != con[k] {
					t.Errorf("%s: %s one at a time, %s with --concurrency %d", k, seq[k], con[k], fw.DefaultConcurrency)
				}
			}
			if len(con) != len(seq) {
				t.Errorf("%d checks judged with --concurrency %d, %d one at a time", len(con), fw.DefaultConcurrency, len(seq))
			}
			if codes[1] != codes[fw.DefaultConcurrency] {
				t.Errorf("exit %d one at a time, %d concurrently", codes[1], codes[fw.DefaultConcurrency])
			}
			if tg.fixture != "" && codes[1] != 1 {
				t.Errorf("fixture %s: exit %d, want 1 (its bug fails MUST checks)", tg.fixture, codes[1])
			}
			t.Logf("%s: %d checks, the same verdicts one at a time and %d at a time (exit %d)", tg.name, len(seq), fw.DefaultConcurrency, codes[1])
		})
	}
}
