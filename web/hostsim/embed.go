// Package hostsim owns the HubSpot host simulator: a page that plays HubSpot's
// side of the Calling Extensions SDK around the softphone (an iframe, the SYNC
// handshake, engagements, alerts, click-to-call from fake CRM records, a log of
// every message). Sources are under src/ (plain JS, bundled by web/build.mjs
// with @hubspot/calling-extensions-sdk), the built files under dist/ (committed,
// so `go build` needs no Node). What it reproduces of HubSpot, and what not, is
// in src/main.js.
//
// It is for development and tests only: cmd/gateway mounts it in development
// mode and never in production. Only cmd may import this package; of hubline
// it imports internal/staticsite only.
package hostsim

import (
	"embed"
	"net/http"

	"github.com/hubline/hubline/internal/staticsite"
)

//go:embed all:dist
var dist embed.FS

// CSP keeps the page to its own scripts and styles. frame-src is open: the
// calling settings may point the widget at any app URL, as in HubSpot.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src http: https:; object-src 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the built page. Like web.Handler it serves flat files by the
// last path element ("" → index.html), so it works under any mount prefix
// with or without StripPrefix. Only GET and HEAD are allowed; responses are
// revalidated (ETag, "Cache-Control: no-cache").
func Handler() http.Handler {
	h, err := staticsite.Handler(dist, "dist", CSP)
	if err != nil {
		panic("hostsim: " + err.Error()) // cannot happen with go:embed
	}
	return h
}
