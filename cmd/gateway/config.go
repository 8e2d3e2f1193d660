package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hubline/hubline/sip"
)

// Config is the gateway's YAML configuration. configs/example.yaml documents
// every field; configs/local.yaml is the embedded local default.
type Config struct {
	// Mode is "development" (console logs, host simulator, demo trunk
	// allowed) or "production" (JSON logs, neither).
	Mode            string        `yaml:"mode"`
	HTTP            HTTPConfig    `yaml:"http"`
	Log             LogConfig     `yaml:"log"`
	Auth            AuthConfig    `yaml:"auth"`
	Calls           CallsConfig   `yaml:"calls"`
	SIP             SIPConfig     `yaml:"sip"`
	Trunks          []TrunkConfig `yaml:"trunks"` // in order of preference (failover order)
	Trunk           TrunkConfig   `yaml:"trunk"`  // shorthand for trunks: [one]; validate moves it there
	DemoTrunk       DemoConfig    `yaml:"demoTrunk"`
	Media           MediaConfig   `yaml:"media"`
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// Routing routes inbound calls by DID (routing.go); HubSpot is the
	// API owner-aware routing asks for records' owners.
	Routing RoutingConfig `yaml:"routing"`
	HubSpot HubSpotConfig `yaml:"hubspot"`
}

type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// PublicURL is where reps reach the gateway (https in production).
	PublicURL string `yaml:"publicURL"`
}

type LogConfig struct {
	Format string `yaml:"format"` // console | json; default by mode
	Level  string `yaml:"level"`  // debug | info | warn | error
}

type AuthConfig struct {
	SessionTTL     time.Duration `yaml:"sessionTTL"`
	AllowedOrigins []string      `yaml:"allowedOrigins"`
	Users          []UserConfig  `yaml:"users"`
}

type UserConfig struct {
	Username     string `yaml:"username"`
	DisplayName  string `yaml:"displayName"`
	PasswordHash string `yaml:"passwordHash"`
	FromNumber   string `yaml:"fromNumber"`
	// HubSpotOwnerID maps the rep to a HubSpot owner, for owner-aware
	// routing. Default: learnt from the ownerId HubSpot gives the rep's
	// softphone.
	HubSpotOwnerID string `yaml:"hubspotOwnerId"`
}

type CallsConfig struct {
	DefaultRegion  string          `yaml:"defaultRegion"`
	RingTimeout    time.Duration   `yaml:"ringTimeout"`
	ReconnectGrace time.Duration   `yaml:"reconnectGrace"`
	EngagementWait time.Duration   `yaml:"engagementWait"`
	HideWidget     bool            `yaml:"hideWidget"`
	Outcomes       []OutcomeConfig `yaml:"outcomes"`

	// MaxDuration hangs up answered calls after this long. Absent: 4h; 0: no maximum.
	MaxDuration *time.Duration `yaml:"maxDuration"`
	MusicOnHold string         `yaml:"musicOnHold"` // WAV played to the trunk while a rep holds; empty: silence
}

type OutcomeConfig struct {
	Key         string `yaml:"key"`
	Label       string `yaml:"label"`
	Disposition string `yaml:"disposition"`
}

type SIPConfig struct {
	Listen     string `yaml:"listen"`
	PublicHost string `yaml:"publicHost"`
	UserAgent  string `yaml:"userAgent"`
	// UnknownSources: out-of-dialog requests from addresses that are no
	// trunk's are rejected (403) or dropped. Default: reject.
	UnknownSources string `yaml:"unknownSources"`
	// UnknownSourceOptions: the same for OPTIONS, which may also be answered.
	// Default: as unknownSources.
	UnknownSourceOptions string `yaml:"unknownSourceOptions"`
}

