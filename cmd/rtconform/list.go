package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/rtconform/rtconform/presets"
	fw "github.com/rtconform/rtconform/suites/framework"
)

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	labels := fs.String("label-filter", "", "only checks whose labels match (labels: id:<ID>, transport, area, level), e.g. 'longpoll && must'")
	format := fs.String("format", "text", "text or json")
	config := fs.String("config", "", "a target profile: say for each check whether a run of it judges the check or reports it NOT_SUPPORTED (a capability it does not declare)")
	preset := fs.String("preset", "", "like --config, for a preset (refined by --config when both are given)")
	listPresets := fs.Bool("presets", false, "list the presets (profiles of well-known servers) instead of the checks")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtconform list [flags]\n\nPrints every check: ID, level, transport, requirement and spec reference; with --config, also\nwhether a run of that profile judges it or reports it NOT_SUPPORTED.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, stop := parse(fs, args, stderr); stop {
		return code
	}
	if *listPresets {
		return printPresets(stdout, *format, stderr)
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
	var profile *fw.Profile
	with := *config
	if *preset != "" {
		with = "preset " + *preset
	}
	if *config != "" || *preset != "" {
		var o fw.Overrides
		if *preset != "" {
			// list judges declarations only: the URL a run needs does not matter here.
			none := "http://127.0.0.1:0"
			o.Preset, o.Target = preset, &none
		}
		p, err := fw.Load(*config, o)
		if err != nil {
			fmt.Fprintf(stderr, "rtconform list: configuration error: %v\n", err)
			return exitHarness
		}
		profile = &p
	}
	// status is what a run of the profile does with c ("" without --config).
	status := func(c fw.Check) string {
		if profile == nil {
			return ""
		}
		if m := profile.Target.Missing(c.Requires); len(m) > 0 {
			var names []string
			for _, x := range m {
				names = append(names, string(x))
			}
			return "NOT_SUPPORTED (needs " + strings.Join(names, ", ") + ")"
		}
		return "judged"
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
			Status      string          `json:"status,omitempty"`
		}
		rows := []row{}
		for _, c := range checks {
			rows = append(rows, row{c.ID, c.Cell, c.Level, c.Transport, c.Requirement, c.Spec, c.Requires, c.AllLabels(), status(c)})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
	case "text":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if profile == nil {
			fmt.Fprintln(w, "ID\tLEVEL\tTRANSPORT\tREQUIREMENT\tSPEC")
		} else {
			fmt.Fprintln(w, "ID\tLEVEL\tTRANSPORT\tWITH "+with+"\tREQUIREMENT\tSPEC")
		}
		unsupported := 0
		for _, c := range checks {
			if profile == nil {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Key(), c.Level, c.Transport, c.Requirement, c.Spec)
				continue
			}
			st := status(c)
			if st != "judged" {
				unsupported++
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Key(), c.Level, c.Transport, st, c.Requirement, c.Spec)
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
		if profile != nil {
			fmt.Fprintf(stdout, "; with %s: %d judged, %d NOT_SUPPORTED (the opt-in chaos and proxy checks run only when a label filter names them)",
				with, len(checks)-unsupported, unsupported)
		}
		fmt.Fprintln(stdout)
	default:
		fmt.Fprintf(stderr, "rtconform list: --format %q: want text or json\n", *format)
		return exitHarness
	}
	return exitOK
}

// printPresets lists the embedded presets with their one-line descriptions.
func printPresets(stdout io.Writer, format string, stderr io.Writer) int {
	switch format {
	case "json":
		type row struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		rows := []row{}
		for _, n := range presets.Names() {
			rows = append(rows, row{n, presets.Describe(n)})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
	case "text":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PRESET\tSERVER")
		for _, n := range presets.Names() {
			fmt.Fprintf(w, "%s\t%s\n", n, presets.Describe(n))
		}
		_ = w.Flush()
		fmt.Fprintln(stdout, "run one with: rtconform run --preset NAME --target URL (a --config profile on top refines it)")
	default:
		fmt.Fprintf(stderr, "rtconform list: --format %q: want text or json\n", format)
		return exitHarness
	}
	return exitOK
}
