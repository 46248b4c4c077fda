package sseclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// Bounds of the queues and records kept by a Stream.
const (
	// MaxQueuedEvents is how many dispatched events wait for Next before the
	// reader stops reading the body (TCP back-pressure; events are never
	// dropped). Read events promptly when arrival times matter.
	MaxQueuedEvents = 4096
	// MaxQueuedComments is how many comments wait for WaitComment; beyond
	// that the oldest unread one is dropped (see Stream.CommentsDropped).
	MaxQueuedComments = 1024
	// MaxChunks is how many read chunks Stream.Chunks keeps (the first ones).
	MaxChunks   = 16384
	readBufSize = 32 << 10
)

// Stream is one open event stream: an HTTP response whose body is read by a
// background goroutine and fed to a Parser with arrival timestamps.
//
// All methods are safe for concurrent use. Resp.Body belongs to the Stream:
// do not read or close it; call Stream.Close.
type Stream struct {
	// Resp is the response (status and headers as received). Judge the
	// status and Content-Type here: Open does not. A Stream from Start has
	// it only once WaitHeaders returned nil (or HeadersArrived is closed and
	// HeadersErr is nil); read it no earlier.
	Resp *http.Response
	// Start is when the request was sent.
	Start time.Time
	// Headers is when the response headers had arrived (set with Resp).
	Headers time.Time

	p      *Parser
	cancel context.CancelFunc
	done   chan struct{}
	hdr    chan struct{} // closed once the response head arrived or the request failed
	hdrErr error         // the request's error, set before hdr is closed

	mu        sync.Mutex
	space     *sync.Cond // signalled when the event queue shrinks or closing
	wake      chan struct{}
	firstByte time.Time
	lastRead  time.Time
	events    []Event
	comments  []Comment
	cDropped  int
	chunks    []Chunk
	nChunks   int
	err       error
	endedAt   time.Time
	discarded bool
	closing   bool
	closeOnce sync.Once
	unwrap    func(Event) []Event // see SetUnwrap
	unwrapped []Event             // events f returned that Next has not returned yet
}

// SetUnwrap makes Next pass every dispatched event through f before returning
// it: f returns the events as the caller should see them, in order — the event
// itself with the payload taken out of a JSON envelope in the data, none for a
// control frame of the target's, or several (the events a connect reply
// replays). nil restores the events as parsed. Stats, comments and raw bytes
// are not affected: they are the wire's.
func (s *Stream) SetUnwrap(f func(Event) []Event) {
	s.mu.Lock()
	s.unwrap = f
	s.mu.Unlock()
}

// Open sends req with c (http.DefaultClient when nil) and returns once the
// response headers arrived. It sets "Accept: text/event-stream" and
// "Cache-Control: no-cache" when req has no such header (req itself is not
// modified: a clone is sent).
//
// A non-200 status or a wrong Content-Type is not an error: the caller judges
// Resp, and the body is still parsed. Only a transport error is returned.
//
// As with http.Client.Do, ctx governs the whole stream, not only the
// handshake: cancelling it ends the stream (Next then returns the cancel
// error). Use the ctx of Next for per-call timeouts.
//
// Note that Go's http.Transport asks for gzip and decompresses transparently
// unless the request sets Accept-Encoding itself; the parser then sees the
// decompressed bytes (Resp.Uncompressed tells).
//
// Some servers send their response headers only with the first event (go-sse's
// defaults): against them Open waits until something is published. A client
// that must publish after subscribing uses Start.
func Open(ctx context.Context, c *http.Client, req *http.Request, l Limits) (*Stream, error) {
	s, err := Start(ctx, c, req, l)
	if err != nil {
		return nil, err
	}
	if err := s.WaitHeaders(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Start is Open without waiting for the response headers: it returns once the
// request has been written to the connection, so a caller can make the server
// emit an event (which is what makes some servers send their headers) before
// the headers arrived. Resp and Headers are set once WaitHeaders returns nil;
// Next and WaitComment simply wait for events meanwhile, and return the
// request's error if it fails. An error before the request was written (no
// connection) is returned by Start itself.
func Start(ctx context.Context, c *http.Client, req *http.Request, l Limits) (*Stream, error) {
	if c == nil {
		c = http.DefaultClient
	}
	rctx, cancel := context.WithCancel(ctx)
	wrote := make(chan struct{})
	var wroteOnce sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			wroteOnce.Do(func() { close(wrote) })
		}
	}}
	r := req.Clone(httptrace.WithClientTrace(rctx, trace))
	if _, ok := r.Header["Accept"]; !ok {
		r.Header.Set("Accept", "text/event-stream")
	}
	if _, ok := r.Header["Cache-Control"]; !ok {
		r.Header.Set("Cache-Control", "no-cache")
	}
	s := &Stream{
		p:      NewParser(l),
		cancel: cancel,
		done:   make(chan struct{}),
		hdr:    make(chan struct{}),
		wake:   make(chan struct{}),
		Start:  time.Now(),
	}
	s.space = sync.NewCond(&s.mu)
	s.p.onComment = s.pushComment
	go s.run(c, r)
	select {
	case <-wrote:
		return s, nil
	case <-s.hdr: // answered (or failed) before the trace saw the request written
		if s.hdrErr != nil {
			<-s.done
			return nil, s.hdrErr
		}
		return s, nil
	}
}

