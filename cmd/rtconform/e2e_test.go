package main

// End-to-end tests of the built CLI: Ginkgo's RunSpecs runs once per process, so each run of
// the suites is a subprocess, judged by its exit code, its output and conformance-report.json.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/fixtures"
	_ "github.com/rtconform/rtconform/fixtures/all"
	fw "github.com/rtconform/rtconform/suites/framework"
)

var (
	binary string // the CLI built once for all tests
	root   string // the repository root (runs start there, like a user's)
)

func TestMain(m *testing.M) {
	// The runs below mostly wait on sockets (the whole package used under one core of CPU
	// at four at a time): eight at a time, unless -parallel was given. (Not through the
	// README's go test -parallel: Ginkgo refuses that flag for the suites.)
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "rtconform-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rtconform")
	build := exec.Command("go", "build", "-o", binary, "./cmd/rtconform")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building the CLI: " + err.Error())
	}
	// Fixture profiles start their server with go run; build it once so parallel runs only link.
	warm := exec.Command("go", "build", "-o", os.DevNull, "./fixtures/cmd/fixture")
	warm.Dir = root
	warm.Stdout, warm.Stderr = os.Stderr, os.Stderr
	if err := warm.Run(); err != nil {
		panic("building the fixture server: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	report         *fw.Conformance
}

// cli runs the built CLI from the repository root, bounded in time.
func cli(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	return cliEnv(t, timeout, nil, args...)
}

// cliEnv is cli with extra environment variables.
func cliEnv(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("rtconform %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, out.String(), errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	for i, a := range args {
		if a == "--report-dir" && i+1 < len(args) {
			if b, err := os.ReadFile(filepath.Join(args[i+1], fw.ReportFile)); err == nil {
				r.report = &fw.Conformance{}
				if err := json.Unmarshal(b, r.report); err != nil {
					t.Fatalf("conformance report is not JSON: %v", err)
				}
			}
		}
	}
	return r
}

func TestRunAgainstReferencePassesEveryCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := cli(t, 5*time.Minute, "run", "--report-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`MUST: \d+ passed, 0 failed; SHOULD: \d+ passed, 0 warned, 0 failed`).MatchString(r.stdout) {
		t.Errorf("no summary line in the output:\n%s", r.stdout)
	}
	if r.report == nil {
		t.Fatal("no conformance-report.json")
	}
	if len(r.report.Checks) < 24 {
		t.Errorf("%d checks ran, want >= 24", len(r.report.Checks))
	}
	areas := map[string]int{}
	for _, c := range r.report.Checks {
		if c.Verdict != fw.PASS && !(c.Level == fw.INFO && c.Verdict == fw.INFOV) {
			t.Errorf("%s: %s: %s", c.ID, c.Verdict, c.Message)
		}
		areas[c.Area]++
	}
	// Progress: the run announces what it will judge and prints one line per area as it
	// finishes, with exactly the area's count; no Ginkgo dots, no S per left-out spec.
	if want := fmt.Sprintf("rtconform: %d checks in %d areas\n", len(r.report.Checks), len(areas)); !strings.Contains(r.stdout, want) {
		t.Errorf("the output does not announce %q", want)
	}
	for area, n := range areas {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^area %s \(\w+\): %d/%d done, [0-9.]+ s$`, regexp.QuoteMeta(area), n, n)).MatchString(r.stdout) {
			t.Errorf("no progress line for area %s (%d checks)", area, n)
		}
	}
	if strings.Contains(r.stdout, "SSSS") || strings.Contains(r.stdout, "•") {
		t.Errorf("Ginkgo's dots or skip marks in the output:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "junit.xml")); err != nil {
		t.Errorf("no JUnit report: %v", err)
	}
	// The HTML report is written with the run, and rtconform report re-renders it.
	html := filepath.Join(dir, "index.html")
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), `id="verdict"`) || !strings.Contains(string(b), "exit 0: every check it judged passed") {
		t.Errorf("no HTML report with the verdict (%v)", err)
	}
	if err := os.Remove(html); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, time.Minute, "report", dir); r.code != 0 || !strings.Contains(r.stdout, "index.html") {
		t.Errorf("rtconform report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(html); err != nil {
		t.Errorf("rtconform report did not write index.html: %v", err)
	}
	if r := cli(t, time.Minute, "report", t.TempDir()); r.code != 2 {
		t.Errorf("rtconform report on a directory without a report: exit %d, want 2", r.code)
	}
}

// Every fixture carries one bug: the run exits 1, the checks the fixture names fail (or
// warn, for SHOULD checks) and no other check does. A Correct fixture (ok-…) carries a
// legitimate quirk instead: nothing in its scope may fail, warn or error.
func TestFixturesFailExactlyTheirChecks(t *testing.T) {
	// Parallel at the top level too, so the chaos and proxy runs share the slots with
	// the fixture runs instead of waiting for all of them.
	t.Parallel()
	for _, name := range fixtures.Names() {
		f, _ := fixtures.Lookup(name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			profile := filepath.Join("fixtures", "profiles", "fixture.yaml")
			if f.Profile != "" {
				profile = f.Profile
			}
			if f.Correct {
				// A positive control: a correct server with a quirk real servers have.
				fixtureBreaks(t, name, f, profile, f.Scope, nil)
				return
			}
			// A fixture's bug lives in one transport's routes: run that transport's checks
			// (all of them, so an unrelated failure in it still shows) — the conformance
			// checks, and, when the fixture names chaos or fallback checks (opt-in: a check
			// with both labels is one of them, once), those suites' checks too.
			var conformance, chaos []string
			hasChaos, hasFallback := false, false // labels among the opt-in checks named
			for _, id := range f.Breaks {
				c, ok := fw.Lookup(id)
				if !ok {
					t.Fatalf("fixture %s names an unknown check %s", name, id)
				}
				isChaos, isFallback := slices.Contains(c.Labels, "chaos"), slices.Contains(c.Labels, "fallback")
				if isChaos || isFallback {
					chaos = append(chaos, id)
					// A check labelled both counts as fallback: a fallback scope selects it.
					hasFallback = hasFallback || isFallback
					hasChaos = hasChaos || !isFallback
				} else {
					conformance = append(conformance, id)
				}
			}
			if len(f.Breaks) == 0 {
				t.Fatalf("fixture %s lists no check it breaks", name)
			}
			if len(conformance) > 0 {
				fixtureBreaks(t, name, f, profile, strings.Join(transportsOf(conformance), " || "), conformance)
			}
			if len(chaos) > 0 {
				suite := "chaos"
				switch {
				case hasFallback && hasChaos:
					suite = "(chaos || fallback)"
				case hasFallback:
					suite = "fallback"
				}
				scope := suite + " && (" + strings.Join(transportsOf(chaos), " || ") + ")"
				if f.ChaosScope != "" {
					scope = f.ChaosScope
				}
				fixtureBreaks(t, name, f, profile, scope, chaos)
			}
		})
	}
}

// transportsOf lists the transports of the checks ids, in order of first appearance.
func transportsOf(ids []string) []string {
	var scope []string
	for _, id := range ids {
		c, _ := fw.Lookup(id)
		if !slices.Contains(scope, string(c.Transport)) {
			scope = append(scope, string(c.Transport))
		}
	}
	return scope
}

// fixtureBreaks runs the checks selected by filter against fixture name and requires exactly
// want to fail or warn.
func fixtureBreaks(t *testing.T, name string, f fixtures.Fixture, profile, filter string, want []string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"run", "--config", profile, "--report-dir", dir, "--label-filter", filter}
	if f.Concurrency > 0 {
		args = append(args, "--concurrency", strconv.Itoa(f.Concurrency))
	}
	r := cliEnv(t, 10*time.Minute, []string{"RTCONFORM_FIXTURE=" + name}, args...)
	if r.report == nil {
		t.Fatalf("no report (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var broken []string
	for _, c := range r.report.Checks {
		switch c.Verdict {
		case fw.FAIL, fw.WARN:
			broken = append(broken, c.ID)
		case fw.ERROR:
			t.Errorf("%s: harness error against the fixture: %s", c.ID, c.Message)
		}
	}
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(broken, want) && len(broken)+len(want) > 0 {
		t.Errorf("fixture %s (%s), label filter %q: failing checks %v, want exactly %v\nstdout:\n%s", name, f.Bug, filter, broken, want, r.stdout)
	}
	wantCode := 0
	for _, id := range want {
		if c, ok := fw.Lookup(id); ok && c.Level == fw.MUST {
			wantCode = 1
		}
	}
	if r.code != wantCode {
		t.Errorf("label filter %q: exit %d, want %d", filter, r.code, wantCode)
	}
	for _, id := range want {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("the output does not name the failing check %s", id)
		}
	}
}

func TestConfigErrorsNameTheKeyAndExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"typo", "target:\n  url: http://127.0.0.1:9\n  capabilties: [sse]\n", []string{"target.capabilties", "unknown key", ":3"}},
		{"bad url", "target:\n  url: htp:/nowhere\n  capabilities: [sse]\n  sse: {path: /s}\n", []string{"target.url", "not an absolute"}},
		{"missing capabilities", "target:\n  url: http://127.0.0.1:9\n", []string{"target.capabilities", "required"}},
		{"unknown capability", "target:\n  url: http://127.0.0.1:9\n  capabilities: [sse, telepathy]\n  sse: {path: /s}\n", []string{"target.capabilities[1]", "telepathy"}},
		{"bad duration", "target:\n  longpoll: {timeout: soon}\n", []string{"target.longpoll.timeout", "not a duration"}},
		{"missing path", "target:\n  url: http://127.0.0.1:9\n  capabilities: [sse]\n", []string{"target.sse", "required"}},
		{"bad backend", "faults: {backend: chaos-monkey}\n", []string{"faults.backend", "chaos-monkey"}},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "p"+strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		r := cli(t, time.Minute, "run", "--config", path, "--report-dir", filepath.Join(dir, "r"))
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2\nstderr: %s", c.name, r.code, r.stderr)
		}
		for _, w := range append(c.want, path) {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr does not mention %q:\n%s", c.name, w, r.stderr)
			}
		}
	}
}

func TestUnreachableTargetIsAHarnessError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	// Port 9 (discard) is not served on this machine's loopback.
	if err := os.WriteFile(path, []byte("target:\n  url: http://127.0.0.1:9\n  capabilities: [sse]\n  sse: {path: '/sse/{topic}'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, time.Minute, "run", "--config", path, "--report-dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "cannot reach the target") {
		t.Errorf("exit %d, want 2 with 'cannot reach the target'\nstderr: %s", r.code, r.stderr)
	}
}

func TestListAndHelp(t *testing.T) {
	t.Parallel()
	r := cli(t, time.Minute, "list")
	m := regexp.MustCompile(`(\d+) checks \(MUST`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n < 24 {
		t.Errorf("list shows %d checks, want >= 24", n)
	}
	for _, tr := range []string{"sse", "websocket", "longpoll"} {
		r := cli(t, time.Minute, "list", "--label-filter", tr)
		m := regexp.MustCompile(`(\d+) checks \(MUST`).FindStringSubmatch(r.stdout)
		if n, _ := strconv.Atoi(m[1]); n < 8 {
			t.Errorf("list --label-filter %s shows %d checks, want >= 8", tr, n)
		}
	}
	if r := cli(t, time.Minute, "list", "--label-filter", "sse &&"); r.code != 2 {
		t.Errorf("a bad label filter: exit %d, want 2", r.code)
	}
	// list --config says what a run of the profile judges: thirdparty-sse.yaml declares no
	// restart, so RC-SSE-005 (restart) is NOT_SUPPORTED naming it, SSE-RESP-001 judged.
	r = cli(t, time.Minute, "list", "--config", "fixtures/profiles/thirdparty-sse.yaml", "--label-filter", "id:SSE-RESP-001 || id:RC-SSE-007")
	if r.code != 0 || !regexp.MustCompile(`SSE-RESP-001 +MUST +sse +judged`).MatchString(r.stdout) ||
		!regexp.MustCompile(`RC-SSE-007 +MUST +sse +NOT_SUPPORTED \(needs [a-z, ]*restart`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "1 judged, 1 NOT_SUPPORTED") {
		t.Errorf("list --config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, time.Minute, "list", "--config", "no-such.yaml"); r.code != 2 || !strings.Contains(r.stderr, "no-such.yaml") {
		t.Errorf("list --config with a missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, cmd := range []string{"run", "list", "reference", "deploy"} {
		r := cli(t, time.Minute, cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stderr, "Usage: rtconform "+cmd) {
			t.Errorf("%s --help: exit %d, output %q", cmd, r.code, r.stderr)
		}
	}
	if r := cli(t, time.Minute, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d, want 2", r.code)
	}
}

// A target that declares only some capabilities: the rest are NOT_SUPPORTED (named), never
// failed; the target is started through target.start (here: this CLI's reference command).
func TestUndeclaredCapabilitiesAreNotSupported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	body := "target:\n  url: http://127.0.0.1:{port}\n  start: {command: '" + binary + " reference --addr 127.0.0.1:{port}'}\n" +
		"  sse: {path: '/sse/{topic}'}\n  capabilities: [sse]\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, 3*time.Minute, "run", "--config", path, "--report-dir", dir)
	if r.code != 0 || r.report == nil {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	byID := map[string]fw.Result{}
	for _, c := range r.report.Checks {
		byID[c.ID] = c
	}
	if c := byID["SSE-RESP-001"]; c.Verdict != fw.PASS {
		t.Errorf("SSE-RESP-001: %s %s", c.Verdict, c.Message)
	}
	for id, missing := range map[string]string{"SSE-DELIVER-001": "publish", "WS-HS-001": "websocket", "LP-HOLD-001": "longpoll"} {
		c := byID[id]
		if c.Verdict != fw.NOTSUPPORTED || !slices.Contains(c.Missing, fw.Capability(missing)) || !strings.Contains(c.Message, missing) {
			t.Errorf("%s: %s missing=%v %q, want NOT_SUPPORTED naming %s", id, c.Verdict, c.Missing, c.Message, missing)
		}
	}
	if !regexp.MustCompile(`NOT_SUPPORTED: [1-9]\d*`).MatchString(r.stdout) {
		t.Errorf("the summary does not count NOT_SUPPORTED:\n%s", r.stdout)
	}
}

// A publish hook that fails is a harness error (ERROR, exit 2), not a conformance failure.
func TestFailingPublishHookIsAHarnessError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	body := "target:\n  url: http://127.0.0.1:{port}\n  start: {command: '" + binary + " reference --addr 127.0.0.1:{port}'}\n" +
		"  sse: {path: '/sse/{topic}'}\n  publish: {path: '/no-such-api/{topic}'}\n  capabilities: [sse, publish]\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, 3*time.Minute, "run", "--config", path, "--report-dir", dir, "--label-filter", "id:SSE-DELIVER-001")
	if r.code != 2 || r.report == nil || len(r.report.Checks) != 1 {
		t.Fatalf("exit %d (want 2)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	c := r.report.Checks[0]
	if c.Verdict != fw.ERROR || !strings.Contains(c.Message, "404") {
		t.Errorf("%s: %s %q, want ERROR naming the 404", c.ID, c.Verdict, c.Message)
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil || !strings.Contains(string(junit), "<error") {
		t.Errorf("the JUnit report does not record an <error>: %v", err)
	}
}

// rtconform run --target URL outside the repository, with no profile: a clear error saying
// how to describe the server (exit 2), never the reference's capabilities on someone else's
// server (issue 15: it used to fail with "target.restart: needs command or url").
func TestRunTargetWithoutProfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // no ginkgo.yaml here
	cmd := exec.Command(binary, "run", "--target", "http://127.0.0.1:9", "--report-dir", filepath.Join(dir, "r"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, out)
	}
	for _, w := range []string{"without a profile", "capabilities are not borrowed", "rtconform init --target http://127.0.0.1:9", "--config FILE", "--preset NAME"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the error does not say %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "target.restart") {
		t.Errorf("the reference's capabilities leaked onto the URL:\n%s", out)
	}
	// --preset describes the server: that run goes past the profile (and fails to reach port 9).
	cmd = exec.Command(binary, "run", "--preset", "mercure", "--target", "http://127.0.0.1:9", "--report-dir", filepath.Join(dir, "r2"))
	cmd.Dir = dir
	if out, _ := cmd.CombinedOutput(); strings.Contains(string(out), "without a profile") {
		t.Errorf("--preset given, yet:\n%s", out)
	}
}