// TrunkConfig is one SIP trunk; configs/example.yaml documents each field.
type TrunkConfig struct {
	Name      string         `yaml:"name"`
	Address   string         `yaml:"address"`
	Transport string         `yaml:"transport"` // udp | tcp | tls
	TLS       TrunkTLSConfig `yaml:"tls"`
	// OutboundProxy is a loose-routing proxy every out-of-dialog request
	// goes through (host:port or SIP URI); shorthand for a one-entry Route.
	OutboundProxy string   `yaml:"outboundProxy"`
	Route         []string `yaml:"route"`
	Username      string   `yaml:"username"`
	// PasswordEnv names the environment variable holding the trunk password,
	// so no secret sits in the file.
	PasswordEnv   string          `yaml:"passwordEnv"`
	FromDomain    string          `yaml:"fromDomain"`
	CallerID      CallerIDConfig  `yaml:"callerID"`
	NumberFormat  string          `yaml:"numberFormat"` // e164 | e164-noplus | national
	NumberRegion  string          `yaml:"numberRegion"`
	DialPrefix    string          `yaml:"dialPrefix"`
	Codecs        []string        `yaml:"codecs"`
	DIDs          []string        `yaml:"dids"`
	MaxCalls      int             `yaml:"maxCalls"`
	InviteTimeout time.Duration   `yaml:"inviteTimeout"`
	Register      RegisterConfig  `yaml:"register"`
	Keepalive     KeepaliveConfig `yaml:"keepalive"`
	InboundAllow  []string        `yaml:"inboundAllow"`

	// SessionExpires is the SIP session timer interval (RFC 4028). Absent:
	// 1800s; 0: session timers off.
	SessionExpires *time.Duration `yaml:"sessionExpires"`
	// MinSE is the shortest session interval accepted (at least 90s). Absent: 90s.
	MinSE time.Duration `yaml:"minSE"`
	// PRACK sends provisional responses reliably (RFC 3262) to INVITEs that
	// support 100rel. Default: only to those that require it.
	PRACK bool `yaml:"prack"`
	// SRTP is SDES-SRTP on the trunk's media: off (default), optional, or
	// mandatory (needs transport tls).
	SRTP string `yaml:"srtp"`
	// AcceptRefer lets the trunk transfer our calls with REFER (default
	// false: 403).
	AcceptRefer bool `yaml:"acceptRefer"`
	// DTMFMode is how the rep's keypad reaches the trunk: rfc4733 | info |
	// auto (RFC 4733 when the trunk's SDP has telephone-event, else INFO).
	DTMFMode string `yaml:"dtmfMode"`
}

type TrunkTLSConfig struct {
	CAFile     string `yaml:"caFile"` // PEM bundle; default: the system's roots
	ServerName string `yaml:"serverName"`
	CertFile   string `yaml:"certFile"` // client certificate (mutual TLS)
	KeyFile    string `yaml:"keyFile"`
}

type CallerIDConfig struct {
	FromUser       string `yaml:"fromUser"`
	AssertIdentity bool   `yaml:"assertIdentity"`
	Privacy        string `yaml:"privacy"` // none | id
}

type RegisterConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Expires   time.Duration `yaml:"expires"`
	Registrar string        `yaml:"registrar"`
}

type KeepaliveConfig struct {
	Interval  time.Duration `yaml:"interval"`
	Timeout   time.Duration `yaml:"timeout"`
	DownAfter int           `yaml:"downAfter"`
}

type DemoConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Listen    string        `yaml:"listen"`
	RingDelay time.Duration `yaml:"ringDelay"`
}

type MediaConfig struct {
	PublicIP    string            `yaml:"publicIP"`
	BindIP      string            `yaml:"bindIP"`
	RTPPorts    string            `yaml:"rtpPorts"`    // "10000-20000"
	WebRTCPorts string            `yaml:"webrtcPorts"` // default: rtpPorts
	WebRTCPort  uint16            `yaml:"webrtcPort"`  // one port for every browser leg; 0: a port per leg from webrtcPorts
	Threads     int               `yaml:"threads"`     // media threads (webrtcPort: one port each); 0: 1
	ICENetworks []string          `yaml:"iceNetworks"`
	ICEServers  []ICEServerConfig `yaml:"iceServers"`
	RTPTimeout  time.Duration     `yaml:"rtpTimeout"`
}

