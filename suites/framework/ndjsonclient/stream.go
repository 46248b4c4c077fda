package ndjsonclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("ndjsonclient: stream closed")

const readBufSize = 32 << 10

// Stream is one open HTTP stream of JSON lines: the response body is read by a background
// goroutine and split into lines by a Parser, with arrival times. All methods are safe for
// concurrent use. Resp.Body belongs to the Stream: call Close.
type Stream struct {
	// Resp is the response; set once WaitHeaders returned nil.
	Resp *http.Response
	// Start is when the request was sent; Headers when the response head arrived.
	Start   time.Time
	Headers time.Time

	l      Limits
	p      *Parser
	cancel context.CancelFunc
	done   chan struct{}
	hdr    chan struct{}
	hdrErr error

	mu        sync.Mutex
	space     *sync.Cond
	wake      chan struct{}
	firstByte time.Time
	lastRead  time.Time
	bytes     int64
	pending   []byte
	lines     []Line
	err       error
	closing   bool
	closeOnce sync.Once
}

// Start sends req with c (http.DefaultClient when nil) and returns once the request was
// written (the response head may come later: WaitHeaders). It sets "Accept:
// application/x-ndjson, application/jsonl, application/json" when req has no Accept header
// (req is cloned, not modified). Only an error before the request was written is returned;
// a non-200 status is the caller's to judge. ctx governs the whole stream.
func Start(ctx context.Context, c *http.Client, req *http.Request, l Limits) (*Stream, error) {
	if c == nil {
		c = http.DefaultClient
	}
	rctx, cancel := context.WithCancel(ctx)
	wrote := make(chan struct{})
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			once.Do(func() { close(wrote) })
		}
	}}
	r := req.Clone(httptrace.WithClientTrace(rctx, trace))
	if _, ok := r.Header["Accept"]; !ok {
		r.Header.Set("Accept", "application/x-ndjson, application/jsonl, application/json")
	}
	l = l.withDefaults()
	s := &Stream{l: l, p: NewParser(l), cancel: cancel, done: make(chan struct{}), hdr: make(chan struct{}),
		wake: make(chan struct{}), Start: time.Now()}
	s.space = sync.NewCond(&s.mu)
	go s.run(c, r)
	select {
	case <-wrote:
		return s, nil
	case <-s.hdr:
		if s.hdrErr != nil {
			<-s.done
			return nil, s.hdrErr
		}
		return s, nil
	}
}

func (s *Stream) run(c *http.Client, r *http.Request) {
	resp, err := c.Do(r)
	if err != nil {
		s.hdrErr = err
		close(s.hdr)
		s.cancel()
		s.finish(err)
		close(s.done)
		return
	}
	s.Resp, s.Headers = resp, time.Now()
	close(s.hdr)
	s.read()
}

// WaitHeaders waits for the response head (nil: Resp is set), the request's error, or ctx.
func (s *Stream) WaitHeaders(ctx context.Context) error {
	select {
	case <-s.hdr:
		return s.hdrErr
	case <-ctx.Done():
		select {
		case <-s.hdr:
			return s.hdrErr
		default:
		}
		return ctx.Err()
	}
}

// HeadersArrived is closed once the response head arrived or the request failed.
func (s *Stream) HeadersArrived() <-chan struct{} { return s.hdr }

func (s *Stream) read() {
	defer close(s.done)
	body := s.Resp.Body
	defer body.Close()
	buf := make([]byte, readBufSize)
	for {
		n, rerr := body.Read(buf)
		at := time.Now()
		if n > 0 {
			s.mu.Lock()
			if s.firstByte.IsZero() {
				s.firstByte = at
			}
			s.lastRead = at
			s.bytes += int64(n)
			s.mu.Unlock()
			lines, perr := s.p.Feed(buf[:n], at)
			var pend []byte
			if s.p.Pending() > 0 {
				pend = s.p.PendingBytes(200)
			}
			s.mu.Lock()
			s.pending = pend
			s.mu.Unlock()
			if !s.push(lines) {
				s.finish(ErrClosed)
				return
			}
			if perr != nil {
				s.finish(perr)
				return
			}
		}
		if rerr != nil {
			if err := s.p.Close(); err != nil && errors.Is(rerr, io.EOF) {
				rerr = err
			}
			s.finish(rerr)
			return
		}
	}
}

func (s *Stream) push(lines []Line) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range lines {
		for len(s.lines) >= s.l.MaxQueued && !s.closing {
			s.space.Wait()
		}
		if s.closing {
			return false
		}
		s.lines = append(s.lines, ln)
		s.notify()
	}
	return true
}

func (s *Stream) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		err = ErrClosed
	}
	if s.err == nil {
		s.err = err
	}
	s.notify()
}

func (s *Stream) notify() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Next returns the next line, valid or not (Line.Err says what is wrong with an invalid
// one). Once the queue is empty it returns the stream's end: io.EOF for a clean end, an
// *UnterminatedError when the body ended inside a line, a *LimitError, a transport error,
// or ErrClosed after Close; ctx's error when ctx ends first.
func (s *Stream) Next(ctx context.Context) (Line, error) {
	for {
		s.mu.Lock()
		if len(s.lines) > 0 {
			ln := s.lines[0]
			s.lines[0] = Line{}
			s.lines = s.lines[1:]
			s.space.Signal()
			s.mu.Unlock()
			return ln, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return Line{}, err
		}
		w := s.wake
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return Line{}, ctx.Err()
		}
	}
}

// FirstByte is when the first body byte arrived (zero: none yet).
func (s *Stream) FirstByte() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstByte
}

// LastRead is when body bytes last arrived (zero: none yet).
func (s *Stream) LastRead() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRead
}

// Bytes is how many body bytes arrived so far.
func (s *Stream) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Pending returns at most 200 bytes of a line that has begun to arrive but has no "\n" yet
// (nil: none). A stream that ends every line leaves nothing pending between lines.
func (s *Stream) Pending() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Close ends the stream and waits for the reader to stop.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.space.Broadcast()
		s.notify()
		s.mu.Unlock()
		s.cancel()
		<-s.done
	})
	return nil
}
