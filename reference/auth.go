package reference

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// auth requires Config.Token, when set, on every route but /healthz (and the CORS preflight,
// which cors answers before this handler: browsers never send credentials on it). The token
// comes from "Authorization: Bearer <token>" or, on every route but publish, from the query
// parameter access_token (EventSource and browser WebSockets cannot set headers; a query
// string ends up in access logs, so prefer the header where the client can set it). Missing or
// wrong: 401 with WWW-Authenticate: Bearer (RFC 6750 §3), compared in constant time.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearer(r)
		if !ok && !strings.HasPrefix(r.URL.Path, "/publish/") {
			got, ok = r.URL.Query().Get("access_token"), r.URL.Query().Has("access_token")
		}
		h := sha256.Sum256([]byte(got))
		if ok && subtle.ConstantTimeCompare(h[:], want[:]) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		s.m.authFailures.Add(1)
		if ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtconform", error="invalid_token"`)
			http.Error(w, "invalid bearer token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtconform"`)
		http.Error(w, "a bearer token is required (Authorization: Bearer <token>)", http.StatusUnauthorized)
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header (scheme
// case-insensitive).
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
