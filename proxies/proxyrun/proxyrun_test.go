package proxyrun

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIdle       = 3 * time.Second
	testHeartbeat  = 5 * time.Second
	testStreamIdle = 15 * time.Second
	sseGap         = 2 * time.Second        // idle time between the test upstream's SSE events
	firstEventIn   = time.Second            // "not buffered": the first event arrives within this
	writeDelayMax  = 120 * time.Millisecond // "no write delay": the first event arrives within this
	slowAnswer     = time.Second            // how long /slow takes to answer
)

// event is the test upstream's 30-byte SSE event.
const event = "data: first-event-0123456789\n\n"

// upstream is a small HTTP server with one handler per shape the tests probe.
type upstream struct {
	*httptest.Server
	count atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "yes")
		io.WriteString(w, "hello from upstream\n")
	})
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.FormatInt(u.count.Add(1), 10))
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		// A 30-byte event, a flush, 2 s of silence; three times.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		for i := 0; i < 3; i++ {
			if i > 0 && !sleepCtx(r.Context(), sseGap) {
				return
			}
			io.WriteString(w, event)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/first", func(w http.ResponseWriter, r *http.Request) {
		// One event, then 1 s of silence: how long does the first write take?
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, event)
		w.(http.Flusher).Flush()
		sleepCtx(r.Context(), time.Second)
	})
	mux.HandleFunc("/idle", func(w http.ResponseWriter, r *http.Request) {
		// One event, then silence until the client or a proxy goes away.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, event)
		w.(http.Flusher).Flush()
		sleepCtx(r.Context(), 30*time.Second)
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		// A long-poll held past the naive idle timeout, then answered.
		if sleepCtx(r.Context(), testIdle+1500*time.Millisecond) {
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, "held")
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		// A poll answer that is not cacheable: concurrent identical ones must not wait
		// for each other.
		if sleepCtx(r.Context(), slowAnswer) {
			w.Header().Set("Cache-Control", "private, no-store")
			io.WriteString(w, "slow")
		}
	})
	mux.HandleFunc("/ws", wsHandler)
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

