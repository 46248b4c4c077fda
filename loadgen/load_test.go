package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// readReport reads load-report.json from dir.
func readReport(t *testing.T, dir string) Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "load-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// A short mixed load against the in-process reference: every published event reaches every
// subscriber of its topic, once, in order, and the report says so.
func TestLoadReference(t *testing.T) {
	dir := t.TempDir()
	var out, errs bytes.Buffer
	code := Command([]string{"--subscribers", "50", "--topics", "2",
		"--transports", "sse,websocket,longpoll,httpstream", "--rate", "10", "--duration", "3s", "--report-dir", dir}, &out, &errs)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	if code != ExitOK {
		t.Fatalf("exit %d, want 0", code)
	}
	r := readReport(t, dir)
	tp := r.Throughput
	if tp.Published == 0 || tp.PublishFailed+tp.PublishUnknown != 0 {
		t.Fatalf("published %d ok, %d refused, %d unknown", tp.Published, tp.PublishFailed, tp.PublishUnknown)
	}
	// 50 subscribers on 2 topics: 25 each, and the publishers publish as many on each topic
	// (same schedule), so delivered is published × 25.
	if want := tp.Published * 25; tp.Delivered != want || tp.Expected != want {
		t.Errorf("delivered %d, expected %d; want published %d × 25 = %d", tp.Delivered, tp.Expected, tp.Published, want)
	}
	if r.Checker.Failed() || r.Checker.Lost+r.Checker.Duplicates != 0 || r.Checker.Events != int(tp.Delivered) {
		t.Errorf("checker: %+v (want no violation and %d events checked)", r.Checker, tp.Delivered)
	}
	if r.Latency.Count != uint64(tp.Delivered) || r.Latency.P50Ms <= 0 || r.Latency.MaxMs < r.Latency.P99Ms {
		t.Errorf("latency: %+v", r.Latency)
	}
	if r.Connections.Failed != 0 || r.Process.PeakRSS == 0 || r.Process.CPUUser+r.Process.CPUSys <= 0 {
		t.Errorf("connections %+v, process %+v", r.Connections, r.Process)
	}
	if md, err := os.ReadFile(filepath.Join(dir, "load-report.md")); err != nil || !strings.Contains(string(md), "load: PASS") {
		t.Errorf("load-report.md: %v\n%s", err, md)
	}
}

// faultyServer is a minimal SSE server with one bug: every every-th publish of a topic is
// dropped (drop) or sent twice (dup) to every subscriber.
type faultyServer struct {
	every int
	dup   bool
	mu    sync.Mutex
	subs  map[string]map[chan []byte]bool
	count map[string]int
}

func (s *faultyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/publish/") && r.Method == http.MethodPost:
		topic := strings.TrimPrefix(r.URL.Path, "/publish/")
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		s.mu.Lock()
		s.count[topic]++
		copies := 1
		if s.count[topic]%s.every == 0 {
			copies = 0
			if s.dup {
				copies = 2
			}
		}
		for ch := range s.subs[topic] {
			for range copies {
				select {
				case ch <- body:
				default: // a full subscriber loses it too
				}
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(r.URL.Path, "/sse/"):
		topic := strings.TrimPrefix(r.URL.Path, "/sse/")
		ch := make(chan []byte, 256)
		s.mu.Lock()
		if s.subs[topic] == nil {
			s.subs[topic] = map[chan []byte]bool{}
		}
		s.subs[topic][ch] = true
		s.mu.Unlock()
		defer func() { s.mu.Lock(); delete(s.subs[topic], ch); s.mu.Unlock() }()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case b := <-ch:
				fmt.Fprintf(w, "data: %s\n\n", b)
				w.(http.Flusher).Flush()
			}
		}
	default:
		http.NotFound(w, r)
	}
}

