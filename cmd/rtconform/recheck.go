package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtconform/rtconform/suites/framework/history"
)

// cmdRecheck re-runs the pure history checker on saved histories: a file, or every *.jsonl
// under a directory (a report dir holds them in histories/). The rules are the ones saved in
// each history's header, so a recheck judges exactly what the run judged; after a checker
// fix it shows whether the verdict changes.
func cmdRecheck(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("recheck", flag.ContinueOnError)
	verbose := fset.Bool("v", false, "print the measurements and notes of every history, not only the violations")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "Usage: rtconform recheck [flags] <history.jsonl | report dir>...\n\n"+
			"Re-runs the checker on saved histories. Exit: 0 no violation; 1 a violation; 2 a file could not be read.\n\nFlags:\n")
		fset.PrintDefaults()
	}
	fset.SetOutput(stderr)
	if err := fset.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitHarness
	}
	if fset.NArg() == 0 {
		fset.Usage()
		return exitHarness
	}
	var files []string
	for _, arg := range fset.Args() {
		st, err := os.Stat(arg)
		if err != nil {
			fmt.Fprintf(stderr, "rtconform recheck: %v\n", err)
			return exitHarness
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		var found []string
		_ = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
				found = append(found, p)
			}
			return nil
		})
		if len(found) == 0 {
			fmt.Fprintf(stderr, "rtconform recheck: no *.jsonl history under %s\n", arg)
			return exitHarness
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	code := exitOK
	for _, f := range files {
		h, err := history.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "rtconform recheck: %v\n", err)
			return exitHarness
		}
		rep := history.Analyze(h)
		verdict := "PASS"
		if len(rep.Violations) > 0 {
			verdict, code = "FAIL", exitFail
		}
		fmt.Fprintf(stdout, "%s %s (%d ops", verdict, f, len(h.Ops))
		if id := h.Meta["check"]; id != "" {
			fmt.Fprintf(stdout, ", check %s", id)
		}
		fmt.Fprintln(stdout, ")")
		for _, v := range rep.Violations {
			fmt.Fprintf(stdout, "  %s\n", v)
		}
		if *verbose {
			for _, line := range strings.Split(strings.TrimSpace(rep.Summary()), "\n") {
				fmt.Fprintf(stdout, "  %s\n", line)
			}
			for _, n := range rep.Notes {
				fmt.Fprintf(stdout, "  note: %s\n", n)
			}
		}
	}
	return code
}
