package sip

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/nyaruka/phonenumbers"
)

// trunkConf is a validated Trunk: what the rest of the package uses.
type trunkConf struct {
	name          string
	host          string
	port          int         // 0: the transport's default
	transport     string      // "UDP", "TCP" or "TLS"
	tls           *tls.Config // TLS only; ServerName filled in
	routes        []gosip.Uri // pre-loaded route set, each with lr
	user, pass    string
	fromDomain    string // never empty: Trunk.FromDomain or host
	callerID      CallerID
	numbers       NumberFormat
	codecs        []string // upper case
	dids          map[string]bool
	maxCalls      int
	ring          time.Duration
	inviteTimeout time.Duration // 0: the UA's
	register      Registration  // defaults filled in when Enabled
	registrar     hostPortConf  // where REGISTER goes: Registrar, else host and port
	keepalive     Keepalive     // defaults filled in when Interval > 0
	allow         []netip.Prefix
	session       sessionConf // session timers (timer.go)
	prack         bool        // reliable 18x to INVITEs that support 100rel (rel100.go)
	srtp          string      // SRTPOff, SRTPOptional or SRTPMandatory (sdes.go)
	acceptRefer   bool
	dtmfMode      DTMFMode
}

// hostPortConf is a host and an optional port (0: the transport's default).
type hostPortConf struct {
	host string
	port int
}

const (
	defaultRegisterExpires = time.Hour
	defaultRetryMin        = 2 * time.Second
	defaultRetryMax        = 5 * time.Minute
	defaultProbeTimeout    = 5 * time.Second
	defaultDownAfter       = 2
)

// addr is the trunk's address for logs: host[:port].
func (t *trunkConf) addr() string {
	if t.port == 0 {
		return t.host
	}
	return net.JoinHostPort(t.host, strconv.Itoa(t.port))
}

// nextHop is where an out-of-dialog request to the trunk goes, and on which
// transport: the first pre-loaded route, else the trunk itself.
func (t *trunkConf) nextHop() (dest, transport string) {
	if len(t.routes) > 0 {
		tp := uriTransport(t.routes[0], t.transport)
		return hostPort(t.routes[0], tp), tp
	}
	return hostPort(gosip.Uri{Host: t.host, Port: t.port}, t.transport), t.transport
}

