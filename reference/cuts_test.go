package reference

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/suites/framework/history"
)

// Parameters of TestCutsUnderLoad.
const (
	cutSubscribers = 50                     // half SSE, half WebSocket
	cutTotal       = 1000                   // connections cut, over all subscribers
	cutMaxLife     = 400 * time.Millisecond // a connection is cut after a random 0..cutMaxLife
	cutPublishGap  = 0                      // the publisher's pause between publishes
	cutRunBudget   = 60 * time.Second       // the whole run, cuts and catch-up
)

// TestCutsUnderLoad: one publisher publishes continuously over HTTP while 50 subscribers (25
// SSE resuming with Last-Event-ID or lastEventId, 25 WebSocket resuming with since=) have
// their connections cut 1000 times in total (the client closes the TCP connection at a
// random moment, possibly in the middle of a frame) and resume from the last id they
// received. Retention covers the whole run, so every subscriber must receive every event
// published after its first connect exactly once and in order: the history checker
// (suites/framework/history, SafetyRules: Ordered, Unique, NoLoss, Resumable) judges the
// recorded history, and each subscriber's seqs are also compared with 2..last exactly.
func TestCutsUnderLoad(t *testing.T) {
	s := startServer(t, Config{
		Log:          eventlog.Options{MaxEvents: 1 << 20, MaxAge: time.Hour},
		Heartbeat:    time.Second,
		PingInterval: time.Minute,
		Logf:         func(string, ...any) {},
	})
	const topic = "cuts"
	ctx, cancel := context.WithTimeout(context.Background(), cutRunBudget)
	defer cancel()
	rec := history.NewRecorder(2_000_000, map[string]string{history.MetaCheck: "reference-cuts"}, history.SafetyRules())
	pubClient := &http.Client{Timeout: testTimeout}
	defer pubClient.CloseIdleConnections()

	publish := func(seq int64) (string, error) {
		rec.PublishInvoke("pub", topic, seq)
		resp, err := pubClient.Post(s.URL()+"/publish/"+topic, "text/plain", strings.NewReader(strconv.FormatInt(seq, 10)))
		if err != nil {
			rec.PublishUnknown("pub", topic, seq, err)
			return "", err
		}
		defer resp.Body.Close()
		var body struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			rec.PublishUnknown("pub", topic, seq, fmt.Errorf("%s: %v", resp.Status, err))
			return "", fmt.Errorf("publish %d: %s %v", seq, resp.Status, err)
		}
		rec.PublishOK("pub", topic, seq)
		return body.ID, nil
	}
	// Seq 1 is published first: every subscriber starts by resuming after it, so every
	// connection carries a resume token and each subscriber's history is one segment.
	first, err := publish(1)
	if err != nil {
		t.Fatal(err)
	}

	var (
		cuts     atomic.Int64
		resets   atomic.Int64
		lastSeq  atomic.Int64 // the last published seq, set when the publisher stops
		pubDone  = make(chan struct{})
		started  sync.WaitGroup
		subsDone sync.WaitGroup
		errs     = make(chan error, cutSubscribers+1)
	)
	got := make([][]int64, cutSubscribers)
	started.Add(cutSubscribers)
	for i := range cutSubscribers {
		subsDone.Add(1)
		go func() {
			defer subsDone.Done()
			sub := &cutSubscriber{name: fmt.Sprintf("sub-%02d", i), ws: i%2 == 1, query: i%4 == 2, s: s, topic: topic, rec: rec, token: first, resets: &resets}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			once := sync.OnceFunc(started.Done)
			defer once()
			for cuts.Add(1) <= cutTotal {
				if err := sub.run(ctx, time.Duration(rng.Int64N(int64(cutMaxLife))), 0, once); err != nil {
					errs <- err
					return
				}
			}
			<-pubDone
			// The final connection: read up to the last published seq, then leave.
			for sub.last < lastSeq.Load() {
				if err := sub.run(ctx, 0, lastSeq.Load(), once); err != nil {
					errs <- err
					return
				}
			}
			got[i] = sub.seqs
		}()
	}

	waitCh := func(wg *sync.WaitGroup) <-chan struct{} {
		ch := make(chan struct{})
		go func() { wg.Wait(); close(ch) }()
		return ch
	}
	select {
	case <-waitCh(&started):
	case <-ctx.Done():
		t.Fatal("the subscribers did not connect")
	}
	go func() {
		defer close(pubDone)
		seq := int64(1)
		defer func() { lastSeq.Store(seq) }()
		for cuts.Load() < cutTotal && ctx.Err() == nil {
			if _, err := publish(seq + 1); err != nil {
				errs <- err
				return
			}
			seq++
			if cutPublishGap > 0 {
				time.Sleep(cutPublishGap)
			}
		}
	}()
	begin := time.Now()
	select {
	case <-waitCh(&subsDone):
	case <-ctx.Done():
		t.Fatalf("not done within %v: %d cuts", cutRunBudget, min(cuts.Load(), cutTotal))
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	last := lastSeq.Load()
	t.Logf("%d subscribers, %d cuts, %d events published in %v", cutSubscribers, min(cuts.Load(), cutTotal), last-1, time.Since(begin).Round(time.Millisecond))
	if last < 100 {
		t.Errorf("only %d events published: the load is too light to mean anything", last-1)
	}
	if n := resets.Load(); n != 0 {
		t.Errorf("%d reset signals, want none: retention covers the run", n)
	}

	h := rec.History()
	rep := history.Analyze(h)
	for _, v := range rep.Violations {
		t.Errorf("history: %s", v)
	}
	if len(rep.Violations) > 0 {
		if p, err := h.SaveReport(t.TempDir(), "reference-cuts", "sse-ws"); err == nil {
			t.Logf("history saved to %s", p)
		}
	}
	// The exact check: seqs 2..last, each once, in order.
	for i, seqs := range got {
		if int64(len(seqs)) != last-1 {
			t.Errorf("sub-%02d received %d events, want %d", i, len(seqs), last-1)
		}
		for j, seq := range seqs {
			if seq != int64(j)+2 {
				t.Errorf("sub-%02d: event %d is seq %d, want %d", i, j, seq, j+2)
				break
			}
		}
	}
}

