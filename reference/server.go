package reference

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/rtconform/rtconform/reference/eventlog"
	"github.com/rtconform/rtconform/reference/wire"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultMaxPublishBytes = 1 << 20
	DefaultRetry           = 3 * time.Second
	DefaultHeartbeat       = 10 * time.Second
	DefaultPollTimeout     = 25 * time.Second
	DefaultPollBatch       = 100
	DefaultPingInterval    = 20 * time.Second
	DefaultReadLimit       = 64 << 10
	DefaultMaxLag          = 1024
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultMaxConnsPerIP   = 1000
)

// Errors returned by Server.Publish.
var (
	ErrNotUTF8  = errors.New("payload must be UTF-8")
	ErrTooLarge = errors.New("payload too large")
)

// Config configures a Server. Zero fields select the defaults (see the
// Default* constants and the package documentation).
type Config struct {
	// Addr is the listen address used by Start (default "127.0.0.1:8080",
	// loopback). Port 0 picks a free port.
	Addr string
	// Log bounds the retention of every topic's event log.
	Log eventlog.Options
	// MaxPublishBytes is the largest accepted publish body (default 1 MiB);
	// larger bodies get 413.
	MaxPublishBytes int64
	// Retry is the SSE reconnection time sent first on every stream (default 3s).
	Retry time.Duration
	// Heartbeat is the SSE comment heartbeat interval while idle (default 10s).
	Heartbeat time.Duration
	// PollTimeout is how long a long-poll is held without events (default 25s).
	PollTimeout time.Duration
	// PollBatch is the maximum number of events per long-poll response (default 100).
	PollBatch int
	// PingInterval is the WebSocket server ping interval (default 20s).
	PingInterval time.Duration
	// ReadLimit is the largest WebSocket message accepted from a client
	// (default 64 KiB); larger messages close the connection with 1009.
	ReadLimit int64
	// MaxLag is how many events a WebSocket client may fall behind the head
	// of its topic before it is closed with 1013 (default 1024).
	MaxLag int
	// WriteTimeout bounds every write on a stream; a client stuck for
	// longer is dropped (default 10s).
	WriteTimeout time.Duration
	// AllowedOrigins are the Origin host patterns (path.Match) allowed cross-origin: for WebSocket
	// handshakes (empty: same host only; no Origin header: accepted) and
	// for CORS on the HTTP routes (see cors.go).
	AllowedOrigins []string
	// Token, when not empty, is the bearer token every route but /healthz requires
	// (auth.go): "Authorization: Bearer <Token>", or on the subscribe routes (SSE,
	// WebSocket, long-poll, HTTP stream, echo) also the query parameter access_token,
	// since EventSource and browser WebSockets cannot set headers. A missing or wrong
	// token is answered 401 with WWW-Authenticate: Bearer. Default: none (open).
	Token string
	// MaxHeaderBytes bounds the request line and headers (http.Server.MaxHeaderBytes,
	// default 64 KiB); net/http answers a larger head 431 and closes the connection.
	// It applies to Start only (a Handler mounted elsewhere has its server's bound).
	MaxHeaderBytes int
	// MaxConnsPerIP bounds the open connections (hijacked WebSockets included, until
	// they close) from one client IP address (default 1000; negative: unlimited).
	// A connection beyond it is answered 429 with Retry-After and closed; beyond twice
	// the bound it is closed without an answer. Loopback clients are exempt unless
	// LimitLoopback is set: the conformance and load tests open thousands of
	// connections from 127.0.0.1, and behind a reverse proxy on the same host every
	// client is the proxy. It applies to Start only (connlimit.go).
	MaxConnsPerIP int
	// LimitLoopback applies MaxConnsPerIP to loopback clients too.
	LimitLoopback bool
	// Logf, if set, receives diagnostic messages.
	Logf func(format string, args ...any)
	// Wrap, if set, is called once by New with the new server and its own
	// handler (every route above); the handler it returns is what Handler
	// returns and what Start serves. It lets another server reuse the
	// reference's life cycle unchanged (Start, Shutdown, Restart on the
	// same address) around a modified handler, as the rtconform fixtures
	// do. s is not started yet; its Config, Topics, Publish, Done and Track
	// may be used, by Wrap and by the handler it returns. A handler that
	// holds a request open should end it when Done is closed; one that
	// hijacks the connection should register with Track so that Shutdown
	// waits for it. With Wrap set, the WebSocket routes serve the whole
	// session inside the handler's call, so that a wrapper sees it within
	// its call; without, they return after the handshake and serve the
	// session in a goroutine of their own (less memory per connection). So
	// with SSE streams: with Wrap set, net/http serves them inside the
	// handler's call through the ResponseWriter the wrapper sees; without,
	// they are served on the hijacked connection (sse_hijack.go).
	Wrap func(s *Server, h http.Handler) http.Handler
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxPublishBytes <= 0 {
		c.MaxPublishBytes = DefaultMaxPublishBytes
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.PollBatch <= 0 {
		c.PollBatch = DefaultPollBatch
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Server is the rtconform reference server. Create it with New.
type Server struct {
	cfg     Config
	topics  *eventlog.Topics
	handler http.Handler
	m       metrics

	mu         sync.Mutex
	srv        *http.Server
	addr       string // actual address after the first Start
	quit       chan struct{}
	quitClosed bool

	sessMu   sync.Mutex
	sessions map[chan struct{}]func() // done channels of hijacked connections' handlers, and what closes the connection on a forced Shutdown (nil: nothing)

	conns connCounter // open connections per client IP (connlimit.go)
}

type metrics struct {
	published     atomic.Int64
	sseClients    atomic.Int64
	wsClients     atomic.Int64
	echoClients   atomic.Int64
	pollClients   atomic.Int64
	streamClients atomic.Int64
	gaps          atomic.Int64
	slowDropped   atomic.Int64
	writeTimeout  atomic.Int64
	connsRefused  atomic.Int64
	authFailures  atomic.Int64
}

// New returns a Server with cfg's defaults applied. It does not listen;
// call Start, or mount Handler in your own http.Server.
func New(cfg Config) *Server {
	s := &Server{
		cfg:      cfg.withDefaults(),
		quit:     make(chan struct{}),
		sessions: make(map[chan struct{}]func()),
	}
	s.conns.m = make(map[netip.Addr]int)
	s.topics = eventlog.NewTopics(s.cfg.Log)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish/{topic}", s.handlePublish)
	mux.HandleFunc("GET /sse/{topic}", s.handleSSE)
	mux.HandleFunc("GET /ws/{topic}", s.handleWS)
	mux.HandleFunc("GET /echo", s.handleEcho)
	mux.HandleFunc("GET /poll/{topic}", s.handlePoll)
	mux.HandleFunc("GET /stream/{topic}", s.handleStream)
	mux.HandleFunc("POST /stream/{topic}", s.handleStream)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.handler = s.refuseOverLimit(s.cors(s.auth(mux)))
	if s.cfg.Wrap != nil {
		s.handler = s.cfg.Wrap(s, s.handler)
	}
	return s
}

// Config returns the configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the handler serving every route (wrapped by
// Config.Wrap, if set). Mounted in another http.Server it has no
// graceful shutdown: Done is closed only by this server's Shutdown.
func (s *Server) Handler() http.Handler { return s.handler }

// Topics returns the event logs.
func (s *Server) Topics() *eventlog.Topics { return s.topics }

// Publish appends data to topic, as POST /publish/{topic} does. It fails
// for an invalid topic, a payload that is not UTF-8 (ErrNotUTF8) or larger
// than MaxPublishBytes (ErrTooLarge).
func (s *Server) Publish(topic string, data []byte) (eventlog.Event, error) {
	if int64(len(data)) > s.cfg.MaxPublishBytes {
		return eventlog.Event{}, fmt.Errorf("%w: %d bytes, limit is %d bytes", ErrTooLarge, len(data), s.cfg.MaxPublishBytes)
	}
	if !utf8.Valid(data) {
		return eventlog.Event{}, ErrNotUTF8
	}
	l, err := s.topics.Get(topic)
	if err != nil {
		return eventlog.Event{}, err
	}
	ev := l.Append(data)
	s.m.published.Add(1)
	return ev, nil
}

// Done returns a channel that is closed when the next (or current)
// Shutdown begins, right after the listener is closed. Handlers that hold
// a request open (SSE streams, long-polls, WebSockets) end it then. Start
// after a Shutdown arms a new channel, so call Done at the start of every
// request, not once.
func (s *Server) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quit
}

func (s *Server) closeQuit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quitClosed {
		close(s.quit)
		s.quitClosed = true
	}
}

// Start listens on the configured address (or, after a previous Start, on
// the same address as before) and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("reference: server already started")
	}
	addr := s.addr
	restart := addr != ""
	if !restart {
		addr = s.cfg.Addr
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", addr)
		if err == nil || !restart || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("reference: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	if s.quitClosed {
		s.quit = make(chan struct{})
		s.quitClosed = false
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ConnContext:       connContext,
	}
	ln = s.limitListener(ln)
	// Called by srv.Shutdown right after the listeners are closed — in a goroutine of its
	// own, so possibly after a Restart's Start re-armed quit: close only this generation's.
	q := s.quit
	srv.RegisterOnShutdown(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.quit == q && !s.quitClosed {
			close(q)
			s.quitClosed = true
		}
	})
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logf("reference: serve: %v", err)
		}
	}()
	return nil
}

