package longpoll

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference"
	fw "github.com/rtconform/rtconform/suites/framework"
	"github.com/rtconform/rtconform/suites/framework/fwtest"
)

func TestProbeAnswersThroughACorrectPath(t *testing.T) {
	// Without publish the poll is held (25 s) past the probe's watch: no cause.
	fwtest.ProbePassesCorrectPaths(t, probe, fw.CapLongPoll)
}

func TestProbeNamesBadGateway(t *testing.T) {
	base := fwtest.BadGatewayProxy(t) // the upstream is unreachable: the proxy answers 502
	for _, caps := range [][]fw.Capability{nil, {fw.CapLongPoll}} {
		c := probe(context.Background(), fwtest.DeploymentRun(base, caps...))
		if c == nil || c.Key != "bad-gateway:longpoll" || !strings.Contains(c.Text, "status 502") {
			t.Errorf("capabilities %v: cause %+v, want bad-gateway:longpoll with the status", caps, c)
		}
	}
}

func TestProbeNamesAHeldAnswer(t *testing.T) {
	ref := fwtest.Reference(t, reference.Config{})
	u, _ := url.Parse(ref)
	// A path that holds the origin's answer to a poll until 8 s after the request (a
	// buffering filter, a coalescing cache), and passes everything else at once.
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/poll/") {
			rp.ServeHTTP(w, r)
			return
		}
		held := time.After(8 * time.Second)
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(proxy.Close)
	start := time.Now()
	c := probe(context.Background(), fwtest.DeploymentRun(proxy.URL))
	if c == nil || c.Key != "buffering:longpoll" || !strings.Contains(c.Text, "not answered within 5s") {
		t.Fatalf("cause %+v, want buffering:longpoll", c)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the probe took %s", d)
	}
}