// run sends the request, publishes the response head and reads the body.
func (s *Stream) run(c *http.Client, r *http.Request) {
	resp, err := c.Do(r)
	if err != nil {
		s.hdrErr = err
		close(s.hdr)
		s.cancel()
		s.finish(err, false)
		close(s.done)
		return
	}
	s.Resp, s.Headers = resp, time.Now()
	close(s.hdr)
	s.read()
}

// WaitHeaders waits until the response headers arrived and returns nil (Resp
// and Headers are then set), or returns the request's error, or ctx's error
// when ctx ends first.
func (s *Stream) WaitHeaders(ctx context.Context) error {
	select {
	case <-s.hdr:
		return s.hdrErr
	case <-ctx.Done():
		select {
		case <-s.hdr: // both ready: the answer wins
			return s.hdrErr
		default:
		}
		return ctx.Err()
	}
}

// HeadersArrived is closed once the response headers arrived or the request
// failed (HeadersErr tells which).
func (s *Stream) HeadersArrived() <-chan struct{} { return s.hdr }

// HeadersErr is the request's error once HeadersArrived is closed (nil: Resp
// is set); nil before.
func (s *Stream) HeadersErr() error {
	select {
	case <-s.hdr:
		return s.hdrErr
	default:
		return nil
	}
}

// read is the background reader.
func (s *Stream) read() {
	defer close(s.done)
	body := s.Resp.Body
	defer body.Close()
	buf := make([]byte, readBufSize)
	var off int64
	for {
		n, rerr := body.Read(buf)
		at := time.Now()
		if n > 0 {
			s.mu.Lock()
			if s.firstByte.IsZero() {
				s.firstByte = at
			}
			s.lastRead = at
			s.nChunks++
			if len(s.chunks) < MaxChunks {
				s.chunks = append(s.chunks, Chunk{At: at, Offset: off, Len: n})
			}
			s.mu.Unlock()
			off += int64(n)

			evs, perr := s.p.Feed(buf[:n], at)
			if !s.push(evs) {
				s.finish(ErrClosed, false)
				return
			}
			if perr != nil {
				s.finish(perr, false)
				return
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				s.finish(io.EOF, s.p.Close())
			} else {
				s.finish(rerr, s.p.Close())
			}
			return
		}
	}
}

// push queues events, waiting for room; it returns false when the stream is
// being closed.
func (s *Stream) push(evs []Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		for len(s.events) >= MaxQueuedEvents && !s.closing {
			s.space.Wait()
		}
		if s.closing {
			return false
		}
		s.events = append(s.events, ev)
		s.notify()
	}
	return true
}

// pushComment is called by the parser (with the parser's lock held).
func (s *Stream) pushComment(c Comment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.comments) >= MaxQueuedComments {
		s.comments[0] = Comment{}
		s.comments = s.comments[1:]
		s.cDropped++
	}
	s.comments = append(s.comments, c)
	s.notify()
}