type ICEServerConfig struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// parseConfig decodes YAML strictly (unknown keys are errors) and validates.
func parseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }

	switch c.Mode {
	case "":
		c.Mode = "production"
	case "development", "production":
	default:
		bad("mode %q: want development or production", c.Mode)
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen %q: %v", c.HTTP.Listen, err)
	}
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("http.publicURL %q: want an http(s) URL", c.HTTP.PublicURL)
		}
	}
	if c.Log.Format == "" {
		c.Log.Format = map[bool]string{true: "console", false: "json"}[c.Mode == "development"]
	}
	if c.Log.Format != "console" && c.Log.Format != "json" {
		bad("log.format %q: want console or json", c.Log.Format)
	}
	if len(c.Auth.Users) == 0 {
		bad("auth.users: at least one rep is needed to place calls")
	}
	for i, u := range c.Auth.Users {
		if u.Username == "" || u.PasswordHash == "" || u.FromNumber == "" {
			bad("auth.users[%d]: username, passwordHash and fromNumber are required", i)
		}
	}
	for _, o := range c.Auth.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Host == "" || u.Path != "" {
			bad("auth.allowedOrigins %q: want scheme://host[:port]", o)
		}
	}
	if c.SIP.Listen == "" {
		c.SIP.Listen = "127.0.0.1:5060"
	}
	if c.DemoTrunk.Enabled {
		if c.Mode == "production" {
			bad("demoTrunk.enabled: the demo trunk is for development only")
		}
		if c.DemoTrunk.Listen == "" {
			c.DemoTrunk.Listen = "127.0.0.1:5070"
		}
	}
	switch c.SIP.UnknownSources {
	case "", "reject", "drop":
	default:
		bad("sip.unknownSources %q: want reject or drop", c.SIP.UnknownSources)
	}
	switch c.SIP.UnknownSourceOptions {
	case "", "answer", "reject", "drop":
	default:
		bad("sip.unknownSourceOptions %q: want answer, reject or drop", c.SIP.UnknownSourceOptions)
	}
	c.validateTrunks(bad)
	if c.Calls.MaxDuration == nil {
		d := 4 * time.Hour
		c.Calls.MaxDuration = &d
	} else if *c.Calls.MaxDuration < 0 {
		bad("calls.maxDuration %v: want a duration, or 0 for no maximum", *c.Calls.MaxDuration)
	}
	for _, ip := range []struct{ name, v string }{{"media.publicIP", c.Media.PublicIP}, {"media.bindIP", c.Media.BindIP}} {
		if ip.v != "" {
			if _, err := netip.ParseAddr(ip.v); err != nil {
				bad("%s %q: %v", ip.name, ip.v, err)
			}
		}
	}
	if _, _, err := parsePortRange(c.Media.RTPPorts); err != nil {
		bad("media.rtpPorts: %v", err)
	}
	if _, _, err := parsePortRange(c.Media.WebRTCPorts); err != nil {
		bad("media.webrtcPorts: %v", err)
	}
	if p := c.Media.WebRTCPort; p != 0 && p < 1024 {
		bad("media.webrtcPort %d: want 1024–65535, or 0 for a port per browser leg", p)
	}
	if n := c.Media.Threads; n < 0 || n > 256 {
		bad("media.threads %d: want 1–256, or 0 for 1", n)
	}
	for _, n := range c.Media.ICENetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			bad("media.iceNetworks %q: %v", n, err)
		}
	}
	for i, s := range c.Media.ICEServers {
		if len(s.URLs) == 0 {
			bad("media.iceServers[%d]: urls is required", i)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				bad("media.iceServers[%d]: %q is not a stun:, turn: or turns: URL", i, u)
			}
		}
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	c.validateRouting(bad)
	return errors.Join(errs...)
}

// validateTrunks moves the trunk: shorthand into Trunks and checks every
// trunk. With the demo trunk and no trunk of its own, the gateway calls the
// demo trunk at the address it binds (main fills it in).
func (c *Config) validateTrunks(bad func(string, ...any)) {
	shorthand := !reflect.ValueOf(c.Trunk).IsZero()
	switch {
	case shorthand && len(c.Trunks) > 0:
		bad("trunk and trunks: use one of them (trunk is shorthand for a list of one)")
	case shorthand:
		c.Trunks = []TrunkConfig{c.Trunk}
	}
	if len(c.Trunks) == 0 && !c.DemoTrunk.Enabled {
		bad("trunks: at least one trunk is needed (trunk.address is required with the single-trunk form), or enable demoTrunk in development")
	}
	names := map[string]bool{}
	for i := range c.Trunks {
		t := &c.Trunks[i]
		label := fmt.Sprintf("trunks[%d]", i)
		if shorthand {
			label = "trunk"
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("trunk%d", i+1)
		}
		if names[t.Name] {
			bad("%s.name %q: used twice", label, t.Name)
		}
		names[t.Name] = true
		if t.Address == "" {
			bad("%s.address is required", label)
		}
		if t.Transport != "" && t.Transport != "udp" && t.Transport != "tcp" && t.Transport != "tls" {
			bad("%s.transport %q: want udp, tcp or tls", label, t.Transport)
			continue
		}
		if t.TLS != (TrunkTLSConfig{}) && t.Transport != "tls" {
			bad("%s.tls: only for transport tls", label)
		}
		if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
			bad("%s.tls: certFile and keyFile go together", label)
		}
		for _, a := range t.InboundAllow {
			if _, err := parsePrefix(a); err != nil {
				bad("%s.inboundAllow %q: want an IP address or CIDR", label, a)
			}
		}
		if t.Address == "" {
			continue
		}
		st, err := sipTrunk(*t, 0, func(string) string { return "x" }, nil)
		if err == nil {
			err = sip.CheckTrunk(st)
		}
		if err != nil {
			bad("%s: %s", label, strings.TrimPrefix(err.Error(), "sip: "))
		}
	}
}

