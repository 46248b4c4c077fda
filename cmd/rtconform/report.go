package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rtconform/rtconform/suites/framework/htmlreport"
)

// cmdReport re-renders the HTML report of a report directory from its
// conformance-report.json (and the histories it names).
func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform report <report dir>\n\nRe-renders <dir>/%s from <dir>/conformance-report.json.\n", htmlreport.File)
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitHarness
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitHarness
	}
	dir := fs.Arg(0)
	doc, err := htmlreport.Load(dir)
	if err != nil {
		fmt.Fprintf(stderr, "rtconform report: %v\n", err)
		return exitHarness
	}
	if err := htmlreport.Write(dir, doc); err != nil {
		fmt.Fprintf(stderr, "rtconform report: %v\n", err)
		return exitHarness
	}
	fmt.Fprintf(stdout, "rtconform report: wrote %s\n", filepath.Join(dir, htmlreport.File))
	return exitOK
}
