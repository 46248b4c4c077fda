// Package caddy holds the naive and recommended Caddy config templates for
// realtime endpoints (SSE, WebSocket, long-poll). proxies/proxyrun renders and
// runs them; recommended.Caddyfile.tmpl is also meant to be read and copied.
package caddy

import _ "embed" // for go:embed

// ConfigFile is the file name the rendered config is written to.
const ConfigFile = "Caddyfile"

// Naive is the text/template of what tutorials and defaults give you.
//
//go:embed naive.Caddyfile.tmpl
var Naive string

// Recommended is the text/template of what a careful operator deploys.
//
//go:embed recommended.Caddyfile.tmpl
var Recommended string
