package toxiproxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// external drives a Toxiproxy server that someone else runs (a CI sidecar).
type external struct {
	*apiBackend
}

// openExternal checks that cfg.API answers and plans listen addresses: proxies
// are dialled at the API's host; they bind 127.0.0.1 when that host is
// loopback, else 0.0.0.0 (a sidecar whose ports are published or shared).
func openExternal(ctx context.Context, cfg Config) (*external, error) {
	if cfg.API == "" {
		return nil, fmt.Errorf("toxiproxy: external backend needs Config.API (e.g. http://127.0.0.1:8474)")
	}
	api := cfg.API
	if !strings.Contains(api, "://") {
		api = "http://" + api
	}
	u, err := url.Parse(api)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("toxiproxy: external: bad API URL %q", cfg.API)
	}
	api = strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	plan := &addrPlan{bindHost: "0.0.0.0", dialHost: u.Hostname()}
	if isLoopback(u.Hostname()) {
		plan.bindHost, plan.dialHost = "127.0.0.1", "127.0.0.1"
	}
	if cfg.Ports != "" {
		if plan.pool, err = parsePorts(cfg.Ports); err != nil {
			return nil, err
		}
		plan.inUse = map[int]bool{}
	}
	b := &external{newAPIBackend(External, api, plan)}
	if err := call(ctx, func() error { _, err := b.client.Version(); return err }); err != nil {
		return nil, fmt.Errorf("toxiproxy: external: no Toxiproxy API at %s: %w", api, err)
	}
	return b, nil
}

// Close deletes the proxies this backend created, and nothing else.
func (b *external) Close(ctx context.Context) error {
	return b.deleteAll(ctx)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
