package proxy

import (
	"slices"
	"strings"
	"testing"

	"github.com/rtconform/rtconform/proxies/proxyrun"
	fw "github.com/rtconform/rtconform/suites/framework"
)

// Every problem a naive config is known to cause (proxyrun.NaiveBreaks) is caught by a check
// the matrix expects to fail for it, or explained in NotObserved; every expected failure is a
// registered check that can detect one of the proxy's problems.
func TestNaiveBreaksCoverProxyrun(t *testing.T) {
	for _, name := range proxyrun.Names() {
		breaks, ok := NaiveBreaks[name]
		if !ok {
			t.Errorf("%s: no NaiveBreaks entry", name)
		}
		for _, id := range breaks {
			if _, ok := fw.Lookup(id + "@" + name + ":naive"); !ok {
				t.Errorf("%s: %s is not a registered check of cell %s:naive", name, id, name)
			}
		}
		for _, problem := range proxyrun.NaiveBreaks(name) {
			if NotObserved[name][problem] != "" {
				continue
			}
			caught := slices.ContainsFunc(breaks, func(id string) bool { return slices.Contains(detects[id], problem) })
			if !caught {
				t.Errorf("%s: proxyrun reports %q, but no check in NaiveBreaks detects it and NotObserved does not explain why", name, problem)
			}
		}
	}
}

// Every check is registered in every cell with the cell's labels, and each cell's problems
// have a remedy naming something to change.
func TestCellsAndRemedies(t *testing.T) {
	cells := Cells()
	if len(cells) != len(proxyrun.Names())*len(proxyrun.Variants())+1 || cells[len(cells)-1] != Deployment {
		t.Fatalf("cells %v", cells)
	}
	for id, problems := range detects {
		if len(problems) == 0 {
			t.Errorf("%s detects no problem (no remedy to give)", id)
		}
		for _, cell := range cells {
			c, ok := fw.Lookup(id + "@" + cell)
			if !ok {
				t.Errorf("%s is not registered for %s", id, cell)
				continue
			}
			name, variant := splitCell(cell)
			want := []string{"proxy", Deployment}
			if name != "" {
				want = []string{"proxy", "proxy:" + name, "config:" + variant}
			}
			if !slices.Equal(c.Labels, want) || c.Enabled == nil {
				t.Errorf("%s@%s: labels %v (want %v), enabled set: %v", id, cell, c.Labels, want, c.Enabled != nil)
			}
			e := &env{proxy: name}
			for _, p := range problems {
				if r := e.remedy(p); r == "" || strings.Contains(r, "no known remedy") {
					t.Errorf("%s@%s: no remedy for %s", id, cell, p)
				}
			}
		}
	}
}

// The profile's proxies.cells selects cells; an empty list selects the local cells for a
// local target and the deployment cell for a remote one.
func TestEnabled(t *testing.T) {
	run := func(url, name string, start bool, cells ...string) *fw.Run {
		r := &fw.Run{BaseURL: url}
		r.Profile.Target.Name = name
		// Setup marks the reference it starts in this process (no url in the profile).
		r.InProcess = name == "reference" && strings.HasPrefix(url, "http://127.0.0.1")
		if start {
			r.Profile.Target.Start = &fw.StartHook{Command: "./server --listen {port}"}
		}
		r.Profile.Proxies.Cells = cells
		return r
	}
	all := Cells()
	locals := all[:len(all)-1]
	for _, c := range []struct {
		name string
		r    *fw.Run
		want []string
	}{
		// Setup replaces the reference's empty url with its loopback address.
		{"in-process reference", run("http://127.0.0.1:4000", "reference", false), locals},
		{"target.start", run("http://127.0.0.1:4000", "mine", true), locals},
		{"remote url", run("https://rt.example.com", "https://rt.example.com", false), []string{Deployment}},
		{"remote url named reference", run("https://rt.example.com", "reference", false), []string{Deployment}},
		{"bare proxy name", run("http://127.0.0.1:4000", "reference", false, "nginx"), []string{"nginx:naive", "nginx:recommended"}},
		{"one cell, remote", run("https://rt.example.com", "x", false, "varnish:naive"), []string{"varnish:naive"}},
		{"deployment listed", run("https://rt.example.com", "x", false, "deployment", "caddy"), []string{"caddy:naive", "caddy:recommended", Deployment}},
		{"deployment listed, local", run("http://127.0.0.1:4000", "reference", false, "deployment"), nil},
	} {
		var got []string
		for _, cell := range all {
			if enabled(cell)(c.r) {
				got = append(got, cell)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: enabled %v, want %v", c.name, got, c.want)
		}
	}
}
