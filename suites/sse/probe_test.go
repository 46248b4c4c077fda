package sse

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
)

// bufferingProxy forwards every request to upstream and sends the response head at once, but
// holds the body in a 64 KiB buffer it writes only when full or at the end: a proxy with
// response buffering on. With cut > 0 it also ends every stream after cut (an idle limit),
// writing what it held unless drop.
func bufferingProxy(t *testing.T, upstream string, cut time.Duration, drop bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if cut > 0 && r.Method == http.MethodGet {
			c, cancel := context.WithTimeout(ctx, cut)
			defer cancel()
			ctx = c
		}
		req, _ := http.NewRequestWithContext(ctx, r.Method, upstream+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.(http.Flusher).Flush()
		bw := bufio.NewWriterSize(w, 64<<10)
		_, _ = io.Copy(struct{ io.Writer }{bw}, resp.Body) // no ReadFrom: it really buffers
		if !drop || ctx.Err() == nil {
			_ = bw.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestProbeDeliversThroughACorrectPath(t *testing.T) {
	// Without a publish hook the probe judges the status only, and passes.
	fwtest.ProbePassesCorrectPaths(t, probe, fw.CapSSE)
}

func TestProbeNamesBuffering(t *testing.T) {
	base := bufferingProxy(t, fwtest.Reference(t, reference.Config{}), 0, false)
	start := time.Now()
	c := probe(context.Background(), fwtest.DeploymentRun(base))
	if c == nil {
		t.Fatal("no cause through a buffering proxy")
	}
	if c.Key != "buffering:sse" || !strings.Contains(c.Text, "not delivered within 5s") || !strings.Contains(c.Text, base) {
		t.Errorf("cause %+v, want buffering:sse naming the URL and the bound", *c)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the probe took %s", d)
	}
	// Without a publish hook buffering cannot be seen, and the probe blocks nothing.
	if c := probe(context.Background(), fwtest.DeploymentRun(base, fw.CapSSE)); c != nil {
		t.Errorf("without publish: cause %+v, want none", *c)
	}
}

func TestProbeNamesBadGateway(t *testing.T) {
	base := fwtest.BadGatewayProxy(t) // the upstream is unreachable: the proxy answers 502
	for _, caps := range [][]fw.Capability{nil, {fw.CapSSE}} {
		c := probe(context.Background(), fwtest.DeploymentRun(base, caps...))
		if c == nil || c.Key != "bad-gateway:sse" || !strings.Contains(c.Text, "502") {
			t.Errorf("capabilities %v: cause %+v, want bad-gateway:sse with the status", caps, c)
		}
	}
}

func TestProbeNamesBufferingReleasedByACut(t *testing.T) {
	ref := fwtest.Reference(t, reference.Config{})
	for _, tc := range []struct {
		drop bool
		want string
	}{
		// The held event comes within the probe's bound, but only because the path's idle
		// limit ended the stream and the buffer went out with it.
		{want: "arrived only when the stream was closed"},
		// The cut loses what was held (nginx with an HTTP/1.0 upstream, cut by its timeout).
		{drop: true, want: "never arrived"},
	} {
		base := bufferingProxy(t, ref, 3*time.Second, tc.drop)
		c := probe(context.Background(), fwtest.DeploymentRun(base))
		if c == nil || c.Key != "buffering:sse" || !strings.Contains(c.Text, tc.want) {
			t.Errorf("drop %v: cause %+v, want buffering:sse (%s)", tc.drop, c, tc.want)
		}
	}
}
