// Package presets holds target profiles for well-known realtime servers, embedded in the
// binary: `rtconform run --preset NAME --target URL` (or `preset: NAME` in a profile) loads
// NAME.yaml under the user's profile, so nobody has to reverse-engineer how Mercure or
// Centrifugo spell their endpoints, publish API, envelope and resume tokens.
//
// A preset is a profile holding only a target block without url or start: it describes a
// kind of server, not a deployment. Its comments say what it declares and why; the first
// comment line is its one-line description (rtconform list --presets). Each preset is
// validated in the project's tests against the real server, built from its Go module, with an
// exact verdict table (cmd/rtconform/preset_*_test.go).
package presets

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names lists the presets, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Get returns the profile text of a preset; an unknown name is an error listing the known ones.
func Get(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("unknown preset %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return files.ReadFile(name + ".yaml")
}

// Describe returns the first comment line of a preset: what server it describes.
func Describe(name string) string {
	raw, err := Get(name)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if text, ok := strings.CutPrefix(line, "#"); ok {
			if text = strings.TrimSpace(text); text != "" {
				return text
			}
			continue
		}
		if line != "" {
			break
		}
	}
	return ""
}
