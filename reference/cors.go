package reference

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// corsAllowHeaders are the request headers a cross-origin page may send: Last-Event-ID is not
// CORS-safelisted for every value, so an EventSource resume triggers a preflight for it.
const corsAllowHeaders = "Last-Event-ID, Cache-Control, Content-Type, Authorization"

// cors applies the origin policy to plain HTTP routes (SSE, long-poll, publish): an Origin
// whose host matches AllowedOrigins gets Access-Control-Allow-Origin naming it (never *) with
// Access-Control-Allow-Credentials: true, so withCredentials EventSources work; a CORS
// preflight (OPTIONS with Access-Control-Request-Method) is answered 204 here. Other origins
// get no CORS headers, so browsers refuse to share the response. WebSocket handshakes apply
// the same patterns (wsOriginAllowed).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := s.originAllowed(origin)
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if allowed {
				w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, POST")
				w.Header().Set("Access-Control-Allow-Headers", corsAllowHeaders)
				w.Header().Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed matches the origin's host against AllowedOrigins (path.Match patterns); the
// WebSocket handshake uses it too (wsOriginAllowed).
func (s *Server) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range s.cfg.AllowedOrigins {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}
