package proxyrun

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/rtconform/rtconform/proxies/apache"
	"github.com/rtconform/rtconform/proxies/caddy"
	"github.com/rtconform/rtconform/proxies/haproxy"
	"github.com/rtconform/rtconform/proxies/nginx"
	"github.com/rtconform/rtconform/proxies/varnish"
)

// data is what the config templates are rendered with. Durations are whole seconds.
type data struct {
	Upstream     string // host:port
	UpstreamHost string
	UpstreamPort string
	Listen       string // 127.0.0.1:port
	Host         string // 127.0.0.1
	Port         int
	Dir          string // the private instance directory (absolute)
	Idle         int    // short idle timeout (naive configs; keep-alive in recommended)
	StreamIdle   int    // stream/tunnel/long-poll idle timeout (recommended configs)
	Heartbeat    int    // the target's heartbeat, for the comments
	Root         bool   // running as root
	User, Group  string // the current user and its primary group
	RunUser      string // httpd's worker user when started as root (it refuses to serve as root)
	RunGroup     string
	Modules      string // httpd's module directory
	// TLS: listen with TLS and HTTP/2 (Options.TLS), with the certificate chain Cert and
	// the key Key (CertKey: both in one file, for HAProxy). HTTP2On: the nginx here takes `http2 on;` (1.25.1 and later) rather
	// than the `http2` parameter of `listen` (deprecated there).
	TLS       bool
	Cert, Key string
	CertKey   string
	HTTP2On   bool
	// Inner is where a proxy behind a TLS terminator listens (spec.tlsFront), with the PROXY
	// protocol; "" otherwise.
	Inner string
}

func newData(o Options, dir string, port int) (*data, error) {
	host, uport, err := net.SplitHostPort(o.Upstream)
	if err != nil {
		return nil, err
	}
	d := &data{
		Upstream: o.Upstream, UpstreamHost: host, UpstreamPort: uport,
		Host: "127.0.0.1", Port: port, Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:  dir,
		Idle: seconds(o.Idle), StreamIdle: seconds(o.StreamIdle), Heartbeat: seconds(o.Heartbeat),
		Root:    os.Geteuid() == 0,
		Modules: apacheModules(),
	}
	d.User, d.Group = currentUser()
	d.RunUser, d.RunGroup = d.User, d.Group
	if d.Root {
		d.RunUser, d.RunGroup = unprivilegedUser()
	}
	return d, nil
}

func currentUser() (string, string) {
	u, err := user.Current()
	if err != nil {
		return strconv.Itoa(os.Geteuid()), strconv.Itoa(os.Getegid())
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return u.Username, u.Gid
	}
	return u.Username, g.Name
}

// unprivilegedUser picks the user httpd's workers run as when started as root.
func unprivilegedUser() (string, string) {
	for _, name := range []string{"www-data", "daemon", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			return u.Username, g.Name
		}
		return u.Username, "#" + u.Gid
	}
	return "#65534", "#65534"
}

// templateFuncs are available to every template. scale turns whole seconds into
// milliseconds scaled by num/den: `{{scale .Idle 30 55}}ms` is the Idle stand-in of a 55 s
// limit scaled down to what a 30 s limit of the same vendor becomes (heroku-like's first-byte
// window beside its rolling window).
var templateFuncs = template.FuncMap{
	"scale": func(sec, num, den int) int { return sec * 1000 * num / den },
}

