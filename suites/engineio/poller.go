package engineio

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	fw "github.com/rtconform/rtconform/suites/framework"
)

// grace is the slack every timing bound of the suite allows beyond what the protocol
// advertises: scheduling on a loaded machine, one HTTP round trip.
const grace = 2 * time.Second

// received is one packet the client got, with when and over which transport.
type received struct {
	P   packet
	At  time.Time
	Via string // "polling" or "websocket"
}

// poller runs the polling transport of a session the way engine.io-client does: one GET at a
// time, the next as soon as one is answered, a pong POSTed for every ping (autoPong). It stops
// on its own at the first refused, failed or malformed poll, or a close packet followed by a
// refused poll; pause stops it after the poll in flight is answered.
type poller struct {
	c        *client
	sid      string
	autoPong bool

	mu       sync.Mutex
	got      []received
	end      string    // why the loop ended ("" while running)
	closedAt time.Time // the first close signal: a close packet, or a poll refused with 400
	closeHow string

	pauseOnce sync.Once
	paused    chan struct{}
	done      chan struct{}
	cancel    context.CancelFunc
}

// startPoller starts polling sid; the loop ends with the check at the latest.
func startPoller(t *fw.T, c *client, sid string, autoPong bool) *poller {
	ctx, cancel := context.WithCancel(t.Context())
	p := &poller{c: c, sid: sid, autoPong: autoPong, paused: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	t.Cleanup(func() { cancel(); <-p.done })
	go p.loop(ctx)
	return p
}

func (p *poller) loop(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case <-p.paused:
			p.finish("paused")
			return
		default:
		}
		r, err := p.c.poll(ctx, p.sid)
		now := time.Now()
		switch {
		case err != nil:
			p.finish(fmt.Sprintf("a poll failed: %v", err))
			return
		case r.Status != http.StatusOK:
			p.closeSignal(now, fmt.Sprintf("a poll answered %d (%q)", r.Status, clip(r.Body)))
			p.finish(fmt.Sprintf("a poll answered %d (%q)", r.Status, clip(r.Body)))
			return
		case r.Err != nil:
			p.finish(fmt.Sprintf("a malformed poll payload %q: %v", clip(r.Body), r.Err))
			return
		}
		for _, pk := range r.Packets {
			p.mu.Lock()
			p.got = append(p.got, received{P: pk, At: now, Via: "polling"})
			p.mu.Unlock()
			if pk.Type == pClose {
				p.closeSignal(now, "a close packet (1) in a poll answer")
			}
			if pk.Type == pPing && pk.Data == "" && p.autoPong {
				pr, err := p.c.post(ctx, p.sid, packet{Type: pPong})
				if err != nil || pr.Status != http.StatusOK {
					p.finish(fmt.Sprintf("the pong POST was not accepted: %v %d %q", err, pr.Status, clip(pr.Body)))
					return
				}
			}
		}
	}
}

func (p *poller) closeSignal(at time.Time, how string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closedAt.IsZero() {
		p.closedAt, p.closeHow = at, how
	}
}

func (p *poller) finish(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.end == "" {
		p.end = why
	}
}

// pause asks the loop to stop after the poll in flight and waits up to d for that; false
// when the poll in flight is still held after d.
func (p *poller) pause(d time.Duration) bool {
	p.pauseOnce.Do(func() { close(p.paused) })
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// ended reports why the loop stopped ("" while it runs).
func (p *poller) ended() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.end
}

// packets returns a copy of what was received so far.
func (p *poller) packets() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.got...)
}

// closed returns the first close signal, if any.
func (p *poller) closed() (time.Time, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closedAt, p.closeHow
}
