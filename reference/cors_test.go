package reference

import (
	"net/http"
	"testing"
)

func TestCORS(t *testing.T) {
	srv := New(Config{Addr: "127.0.0.1:0", AllowedOrigins: []string{"app.example"}})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	do := func(method, origin string, h ...string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL()+"/poll/t?cursor=x-0", nil)
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	pre := do(http.MethodOptions, "https://app.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "last-event-id")
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		pre.Header.Get("Access-Control-Allow-Headers") != corsAllowHeaders {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	get := do(http.MethodGet, "https://app.example")
	if get.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || get.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed GET: %v", get.Header)
	}
	foreign := do(http.MethodGet, "https://evil.example")
	if v := foreign.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("foreign origin got Access-Control-Allow-Origin %q", v)
	}
}
