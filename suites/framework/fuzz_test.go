package framework

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad loads arbitrary bytes as a profile file. It must not panic; it returns either a
// valid profile (its source the file, Load deterministic, and written back as YAML it loads
// again to the same YAML: the profile format round-trips) or a *ConfigError naming the file,
// with a message, and a key unless the file is not YAML at all (testdata/fuzz/FuzzLoad
// holds the inputs the fuzzer found that deserve to stay seeds). Seeds: the repository's
// profiles (ginkgo.yaml, fixtures/profiles) and the mistakes of load_test.go.
func FuzzLoad(f *testing.F) {
	paths, _ := filepath.Glob("../../fixtures/profiles/*.yaml")
	for _, p := range append(paths, "../../ginkgo.yaml") {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "strict: true\nreport: {dir: out}\ntarget:\n  longpoll: {timeout: 7s}\n",
		"target:\n  url: http://127.0.0.1:9000\n  capabilities: [websocket]\n  websocket: {path: /live}\n",
		"target:\n  sse:\n    paht: /x\n", "strict: maybe\n", "target: [1, 2]\n",
		"target:\n  url: http://h:{port}\n  capabilities: []\n",
		"target:\n  publish: {path: /p, body: {type: json}}\n", "proxies: {cells: [squid]}\n",
		"deploy: {public: 'http://a', origin: 'ftp://b'}\n", "a: &x [*x]\n", "target:\n  name: '$$HOME${X:-y}$'\n", "target: {sse: {path: /sse/{topic}}}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "profile.yaml")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(path, Overrides{})
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != path || ce.Msg == "" {
				t.Fatalf("error %v (%#v): want a *ConfigError naming %s", err, err, path)
			}
			// The empty key ("": x at the top) is named in the message: unknown key "".
			if ce.Key == "" && !strings.HasPrefix(ce.Msg, "not valid YAML") && !strings.HasPrefix(ce.Msg, `unknown key ""`) {
				t.Fatalf("error %q names no key", err)
			}
			return
		}
		if p.Source != path {
			t.Fatalf("source %q", p.Source)
		}
		again, err := Load(path, Overrides{})
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("loaded twice: %v\n%+v\n%+v", err, again, p)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		path2 := filepath.Join(dir, "again.yaml")
		if err := os.WriteFile(path2, out, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path2, Overrides{})
		if err != nil {
			t.Fatalf("written back:\n%s\ndoes not load: %v", out, err)
		}
		if out2, _ := yaml.Marshal(back); !bytes.Equal(out2, out) {
			t.Fatalf("written back:\n%s\nloads as:\n%s", out, out2)
		}
	})
}
