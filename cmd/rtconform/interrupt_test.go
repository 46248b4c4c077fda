package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtconform/rtconform/internal/need"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// An interrupted run never blames the target: SIGINT (or SIGTERM) in the middle of a chaos
// check and of a proxy check marks the running check INTERRUPTED, writes the partial report
// marked interrupted, exits 130, and leaves nothing running (no proxy process, no file of
// the run's proxies in use).
func TestInterruptedRunBlamesNobody(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		args  []string
		needs []string // system parts (internal/need)
	}{
		// Runs that last well over the 6 s before the signal at the default concurrency (the
		// chaos set takes about a minute), so the signal lands inside checks.
		{"chaos", syscall.SIGINT, []string{"run", "--label-filter", "chaos"}, nil},
		{"proxy", syscall.SIGTERM, []string{"run", "--config", filepath.Join("proxies", "matrix.yaml"),
			"--label-filter", "proxy && proxy:nginx && config:recommended"}, []string{"nginx"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			need.Require(t, c.needs...)
			t.Parallel()
			tmp, dir := t.TempDir(), t.TempDir()
			cmd := exec.Command(binary, append(c.args, "--report-dir", dir)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp) // the run's proxies keep their files here
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			var mu sync.Mutex
			started := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(pr)
				once := sync.Once{}
				for sc.Scan() {
					mu.Lock()
					out.WriteString(sc.Text() + "\n")
					mu.Unlock()
					if strings.HasPrefix(sc.Text(), "rtconform: target ") {
						once.Do(func() { close(started) })
					}
				}
			}()
			select {
			case <-started:
			case <-time.After(3 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the run did not start within 3 minutes")
			}
			time.Sleep(6 * time.Second) // inside the first check
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			select {
			case err = <-exited:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the run did not end within 2 minutes of the signal")
			}
			_ = pw.Close()
			mu.Lock()
			output := out.String()
			mu.Unlock()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != fw.ExitInterrupted {
				t.Errorf("exit %v, want %d\n%s", err, fw.ExitInterrupted, output)
			}
			b, rerr := os.ReadFile(filepath.Join(dir, fw.ReportFile))
			if rerr != nil {
				t.Fatalf("no partial report: %v\n%s", rerr, output)
			}
			var doc fw.Conformance
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Summary.Interrupted == "" {
				t.Errorf("the report is not marked interrupted: %+v", doc.Summary)
			}
			interrupted := 0
			for _, r := range doc.Checks {
				switch r.Verdict {
				case fw.INTERRUPTED:
					interrupted++
				case fw.FAIL, fw.ERROR, fw.WARN, fw.BLOCKED:
					t.Errorf("%s: %s after the interruption: %s", r.Key(), r.Verdict, r.Message)
				}
			}
			// The checks being judged when the signal came are INTERRUPTED: at least one, at
			// most as many as run at once.
			if interrupted < 1 || interrupted > fw.DefaultConcurrency {
				t.Errorf("%d checks INTERRUPTED, want the 1 to %d that were running\n%s", interrupted, fw.DefaultConcurrency, output)
			}
			if !strings.Contains(output, "INTERRUPTED") {
				t.Errorf("the console does not say INTERRUPTED:\n%s", output)
			}
			md, _ := os.ReadFile(filepath.Join(dir, fw.HumanReportFile))
			if !strings.Contains(string(md), "INTERRUPTED") {
				t.Errorf("report.md is not marked interrupted:\n%s", md)
			}
			if html, _ := os.ReadFile(filepath.Join(dir, "index.html")); !strings.Contains(string(html), "interrupted:") || !strings.Contains(string(html), "INTERRUPTED") {
				t.Errorf("index.html is not marked interrupted")
			}
			// Nothing left running: no process still refers to the run's temporary files.
			time.Sleep(time.Second)
			if ps, _ := exec.Command("pgrep", "-af", tmp).Output(); len(bytes.TrimSpace(ps)) > 0 {
				t.Errorf("still running after the run ended:\n%s", ps)
			}
		})
	}
}
