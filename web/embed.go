// Package web owns the browser softphone that HubSpot loads in its calling iframe: the
// sources under src/ (plain JS, bundled with @hubspot/calling-extensions-sdk by
// build.mjs), the built files under dist/ (committed, so `go build` needs no Node), and
// the http.Handler that serves them.
//
// The softphone speaks docs/protocol.md with the gateway over `/ws` on the origin that
// served it. Only cmd may import this package; it imports nothing of hubline.
//
// Rebuild after changing src/: `npm --prefix web ci && npm --prefix web run build`;
// `npm --prefix web run check` fails when dist/ is stale.
package web

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

// contentTypes are set explicitly so serving does not depend on the host's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".map":  "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// csp keeps the page same-origin: no inline script or style elements, no third parties.
// connect-src allows ws:/wss: so `?gateway=` can point at another gateway in development.
// Framing (frame-ancestors) is left to the gateway, which knows the allowed origins: the
// handler adds this policy next to any the gateway set, and browsers enforce both.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the built softphone. The files live flat in dist/, so the handler serves
// a request by its last path element ("" → index.html) and works whether or not the mount
// prefix is stripped: mount it as mux.Handle("/softphone/", web.Handler()). index.html uses
// relative URLs, so the page must be loaded with the trailing slash.
//
// Every response carries an ETag and "Cache-Control: no-cache" (file names are not
// content-hashed, so browsers revalidate; unchanged files cost a 304). Only GET and HEAD
// are allowed.
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
		panic("web: reading embedded dist: " + err.Error()) // cannot happen with go:embed
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
			h.Add("Content-Security-Policy", csp) // Add: the gateway's own policy (frame-ancestors) stays in force
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
