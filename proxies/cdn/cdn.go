// Package cdn holds the templates of the CDN-like edge cells: a stock proxy (nginx, HAProxy
// or Varnish) configured to reproduce a CDN's documented default behaviour (naive) and the
// settings that fix realtime traffic behind it (recommended). proxies/proxyrun renders and
// runs them like the proxies' own templates; every fact is cited in proxies/README.md and
// shared/notes/proxy-facts.md. Times are scaled like the proxy matrix: {{.Idle}} stands for
// the CDN's real timeout.
//
// The edges speak HTTP/1.1 to the client on plain TCP unless the runner asks for TLS and
// HTTP/2 (proxyrun Options.TLS, issue 18 part 2): so far only the cloudflare-like templates
// render a TLS listener for it (`{{if .TLS}}`); the others have one `listen` / `bind` / `-a`
// line a TLS variant can replace.
package cdn

import _ "embed" // for go:embed

// Config file names (the same as the stock proxy's, so proxyrun's nginx, HAProxy and
// Varnish command lines apply unchanged).
const (
	NginxConfigFile   = "nginx.conf"
	VarnishConfigFile = "default.vcl"
	HAProxyConfigFile = "haproxy.cfg"
)

// CloudflareNaive and CloudflareRecommended: nginx as a Cloudflare-like edge.
//
//go:embed cloudflare-like.naive.conf.tmpl
var CloudflareNaive string

//go:embed cloudflare-like.recommended.conf.tmpl
var CloudflareRecommended string

// FastlyNaive and FastlyRecommended: Varnish as a Fastly-like edge.
//
//go:embed fastly-like.naive.vcl.tmpl
var FastlyNaive string

//go:embed fastly-like.recommended.vcl.tmpl
var FastlyRecommended string

// CloudFrontNaive and CloudFrontRecommended: nginx as a CloudFront-like edge.
//
//go:embed cloudfront-like.naive.conf.tmpl
var CloudFrontNaive string

//go:embed cloudfront-like.recommended.conf.tmpl
var CloudFrontRecommended string

// ALBNaive and ALBRecommended: HAProxy as an AWS ALB-like load balancer.
//
//go:embed alb-like.naive.cfg.tmpl
var ALBNaive string

//go:embed alb-like.recommended.cfg.tmpl
var ALBRecommended string

// HerokuNaive and HerokuRecommended: Varnish as a Heroku-like router.
//
//go:embed heroku-like.naive.vcl.tmpl
var HerokuNaive string

//go:embed heroku-like.recommended.vcl.tmpl
var HerokuRecommended string
