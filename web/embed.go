// Package web owns the browser softphone that HubSpot loads in its calling iframe: the
// sources under src/ (plain JS, bundled with @hubspot/calling-extensions-sdk by
// build.mjs), the built files under dist/ (committed, so `go build` needs no Node), and
// the http.Handler that serves them.
//
// The softphone speaks docs/protocol.md with the gateway over `/ws` on the origin that
// served it. Only cmd may import this package; of hubline it imports
// internal/staticsite only.
//
// Rebuild after changing src/: `npm --prefix web ci && npm --prefix web run build`;
// `npm --prefix web run check` fails when dist/ is stale.
package web

import (
	"embed"
	"net/http"

	"github.com/hubline/hubline/internal/staticsite"
)

//go:embed all:dist
var dist embed.FS

// csp keeps the page same-origin: no inline script or style elements, no third parties.
// connect-src allows ws:/wss: so `?gateway=` can point at another gateway in development.
// Framing (frame-ancestors) is left to the gateway, which knows the allowed origins: the
// handler adds this policy next to any the gateway set, and browsers enforce both.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the built softphone. The files live flat in dist/, so the handler serves
// a request by its last path element ("" → index.html) and works whether or not the mount
// prefix is stripped: mount it as mux.Handle("/softphone/", web.Handler()). index.html uses
// relative URLs, so the page must be loaded with the trailing slash.
//
// Every response carries an ETag and "Cache-Control: no-cache" (file names are not
// content-hashed, so browsers revalidate; unchanged files cost a 304). Only GET and HEAD
// are allowed.
func Handler() http.Handler {
	h, err := staticsite.Handler(dist, "dist", csp)
	if err != nil {
		panic("web: " + err.Error()) // cannot happen with go:embed
	}
	return h
}