func (s *Stream) finish(err error, discarded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		err = ErrClosed
	}
	s.err = err
	s.endedAt = time.Now()
	s.discarded = discarded
	s.notify()
}

// notify wakes every waiter; s.mu must be held.
func (s *Stream) notify() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Next returns the next dispatched event. Once the queue is empty it returns
// the stream's end: io.EOF when the body ended cleanly, a *LimitError, a
// transport error, or ErrClosed after Close. It returns ctx.Err() when ctx
// ends first.
func (s *Stream) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.unwrapped) > 0 {
			ev := s.unwrapped[0]
			s.unwrapped = s.unwrapped[1:]
			s.mu.Unlock()
			return ev, nil
		}
		if len(s.events) > 0 {
			ev := s.events[0]
			s.events[0] = Event{}
			s.events = s.events[1:]
			s.space.Signal()
			f := s.unwrap
			s.mu.Unlock()
			if f != nil {
				evs := f(ev)
				if len(evs) == 0 {
					continue
				}
				s.mu.Lock()
				s.unwrapped = append(s.unwrapped, evs[1:]...)
				s.mu.Unlock()
				ev = evs[0]
			}
			return ev, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return Event{}, err
		}
		w := s.wake
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// WaitComment returns the next comment not yet returned (for heartbeat
// checks). Comments are queued independently of events; the end of the
// stream is reported as by Next.
func (s *Stream) WaitComment(ctx context.Context) (Comment, error) {
	for {
		s.mu.Lock()
		if len(s.comments) > 0 {
			c := s.comments[0]
			s.comments[0] = Comment{}
			s.comments = s.comments[1:]
			s.mu.Unlock()
			return c, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return Comment{}, err
		}
		w := s.wake
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return Comment{}, ctx.Err()
		}
	}
}

// Close stops the stream: it cancels the request, closes the body and waits
// for the reader goroutine. Queued events stay readable; Next then returns
// ErrClosed. Close is idempotent and returns nil.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.space.Broadcast()
		s.mu.Unlock()
		s.cancel()
		<-s.hdr
		if s.hdrErr == nil {
			_ = s.Resp.Body.Close()
		}
		<-s.done
	})
	return nil
}

// Done is closed when the reader goroutine has stopped (end of body, error,
// limit or Close).
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns how the body ended (io.EOF, a *LimitError, a transport error,
// ErrClosed), or nil while it is still being read.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// EndedAt returns when the reader stopped (zero while running).
func (s *Stream) EndedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endedAt
}

// PendingDiscarded reports whether, at the end of the body, a partial event
// was discarded (see Parser.Close).
func (s *Stream) PendingDiscarded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discarded
}

// FirstByte returns when the first body byte arrived (zero until then).
func (s *Stream) FirstByte() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstByte
}

// Chunks returns the first MaxChunks reads from the body.
func (s *Stream) Chunks() []Chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Chunk(nil), s.chunks...)
}

// LastRead returns when the last read from the body returned data (zero before the first
// byte): a heartbeat watchdog judges silence from it.
func (s *Stream) LastRead() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRead
}

// ChunkCount returns the number of reads from the body that returned data.
func (s *Stream) ChunkCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nChunks
}

// CommentsDropped returns how many unread comments were dropped from the
// WaitComment queue because it was full.
func (s *Stream) CommentsDropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cDropped
}

// Parser returns the stream's parser (safe for concurrent use).
func (s *Stream) Parser() *Parser { return s.p }

// Stats returns the parser's wire statistics.
func (s *Stream) Stats() WireStats { return s.p.Stats() }

// Retry returns the last valid retry field.
func (s *Stream) Retry() (time.Duration, bool) { return s.p.Retry() }

// Comments returns the first MaxComments comments.
func (s *Stream) Comments() []Comment { return s.p.Comments() }

// LastEventID returns the last event ID string.
func (s *Stream) LastEventID() string { return s.p.LastEventID() }

// Raw returns the first Limits.MaxRaw bytes of the body.
func (s *Stream) Raw() []byte { return s.p.Raw() }