// parsePrefix reads a CIDR, or an IP address as a prefix of one address.
func parsePrefix(s string) (netip.Prefix, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// sipTrunk maps a trunk's configuration into sip.Trunk. getenv gives the
// password; readFile (nil: TLS files are not read) the TLS files.
func sipTrunk(t TrunkConfig, ring time.Duration, getenv func(string) string, readFile func(string) ([]byte, error)) (sip.Trunk, error) {
	st := sip.Trunk{
		Name:       t.Name,
		Address:    t.Address,
		Transport:  t.Transport,
		Route:      t.Route,
		Username:   t.Username,
		FromDomain: t.FromDomain,
		CallerID: sip.CallerID{
			FromUser: t.CallerID.FromUser, AssertIdentity: t.CallerID.AssertIdentity, Privacy: t.CallerID.Privacy,
		},
		Numbers:       sip.NumberFormat{Style: t.NumberFormat, Region: t.NumberRegion, DialPrefix: t.DialPrefix},
		Codecs:        t.Codecs,
		DIDs:          t.DIDs,
		MaxCalls:      t.MaxCalls,
		RingTimeout:   ring,
		InviteTimeout: t.InviteTimeout,
		Register:      sip.Registration{Enabled: t.Register.Enabled, Expires: t.Register.Expires, Registrar: t.Register.Registrar},
		Keepalive:     sip.Keepalive{Interval: t.Keepalive.Interval, Timeout: t.Keepalive.Timeout, DownAfter: t.Keepalive.DownAfter},
		AcceptRefer:   t.AcceptRefer,
		DTMFMode:      sip.DTMFMode(t.DTMFMode),
	}
	if t.OutboundProxy != "" {
		st.Route = append([]string{t.OutboundProxy}, t.Route...)
	}
	st.MinSE, st.PRACK, st.SRTP = t.MinSE, t.PRACK, t.SRTP
	if t.SessionExpires != nil {
		st.SessionExpires = *t.SessionExpires
		if st.SessionExpires == 0 {
			st.SessionExpires = -1 // off
		}
	}
	if t.PasswordEnv != "" {
		st.Password = getenv(t.PasswordEnv)
		if st.Password == "" {
			return st, fmt.Errorf("trunk %q: environment variable %s (passwordEnv) is empty", t.Name, t.PasswordEnv)
		}
	}
	for _, a := range t.InboundAllow {
		p, err := parsePrefix(a)
		if err != nil {
			return st, fmt.Errorf("trunk %q: inboundAllow %q: %w", t.Name, a, err)
		}
		st.InboundAllow = append(st.InboundAllow, p)
	}
	if t.Transport == "tls" {
		st.TLS = &tls.Config{ServerName: t.TLS.ServerName}
		if readFile != nil && t.TLS.CAFile != "" {
			pem, err := readFile(t.TLS.CAFile)
			if err != nil {
				return st, fmt.Errorf("trunk %q: tls.caFile: %w", t.Name, err)
			}
			st.TLS.RootCAs = x509.NewCertPool()
			if !st.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return st, fmt.Errorf("trunk %q: tls.caFile %s holds no PEM certificate", t.Name, t.TLS.CAFile)
			}
		}
		if readFile != nil && t.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.TLS.CertFile, t.TLS.KeyFile)
			if err != nil {
				return st, fmt.Errorf("trunk %q: tls.certFile/keyFile: %w", t.Name, err)
			}
			st.TLS.Certificates = []tls.Certificate{cert}
		}
	}
	return st, nil
}

// parsePortRange reads "min-max". Empty gives zeros (the package default).
func parsePortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want min-max", s)
	}
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || x < 1024 || y < x+1 {
		return 0, 0, fmt.Errorf("%q: want 1024 ≤ min < max ≤ 65535", s)
	}
	return uint16(x), uint16(y), nil
}
