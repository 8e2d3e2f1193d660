package hostsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler()
	cases := []struct{ target, ctype, contains string }{
		{"/hubspot/", "text/html; charset=utf-8", `src="hostsim.js"`},
		{"/hubspot/hostsim.js", "text/javascript; charset=utf-8", "LocalSettings:Calling:CallingExtensions"},
		{"/hubspot/hostsim.css", "text/css; charset=utf-8", ".widget"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.target, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != c.ctype || !strings.Contains(rec.Body.String(), c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.target, rec.Code, rec.Header().Get("Content-Type"), c.contains, strings.Contains(rec.Body.String(), c.contains))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hubspot/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-src") {
		t.Errorf("CSP %q", csp)
	}
	for _, target := range []string{"/hubspot/nope.js", "/hubspot/../embed.go"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/hubspot/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}
