// Package nginx holds the naive and recommended nginx config templates for
// realtime endpoints (SSE, WebSocket, long-poll). proxies/proxyrun renders and
// runs them; recommended.conf.tmpl is also meant to be read and copied.
package nginx

import _ "embed" // for go:embed

// ConfigFile is the file name the rendered config is written to.
const ConfigFile = "nginx.conf"

// Naive is the text/template of what tutorials and defaults give you.
//
//go:embed naive.conf.tmpl
var Naive string

// Recommended is the text/template of what a careful operator deploys.
//
//go:embed recommended.conf.tmpl
var Recommended string