// Addr returns the actual host:port after Start ("" before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Shutdown stops the server gracefully: it stops accepting connections,
// ends every SSE stream (the chunked body terminates, so clients
// reconnect), closes every WebSocket with 1001 "server shutting down",
// answers every held long-poll at once (empty batch, same cursor) and then
// waits for the handlers until ctx is done. When ctx expires first, the
// remaining connections are closed forcibly and ctx's error is returned.
// The event logs are kept.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()

	var err error
	if srv != nil {
		err = srv.Shutdown(ctx) // closes listeners, then closeQuit via RegisterOnShutdown
		s.closeQuit()
		if err != nil {
			srv.Close()
		}
	}
	s.closeQuit()
	// Hijacked connections (WebSockets, SSE streams) are not tracked by http.Server.
	s.sessMu.Lock()
	done := make([]chan struct{}, 0, len(s.sessions))
	for ch := range s.sessions {
		done = append(done, ch)
	}
	s.sessMu.Unlock()
	for _, ch := range done {
		select {
		case <-ch:
		case <-ctx.Done():
			s.abortSessions()
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// abortSessions closes the hijacked connections that registered a way to (the SSE streams):
// when Shutdown's ctx expires, as http.Server.Close closes the connections it serves.
func (s *Server) abortSessions() {
	s.sessMu.Lock()
	var aborts []func()
	for _, abort := range s.sessions {
		if abort != nil {
			aborts = append(aborts, abort)
		}
	}
	s.sessMu.Unlock()
	for _, abort := range aborts {
		abort()
	}
}

// Restart shuts the server down (see Shutdown) and starts it again on the
// same address, keeping the event logs and their epoch: it simulates a
// restart of a server with durable storage, so resume tokens stay valid.
func (s *Server) Restart(ctx context.Context) error {
	errShut := s.Shutdown(ctx)
	if errStart := s.Start(); errStart != nil {
		return errors.Join(errShut, errStart)
	}
	return errShut
}

// Track registers a running handler that Shutdown waits for (until its
// ctx ends), and returns the func to call when the handler returns. It is
// meant for handlers of hijacked connections (WebSockets), which
// http.Server.Shutdown neither tracks nor waits for; such a handler should
// also close its connection when Done is closed.
func (s *Server) Track() (done func()) {
	_, done = s.track()
	return done
}

// track is Track, also returning the handler's key for setAbort.
func (s *Server) track() (ch chan struct{}, done func()) {
	ch = make(chan struct{})
	s.sessMu.Lock()
	s.sessions[ch] = nil
	s.sessMu.Unlock()
	return ch, func() {
		s.sessMu.Lock()
		delete(s.sessions, ch)
		s.sessMu.Unlock()
		close(ch)
	}
}

// setAbort registers what closes the connection of the tracked handler ch when Shutdown's ctx
// expires.
func (s *Server) setAbort(ch chan struct{}, abort func()) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if _, ok := s.sessions[ch]; ok {
		s.sessions[ch] = abort
	}
}

// topicLog resolves {topic}, answering 400 or 503 itself when it fails
// (see wire.TopicLog).
func (s *Server) topicLog(w http.ResponseWriter, r *http.Request) (*eventlog.Log, bool) {
	return wire.TopicLog(w, r, s.topics)
}