func render(tmpl string, d *data, path string) error {
	t, err := template.New(filepath.Base(path)).Option("missingkey=error").Funcs(templateFuncs).Parse(tmpl)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// spec says how to find, check and run one proxy.
type spec struct {
	name      string
	pkg       string   // Debian package
	bins      []string // binary names, first found wins
	config    string   // rendered config file name
	templates map[string]string
	version   []string
	validate  func(d *data) []string
	run       func(d *data, variant string) []string
	env       func(d *data) []string
	check     func() error // extra requirements
	// tlsFront: the proxy has no TLS of its own; with Options.TLS it listens on data.Inner
	// with the PROXY protocol behind a TLS terminator (hitch) on the public port.
	tlsFront bool
}

// sbinDirs are searched after PATH: unprivileged users often lack /usr/sbin in PATH.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"}

func (s *spec) binary() (string, error) {
	for _, b := range s.bins {
		if p, err := exec.LookPath(b); err == nil {
			return p, nil
		}
		for _, dir := range sbinDirs {
			p := filepath.Join(dir, b)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found: apt-get install -y %s", s.name, s.pkg)
}

func noEnv(*data) []string { return nil }

var specs = map[string]*spec{
	"nginx": {
		name: "nginx", pkg: "nginx", bins: []string{"nginx"}, config: nginx.ConfigFile,
		templates: map[string]string{Naive: nginx.Naive, Recommended: nginx.Recommended},
		version:   []string{"-v"},
		validate: func(d *data) []string {
			return []string{"-t", "-p", d.Dir + "/", "-e", d.Dir + "/error.log", "-c", d.Dir + "/" + nginx.ConfigFile}
		},
		run: func(d *data, _ string) []string {
			return []string{"-p", d.Dir + "/", "-e", d.Dir + "/error.log", "-c", d.Dir + "/" + nginx.ConfigFile, "-g", "daemon off;"}
		},
		env: noEnv,
	},
	"haproxy": {
		name: "haproxy", pkg: "haproxy", bins: []string{"haproxy"}, config: haproxy.ConfigFile,
		templates: map[string]string{Naive: haproxy.Naive, Recommended: haproxy.Recommended},
		version:   []string{"-v"},
		validate:  func(d *data) []string { return []string{"-c", "-f", d.Dir + "/" + haproxy.ConfigFile} },
		run:       func(d *data, _ string) []string { return []string{"-db", "-f", d.Dir + "/" + haproxy.ConfigFile} },
		env:       noEnv,
	},
	"varnish": {
		name: "varnish", pkg: "varnish", bins: []string{"varnishd"}, config: varnish.ConfigFile, tlsFront: true,
		templates: map[string]string{Naive: varnish.Naive, Recommended: varnish.Recommended},
		version:   []string{"-V"},
		validate: func(d *data) []string {
			return []string{"-C", "-j", "none", "-n", d.Dir + "/varnish-check", "-f", d.Dir + "/" + varnish.ConfigFile}
		},
		run: func(d *data, variant string) []string {
			// -j none: no privilege separation, everything runs as the current user.
			// -T none -S none: no management CLI listener.
			listen := d.Listen
			if d.Inner != "" { // behind hitch: PROXY protocol v2, and HTTP/2 as hitch's ALPN negotiated
				listen = d.Inner + ",PROXY"
			}
			args := []string{"-F", "-j", "none", "-T", "none", "-S", "none",
				"-n", d.Dir + "/varnish", "-a", listen, "-f", d.Dir + "/" + varnish.ConfigFile,
				"-s", "malloc,64m"}
			if d.Inner != "" {
				args = append(args, "-p", "feature=+http2")
			}
			if variant == Recommended {
				// pipe_timeout is a parameter, not a VCL variable: see recommended.vcl.tmpl.
				args = append(args, "-p", "pipe_timeout="+itoa(d.StreamIdle))
			}
			return args
		},
		env: noEnv,
		check: func() error {
			if _, err := exec.LookPath("cc"); err != nil {
				return fmt.Errorf("varnish needs a C compiler (cc) to compile VCL: apt-get install -y gcc")
			}
			return nil
		},
	},
	"apache": {
		name: "apache", pkg: "apache2", bins: []string{"apache2", "httpd"}, config: apache.ConfigFile,
		templates: map[string]string{Naive: apache.Naive, Recommended: apache.Recommended},
		version:   []string{"-v"},
		validate: func(d *data) []string {
			return []string{"-t", "-d", d.Dir, "-f", d.Dir + "/" + apache.ConfigFile}
		},
		run: func(d *data, _ string) []string {
			return []string{"-DFOREGROUND", "-d", d.Dir, "-f", d.Dir + "/" + apache.ConfigFile}
		},
		env: noEnv,
		check: func() error {
			dir := apacheModules()
			for _, m := range []string{"mod_mpm_event.so", "mod_proxy.so", "mod_proxy_http.so", "mod_proxy_wstunnel.so"} {
				if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
					return fmt.Errorf("apache module %s not found in %s: apt-get install -y apache2", m, dir)
				}
			}
			return nil
		},
	},
	"caddy": {
		name: "caddy", pkg: "caddy", bins: []string{"caddy"}, config: caddy.ConfigFile,
		templates: map[string]string{Naive: caddy.Naive, Recommended: caddy.Recommended},
		version:   []string{"version"},
		validate: func(d *data) []string {
			return []string{"validate", "--config", d.Dir + "/" + caddy.ConfigFile, "--adapter", "caddyfile"}
		},
		run: func(d *data, _ string) []string {
			return []string{"run", "--config", d.Dir + "/" + caddy.ConfigFile, "--adapter", "caddyfile"}
		},
		// Caddy keeps autosave.json and its data under HOME/XDG dirs: keep them private.
		env: func(d *data) []string {
			return []string{"HOME=" + d.Dir + "/home", "XDG_DATA_HOME=" + d.Dir + "/data", "XDG_CONFIG_HOME=" + d.Dir + "/home"}
		},
	},
}

// apacheModules returns the first httpd module directory that exists (Debian's first).
func apacheModules() string {
	dirs := []string{"/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules", "/usr/libexec/apache2"}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "mod_proxy.so")); err == nil {
			return d
		}
	}
	return dirs[0]
}
