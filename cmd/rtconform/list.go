package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/onsi/ginkgo/v2/types"

	fw "github.com/rtconform/rtconform/suites/framework"
)

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	labels := fs.String("label-filter", "", "only checks whose labels match (labels: id:<ID>, transport, area, level), e.g. 'longpoll && must'")
	format := fs.String("format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform list [flags]\n\nPrints every check: ID, level, transport, requirement and spec reference.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	match := func([]string) bool { return true }
	if *labels != "" {
		f, err := types.ParseLabelFilter(*labels)
		if err != nil {
			fmt.Fprintf(stderr, "rtconform list: --label-filter: %v\n", err)
			return exitHarness
		}
		match = f
	}
	var checks []fw.Check
	for _, c := range fw.Checks() {
		if match(c.AllLabels()) {
			checks = append(checks, c)
		}
	}
	switch *format {
	case "json":
		type row struct {
			ID          string          `json:"id"`
			Cell        string          `json:"cell,omitempty"`
			Level       fw.Level        `json:"level"`
			Transport   fw.Transport    `json:"transport"`
			Requirement string          `json:"requirement"`
			Spec        string          `json:"spec"`
			Requires    []fw.Capability `json:"requires"`
			Labels      []string        `json:"labels"`
		}
		rows := []row{}
		for _, c := range checks {
			rows = append(rows, row{c.ID, c.Cell, c.Level, c.Transport, c.Requirement, c.Spec, c.Requires, c.AllLabels()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
	case "text":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tLEVEL\tTRANSPORT\tREQUIREMENT\tSPEC")
		for _, c := range checks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Key(), c.Level, c.Transport, c.Requirement, c.Spec)
		}
		_ = w.Flush()
		levels := map[fw.Level]int{}
		for _, c := range checks {
			levels[c.Level]++
		}
		ids := map[string]bool{}
		for _, c := range checks {
			ids[c.ID] = true
		}
		fmt.Fprintf(stdout, "%d checks (MUST %d, SHOULD %d, INFO %d)", len(checks), levels[fw.MUST], levels[fw.SHOULD], levels[fw.INFO])
		if len(ids) != len(checks) {
			fmt.Fprintf(stdout, "; %d distinct IDs (matrix checks are listed once per cell, as ID@cell)", len(ids))
		}
		fmt.Fprintln(stdout)
	default:
		fmt.Fprintf(stderr, "rtconform list: --format %q: want text or json\n", *format)
		return exitHarness
	}
	return exitOK
}