// startFaulty serves a faultyServer and writes its profile; it returns the profile's path.
func startFaulty(t *testing.T, srv *faultyServer) string {
	srv.subs, srv.count = map[string]map[chan []byte]bool{}, map[string]int{}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	profile := filepath.Join(t.TempDir(), "faulty.yaml")
	yaml := "target:\n  name: faulty\n  url: " + ts.URL + "\n  sse: {path: '/sse/{topic}'}\n" +
		"  publish: {method: POST, path: '/publish/{topic}'}\n  capabilities: [sse, publish]\n"
	if err := os.WriteFile(profile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return profile
}

// loadFaulty runs a short load (6 SSE subscribers, 2 topics) against profile and returns the
// exit code and the report.
func loadFaulty(t *testing.T, profile string) (int, Report) {
	dir := filepath.Join(t.TempDir(), "report")
	var out, errs bytes.Buffer
	code := Command([]string{"--config", profile, "--subscribers", "6", "--topics", "2", "--rate", "10",
		"--duration", "2s", "--drain", "1s", "--report-dir", dir}, &out, &errs)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	return code, readReport(t, dir)
}

// Against a server that drops every 4th event, the checker reports the loss and the exit is 1.
func TestLoadLossyTarget(t *testing.T) {
	code, r := loadFaulty(t, startFaulty(t, &faultyServer{every: 4}))
	if code != ExitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	dropped := r.Throughput.Published / 4 // every 4th per topic: about this many in total
	if r.Checker.Violations["NoLoss"] == 0 || int64(r.Checker.Lost) < (dropped-2)*3 {
		t.Errorf("checker: %+v; want NoLoss violations and about %d lost (3 subscribers per topic)", r.Checker, dropped*3)
	}
	if r.Checker.Lost != int(r.Throughput.Expected-r.Throughput.Delivered) {
		t.Errorf("lost %d, but expected %d − delivered %d", r.Checker.Lost, r.Throughput.Expected, r.Throughput.Delivered)
	}
}

// Against a server that sends every 5th event twice, the checker reports the duplicates.
func TestLoadDuplicatingTarget(t *testing.T) {
	code, r := loadFaulty(t, startFaulty(t, &faultyServer{every: 5, dup: true}))
	if code != ExitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	extra := int(r.Throughput.Delivered - r.Throughput.Expected)
	if r.Checker.Violations["Unique"] == 0 || r.Checker.Duplicates == 0 || r.Checker.Duplicates != extra || r.Checker.Lost != 0 {
		t.Errorf("checker: %+v; want Unique violations, %d duplicates, nothing lost", r.Checker, extra)
	}
}

// Out-of-bounds workloads are refused before anything starts.
func TestLoadBounds(t *testing.T) {
	for _, args := range [][]string{
		{"--subscribers", "20001"},
		{"--duration", "2h"},
		{"--transports", "carrier-pigeon"},
		{"--topics", "5", "--subscribers", "2"},
		{"--rate", "0"},
		{"--subscribers", "20000", "--topics", "1000", "--rate", "10", "--duration", "1h"}, // over --max-events
		{"--rate", "1000", "--duration", "1h"},                                             // over MaxPerTopic
		{"--target", "http://127.0.0.1:1"},                                                 // no profile
	} {
		var out, errs bytes.Buffer
		if code := Command(append(args, "--config", ""), &out, &errs); code != ExitHarness {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errs.String())
		}
	}
}

// Load refuses an invalid Config too (the library entry point).
func TestLoadConfigValidated(t *testing.T) {
	var out, errs bytes.Buffer
	if code := Load(context.Background(), fw.Defaults(), Config{Subscribers: 0}, &out, &errs); code != ExitHarness {
		t.Fatalf("exit %d", code)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.016 {
			t.Errorf("q%g = %s, want %s (+1.6%%)", c.q, got, c.want)
		}
	}
	if h.Max() != time.Second || h.Count() != 1000 {
		t.Errorf("max %s count %d", h.Max(), h.Count())
	}
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1 << 20, 1<<40 - 1} {
		if i := bucket(v); lowest(i) > v || (i+1 < len(h.counts) && lowest(i+1) <= v) {
			t.Errorf("bucket(%d) = %d covers [%d, %d)", v, i, lowest(i), lowest(i+1))
		}
	}
}