// wsHandler answers a WebSocket handshake with 101 and one text frame "hi", then holds
// the connection until the peer closes it (10 s at most); anything else gets 400.
func wsHandler(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") || key == "" {
		http.Error(w, "not a websocket handshake", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n\x81\x02hi", base64.StdEncoding.EncodeToString(sum[:]))
	brw.Flush()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// observation is what one proxy × variant did to each shape.
type observation struct {
	name, variant string
	inst          *Instance
	startErr      error
	plainErr      error
	proto         string        // the protocol the upstream saw
	protoErr      error         // /proto failed
	sseFirst      time.Duration // time to the first event; 0: not within the window
	firstWrite    time.Duration // the same, measured alone (quickest of 3)
	wsErr         error         // nil: 101 and the upstream's frame came through
	idleCut       time.Duration // time until the idle stream ended; 0: not within the window
	holdErr       error         // nil: the held long-poll got 200 "held"
	cached        bool          // /count answered the same twice
	cacheErr      error
	coalesced     time.Duration // the slower of two concurrent identical /slow requests
	coalescedGap  time.Duration // how much later than the other it ended
	slowErr       error
	stopErr       error
	leftover      string // processes or listener left after Stop
}

// TestProxies starts every proxy × variant in front of one upstream, probes each shape
// concurrently (all waits are sleeps, so this stays well under a minute), then reports
// per proxy/variant/check. A missing proxy skips it (requireProxies).
func TestProxies(t *testing.T) {
	requireProxies(t, Names()...)
	up := newUpstream(t)
	dir := os.Getenv("PROXYRUN_DIR") // set it to keep the configs and logs after the run
	if dir == "" {
		dir = t.TempDir()
	}
	opts := Options{Upstream: up.Listener.Addr().String(), Idle: testIdle, Heartbeat: testHeartbeat,
		StreamIdle: testStreamIdle, Dir: dir, ReadyPath: "/plain"}

	var obs []*observation
	for _, n := range Names() {
		for _, v := range Variants() {
			obs = append(obs, &observation{name: n, variant: v})
		}
	}
	// Start all, then probe all: the checks do not compete with VCL compiles.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parallel(obs, func(o *observation) { o.inst, o.startErr = Start(ctx, o.name, o.variant, opts) })
	parallel(obs, func(o *observation) {
		if o.inst != nil {
			probe(o, up)
		}
	})
	// Write delays are a few hundred ms: measure them one instance at a time, without load.
	for _, o := range obs {
		if o.inst != nil {
			o.firstWrite = quickest(3, func() time.Duration { return firstEvent(o.inst.Addr(), "/first") })
		}
	}
	parallel(obs, func(o *observation) {
		if o.inst != nil {
			o.stopErr, o.leftover = stopAndCheck(o.inst)
		}
	})

	nginxNew := nginxAtLeast1297(t)
	for _, o := range obs {
		t.Run(o.name+"/"+o.variant, func(t *testing.T) {
			if o.startErr != nil {
				t.Fatalf("start: %v", o.startErr)
			}
			t.Logf("logs: %s; first event %s (alone %s), coalesced %s, idle cut %s, proto %q, ws %v, hold %v, cached %v",
				o.inst.Logs(), o.sseFirst, o.firstWrite, o.coalesced, o.idleCut, o.proto, o.wsErr, o.holdErr, o.cached)
			breaks := map[string]bool{}
			if o.variant == Naive {
				for _, p := range NaiveBreaks(o.name) {
					breaks[p] = true
				}
				if o.name == "nginx" && nginxNew { // HTTP/1.1 upstream by default since 1.29.7
					breaks[ProblemHTTP10], breaks[ProblemBuffering] = false, false
				}
			}
			report(t, o, breaks)
		})
	}
}

func report(t *testing.T, o *observation, breaks map[string]bool) {
	t.Run("plain-get", func(t *testing.T) {
		if o.plainErr != nil {
			t.Error(o.plainErr)
		}
	})
	t.Run("stop", func(t *testing.T) {
		if o.stopErr != nil {
			t.Error(o.stopErr)
		}
		if o.leftover != "" {
			t.Error(o.leftover)
		}
		if err := o.inst.Stop(); err != o.stopErr {
			t.Errorf("second Stop: %v, first: %v", err, o.stopErr)
		}
	})
	expect := func(problem string, broken bool, what string) {
		t.Run(problem, func(t *testing.T) {
			switch {
			case breaks[problem] && !broken:
				t.Errorf("expected the naive config to break %s, but %s", problem, what)
			case !breaks[problem] && broken:
				t.Errorf("%s; remedy: %s", what, Remedy(o.name, problem))
			}
		})
	}
	if o.protoErr != nil {
		t.Errorf("/proto: %v", o.protoErr)
	} else {
		expect(ProblemHTTP10, o.proto == "HTTP/1.0", "upstream saw "+o.proto)
	}
	expect(ProblemBuffering, o.sseFirst == 0 || o.sseFirst > firstEventIn,
		fmt.Sprintf("first SSE event after %s (quickest of 3 streams; 0: not within 8s), want within %s", o.sseFirst, firstEventIn))
	if buffered := o.sseFirst == 0 || o.sseFirst > firstEventIn; !buffered {
		expect(ProblemWriteDelay, o.firstWrite == 0 || o.firstWrite > writeDelayMax,
			fmt.Sprintf("first SSE event after %s (quickest of 3 streams, one at a time), want within %s", o.firstWrite, writeDelayMax))
	}
	if o.slowErr != nil {
		t.Errorf("/slow: %v", o.slowErr)
	} else {
		// Coalesced, the second waits for the first's answer: it ends about slowAnswer later. A
		// loaded machine slows both alike, so the gap, not the total, tells them apart.
		expect(ProblemCoalescing, o.coalesced > slowAnswer*17/10 && o.coalescedGap > slowAnswer/2,
			fmt.Sprintf("the slower of two concurrent identical polls took %s, %s after the other; each needs %s", o.coalesced, o.coalescedGap, slowAnswer))
	}
	expect(ProblemWebSocketUpgrade, o.wsErr != nil, fmt.Sprintf("websocket: %v", o.wsErr))
	idleBroken := o.idleCut != 0 && o.holdErr != nil
	if (o.idleCut != 0) != (o.holdErr != nil) {
		t.Errorf("idle stream cut after %s (0: not cut) but held long-poll: %v", o.idleCut, o.holdErr)
	}
	if o.idleCut != 0 && o.idleCut < testIdle-time.Second {
		t.Errorf("idle stream cut after %s, before the %s idle timeout", o.idleCut, testIdle)
	}
	expect(ProblemIdleTimeout, idleBroken, fmt.Sprintf("idle stream cut after %s (0: not within %s), held long-poll: %v",
		o.idleCut, testIdle+4*time.Second, o.holdErr))
	if o.cacheErr != nil {
		t.Errorf("/count: %v", o.cacheErr)
	} else {
		expect(ProblemCaching, o.cached, fmt.Sprintf("cached: %v", o.cached))
	}
}

func parallel(obs []*observation, f func(o *observation)) {
	var wg sync.WaitGroup
	for _, o := range obs {
		wg.Add(1)
		go func() { defer wg.Done(); f(o) }()
	}
	wg.Wait()
}

// probe runs every shape against one instance concurrently.
func probe(o *observation, up *upstream) {
	addr := o.inst.Addr()
	client := &http.Client{Timeout: testIdle + 6*time.Second, Transport: &http.Transport{DisableCompression: true, Proxy: nil}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() {
		body, hdr, err := get(client, o.inst.URL()+"/plain")
		if err == nil && (body != "hello from upstream\n" || hdr.Get("X-Upstream") != "yes") {
			err = fmt.Errorf("GET /plain: body %q, X-Upstream %q", body, hdr.Get("X-Upstream"))
		}
		o.plainErr = err
	})
	run(func() { o.proto, _, o.protoErr = get(client, o.inst.URL()+"/proto") })
	run(func() {
		a, _, err := get(client, o.inst.URL()+"/count")
		if err == nil {
			var b string
			b, _, err = get(client, o.inst.URL()+"/count")
			o.cached = a == b
		}
		o.cacheErr = err
	})
	run(func() {
		o.sseFirst = quickestParallel(3, func() time.Duration { return firstEvent(addr, "/sse") })
	})
	run(func() {
		var w sync.WaitGroup
		var took [2]time.Duration
		var errs [2]error
		for k := range 2 {
			w.Add(1)
			go func() {
				defer w.Done()
				start := time.Now()
				_, _, errs[k] = get(client, o.inst.URL()+"/slow")
				took[k] = time.Since(start)
			}()
		}
		w.Wait()
		o.coalesced, o.slowErr = max(took[0], took[1]), errors.Join(errs[:]...)
		o.coalescedGap = o.coalesced - min(took[0], took[1])
	})
	run(func() { o.wsErr = wsHandshake(addr) })
	run(func() { o.idleCut = idleCut(addr) })
	run(func() {
		body, _, err := get(client, o.inst.URL()+"/hold")
		if err == nil && body != "held" {
			err = fmt.Errorf("got %q", body)
		}
		o.holdErr = err
	})
	wg.Wait()
}

// get returns the body of a 200 answer (64 KiB at most).
func get(c *http.Client, url string) (string, http.Header, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), resp.Header, err
}

// rawGet dials addr and sends a GET for an event stream.
func rawGet(addr, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// firstEvent reads an event stream for 8 s at most and returns how long its first
// event took to arrive (0: none arrived).
func firstEvent(addr, path string) time.Duration {
	start := time.Now()
	c, err := rawGet(addr, path)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetReadDeadline(start.Add(8 * time.Second))
	var seen []byte
	buf := make([]byte, 4096)
	for len(seen) < 64<<10 {
		n, err := c.Read(buf)
		seen = append(seen, buf[:n]...)
		if strings.Contains(string(seen), strings.TrimSpace(event)) {
			return time.Since(start)
		}
		if err != nil {
			return 0
		}
	}
	return 0
}

// quickest runs f n times, one after the other, and returns the least nonzero result
// (0: all were 0).
func quickest(n int, f func() time.Duration) time.Duration {
	var best time.Duration
	for range n {
		if d := f(); d > 0 && (best == 0 || d < best) {
			best = d
		}
	}
	return best
}

// quickestParallel is quickest with the n runs at once.
func quickestParallel(n int, f func() time.Duration) time.Duration {
	var mu sync.Mutex
	var best time.Duration
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := f()
			mu.Lock()
			defer mu.Unlock()
			if d > 0 && (best == 0 || d < best) {
				best = d
			}
		}()
	}
	wg.Wait()
	return best
}