// parseTrunk checks t and fills in its defaults.
func parseTrunk(t Trunk) (trunkConf, error) {
	tc := trunkConf{
		name:          t.Name,
		user:          t.Username,
		pass:          t.Password,
		callerID:      t.CallerID,
		numbers:       t.Numbers,
		maxCalls:      t.MaxCalls,
		ring:          t.RingTimeout,
		inviteTimeout: t.InviteTimeout,
		register:      t.Register,
		keepalive:     t.Keepalive,
		prack:         t.PRACK,
		acceptRefer:   t.AcceptRefer,
	}
	bad := func(format string, args ...any) (trunkConf, error) {
		return tc, fmt.Errorf("sip: trunk %q: %s", t.Name, fmt.Sprintf(format, args...))
	}
	hp, err := parseHostPort(t.Address)
	if err != nil {
		return bad("address: %v", err)
	}
	tc.host, tc.port = hp.host, hp.port
	if tc.dtmfMode, err = parseDTMFMode(string(t.DTMFMode)); err != nil {
		return bad("%v", err)
	}
	switch strings.ToLower(t.Transport) {
	case "", "udp":
		tc.transport = "UDP"
	case "tcp":
		tc.transport = "TCP"
	case "tls":
		tc.transport = "TLS"
	default:
		return bad("transport %q is not supported (udp, tcp or tls)", t.Transport)
	}
	if t.TLS != nil && tc.transport != "TLS" {
		return bad("TLS settings on a %s trunk", strings.ToLower(tc.transport))
	}
	if tc.transport == "TLS" {
		tc.tls = &tls.Config{}
		if t.TLS != nil {
			tc.tls = t.TLS.Clone()
		}
		if tc.tls.ServerName == "" {
			tc.tls.ServerName = tc.host
		}
		if tc.tls.MinVersion == 0 {
			tc.tls.MinVersion = tls.VersionTLS12
		}
	}
	for _, r := range t.Route {
		uri, err := parseRouteURI(r)
		if err != nil {
			return bad("route %q: %v", r, err)
		}
		tc.routes = append(tc.routes, uri)
	}
	tc.fromDomain = t.FromDomain
	if tc.fromDomain == "" {
		tc.fromDomain = tc.host
	}
	if !validHost(tc.fromDomain) {
		return bad("bad FromDomain %q", t.FromDomain)
	}
	if u := tc.callerID.FromUser; u != "" && !validUserPart(u) {
		return bad("CallerID.FromUser %q: want letters, digits and . + _ ~ - only", u)
	}
	switch tc.callerID.Privacy {
	case "", "none":
		tc.callerID.Privacy = ""
	case "id":
		tc.callerID.AssertIdentity = true
	default:
		return bad("CallerID.Privacy %q: want id or none", tc.callerID.Privacy)
	}
	if err := checkNumberFormat(&tc.numbers); err != nil {
		return bad("%v", err)
	}
	seen := map[string]bool{}
	for _, c := range t.Codecs {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c != "PCMU" && c != "PCMA" {
			return bad("codec %q: the trunk leg speaks PCMU and PCMA only", c)
		}
		if seen[c] {
			return bad("codec %s listed twice", c)
		}
		seen[c] = true
		tc.codecs = append(tc.codecs, c)
	}
	for _, d := range t.DIDs {
		if n, err := NormalizeNumber(d, ""); err != nil || n != d {
			return bad("DID %q is not an E.164 number (+ and digits)", d)
		}
		if tc.dids == nil {
			tc.dids = map[string]bool{}
		}
		tc.dids[d] = true
	}
	if tc.maxCalls < 0 {
		return bad("negative MaxCalls")
	}
	switch {
	case tc.ring < 0:
		return bad("negative RingTimeout")
	case tc.ring == 0:
		tc.ring = defaultRingTimeout
	}
	if tc.inviteTimeout < 0 {
		return bad("negative InviteTimeout")
	}
	if err := tc.checkRegister(t.Register.Registrar); err != nil {
		return bad("%v", err)
	}
	ka := &tc.keepalive
	if ka.Interval < 0 || ka.Timeout < 0 || ka.DownAfter < 0 {
		return bad("negative Keepalive setting")
	}
	if ka.Interval > 0 {
		if ka.Timeout == 0 {
			ka.Timeout = min(ka.Interval, defaultProbeTimeout)
		}
		if ka.DownAfter == 0 {
			ka.DownAfter = defaultDownAfter
		}
	}
	for _, p := range t.InboundAllow {
		if !p.IsValid() {
			return bad("InboundAllow has an invalid prefix")
		}
		tc.allow = append(tc.allow, p.Masked())
	}
	if tc.srtp, err = parseSRTPMode(t.SRTP, tc.transport); err != nil {
		return bad("%v", err)
	}
	// The UA checks Min-SE against its floor (Options.SessionTimerFloor).
	if tc.session, err = sessionConfOf(t, time.Second); err != nil {
		return bad("%v", err)
	}
	return tc, nil
}

func (tc *trunkConf) checkRegister(registrar string) error {
	r := &tc.register
	tc.registrar = hostPortConf{tc.host, tc.port}
	if !r.Enabled {
		return nil
	}
	if tc.user == "" {
		return fmt.Errorf("registration needs a Username (the AOR's user part)")
	}
	if !validUserPart(tc.user) {
		return fmt.Errorf("the Username %q cannot be a SIP user part", tc.user)
	}
	if registrar != "" {
		hp, err := parseHostPort(registrar)
		if err != nil {
			return fmt.Errorf("Register.Registrar: %v", err)
		}
		tc.registrar = hp
	}
	switch {
	case r.Expires < 0:
		return fmt.Errorf("negative Register.Expires")
	case r.Expires == 0:
		r.Expires = defaultRegisterExpires
	case r.Expires < time.Second:
		r.Expires = time.Second
	}
	if r.RetryMin < 0 || r.RetryMax < 0 {
		return fmt.Errorf("negative Register retry bound")
	}
	if r.RetryMin == 0 {
		r.RetryMin = defaultRetryMin
	}
	if r.RetryMax == 0 {
		r.RetryMax = max(defaultRetryMax, r.RetryMin)
	}
	if r.RetryMax < r.RetryMin {
		return fmt.Errorf("Register.RetryMax is below RetryMin")
	}
	return nil
}

