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

// lossyServer is a minimal SSE server that silently drops every dropEvery-th publish of a topic
// for every subscriber.
type lossyServer struct {
	dropEvery int
	mu        sync.Mutex
	subs      map[string]map[chan []byte]bool
	count     map[string]int
}

func (s *lossyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/publish/") && r.Method == http.MethodPost:
		topic := strings.TrimPrefix(r.URL.Path, "/publish/")
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		s.mu.Lock()
		s.count[topic]++
		if s.count[topic]%s.dropEvery != 0 {
			for ch := range s.subs[topic] {
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

// Against a server that drops every 4th event, the checker reports the loss and the exit is 1.
func TestLoadLossyTarget(t *testing.T) {
	srv := httptest.NewServer(&lossyServer{dropEvery: 4, subs: map[string]map[chan []byte]bool{}, count: map[string]int{}})
	defer srv.Close()
	dir := t.TempDir()
	profile := filepath.Join(dir, "lossy.yaml")
	yaml := "target:\n  name: lossy\n  url: " + srv.URL + "\n  sse: {path: '/sse/{topic}'}\n" +
		"  publish: {method: POST, path: '/publish/{topic}'}\n  capabilities: [sse, publish]\n"
	if err := os.WriteFile(profile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := Command([]string{"--config", profile, "--subscribers", "6", "--topics", "2", "--rate", "10",
		"--duration", "2s", "--drain", "1s", "--report-dir", filepath.Join(dir, "report")}, &out, &errs)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	if code != ExitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	r := readReport(t, filepath.Join(dir, "report"))
	dropped := r.Throughput.Published / 4 // per topic every 4th: at least this many in total, minus rounding
	if r.Checker.Violations["NoLoss"] == 0 || int64(r.Checker.Lost) < (dropped-2)*3 {
		t.Errorf("checker: %+v; want NoLoss violations and about %d lost (3 subscribers per topic)", r.Checker, dropped*3)
	}
	if r.Checker.Lost != int(r.Throughput.Expected-r.Throughput.Delivered) {
		t.Errorf("lost %d, but expected %d − delivered %d", r.Checker.Lost, r.Throughput.Expected, r.Throughput.Delivered)
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
		{"--subscribers", "20000", "--rate", "1000", "--duration", "1h"}, // over --max-events
		{"--target", "http://127.0.0.1:1"},                               // no profile
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
