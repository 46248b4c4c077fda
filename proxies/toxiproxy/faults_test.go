package toxiproxy

import (
	"reflect"
	"testing"
	"time"
)

func TestFaultProfiles(t *testing.T) {
	want := []string{"latency", "bandwidth", "slicer", "limit-data", "reset", "blackhole", "slow-close", "outage", "flap"}
	if got := FaultNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultNames() = %v; want %v", got, want)
	}
	for _, name := range want {
		f, ok := FaultNamed(name)
		if !ok || f.Name != name || f.Doc == "" {
			t.Errorf("FaultNamed(%q) = %+v, %v", name, f, ok)
			continue
		}
		if err := f.Validate(); err != nil {
			t.Errorf("default %s: %v", name, err)
		}
	}
	if _, ok := FaultNamed("limit_data"); !ok {
		t.Error(`FaultNamed("limit_data") not found`)
	}
	if _, ok := FaultNamed("nope"); ok {
		t.Error(`FaultNamed("nope") found`)
	}
	// Copies: tuning one must not change the defaults.
	f, _ := FaultNamed("latency")
	f.Latency = time.Hour
	if g, _ := FaultNamed("latency"); g.Latency == time.Hour {
		t.Error("FaultNamed returned a shared value")
	}
}

func TestFaultToxicsUnits(t *testing.T) {
	cases := []struct {
		fault string
		tune  func(*Fault)
		want  []Toxic
	}{
		{"latency", func(f *Fault) { f.Latency, f.Jitter = 1500*time.Millisecond, 20*time.Millisecond },
			[]Toxic{{Name: "rtconform-latency", Type: "latency", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"latency": int64(1500), "jitter": int64(20)}}}},
		{"bandwidth", func(f *Fault) { f.RateKBps = 7 },
			[]Toxic{{Name: "rtconform-bandwidth", Type: "bandwidth", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"rate": int64(7)}}}},
		{"slicer", func(f *Fault) { f.SliceDelay = 2 * time.Millisecond },
			[]Toxic{{Name: "rtconform-slicer", Type: "slicer", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"average_size": 1, "size_variation": 0, "delay": int64(2000)}}}},
		{"limit-data", func(f *Fault) { f.Bytes = 33 },
			[]Toxic{{Name: "rtconform-limit-data", Type: "limit_data", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"bytes": int64(33)}}}},
		{"reset", func(f *Fault) { f.Delay = 250 * time.Millisecond },
			[]Toxic{{Name: "rtconform-reset", Type: "reset_peer", Stream: Upstream, Toxicity: 1, Attributes: map[string]any{"timeout": int64(250)}}}},
		{"blackhole", nil, []Toxic{
			{Name: "rtconform-blackhole-down", Type: "timeout", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"timeout": int64(0)}},
			{Name: "rtconform-blackhole-up", Type: "timeout", Stream: Upstream, Toxicity: 1, Attributes: map[string]any{"timeout": int64(0)}},
		}},
		{"slow-close", nil,
			[]Toxic{{Name: "rtconform-slow-close", Type: "slow_close", Stream: Downstream, Toxicity: 1, Attributes: map[string]any{"delay": int64(2000)}}}},
		{"outage", nil, nil},
		{"flap", nil, nil},
	}
	for _, c := range cases {
		f, _ := FaultNamed(c.fault)
		if c.tune != nil {
			c.tune(&f)
		}
		got, err := f.Toxics()
		if err != nil {
			t.Errorf("%s: %v", c.fault, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s toxics:\n got %+v\nwant %+v", c.fault, got, c.want)
		}
	}
}

func TestFaultValidate(t *testing.T) {
	bad := map[string]func(*Fault){
		"latency":    func(f *Fault) { f.Latency = 0 },
		"bandwidth":  func(f *Fault) { f.RateKBps = 0 },
		"slicer":     func(f *Fault) { f.SliceBytes = 0 },
		"limit-data": func(f *Fault) { f.Bytes = -1 },
		"blackhole":  func(f *Fault) { f.Stream = "sideways" },
		"outage":     func(f *Fault) { f.Down = 0 },
		"flap":       func(f *Fault) { f.Up = 0 },
	}
	for name, breakIt := range bad {
		f, _ := FaultNamed(name)
		breakIt(&f)
		if err := f.Validate(); err == nil {
			t.Errorf("%s %+v validated", name, f)
		}
	}
	if err := (Fault{Name: "x", Toxic: "nope", Stream: Downstream}).Validate(); err == nil {
		t.Error("unknown toxic type validated")
	}
}

func TestParsePorts(t *testing.T) {
	if p, err := parsePorts("8666-8668"); err != nil || !reflect.DeepEqual(p, []int{8666, 8667, 8668}) {
		t.Errorf("8666-8668: %v %v", p, err)
	}
	if p, err := parsePorts("9000"); err != nil || !reflect.DeepEqual(p, []int{9000}) {
		t.Errorf("9000: %v %v", p, err)
	}
	for _, s := range []string{"", "a-b", "10-5", "0-3", "1-70000", "1000-5000"} {
		if _, err := parsePorts(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}
