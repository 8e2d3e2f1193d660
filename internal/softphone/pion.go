package softphone

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// mimeTelephoneEvent is RFC 4733's media type; pion has no constant.
const mimeTelephoneEvent = "audio/telephone-event"

// The codecs a browser softphone offers to hubline: G.711 and
// telephone-event, with their usual payload types.
var phoneCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: "0-16"}, PayloadType: 101},
}

// newAPI builds the pion API of a phone: exactly phoneCodecs, no
// interceptors, UDP host candidates from the allowed networks, no mDNS.
// pion logs through gate.
func newAPI(o *Options, log *zap.Logger, gate *logGate) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range phoneCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("softphone: register %s: %w", c.MimeType, err)
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLoggerFactory{log.Named("pion"), gate}}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	loopback := false
	for _, p := range o.ICENetworks {
		if p.Addr().Is6() && len(networks) == 1 {
			networks = append(networks, webrtc.NetworkTypeUDP6)
		}
		loopback = loopback || p.Addr().IsLoopback()
	}
	se.SetNetworkTypes(networks)
	se.SetIncludeLoopbackCandidate(loopback)
	se.SetIPFilter(ipFilter(o.ICENetworks))
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(me),
		webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
	), nil
}

// ipFilter keeps candidate addresses inside networks or, with none, every
// address but link-local ones.
func ipFilter(networks []netip.Prefix) func(net.IP) bool {
	return func(ip net.IP) bool {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return false
		}
		addr = addr.Unmap()
		if len(networks) == 0 {
			return !addr.IsLinkLocalUnicast()
		}
		for _, p := range networks {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
}

// ParseNetworks parses a comma-separated list of IP prefixes (a bare
// address is a single-host prefix), as for Options.ICENetworks.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("softphone: %q is not an IP prefix such as 127.0.0.0/8", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// iceServers returns the servers for a new PeerConnection: the Options'
// override, else the session's.
func (p *Phone) iceServers() []webrtc.ICEServer {
	list := p.opts.ICEServers
	if list == nil {
		p.mu.Lock()
		if p.session != nil {
			list = p.session.ICEServers
		}
		p.mu.Unlock()
	}
	out := make([]webrtc.ICEServer, 0, len(list))
	for _, s := range list {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// logGate silences pion once the phone is closed: a few of pion's
// goroutines (undeclaredMediaProcessor) outlive PeerConnection.GracefulClose
// and may log after it.
type logGate struct {
	mu     sync.RWMutex
	closed bool
}

// enter reports whether logging is allowed; if so the caller must call
// mu.RUnlock after logging.
func (g *logGate) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

// close waits for logging in progress and stops all further logging.
func (g *logGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// pionLoggerFactory bridges pion's logging into zap. pion's Info is
// per-connection chatter and goes to Debug; its Warn, mostly teardown races
// ("stream is already closed"), goes to Info, as the phone reports media
// failures itself (MediaEvent); Trace goes nowhere.
type pionLoggerFactory struct {
	log  *zap.Logger
	gate *logGate
}

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.log.Named(scope).WithOptions(zap.AddCallerSkip(2))
	return pionLogger{log: l, sugar: l.Sugar(), gate: f.gate}
}

type pionLogger struct {
	log   *zap.Logger
	sugar *zap.SugaredLogger
	gate  *logGate
}

func (pionLogger) Trace(string)                {}
func (pionLogger) Tracef(string, ...any)       {}
func (l pionLogger) Debug(msg string)          { l.logf(zapcore.DebugLevel, msg, nil) }
func (l pionLogger) Debugf(f string, a ...any) { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Info(msg string)           { l.logf(zapcore.DebugLevel, msg, nil) }
func (l pionLogger) Infof(f string, a ...any)  { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Warn(msg string)           { l.logf(zapcore.InfoLevel, msg, nil) }
func (l pionLogger) Warnf(f string, a ...any)  { l.logf(zapcore.InfoLevel, f, a) }
func (l pionLogger) Error(msg string)          { l.logf(zapcore.ErrorLevel, msg, nil) }
func (l pionLogger) Errorf(f string, a ...any) { l.logf(zapcore.ErrorLevel, f, a) }

// logf formats only when the level is enabled and the phone is open.
func (l pionLogger) logf(lvl zapcore.Level, format string, args []any) {
	if !l.log.Core().Enabled(lvl) || !l.gate.enter() {
		return
	}
	defer l.gate.mu.RUnlock()
	if args == nil {
		l.log.Log(lvl, format)
		return
	}
	l.sugar.Logf(lvl, format, args...)
}
