package media

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// mimeTypeTelephoneEvent is RFC 4733's media type; pion has no constant.
const mimeTypeTelephoneEvent = "audio/telephone-event"

// Codecs of the browser leg, with the payload types we prefer; the
// browser's offer decides the payload types actually used.
var (
	capPCMU  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}
	capPCMA  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}
	capEvent = webrtc.RTPCodecCapability{MimeType: mimeTypeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: "0-16"}

	browserCodecs = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: capPCMU, PayloadType: 0},
		{RTPCodecCapability: capPCMA, PayloadType: 8},
		{RTPCodecCapability: capEvent, PayloadType: 101},
	}
)

func capabilityOf(c codec) webrtc.RTPCodecCapability {
	if c == codecPCMA {
		return capPCMA
	}
	return capPCMU
}

// newWebRTCAPI builds the pion API every browser leg of an Engine shares:
// G.711 and telephone-event only, no interceptors (G.711 needs no NACK,
// TWCC or reports), host candidates only on BindIP (when it is not the
// wildcard) and the allowed networks, on the configured UDP port range,
// without mDNS.
func newWebRTCAPI(o *Options, log *zap.Logger) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range browserCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("media: register %s: %w", c.MimeType, err)
		}
	}

	se := webrtc.SettingEngine{LoggerFactory: pionLoggerFactory{log.Named("pion")}}
	if err := se.SetEphemeralUDPPortRange(o.WebRTCPortMin, o.WebRTCPortMax); err != nil {
		return nil, fmt.Errorf("media: WebRTC port range %d–%d: %w", o.WebRTCPortMin, o.WebRTCPortMax, err)
	}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	loopback := o.BindIP.IsLoopback()
	for _, p := range o.ICENetworks {
		if p.Addr().Is6() && len(networks) == 1 {
			networks = append(networks, webrtc.NetworkTypeUDP6)
		}
		loopback = loopback || p.Addr().IsLoopback()
	}
	if o.BindIP.Is6() && !o.BindIP.IsUnspecified() {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP6}
	}
	se.SetNetworkTypes(networks)
	se.SetIncludeLoopbackCandidate(loopback)
	se.SetIPFilter(iceIPFilter(o.BindIP, o.ICENetworks))
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.PublicIP.IsValid() {
		rule := webrtc.ICEAddressRewriteRule{
			External:        []string{o.PublicIP.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
			Networks:        []webrtc.NetworkType{webrtc.NetworkTypeUDP4},
		}
		if o.PublicIP.Is6() {
			rule.Networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP6}
		}
		if err := se.SetICEAddressRewriteRules(rule); err != nil {
			return nil, fmt.Errorf("media: announce %s for ICE: %w", o.PublicIP, err)
		}
	}

	return webrtc.NewAPI(
		webrtc.WithMediaEngine(me),
		webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
	), nil
}

// iceIPFilter keeps the gateway's candidate addresses to bind when it is a
// specific address, and inside networks, or, when networks is empty, to
// every address but link-local ones.
func iceIPFilter(bind netip.Addr, networks []netip.Prefix) func(net.IP) bool {
	return func(ip net.IP) bool {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return false
		}
		addr = addr.Unmap()
		if bind.IsValid() && !bind.IsUnspecified() && addr != bind {
			return false
		}
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

// pionLoggerFactory bridges pion's logging into zap. Each pion scope
// becomes a named child logger (pion.ice, pion.dtls, …). pion's Info and
// Warn messages are per-connection chatter (a teardown alone logs several
// warnings) and go to Debug; its Errors go to Warn: a connection that fails
// is reported by the Session's event, with the call's ids. Trace goes
// nowhere.
type pionLoggerFactory struct{ log *zap.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.log.Named(scope).WithOptions(zap.AddCallerSkip(1))
	return pionLogger{log: l, sugar: l.Sugar()}
}

type pionLogger struct {
	log   *zap.Logger
	sugar *zap.SugaredLogger
}

func (pionLogger) Trace(string)                {}
func (pionLogger) Tracef(string, ...any)       {}
func (l pionLogger) Debug(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Info(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any)  { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Warn(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Warnf(f string, a ...any)  { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Error(msg string)          { l.log.Warn(msg) }
func (l pionLogger) Errorf(f string, a ...any) { l.logf(zapcore.WarnLevel, f, a) }

// logf formats only when the level is enabled.
func (l pionLogger) logf(lvl zapcore.Level, format string, args []any) {
	if l.log.Core().Enabled(lvl) {
		l.sugar.Logf(lvl, format, args...)
	}
}
