package toxiproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Both is a Fault.Stream value: the toxic is installed once per direction.
const Both = "both"

// Fault is a named fault profile, shared by the chaos suites. It is plain data:
// take a default with FaultNamed, tune its fields, then Apply it to a proxy.
// Each profile uses only the fields its doc names; the others are ignored.
type Fault struct {
	Name string // profile name, e.g. "latency"; also names the toxics ("rtconform-<name>")
	Doc  string // one line: what the fault does and what it exercises

	// Toxic is the Toxiproxy toxic type the fault installs for as long as it is
	// active; empty for outage and flap, which disable the proxy instead.
	Toxic string
	// Stream is where the toxic acts: Downstream (target -> client), Upstream
	// (client -> target) or Both.
	Stream string

	Latency    time.Duration // latency: delay added to every chunk (sent in ms)
	Jitter     time.Duration // latency: +/- random part of the delay (ms)
	RateKBps   int64         // bandwidth: throughput in KB/s (1 KB = 1000 bytes)
	SliceBytes int           // slicer: segment size in bytes
	SliceDelay time.Duration // slicer: pause after each segment (sent in MICROseconds)
	Bytes      int64         // limit-data: bytes let through per connection (HTTP headers count) before it is closed
	Delay      time.Duration // reset: from a connection's first data to the RST; slow-close: how long a close is held back (ms)
	Timeout    time.Duration // blackhole: 0 = data vanishes until Stop; > 0 = the connection is closed after that much idle time (ms)
	Down       time.Duration // outage, flap: how long the proxy is disabled each time
	Up         time.Duration // flap: how long it is enabled between outages
	Cycles     int           // outage, flap: number of outages; 0 = until Stop
}

// faults are the defaults, in the order FaultNames lists them.
var faults = []Fault{
	{Name: "latency", Doc: "every chunk from the target arrives 300 ms (+/-100 ms) late: event latency, heartbeat and timeout margins",
		Toxic: "latency", Stream: Downstream, Latency: 300 * time.Millisecond, Jitter: 100 * time.Millisecond},
	{Name: "bandwidth", Doc: "the target's bytes flow at 16 KB/s: a slow consumer, back-pressure and per-client queue limits",
		Toxic: "bandwidth", Stream: Downstream, RateKBps: 16},
	{Name: "slicer", Doc: "the target's bytes arrive in 1-byte segments: parsers must handle fields, CR/LF and UTF-8 split across reads",
		Toxic: "slicer", Stream: Downstream, SliceBytes: 1, SliceDelay: 500 * time.Microsecond},
	{Name: "limit-data", Doc: "each connection is closed after 512 bytes from the target, headers included: a cut in the middle of an event",
		Toxic: "limit_data", Stream: Downstream, Bytes: 512},
	{Name: "reset", Doc: "a connection is reset (TCP RST) as soon as the client sends its request; only connections opened after Apply",
		Toxic: "reset_peer", Stream: Upstream},
	{Name: "blackhole", Doc: "data vanishes both ways while connections stay open: only a heartbeat/read timeout detects it",
		Toxic: "timeout", Stream: Both},
	{Name: "slow-close", Doc: "the target's close reaches the client 2 s late: end-of-stream detection and reconnect timing",
		Toxic: "slow_close", Stream: Downstream, Delay: 2 * time.Second},
	{Name: "outage", Doc: "the proxy is down for 3 s (connections cut, new ones refused), then back: reconnect and resume",
		Down: 3 * time.Second, Cycles: 1},
	{Name: "flap", Doc: "the proxy goes down for 500 ms every 2 s until Stop: repeated reconnects, backoff and no duplicate or lost events",
		Down: 500 * time.Millisecond, Up: 1500 * time.Millisecond},
}

// FaultNames lists the named fault profiles.
func FaultNames() []string {
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = f.Name
	}
	return names
}

// FaultNamed returns the default profile of that name ("limit_data" is taken
// for "limit-data"). The result is a copy: tune it freely.
func FaultNamed(name string) (Fault, bool) {
	name = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	for _, f := range faults {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// Faults returns every default profile.
func Faults() []Fault { return append([]Fault(nil), faults...) }

// Validate reports a fault that Apply would refuse.
func (f Fault) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("toxiproxy: fault %q: %s", f.Name, fmt.Sprintf(format, args...))
	}
	if f.Toxic == "" {
		if f.Down <= 0 {
			return bad("an outage needs Down > 0")
		}
		if f.Cycles != 1 && f.Up <= 0 {
			return bad("a repeated outage (Cycles != 1) needs Up > 0")
		}
		if f.Cycles < 0 {
			return bad("Cycles < 0")
		}
		return nil
	}
	switch f.Stream {
	case Downstream, Upstream, Both:
	default:
		return bad("Stream %q is not %s, %s or %s", f.Stream, Downstream, Upstream, Both)
	}
	switch f.Toxic {
	case "latency":
		if f.Latency <= 0 || f.Jitter < 0 {
			return bad("latency needs Latency > 0 and Jitter >= 0")
		}
	case "bandwidth":
		if f.RateKBps <= 0 {
			return bad("bandwidth needs RateKBps > 0 (Toxiproxy reads 0 as unlimited)")
		}
	case "slicer":
		if f.SliceBytes < 1 || f.SliceDelay < 0 {
			return bad("slicer needs SliceBytes >= 1 and SliceDelay >= 0")
		}
	case "limit_data":
		if f.Bytes < 0 {
			return bad("limit_data needs Bytes >= 0")
		}
	case "reset_peer", "slow_close":
		if f.Delay < 0 {
			return bad("Delay < 0")
		}
	case "timeout":
		if f.Timeout < 0 {
			return bad("Timeout < 0")
		}
	default:
		return bad("unknown toxic type %q", f.Toxic)
	}
	return nil
}

