package sse

import (
	"net/http"
	"testing"
	"time"
)

func TestCacheable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	for _, tc := range []struct {
		cc, expires string
		want        bool
	}{
		{cc: "", want: false},
		{cc: "no-cache", want: false},
		{cc: "no-cache, no-transform", want: false},
		{cc: "no-store", want: false},
		{cc: "public, max-age=60", want: true},
		{cc: "public", want: true},
		{cc: "max-age=60", want: true},
		{cc: "s-maxage=10", want: true},
		{cc: "s-maxage=0, max-age=60", want: false}, // s-maxage wins for a shared cache
		{cc: "max-age=0", want: false},
		{cc: "public, max-age=0", want: false},
		{cc: "max-age=0, stale-while-revalidate=30", want: true},
		{cc: "private, max-age=60", want: false},
		{cc: "public, max-age=60, no-cache", want: false},
		{cc: `no-cache="Set-Cookie", max-age=60`, want: true}, // qualified no-cache
		{cc: "max-age=abc", want: false},
		{cc: "PUBLIC, Max-Age=5", want: true},
		{expires: now.Add(time.Hour).Format(http.TimeFormat), want: true},
		{expires: now.Add(-time.Hour).Format(http.TimeFormat), want: false},
		{expires: "0", want: false},
		{cc: "max-age=0", expires: now.Add(time.Hour).Format(http.TimeFormat), want: false}, // max-age wins
		{cc: "no-cache", expires: now.Add(time.Hour).Format(http.TimeFormat), want: false},
	} {
		h := http.Header{"Date": {date}}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.expires != "" {
			h.Set("Expires", tc.expires)
		}
		if got := cacheable(h, now); (got != "") != tc.want {
			t.Errorf("Cache-Control %q, Expires %q: cacheable %q, want %v", tc.cc, tc.expires, got, tc.want)
		}
	}
}
