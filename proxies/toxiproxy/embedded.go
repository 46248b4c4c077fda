package toxiproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	toxiserver "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// embedded runs Toxiproxy's own server package in this process.
type embedded struct {
	*apiBackend
	srv    *toxiserver.ApiServer
	hs     *http.Server
	served chan struct{} // closed when hs.Serve has returned
}

var silenceOnce sync.Once

// silenceZerolog turns off the logging of the in-process server: its own
// logger is zerolog.Nop(), but toxics (bandwidth) log through zerolog's
// global logger, so that one is silenced as well, once, before any server runs.
func silenceZerolog() {
	silenceOnce.Do(func() { zlog.Logger = zerolog.Nop() })
}

func openEmbedded(ctx context.Context, _ Config) (*embedded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	silenceZerolog()
	// A private registry: the default one would panic on the second server in
	// one process (duplicate registration).
	metrics := toxiserver.NewMetricsContainer(prometheus.NewRegistry())
	srv := toxiserver.NewServer(metrics, zerolog.Nop())

	// ApiServer.Listen takes an address and calls ListenAndServe; serving its
	// Routes on our own listener gives a free port without a pick-then-bind race
	// and an http.Server we can shut down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: embedded: listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       15 * time.Second, // Toxiproxy's own values
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	e := &embedded{srv: srv, hs: hs, served: make(chan struct{})}
	go func() {
		defer close(e.served)
		_ = hs.Serve(ln) // returns http.ErrServerClosed on Shutdown
	}()
	e.apiBackend = newAPIBackend(Embedded, "http://"+ln.Addr().String(), &addrPlan{bindHost: "127.0.0.1", dialHost: "127.0.0.1"})
	return e, nil
}

// Close stops every proxy (closing their connections) and the API server.
func (e *embedded) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	// Remove the toxics before closing connections: Toxiproxy (v2.12.0) leaves
	// a toxic's goroutine blocked forever when a connection closes while the
	// toxic holds data in flight (e.g. latency); removing a toxic flushes it
	// while the connection is still there. The flush waits on slow readers, so
	// it is bounded.
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for _, p := range e.srv.Collection.Proxies() {
			p.Toxics.ResetToxics(context.Background())
		}
	}()
	select {
	case <-flushed:
	case <-time.After(3 * time.Second):
	}
	// Stop the proxies directly rather than through the API: it cannot fail and
	// also catches proxies that someone else created through the API.
	_ = e.srv.Collection.Clear()
	for p := range e.snapshot() {
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
		e.forget(p)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := e.hs.Shutdown(sctx)
	if err != nil {
		err = errors.Join(err, e.hs.Close())
	}
	<-e.served
	if err != nil {
		return fmt.Errorf("toxiproxy: embedded: shutdown: %w", err)
	}
	return nil
}

func (b *apiBackend) snapshot() map[*Proxy]struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[*Proxy]struct{}, len(b.proxies))
	for p := range b.proxies {
		m[p] = struct{}{}
	}
	return m
}