// cutSubscriber is one subscriber of TestCutsUnderLoad: it holds its resume token and the
// seqs it received, over every connection.
type cutSubscriber struct {
	name   string
	ws     bool // WebSocket with since=, else SSE
	query  bool // SSE: resume with ?lastEventId= instead of the Last-Event-ID header
	s      *Server
	topic  string
	rec    *history.Recorder
	resets *atomic.Int64

	token string  // the id of the last event received
	last  int64   // its seq
	seqs  []int64 // every seq received, in order
}

// run makes one connection resuming from the token and reads until the connection is cut
// after life (life > 0), or until seq until has been received (life == 0). A connection
// refused or broken by the server is recorded and returns nil (the caller reconnects); only
// harness failures are returned. connected is called once the first connection is up.
func (c *cutSubscriber) run(ctx context.Context, life time.Duration, until int64, connected func()) error {
	transport := "sse"
	if c.ws {
		transport = "websocket"
	}
	start := c.rec.Now()
	var closeNow func()
	var next func() (id string, data []byte, reset bool, err error)
	if c.ws {
		conn, _, err := websocket.Dial(ctx, wsURL(c.s, "/ws/"+c.topic+"?since="+url.QueryEscape(c.token)), nil)
		c.rec.Connect(c.name, transport, c.topic, c.token, start, err)
		if err != nil {
			return ctxOr(ctx, err)
		}
		closeNow = func() { conn.CloseNow() }
		next = func() (string, []byte, bool, error) {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return "", nil, false, err
			}
			var m struct{ Type, ID, Data string }
			if err := json.Unmarshal(b, &m); err != nil {
				return "", nil, false, fmt.Errorf("%s: bad message %q: %v", c.name, b, err)
			}
			return m.ID, []byte(m.Data), m.Type == "reset", nil
		}
	} else {
		nc, br, err := c.dialSSE(ctx)
		c.rec.Connect(c.name, transport, c.topic, c.token, start, err)
		if err != nil {
			return ctxOr(ctx, err)
		}
		closeNow = func() { nc.Close() }
		next = func() (string, []byte, bool, error) { return readSSEEvent(br) }
	}
	connected()
	if life > 0 {
		timer := time.AfterFunc(life, closeNow)
		defer timer.Stop()
	} else {
		stop := context.AfterFunc(ctx, closeNow)
		defer stop()
	}
	defer closeNow()
	for {
		id, data, reset, err := next()
		if err != nil {
			cause := history.CauseClientClose
			if life == 0 || ctx.Err() != nil {
				cause = history.ErrorCause(err)
			}
			c.rec.Disconnect(c.name, cause)
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w (last seq %d)", c.name, ctx.Err(), c.last)
			}
			return nil
		}
		if reset {
			c.resets.Add(1)
			c.rec.Reset(c.name)
			continue
		}
		seq, perr := strconv.ParseInt(string(data), 10, 64)
		if perr != nil {
			seq = history.NoSeq
		}
		c.rec.Event(c.name, id, seq)
		c.token, c.last = id, seq
		c.seqs = append(c.seqs, seq)
		if life == 0 && seq >= until {
			c.rec.Disconnect(c.name, history.CauseClientClose)
			return nil
		}
	}
}

func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("connect: %w: %v", ctx.Err(), err)
	}
	time.Sleep(5 * time.Millisecond) // refused: the caller retries
	return nil
}

// dialSSE opens GET /sse/{topic} on a raw connection (so that a cut can close it at any byte)
// resuming from the token, and returns the body reader after the retry frame.
func (c *cutSubscriber) dialSSE(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.s.Addr())
	if err != nil {
		return nil, nil, err
	}
	path, hdr := "/sse/"+c.topic, "Last-Event-ID: "+c.token+"\r\n"
	if c.query {
		path, hdr = path+"?lastEventId="+url.QueryEscape(c.token), ""
	}
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(nc, "GET "+path+" HTTP/1.1\r\nHost: "+c.s.Addr()+"\r\nAccept: text/event-stream\r\n"+hdr+"\r\n"); err != nil {
		nc.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err == nil && resp.StatusCode != 200 {
		err = errors.New(resp.Status)
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, bufio.NewReader(resp.Body), nil
}

// readSSEEvent reads frames until one dispatches an event (or a reset), skipping the retry
// frame and heartbeat comments.
func readSSEEvent(br *bufio.Reader) (id string, data []byte, reset bool, err error) {
	var typ string
	var lines []string
	var hasData bool
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", nil, false, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if typ == "reset" {
				return "", nil, true, nil
			}
			if hasData {
				return id, []byte(strings.Join(lines, "\n")), false, nil
			}
			typ, lines = "", nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "data":
			lines, hasData = append(lines, value), true
		case "event":
			typ = value
		}
	}
}
