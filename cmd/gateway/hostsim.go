package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"

	"github.com/hubline/hubline/web/hostsim"
)

// The HubSpot host simulator (web/hostsim), mounted by routes in development
// mode only: a production gateway answers 404 under hostSimPath.
//
// Origins. HubSpot's page (https://app.hubspot.com) and the softphone (the
// gateway's origin) are different sites, and the SDK and the simulator check
// origins both ways. To exercise that locally the simulator runs on the
// other loopback name than the softphone, on the same port: opened at
// http://localhost:PORT/hubspot/ it embeds http://127.0.0.1:PORT/softphone/,
// and the other way round. Opened under any other host name it embeds the
// softphone from its own origin (the checks then pass trivially).

const hostSimPath = "/hubspot/"

// hostSimFrameAncestors are added to the softphone's frame-ancestors in
// development mode, so the simulator can embed it from either loopback name
// whatever port the gateway listens on.
const hostSimFrameAncestors = "http://localhost:* http://127.0.0.1:*"

// mountHostSim serves the simulator and its calling settings on mux and
// returns the frame-ancestors sources it needs.
func mountHostSim(mux *http.ServeMux) string {
	mux.HandleFunc("GET "+hostSimPath+"settings.json", serveHostSimSettings)
	mux.Handle(hostSimPath, hostsim.Handler())
	return hostSimFrameAncestors
}

// hostSimSettings is the app's calling settings as HubSpot's settings API
// returns them (POST/GET /crm/v3/extensions/calling/{appId}/settings). The
// simulator merges the localStorage override
// "LocalSettings:Calling:CallingExtensions" over it, as HubSpot does.
type hostSimSettings struct {
	Name                   string `json:"name"`
	URL                    string `json:"url"`
	Width                  int    `json:"width"`
	Height                 int    `json:"height"`
	IsReady                bool   `json:"isReady"`
	SupportsCustomObjects  bool   `json:"supportsCustomObjects"`
	SupportsInboundCalling bool   `json:"supportsInboundCalling"`
	UsesCallingWindow      bool   `json:"usesCallingWindow"`
	UsesRemote             bool   `json:"usesRemote"`
}

func serveHostSimSettings(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	s := hostSimSettings{
		Name:   "hubline",
		URL:    scheme + "://" + otherLoopback(r.Host) + "/softphone/",
		Width:  400,
		Height: 600,
		// hubline keeps the call's media in the widget by default; it
		// also runs as the calling remote and window (inbound calls),
		// which the localStorage override turns on (usesRemote,
		// usesCallingWindow).
		IsReady:                true,
		SupportsInboundCalling: true,
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s)
}

// otherLoopback swaps localhost and 127.0.0.1 in a host[:port]; other hosts
// are returned unchanged.
func otherLoopback(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	switch host {
	case "localhost":
		host = "127.0.0.1"
	case "127.0.0.1":
		host = "localhost"
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// hostSimURL is the simulator's URL for a gateway whose softphone is at base
// (http.publicURL, or http://<listen address>): on the other loopback name.
func hostSimURL(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return base + hostSimPath
	}
	u.Host = otherLoopback(u.Host)
	u.Path = hostSimPath
	return u.String()
}