// parseHostPort reads "host", "host:port", "[v6]" or "[v6]:port".
func parseHostPort(s string) (hostPortConf, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return hostPortConf{}, fmt.Errorf("empty")
	}
	var hp hostPortConf
	if h, p, err := net.SplitHostPort(s); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return hp, fmt.Errorf("bad port in %q", s)
		}
		hp.host, hp.port = h, port
	} else {
		hp.host = strings.Trim(s, "[]")
	}
	if !validHost(hp.host) {
		return hp, fmt.Errorf("bad host in %q", s)
	}
	return hp, nil
}

// validHost accepts a host name or an IP literal: no characters that would
// break a URI or a header.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Zone() == ""
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// validUserPart accepts a conservative SIP URI user part.
func validUserPart(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".+_~-", c) >= 0) {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// parseRouteURI reads a route-set entry: a SIP URI ("sip:proxy.example;lr")
// or a bare "host[:port]". It must name a host; lr is added.
func parseRouteURI(s string) (gosip.Uri, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "sips:") {
		return gosip.Uri{}, fmt.Errorf("sips: routes are not supported; use sip: with transport=tls")
	}
	if !strings.HasPrefix(lower, "sip:") {
		hp, err := parseHostPort(s)
		if err != nil {
			return gosip.Uri{}, err
		}
		return gosip.Uri{Scheme: "sip", Host: hp.host, Port: hp.port, UriParams: gosip.HeaderParams{{K: "lr", V: ""}}}, nil
	}
	if strings.ContainsAny(s, "?<>\" \t\r\n") {
		return gosip.Uri{}, fmt.Errorf("headers, spaces and quotes are not allowed in a route")
	}
	var uri gosip.Uri
	if err := gosip.ParseUri(s, &uri); err != nil {
		return uri, err
	}
	for _, kv := range uri.UriParams {
		if !isToken(kv.K) || (kv.V != "" && !isToken(kv.V)) {
			return uri, fmt.Errorf("bad parameter %q", kv.K)
		}
	}
	uri.Host = strings.Trim(uri.Host, "[]")
	if !validHost(uri.Host) {
		return uri, fmt.Errorf("bad host")
	}
	if uri.Port < 0 || uri.Port > 65535 {
		return uri, fmt.Errorf("bad port")
	}
	if tp, ok := uri.UriParams.Get("transport"); ok {
		switch strings.ToLower(tp) {
		case "udp", "tcp", "tls":
		default:
			return uri, fmt.Errorf("transport %q is not supported", tp)
		}
	}
	if uri.UriParams == nil {
		uri.UriParams = gosip.NewParams()
	}
	if !uri.UriParams.Has("lr") {
		uri.UriParams.Add("lr", "")
	}
	uri.Headers = nil
	return uri, nil
}

// checkNumberFormat validates f and normalises its fields.
func checkNumberFormat(f *NumberFormat) error {
	f.Style = strings.ToLower(strings.TrimSpace(f.Style))
	f.Region = strings.ToUpper(strings.TrimSpace(f.Region))
	switch f.Style {
	case "":
		f.Style = "e164"
	case "e164", "e164-noplus":
	case "national":
		if f.Region == "" {
			return fmt.Errorf("number style national needs a Region")
		}
	default:
		return fmt.Errorf("number style %q: want e164, e164-noplus or national", f.Style)
	}
	if f.Region != "" && phonenumbers.GetCountryCodeForRegion(f.Region) == 0 {
		return fmt.Errorf("unknown number region %q", f.Region)
	}
	if len(f.DialPrefix) > 16 || strings.Trim(f.DialPrefix, "0123456789*#") != "" {
		return fmt.Errorf("dial prefix %q: want up to 16 of 0-9 * #", f.DialPrefix)
	}
	return nil
}

// CheckTrunk reports what is wrong with t, as NewUA and Dial would.
func CheckTrunk(t Trunk) error {
	if _, err := parseTrunk(t); err != nil {
		return err
	}
	if _, err := sessionConfOf(t, defaultMinSE); err != nil {
		return fmt.Errorf("sip: trunk %q: %w", t.Name, err)
	}
	return nil
}
