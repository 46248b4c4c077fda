package framework

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rtconform/rtconform/presets"
)

// TestEveryPresetLoads loads each embedded preset the way a user does (--preset NAME --target
// URL, with the environment variables it references set) and requires a complete target.
func TestEveryPresetLoads(t *testing.T) {
	if len(presets.Names()) == 0 {
		t.Fatal("no presets embedded")
	}
	for _, name := range presets.Names() {
		t.Run(name, func(t *testing.T) {
			raw, _ := presets.Get(name)
			for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
				t.Setenv(m[1], "secret-"+m[1])
			}
			if presets.Describe(name) == "" {
				t.Error("the preset has no description (its first comment line)")
			}
			n, u := name, "http://127.0.0.1:9"
			p, err := Load("", Overrides{Preset: &n, Target: &u})
			if err != nil {
				t.Fatal(err)
			}
			if p.Preset != name || p.Target.URL != u || len(p.Target.Capabilities) == 0 {
				t.Fatalf("preset %s: %+v", name, p.Target)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
				t.Fatalf("not YAML: %v", err)
			}
			if hasKey(doc.Content[0], "target", "url") || hasKey(doc.Content[0], "target", "start") {
				t.Error("a preset describes a kind of server: it must not carry target.url or target.start")
			}
		})
	}
}

func TestPresetLayers(t *testing.T) {
	// The file's preset key, refined by the file; the reference defaults do not leak in.
	path := write(t, "preset: reference\ntarget:\n  url: http://127.0.0.1:9\n  sse: {heartbeat: 3s}\n")
	p, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.SSE.Heartbeat.D() != 3*time.Second || p.Target.SSE.Path != "/sse/{topic}" || p.Target.WebSocket.Keepalive.D() != 20*time.Second {
		t.Errorf("file over preset: %+v %+v", p.Target.SSE, p.Target.WebSocket)
	}
	if p.Target.Has(CapRestart) || p.Target.Name != "rtconform reference" {
		t.Errorf("the preset's target replaces the built-in one: %v %q", p.Target.Capabilities, p.Target.Name)
	}
	// A user's capability list replaces the preset's.
	path = write(t, "preset: reference\ntarget: {url: 'http://127.0.0.1:9', capabilities: [sse]}\n")
	if p, err = Load(path, Overrides{}); err != nil || len(p.Target.Capabilities) != 1 {
		t.Errorf("capabilities: %v %v", p.Target.Capabilities, err)
	}
	// --preset wins over the file's key; an unknown one names the flag and the known presets.
	bad := "nope"
	_, err = Load(path, Overrides{Preset: &bad})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "<flags>: --preset: unknown preset \"nope\" (known: ") || !strings.Contains(err.Error(), "reference") {
		t.Errorf("unknown --preset: %v", err)
	}
	_, err = Load(write(t, "preset: nope\n"), Overrides{})
	if !errors.As(err, &ce) || ce.Key != "preset" || !strings.HasSuffix(ce.File, "profile.yaml") {
		t.Errorf("unknown preset key: %v", err)
	}
	// A preset without a URL says where to give it.
	ref := "reference"
	if _, err = Load("", Overrides{Preset: &ref}); !errors.As(err, &ce) || ce.Key != "target.url" || !strings.Contains(err.Error(), "--target") {
		t.Errorf("preset without url: %v", err)
	}
}

func TestEnvironmentInProfileValues(t *testing.T) {
	body := "target:\n  url: http://127.0.0.1:9\n  capabilities: [sse, publish]\n  sse: {path: '/sse/{topic}?k=${RTC_TEST_KEY}&x=$y'}\n" +
		"  publish:\n    path: /pub\n    headers: {Authorization: 'Bearer ${RTC_TEST_TOKEN}'}\n"
	path := write(t, body)
	_, err := Load(path, Overrides{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "target.publish.headers.Authorization" || ce.Line != 7 || !strings.Contains(err.Error(), "${RTC_TEST_TOKEN}, which is not set") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv("RTC_TEST_TOKEN", "tok")
	t.Setenv("RTC_TEST_KEY", "k1")
	p, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Target.Publish.Headers["Authorization"]; got != "Bearer tok" {
		t.Errorf("header: %q", got)
	}
	if got := p.Target.SSE.Path; got != "/sse/{topic}?k=k1&x=$y" {
		t.Errorf("path: %q (only ${NAME} is expanded)", got)
	}
}