// idleCut returns when an SSE stream that goes silent after one event ended
// (0: still open testIdle+4s after the request).
func idleCut(addr string) time.Duration {
	start := time.Now()
	c, err := rawGet(addr, "/idle")
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetReadDeadline(start.Add(testIdle + 4*time.Second))
	_, err = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return 0
	}
	return time.Since(start)
}

// wsHandshake sends a raw WebSocket handshake and wants 101 plus the upstream's frame.
func wsHandshake(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(io.LimitReader(c, 64<<10))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("handshake answered %s", resp.Status)
	}
	frame := make([]byte, 4)
	if _, err := io.ReadFull(br, frame); err != nil {
		return fmt.Errorf("101, but no frame through the tunnel: %v", err)
	}
	if string(frame) != "\x81\x02hi" {
		return fmt.Errorf("101, but frame %q", frame)
	}
	return nil
}

// stopAndCheck stops the instance and reports what is left: processes of its group or
// a listener on its port.
func stopAndCheck(i *Instance) (error, string) {
	start := time.Now()
	err := i.Stop()
	if took := time.Since(start); took > 8*time.Second {
		err = errors.Join(err, fmt.Errorf("Stop took %s", took))
	}
	select {
	case <-i.Done():
	default:
		err = errors.Join(err, errors.New("Done not closed after Stop"))
	}
	pgid := i.cmd.Process.Pid
	var left []string
	if groupAlive(pgid) {
		left = append(left, fmt.Sprintf("process group %d still has processes", pgid))
	}
	if c, derr := net.DialTimeout("tcp", i.Addr(), time.Second); derr == nil {
		c.Close()
		left = append(left, "something still listens on "+i.Addr())
	}
	return err, strings.Join(left, "; ")
}

var nginxVersionRE = regexp.MustCompile(`nginx/(\d+)\.(\d+)\.(\d+)`)

// nginxAtLeast1297 reports whether nginx is 1.29.7 or later (HTTP/1.1 upstream default).
func nginxAtLeast1297(t *testing.T) bool {
	v, err := Version("nginx")
	if err != nil {
		return false
	}
	m := nginxVersionRE.FindStringSubmatch(v)
	if m == nil {
		t.Logf("cannot parse nginx version %q", v)
		return false
	}
	n := make([]int, 3)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return slices.Compare(n, []int{1, 29, 7}) >= 0
}
