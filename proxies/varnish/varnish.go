// Package varnish holds the naive and recommended Varnish VCL templates for
// realtime endpoints (SSE, WebSocket, long-poll). proxies/proxyrun renders and
// runs them; recommended.vcl.tmpl is also meant to be read and copied.
package varnish

import _ "embed" // for go:embed

// ConfigFile is the file name the rendered config is written to.
const ConfigFile = "default.vcl"

// Naive is the text/template of what tutorials and defaults give you.
//
//go:embed naive.vcl.tmpl
var Naive string

// Recommended is the text/template of what a careful operator deploys.
//
//go:embed recommended.vcl.tmpl
var Recommended string
