// Package staticsite serves a built web page embedded in the binary: the
// softphone (web) and the host simulator (web/hostsim). It imports nothing of
// hubline.
package staticsite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// contentTypes are set explicitly so serving does not depend on the host's
// MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".map":  "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the files of fsys under dir, which live flat there: a
// request is served by its last path element ("" → index.html), so the
// handler works under any mount prefix, with or without StripPrefix.
// index.html is served with csp added to any Content-Security-Policy the
// caller set (browsers enforce both) and a strict Referrer-Policy.
//
// Every response carries an ETag and "Cache-Control: no-cache" (file names
// are not content-hashed, so browsers revalidate; unchanged files cost a
// 304) and "X-Content-Type-Options: nosniff". Only GET and HEAD are allowed.
// It fails only when fsys cannot be read.
func Handler(fsys fs.FS, dir, csp string) (http.Handler, error) {
	files := map[string]file{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
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
		return nil, fmt.Errorf("staticsite: read %s: %w", dir, err)
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
			h.Add("Content-Security-Policy", csp)
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	}), nil
}
