package framework

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// Progress prints one line per area of a run as the area finishes: "area SSE-WIRE (sse):
// 12/12 done, 1 failed, 3.2 s". The areas and their sizes are known before the run (the
// checks the label filter selects and the profile enables), so an area's line comes as soon
// as its last check is judged, whatever the order. It replaces Ginkgo's per-spec dots, which
// say nothing about what ran or where it failed.
type Progress struct {
	w     io.Writer
	mu    sync.Mutex
	areas map[string]*areaProgress
	// Live: w is a terminal. A status line of the areas under way (done/total, failures so
	// far, elapsed) is rewritten in place after every check; finished areas stay as lines.
	Live  bool
	start time.Time
}

type areaProgress struct {
	name, transport string
	total, done     int
	failed, warned  int
	blocked         int
	start           time.Time
}

// NewProgress counts the checks of each area that run r with the label filter will judge.
func NewProgress(w io.Writer, r *Run, labelFilter string) (*Progress, error) {
	match := func([]string) bool { return true }
	if labelFilter != "" {
		f, err := types.ParseLabelFilter(labelFilter)
		if err != nil {
			return nil, err
		}
		match = f
	}
	p := &Progress{w: w, areas: map[string]*areaProgress{}, start: time.Now()}
	for _, c := range Checks() {
		if !match(c.AllLabels()) || (c.Enabled != nil && !c.Enabled(r)) {
			continue
		}
		a := p.areas[c.Area()]
		if a == nil {
			a = &areaProgress{name: c.Area(), transport: string(c.Transport)}
			p.areas[c.Area()] = a
		}
		a.total++
	}
	return p, nil
}

// Total is the number of checks the run will judge.
func (p *Progress) Total() int {
	n := 0
	for _, a := range p.areas {
		n += a.total
	}
	return n
}

// Areas is the number of areas the run covers.
func (p *Progress) Areas() int { return len(p.areas) }

// done records a judged check and prints its area's line when the area is complete.
func (p *Progress) done(r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.areas[r.Area]
	if a == nil {
		return
	}
	if a.done == 0 {
		a.start = time.Now().Add(-time.Duration(r.DurationMS) * time.Millisecond)
	}
	a.done++
	switch r.Verdict {
	case FAIL, ERROR, INTERRUPTED:
		a.failed++
	case WARN:
		a.warned++
	case BLOCKED:
		a.blocked++
	}
	clear := ""
	if p.Live {
		clear = "\r\033[K" // the status line goes; what follows replaces it
	}
	if a.done != a.total {
		if p.Live {
			fmt.Fprint(p.w, clear+p.status())
		}
		return
	}
	line := clear + fmt.Sprintf("area %s (%s): %d/%d done", a.name, a.transport, a.done, a.total)
	if a.failed > 0 {
		line += fmt.Sprintf(", %d failed", a.failed)
	}
	if a.warned > 0 {
		line += fmt.Sprintf(", %d warned", a.warned)
	}
	if a.blocked > 0 {
		line += fmt.Sprintf(", %d blocked", a.blocked)
	}
	fmt.Fprintf(p.w, "%s, %.1f s\n", line, time.Since(a.start).Seconds())
	if p.Live {
		fmt.Fprint(p.w, p.status())
	}
}

// status is the live line: the areas under way, at most statusMax characters.
func (p *Progress) status() string {
	var parts []string
	for _, a := range p.areas {
		if a.done > 0 && a.done < a.total {
			s := fmt.Sprintf("%s %d/%d", a.name, a.done, a.total)
			if a.failed > 0 {
				s += fmt.Sprintf(" (%d failed)", a.failed)
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	line := fmt.Sprintf("… %.0f s: %s", time.Since(p.start).Seconds(), strings.Join(parts, ", "))
	if r := []rune(line); len(r) > statusMax {
		line = string(r[:statusMax-1]) + "…"
	}
	return line
}

// Finish clears the live line (call it when the run ends).
func (p *Progress) Finish() {
	if p.Live {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// statusMax keeps the live line within a terminal's width.
const statusMax = 100

// Unfinished lists the areas with checks that were not judged (an interrupted run).
func (p *Progress) Unfinished() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, a := range p.areas {
		if a.done < a.total {
			out = append(out, fmt.Sprintf("%s %d/%d", a.name, a.done, a.total))
		}
	}
	sort.Strings(out)
	return out
}

var (
	progressMu sync.Mutex
	progress   *Progress
)

// SetProgress makes p receive every judged check of the runs that follow (nil: none).
func SetProgress(p *Progress) {
	progressMu.Lock()
	defer progressMu.Unlock()
	progress = p
}

// Every spec's verdict, as the report will give it (a timed-out or interrupted spec too),
// goes to the progress printer as soon as the spec ends.
var _ = ginkgo.ReportAfterEach(func(sr ginkgo.SpecReport) {
	progressMu.Lock()
	p := progress
	progressMu.Unlock()
	if p == nil || sr.LeafNodeType != types.NodeTypeIt {
		return
	}
	if r, ok := resultOf(sr); ok {
		p.done(r)
	}
})
