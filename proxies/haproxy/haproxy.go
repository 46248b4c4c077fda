// Package haproxy holds the naive and recommended HAProxy config templates for
// realtime endpoints (SSE, WebSocket, long-poll). proxies/proxyrun renders and
// runs them; recommended.cfg.tmpl is also meant to be read and copied.
package haproxy

import _ "embed" // for go:embed

// ConfigFile is the file name the rendered config is written to.
const ConfigFile = "haproxy.cfg"

// Naive is the text/template of what tutorials and defaults give you.
//
//go:embed naive.cfg.tmpl
var Naive string

// Recommended is the text/template of what a careful operator deploys.
//
//go:embed recommended.cfg.tmpl
var Recommended string
