package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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
	Trunk           TrunkConfig   `yaml:"trunk"`
	DemoTrunk       DemoConfig    `yaml:"demoTrunk"`
	Media           MediaConfig   `yaml:"media"`
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
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
}

type CallsConfig struct {
	DefaultRegion  string          `yaml:"defaultRegion"`
	RingTimeout    time.Duration   `yaml:"ringTimeout"`
	ReconnectGrace time.Duration   `yaml:"reconnectGrace"`
	EngagementWait time.Duration   `yaml:"engagementWait"`
	HideWidget     bool            `yaml:"hideWidget"`
	Outcomes       []OutcomeConfig `yaml:"outcomes"`
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
}

type TrunkConfig struct {
	Name      string `yaml:"name"`
	Address   string `yaml:"address"`
	Transport string `yaml:"transport"`
	Username  string `yaml:"username"`
	// PasswordEnv names the environment variable holding the trunk password,
	// so no secret sits in the file.
	PasswordEnv string `yaml:"passwordEnv"`
	FromDomain  string `yaml:"fromDomain"`
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
	// With the demo trunk and no trunk of its own, the gateway calls the
	// demo trunk at the address it binds (main fills it in).
	if c.Trunk.Address == "" && !c.DemoTrunk.Enabled {
		bad("trunk.address is required (or enable demoTrunk in development)")
	}
	if c.Trunk.Transport != "" && c.Trunk.Transport != "udp" && c.Trunk.Transport != "tcp" {
		bad("trunk.transport %q: want udp or tcp", c.Trunk.Transport)
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
	return errors.Join(errs...)
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
