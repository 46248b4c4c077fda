package front_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtconform/rtconform/proxies/front"
)

// origin serves /sse (one event at once, then holds the stream; ?xab=no adds
// X-Accel-Buffering: no) and /up (101 only when the request asks for an upgrade).
func origin(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			if r.URL.Query().Get("xab") == "no" {
				w.Header().Set("X-Accel-Buffering", "no")
			}
			_, _ = w.Write([]byte("data: hello\n\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/up":
			if r.Header.Get("Upgrade") == "" {
				http.Error(w, "upgrade required", http.StatusUpgradeRequired)
				return
			}
			w.Header().Set("Upgrade", "test")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func start(t *testing.T, m front.Mode) *front.Front {
	f, err := front.Start(origin(t), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// firstLine reports whether the stream's first line arrives within d.
func firstLine(t *testing.T, url string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	return err == nil && line == "data: hello\n"
}

func TestBuffering(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode  front.Mode
		query string
		want  bool
	}{
		{front.Pass, "", true},
		{front.BufferStreams, "", false},
		{front.BufferStreams, "?xab=no", true}, // nginx honours X-Accel-Buffering: no
		{front.BufferAlways, "?xab=no", false},
	} {
		f := start(t, c.mode)
		if got := firstLine(t, f.URL()+"/sse"+c.query, time.Second); got != c.want {
			t.Errorf("%s%s: event delivered %v, want %v", c.mode, c.query, got, c.want)
		}
	}
}

func upgrade(url string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, url+"/up", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "test")
	return http.DefaultClient.Do(req)
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	f := start(t, front.Pass)
	resp, err := upgrade(f.URL())
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("pass: %v %v, want 101", resp, err)
	}
	_ = resp.Body.Close()
	f.SetMode(front.StripUpgrade)
	resp, err = upgrade(f.URL())
	if err != nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("strip: %v %v, want the origin's 426", resp, err)
	}
	_ = resp.Body.Close()
	f.SetMode(front.ResetUpgrade)
	if resp, err = upgrade(f.URL()); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("reset: status %d, want a reset connection", resp.StatusCode)
	}
	if m := (front.StripUpgrade | front.BufferAlways).String(); m != "strip-upgrade+buffer-always" {
		t.Errorf("mode string %q", m)
	}
}

func TestBadUpstream(t *testing.T) {
	if _, err := front.Start("not a url", front.Pass); err == nil || !strings.Contains(err.Error(), "upstream") {
		t.Errorf("err %v, want one naming the upstream", err)
	}
}
