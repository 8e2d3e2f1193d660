package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEmbedded(t *testing.T) {
	for _, name := range []string{"dist/index.html", "dist/softphone.js", "dist/softphone.css"} {
		b, err := dist.ReadFile(name)
		if err != nil {
			t.Fatalf("%s not embedded: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	cases := []struct {
		target, ctype, contains string
	}{
		{"/softphone/", "text/html; charset=utf-8", `src="softphone.js"`},
		{"/softphone/index.html", "text/html; charset=utf-8", `href="softphone.css"`},
		{"/", "text/html; charset=utf-8", "<title>hubline softphone</title>"},
		{"/softphone/softphone.js", "text/javascript; charset=utf-8", "hubline"},
		{"/softphone.css", "text/css; charset=utf-8", ".btn-hangup"},
	}
	for _, c := range cases {
		rec := get(t, h, c.target, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", c.target, rec.Code)
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.target, got, c.ctype)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", c.target, got)
		}
		if !strings.Contains(rec.Body.String(), c.contains) {
			t.Errorf("GET %s: body lacks %q", c.target, c.contains)
		}
	}
	if csp := get(t, h, "/softphone/", nil).Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("index.html CSP = %q", csp)
	}
}

func TestHandlerNotFoundAndMethods(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/softphone/nope.js", "/softphone/../embed.go", "/softphone/dist/"} {
		rec := get(t, h, target, nil)
		if target == "/softphone/dist/" {
			// A trailing slash means the index, whatever the prefix.
			if rec.Code != http.StatusOK {
				t.Errorf("GET %s: status %d", target, rec.Code)
			}
			continue
		}
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/softphone/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	first := get(t, h, "/softphone/softphone.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := get(t, h, "/softphone/softphone.js", map[string]string{"If-None-Match": etag})
	if again.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", again.Code)
	}
}
