package proxyrun

import (
	"slices"
	"strings"
	"testing"
)

// Every edge renders both templates with its time-scaled values, carries complete facts and a
// remedy for each problem its naive template causes, and names what it does not emulate.
func TestEdgeTemplatesRender(t *testing.T) {
	d, dir := renderData(t)
	want := map[string]map[string][]string{
		"cloudflare-like": {
			Naive:       {"proxy_read_timeout 4s;", "return 524"},
			Recommended: {"proxy_read_timeout 31s;"},
		},
		"fastly-like": {
			Naive:       {".first_byte_timeout = 4s;", "set beresp.do_stream = false;", "set beresp.ttl = 3600s;"},
			Recommended: {".between_bytes_timeout = 31s;", "return (pass);", "return (pipe);"},
		},
		"cloudfront-like": {
			// 5 s keep-alive scaled like the 30 s response timeout: 4 s × 5/30.
			Naive: {"proxy_read_timeout 4s;", "keepalive_timeout 666ms;", "proxy_cache_valid 200 203 300 301 410 24h;",
				"proxy_cache_key $scheme$proxy_host$uri;", "rewrite ^(.*)$ $1? break;", "proxy_pass_request_headers off;", "limit_except GET"},
			Recommended: {"proxy_read_timeout 31s;", "keepalive_timeout 666ms;", "proxy_set_header Upgrade $http_upgrade;"},
		},
		"alb-like": {
			Naive:       {"timeout client 4s", "timeout server 4s", "timeout tunnel 4s", "option http-no-delay", "timeout connect 10s"},
			Recommended: {"timeout client 31s", "timeout server 31s", "timeout tunnel 31s", "option http-no-delay"},
		},
		"heroku-like": {
			// The 30 s first-byte window beside the 55 s rolling window: 4 s × 30/55.
			Naive:       {".first_byte_timeout = 2181ms;", ".between_bytes_timeout = 4s;", "return (pipe);", "return (pass);", "H12"},
			Recommended: {".first_byte_timeout = 16909ms;", ".between_bytes_timeout = 31s;"},
		},
	}
	if got := EdgeNames(); !slices.Equal(got, []string{"cloudflare-like", "fastly-like", "cloudfront-like", "alb-like", "heroku-like"}) {
		t.Errorf("edges %v", got)
	}
	for _, e := range Edges() {
		if !strings.HasPrefix(e.Label, e.Kind+":") || !slices.Contains(Names(), e.Stock) || len(e.Emulated) == 0 || len(e.NotEmulated) == 0 {
			t.Errorf("%s: %+v", e.Name, e)
		}
		for _, v := range Variants() {
			path := dir + "/" + e.Name + "-" + v
			if err := render(specs[e.Name].templates[v], d, path); err != nil {
				t.Fatalf("%s %s: %v", e.Name, v, err)
			}
			text := readFile(t, path)
			for _, w := range want[e.Name][v] {
				if !strings.Contains(text, w) {
					t.Errorf("%s %s: rendered config lacks %q", e.Name, v, w)
				}
			}
			for _, bad := range []string{"/etc/", "/var/", "0.0.0.0", "<no value>"} {
				if strings.Contains(uncommented(text), bad) {
					t.Errorf("%s %s: rendered config contains %q", e.Name, v, bad)
				}
			}
			if v == Recommended && !strings.Contains(text, "RECOMMENDED") || v == Naive && !strings.Contains(text, "NAIVE") {
				t.Errorf("%s %s: no explaining header", e.Name, v)
			}
			if v == Naive && !strings.Contains(text, "Not emulated") {
				t.Errorf("%s naive: the header does not say what is not emulated", e.Name)
			}
		}
		if len(Facts(e.Name)) == 0 {
			t.Errorf("%s: no facts", e.Name)
		}
		for _, f := range Facts(e.Name) {
			if f.Directive == "" || f.Default == "" || f.Source == "" || f.Naive == "" || f.Recommended == "" {
				t.Errorf("%s: incomplete fact %+v", e.Name, f)
			}
		}
		if len(NaiveBreaks(e.Name)) == 0 {
			t.Errorf("%s: the naive edge breaks nothing", e.Name)
		}
		for _, p := range NaiveBreaks(e.Name) {
			if r := Remedy(e.Name, p); strings.Contains(r, "no known remedy") {
				t.Errorf("%s breaks %s but has no remedy", e.Name, p)
			}
		}
	}
	// Heroku's rolling window covers WebSockets: the naive router's pipe_timeout is Idle.
	for v, w := range map[string]string{Naive: "pipe_timeout=4", Recommended: "pipe_timeout=31"} {
		if args := strings.Join(specs["heroku-like"].run(d, v), " "); !strings.Contains(args, w) {
			t.Errorf("heroku-like %s: varnishd %s, want %s", v, args, w)
		}
	}
	if args := strings.Join(specs["fastly-like"].run(d, Naive), " "); strings.Contains(args, "pipe_timeout") {
		t.Errorf("fastly-like naive: varnishd %s sets pipe_timeout", args)
	}
}