// Toxics are the toxics the fault installs (none for outage and flap), with
// attributes in Toxiproxy's units.
func (f Fault) Toxics() ([]Toxic, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Toxic == "" {
		return nil, nil
	}
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	var attrs map[string]any
	switch f.Toxic {
	case "latency":
		attrs = map[string]any{"latency": ms(f.Latency), "jitter": ms(f.Jitter)}
	case "bandwidth":
		attrs = map[string]any{"rate": f.RateKBps}
	case "slicer":
		attrs = map[string]any{"average_size": f.SliceBytes, "size_variation": 0, "delay": f.SliceDelay.Microseconds()}
	case "limit_data":
		attrs = map[string]any{"bytes": f.Bytes}
	case "reset_peer":
		attrs = map[string]any{"timeout": ms(f.Delay)}
	case "timeout":
		attrs = map[string]any{"timeout": ms(f.Timeout)}
	case "slow_close":
		attrs = map[string]any{"delay": ms(f.Delay)}
	}
	name := "rtconform-" + f.Name
	if f.Name == "" {
		name = "rtconform-" + f.Toxic
	}
	if f.Stream != Both {
		return []Toxic{{Name: name, Type: f.Toxic, Stream: f.Stream, Toxicity: 1, Attributes: attrs}}, nil
	}
	up := make(map[string]any, len(attrs))
	for k, v := range attrs {
		up[k] = v
	}
	return []Toxic{
		{Name: name + "-down", Type: f.Toxic, Stream: Downstream, Toxicity: 1, Attributes: attrs},
		{Name: name + "-up", Type: f.Toxic, Stream: Upstream, Toxicity: 1, Attributes: up},
	}, nil
}

// Active is a fault in effect on a proxy, from Apply until Stop.
type Active struct {
	Fault   Fault
	Started time.Time // when Apply put the fault in effect

	p        *Proxy
	stop     chan struct{}
	stopOnce sync.Once
	loopDone chan struct{} // closed when the outage goroutine has returned; nil for toxic faults
	done     chan struct{}
	doneOnce sync.Once

	mu      sync.Mutex
	loopErr error
}

// Apply puts f in effect on p. When it returns, the toxics are installed or
// the proxy is disabled. An outage re-enables the proxy after Down by itself;
// a flap toggles it in a goroutine until Cycles outages are done or Stop.
// Call Stop in every case: it is what restores the proxy.
func Apply(ctx context.Context, p *Proxy, f Fault) (*Active, error) {
	toxics, err := f.Toxics()
	if err != nil {
		return nil, err
	}
	a := &Active{Fault: f, p: p, stop: make(chan struct{}), done: make(chan struct{})}
	if f.Toxic != "" {
		for _, t := range toxics {
			if err := p.AddToxic(ctx, t); err != nil {
				return nil, errors.Join(err, a.restore(ctx))
			}
		}
		a.Started = time.Now()
		return a, nil
	}
	if err := p.Disable(ctx); err != nil {
		return nil, errors.Join(err, a.restore(ctx))
	}
	a.Started = time.Now()
	a.loopDone = make(chan struct{})
	go a.outages()
	return a, nil
}

// Done is closed when the fault is no longer in effect: after Stop, or when an
// outage or a flap with Cycles > 0 has ended by itself. For toxic faults it
// closes only at Stop.
func (a *Active) Done() <-chan struct{} { return a.done }

// Stop ends the fault and always restores the proxy to clean and enabled: it
// removes every toxic on the proxy (not only this fault's: faults do not
// stack) and enables it. Calling Stop again repeats the restore.
func (a *Active) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() { close(a.stop) })
	var errs []error
	if a.loopDone != nil {
		select {
		case <-a.loopDone:
		case <-ctx.Done():
			return fmt.Errorf("toxiproxy: stop fault %q: %w", a.Fault.Name, ctx.Err())
		}
		a.mu.Lock()
		errs = append(errs, a.loopErr)
		a.mu.Unlock()
	}
	errs = append(errs, a.restore(ctx))
	a.doneOnce.Do(func() { close(a.done) })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("toxiproxy: stop fault %q: %w", a.Fault.Name, err)
	}
	return nil
}

func (a *Active) restore(ctx context.Context) error { return a.p.Reset(ctx) }

// outages runs the outage/flap timeline: the proxy is already down.
func (a *Active) outages() {
	defer close(a.loopDone)
	api := func(f func(context.Context) error) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			a.mu.Lock()
			a.loopErr = err
			a.mu.Unlock()
			return false
		}
		return true
	}
	for n := 1; ; n++ {
		if !a.sleep(a.Fault.Down) || !api(a.p.Enable) {
			return
		}
		if a.Fault.Cycles > 0 && n >= a.Fault.Cycles {
			a.doneOnce.Do(func() { close(a.done) })
			return
		}
		if !a.sleep(a.Fault.Up) || !api(a.p.Disable) {
			return
		}
	}
}

// sleep waits d; false if Stop came first.
func (a *Active) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.stop:
		return false
	}
}
