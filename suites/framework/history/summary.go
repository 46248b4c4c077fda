package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Summary renders the report for a human: the measures per topic, client and fault, the notes,
// then the violations.
func (r Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "history: %s observed", fmtT(r.End))
	if r.Truncated {
		b.WriteString(" (TRUNCATED)")
	}
	b.WriteString("\n")
	for _, name := range sortedKeys(r.Topics) {
		m := r.Topics[name]
		order := "one order fits"
		if !m.Consistent {
			order = "NO consistent order"
		}
		slowest := ""
		if m.MaxPublishSeq != NoSeq {
			slowest = fmt.Sprintf(", slowest publish %s (seq %d)", fmtT(m.MaxPublish), m.MaxPublishSeq)
		}
		fmt.Fprintf(&b, "topic %q: %d published (%d ok, %d failed, %d unknown%s), %d observed, %s\n",
			name, m.Publishes, m.OK, m.Failed, m.Unknown, slowest, m.Observed, order)
	}
	for _, name := range sortedKeys(r.Clients) {
		m := r.Clients[name]
		fmt.Fprintf(&b, "client %s (topic %q): %d connects (+%d failed), %d disconnects, %d resets; %d events (%d foreign, %d duplicate); missed %d of %d (%d excused)",
			name, m.Topic, m.Connects, m.FailedConnects, m.Disconnects, m.Resets, m.Events, m.Foreign,
			m.Duplicates, m.Missing, m.Accountable, m.Excused)
		if m.MaxLagSeq != NoSeq {
			fmt.Fprintf(&b, "; max lag %s (seq %d)", fmtT(m.MaxLag), m.MaxLagSeq)
		}
		b.WriteString("\n")
	}
	for _, f := range r.Faults {
		stop := "never stopped"
		if f.Stopped {
			stop = "stopped t=" + fmtT(f.Stop)
		}
		fmt.Fprintf(&b, "fault %s (%s) t=%s, %s:", f.Name, f.Detail, fmtT(f.Start), stop)
		writeDurs(&b, "reconnect", f.Reconnect)
		if len(f.NotReconnected) > 0 {
			fmt.Fprintf(&b, " never reconnected: %s;", strings.Join(f.NotReconnected, ", "))
		}
		writeDurs(&b, "first event", f.FirstEvent)
		writeDurs(&b, "detect", f.Detect)
		b.WriteString("\n")
	}
	if len(r.Retries) > 0 {
		margin := r.Retries[0]
		for _, w := range r.Retries[1:] {
			if w.Waited-w.Retry < margin.Waited-margin.Retry {
				margin = w
			}
		}
		fmt.Fprintf(&b, "retry: %d reconnects after a retry value; the shortest wait against its retry: %s waited %s for retry %s\n",
			len(r.Retries), margin.Client, fmtT(margin.Waited), margin.Retry)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "%d violations\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}

func writeDurs(b *strings.Builder, what string, m map[string]time.Duration) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(b, " %s", what)
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(b, " %s %s", k, fmtT(m[k]))
	}
	b.WriteString(";")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
