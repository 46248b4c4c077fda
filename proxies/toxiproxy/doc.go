// Package toxiproxy gives the chaos suites one interface over three Toxiproxy
// backends, all driven through Toxiproxy's HTTP API with its Go client
// (github.com/Shopify/toxiproxy/v2/client, v2.12.0), plus the named fault
// profiles the reconnect, ordering and fallback suites share.
//
//	b, err := toxiproxy.Open(ctx, toxiproxy.Config{Backend: "embedded"})
//	defer b.Close(ctx)
//	p, err := b.NewProxy(ctx, "sse", "127.0.0.1:8080") // dial p.Listen() instead of the target
//	f, _ := toxiproxy.FaultNamed("outage")
//	f.Down = 2 * time.Second
//	a, err := toxiproxy.Apply(ctx, p, f) // record the fault start in the history
//	...
//	err = a.Stop(ctx) // proxy clean and enabled again; record the fault stop
//
// # Backends and addresses
//
// Embedded (the default) runs Toxiproxy's server package in this process. Its
// API is served by our own http.Server around ApiServer.Routes() on a listener
// bound to 127.0.0.1:0 (ApiServer.Listen only takes an address, so it would
// need a pick-then-bind race for a free port, and offers no listener to close).
// Proxies listen on 127.0.0.1:0; Listen() is the address Toxiproxy bound. Each
// server has a private prometheus registry (the default one panics on a second
// server in one process) and zerolog.Nop(); zerolog's global logger is set to
// Nop once as well, because the bandwidth toxic logs through it. Close removes
// the toxics, stops every proxy (closing its connections) and shuts the API
// server down: no listener or goroutine is left (tested by opening and closing
// twice in one process).
//
// Container runs the Toxiproxy image with testcontainers-go. By default the
// container shares the host's network namespace (host networking): the API
// listens on 127.0.0.1:<free port> (-host/-port flags), proxies on
// 127.0.0.1:0, so Listen() is directly dialable and an upstream 127.0.0.1:N
// reaches a target on the host's loopback. This needs a Docker daemon on this
// machine (Linux), as the loopback addresses are the daemon host's.
// With Config.Network the container joins that Docker network instead, through
// testcontainers' toxiproxy module, for targets in the network (upstream
// "name:port"; the host's loopback is then out of reach). Ports cannot be
// published after the start, so a range of container ports (Config.Ports,
// default 8666-8681) is published up front to ephemeral ports on the host's
// 127.0.0.1 (never on other interfaces), and NewProxy hands them out one per
// live proxy: the proxy listens on 0.0.0.0:P in the container and Listen() is
// 127.0.0.1:<published P>. Delete returns the port to the range.
//
// The image is Config.Image (default DefaultImage). No registry may be
// reachable, so: an image already present is used; for the default image, a
// present LocalImage of the same version is used without trying the registry;
// else the image is pulled; if that fails, LocalImage is built: the Toxiproxy
// server is compiled statically from the Go module at ServerVersion
// (CGO_ENABLED=0 go build, in the current module when it requires that version,
// so the pinned go.sum is used, else in a throwaway module) and put alone in a
// FROM scratch image with the upstream image's entrypoint and command. The
// build is skipped while the tag exists. It needs the go command on PATH and
// takes about a minute on a cold Go build cache.
//
// Ryuk, testcontainers' reaper, cannot be pulled either: Open sets
// TESTCONTAINERS_RYUK_DISABLED=true unless it is set, Close removes the
// container, and every container is labelled (LabelOwner=1, plus the pid and
// hostname of the process) so that the next Open removes those left by a
// process of this host that is gone (an interrupted run), and nothing else.
//
// External drives an existing Toxiproxy (a CI sidecar) at Config.API. Listen()
// uses the API URL's host: for a loopback API, proxies bind 127.0.0.1:0;
// otherwise they bind 0.0.0.0, on ports from Config.Ports when the sidecar's
// ports are published one to one. Close deletes only the proxies this Backend
// created.
//
// The Toxiproxy client takes no context: each call is abandoned when its ctx
// ends and finishes in the background (the client's own timeout is 30 s); a
// proxy whose creation is abandoned is deleted when it completes.
//
// # Toxiproxy traps
//
//   - The timeout toxic is an idle timer restarted by every chunk of data: a
//     stream with heartbeats is never closed by it. With timeout=0 it drops
//     data until removed (the blackhole profile), and removing it closes the
//     connections it held (its Cleanup closes the stub): after a black hole
//     only new connections flow.
//   - reset_peer sends an RST only on connections opened after the toxic exists
//     (Toxiproxy sets SO_LINGER=0 when a connection starts); an older
//     connection is closed gracefully (FIN) instead, on its next data in the
//     toxic's direction. It fires on the first data in its direction, which it
//     drops: upstream fires on the request, downstream on the first response byte.
//   - Units: latency and jitter in milliseconds, slicer delay in MICROseconds,
//     bandwidth rate in KB/s (1 KB = 1000 bytes, 0 = unlimited), limit_data in
//     bytes counted per connection and per direction, headers included.
//   - Toxicity 0 is taken literally by Toxiproxy (the toxic never fires): this
//     package sends 0 as 1.
//   - Disable closes every connection (FIN) and the listener (connects are
//     refused); Enable binds the same address again.
//   - Toxiproxy v2.12.0 can leave a toxic's goroutine blocked when a connection
//     closes while the toxic holds data in flight (latency buffers up to 1024
//     chunks). The embedded Close removes toxics before closing connections to
//     avoid it; a Disable under a latency toxic can still leak one goroutine
//     per affected connection in the embedded server.
//
// # Fault profiles
//
// Faults are data (faults.go): FaultNames lists them, FaultNamed returns a
// tunable copy. latency, bandwidth, slicer, limit-data, reset, blackhole and
// slow-close install one toxic (blackhole: one per direction) for as long as
// they are active; outage disables the proxy for Down and re-enables it by
// itself; flap alternates Down and Up until Stop (or Cycles outages). Apply
// returns once the fault is in effect; Stop always restores the proxy to clean
// (no toxics at all: faults do not stack) and enabled. The suites record the
// fault start and stop times in their histories themselves.
package toxiproxy
