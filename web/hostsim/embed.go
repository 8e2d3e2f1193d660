// Package hostsim owns the HubSpot host simulator: a page that plays HubSpot's
// side of the Calling Extensions SDK around the softphone (an iframe, the SYNC
// handshake, engagements, alerts, click-to-call from fake CRM records, a log of
// every message). Sources are under src/ (plain JS, bundled by web/build.mjs
// with @hubspot/calling-extensions-sdk), the built files under dist/ (committed,
// so `go build` needs no Node). What it reproduces of HubSpot, and what not, is
// in src/main.js.
//
// It is for development and tests only: cmd/gateway mounts it in development
// mode and never in production. Only cmd may import this package; it imports
// nothing of hubline.
package hostsim

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".map":  "application/json; charset=utf-8",
}

// CSP keeps the page to its own scripts and styles. frame-src is open: the
// calling settings may point the widget at any app URL, as in HubSpot.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src http: https:; object-src 'none'; base-uri 'none'; form-action 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the built page. Like web.Handler it serves flat files by the
// last path element ("" → index.html), so it works under any mount prefix
// with or without StripPrefix. Only GET and HEAD are allowed; responses are
// revalidated (ETag, "Cache-Control: no-cache").
func Handler() http.Handler {
	files := map[string]file{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			ctype = http.DetectContentType(body)
		}
		files[path.Base(p)] = file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("hostsim: reading embedded dist: " + err.Error()) // cannot happen with go:embed
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if name == "index.html" {
			h.Set("Content-Security-Policy", CSP)
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
