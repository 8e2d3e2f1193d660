package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/udpio"
)

// ErrNoCommonCodec: the trunk's SDP has no G.711 codec we offered.
var ErrNoCommonCodec = errors.New("media: no common codec")

// errClosed: the Engine or Session was closed.
var errClosed = errors.New("media: closed")

// Defaults of the zero Options fields.
const (
	defaultRTPPortMin = 10000
	defaultRTPPortMax = 20000
	defaultRTPTimeout = 30 * time.Second
)

// Engine creates media sessions and owns what they share: the port
// allocator, the DTLS certificate, the media loops that relay every packet
// (with their shared WebRTC sockets), and the sweep that ends silent legs.
//
// Ports: the trunk leg binds an even RTP port and the odd port above it
// (RTCP, bound only so that nothing else takes it; what arrives there is
// discarded) from the RTP range. Browser legs share Options.WebRTCPort, or
// each binds a port from the WebRTC range. The two ranges may overlap, and
// by default they are the same: every port is claimed by binding it, and
// both allocators move on to the next port when a bind fails, so they
// never hand out the same port.
type Engine struct {
	opts       Options // normalised by NewEngine
	log        *zap.Logger
	pionLogs   pionLoggerFactory
	id         *identity // the DTLS certificate
	ports      *portAllocator
	announce   netip.Addr    // the address in the SDP, both legs
	sweepEvery time.Duration // how often the sweep runs
	legTimeout time.Duration // browserTimeout; tests shorten it
	loops      []*mediaLoop  // the packet path (loop.go)
	shared     bool          // Options.WebRTCPort: each loop has a shared socket
	nextLoop   atomic.Uint32 // round robin of sessions over loops

	stop chan struct{} // closed by Close: stops the sweep
	done chan struct{} // closed when the sweep has returned

	mu       sync.Mutex // guards the fields below
	sessions map[*Session]struct{}
	closed   bool
}

// NewEngine validates opts, applies the documented defaults and starts the
// RTP inactivity sweep. Close stops it.
func NewEngine(opts Options) (*Engine, error) {
	o, err := opts.normalised()
	if err != nil {
		return nil, err
	}
	log := o.Logger.Named("media")
	ports, err := newPortAllocator(o.RTPPortMin, o.RTPPortMax)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity()
	if err != nil {
		return nil, fmt.Errorf("media: DTLS certificate: %w", err)
	}
	e := &Engine{
		opts:       o,
		log:        log,
		pionLogs:   pionLoggerFactory{log.Named("pion")},
		id:         id,
		ports:      ports,
		announce:   o.PublicIP,
		sweepEvery: sweepInterval(o.RTPTimeout),
		legTimeout: browserTimeout,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		sessions:   make(map[*Session]struct{}),
	}
	if !e.announce.IsValid() {
		e.announce = o.BindIP
	}
	webrtcPorts := zap.String("webrtcPorts", fmt.Sprintf("%d-%d", o.WebRTCPortMin, o.WebRTCPortMax))
	if err := e.startLoops(); err != nil {
		return nil, err
	}
	if o.WebRTCPort != 0 {
		webrtcPorts = zap.String("webrtcPort", fmt.Sprintf("%d-%d", o.WebRTCPort, int(o.WebRTCPort)+o.Threads-1))
	}
	go e.sweep()
	log.Info("media engine ready",
		zap.Stringer("announce", e.announce), zap.Stringer("bind", o.BindIP),
		zap.String("rtpPorts", fmt.Sprintf("%d-%d", o.RTPPortMin, o.RTPPortMax)),
		webrtcPorts, zap.Int("threads", o.Threads), zap.Duration("rtpTimeout", o.RTPTimeout))
	return e, nil
}

// startLoops starts the media loops, each with its shared WebRTC socket
// when Options.WebRTCPort is set.
func (e *Engine) startLoops() error {
	o := &e.opts
	for i := range o.Threads {
		l, err := newLoop(e, i)
		if err == nil && o.WebRTCPort != 0 {
			port := o.WebRTCPort + uint16(i)
			if l.shared, err = l.listenWebRTC(o.BindIP, port, true); err != nil {
				err = fmt.Errorf("media: WebRTC port %d: %w", port, err)
				l.close()
			}
		}
		if err != nil {
			e.stopLoops()
			return err
		}
		e.loops = append(e.loops, l)
		go l.run()
	}
	e.shared = o.WebRTCPort != 0
	return nil
}

// stopLoops stops the loops and closes their shared sockets.
func (e *Engine) stopLoops() {
	for _, l := range e.loops {
		if l.shared != nil {
			l.shared.close()
		}
		l.stop()
		l.close()
	}
}

// loop picks the loop of a new session.
func (e *Engine) loop() *mediaLoop {
	return e.loops[int(e.nextLoop.Add(1))%len(e.loops)]
}

// normalised returns o with defaults applied, or the reasons it is invalid.
func (o Options) normalised() (Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("media: "+format, args...)) }

	if !o.BindIP.IsValid() {
		o.BindIP = netip.IPv4Unspecified()
	}
	o.BindIP = o.BindIP.Unmap()
	if o.BindIP.Zone() != "" || o.BindIP.IsMulticast() {
		bad("BindIP %s: want a unicast address without zone, or unspecified", o.BindIP)
	}
	if o.PublicIP.IsValid() {
		o.PublicIP = o.PublicIP.Unmap()
		switch {
		case o.PublicIP.IsUnspecified(), o.PublicIP.IsMulticast(), o.PublicIP.Zone() != "":
			bad("PublicIP %s: want a unicast address without zone", o.PublicIP)
		case o.PublicIP.Is6() && o.BindIP.Is4():
			bad("PublicIP %s is IPv6 but BindIP %s is IPv4", o.PublicIP, o.BindIP)
		}
	} else if o.BindIP.IsUnspecified() {
		bad("set PublicIP or a specific BindIP: %s cannot be announced in SDP", o.BindIP)
	}

	switch {
	case o.RTPPortMin == 0 && o.RTPPortMax == 0:
		o.RTPPortMin, o.RTPPortMax = defaultRTPPortMin, defaultRTPPortMax
	case o.RTPPortMin == 0 || o.RTPPortMax == 0 || o.RTPPortMax <= o.RTPPortMin:
		bad("RTP port range %d–%d: want 0 < min < max", o.RTPPortMin, o.RTPPortMax)
	}
	switch {
	case o.WebRTCPortMin == 0 && o.WebRTCPortMax == 0:
		o.WebRTCPortMin, o.WebRTCPortMax = o.RTPPortMin, o.RTPPortMax
	case o.WebRTCPortMin == 0 || o.WebRTCPortMax < o.WebRTCPortMin:
		bad("WebRTC port range %d–%d: want 0 < min ≤ max", o.WebRTCPortMin, o.WebRTCPortMax)
	}

	switch {
	case o.Threads < 0 || o.Threads > 256:
		bad("Threads %d: want 0–256", o.Threads)
	case o.Threads == 0:
		o.Threads = 1
	}
	if o.WebRTCPort != 0 && int(o.WebRTCPort)+o.Threads-1 > 65535 {
		bad("WebRTCPort %d: %d threads need %d ports", o.WebRTCPort, o.Threads, o.Threads)
	}

	switch {
	case o.Threads < 0 || o.Threads > 256:
		bad("Threads %d: want 0–256", o.Threads)
	case o.Threads == 0:
		o.Threads = 1
	}
	if o.WebRTCPort != 0 && int(o.WebRTCPort)+o.Threads-1 > 65535 {
		bad("WebRTCPort %d: %d threads need %d ports", o.WebRTCPort, o.Threads, o.Threads)
	}

	switch {
	case o.RTPTimeout < 0:
		bad("RTPTimeout %v is negative", o.RTPTimeout)
	case o.RTPTimeout == 0:
		o.RTPTimeout = defaultRTPTimeout
	}

	networks := make([]netip.Prefix, 0, len(o.ICENetworks))
	for _, p := range o.ICENetworks {
		if !p.IsValid() {
			bad("ICE network %s is not a valid prefix", p)
			continue
		}
		networks = append(networks, p.Masked())
	}
	o.ICENetworks = networks
	if len(networks) > 0 && !o.BindIP.IsUnspecified() &&
		!slices.ContainsFunc(networks, func(p netip.Prefix) bool { return p.Contains(o.BindIP) }) {
		bad("BindIP %s is in none of the ICE networks %v: the browser leg would have no candidate", o.BindIP, networks)
	}

	servers := make([]ICEServer, 0, len(o.ICEServers))
	for i, s := range o.ICEServers {
		if len(s.URLs) == 0 {
			bad("ICE server %d has no URL", i)
		}
		s.URLs = append([]string(nil), s.URLs...)
		servers = append(servers, s)
	}
	o.ICEServers = servers

	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o, errors.Join(errs...)
}

// sweepInterval is how often the sweep looks for silent trunks: an eighth of
// the timeout, so a timeout fires at most 12.5% late, within 10 ms – 1 s.
func sweepInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/8, 10*time.Millisecond), time.Second)
}

// ICEServers returns the STUN/TURN servers to hand to browsers.
func (e *Engine) ICEServers() []ICEServer {
	out := make([]ICEServer, len(e.opts.ICEServers))
	for i, s := range e.opts.ICEServers {
		s.URLs = append([]string(nil), s.URLs...)
		out[i] = s
	}
	return out
}

// NewSession allocates the trunk leg's RTP socket and starts reading it; the
// browser leg is made by AcceptBrowserOffer. onEvent receives the session's
// events, on pion's goroutines and the engine's sweep goroutine; it must not
// block (a blocked callback holds up the RTP timeouts of every session). No
// event starts once Close has begun; Close does not wait for one being
// delivered. log carries the call's ids; nil uses the engine's logger.
func (e *Engine) NewSession(log *zap.Logger, onEvent func(Event)) (*Session, error) {
	if log == nil {
		log = e.log
	} else {
		log = log.Named("media")
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	s := &Session{e: e, log: log, onEvent: onEvent, loop: e.loop(), toTrunk: newTrunkSplicer()}
	port, err := e.ports.acquire(func(port uint16) error {
		var err error
		s.rtp, s.rtcp, err = listenRTP(e.opts.BindIP, port)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.port = port
	s.local = localSDP{id: rand.Uint64() >> 2, ver: 1}
	s.offer, err = buildTrunkOffer(e.announce, port, s.local.id, 1)
	watched := false
	if err == nil {
		// The loop reads the socket before the session is the engine's:
		// a Close from Engine.Close finds it whole.
		s.rtpTok, err = s.loop.watch(s.rtp, s)
		watched = err == nil
	}
	if err == nil {
		e.mu.Lock()
		if e.closed {
			err = errClosed
		} else {
			e.sessions[s] = struct{}{}
		}
		e.mu.Unlock()
	}
	if err != nil {
		if watched {
			s.loop.exec(func() { s.loop.unwatch(s.rtp, s.rtpTok) })
		} else {
			s.rtp.Close()
		}
		s.rtcp.Close()
		e.ports.release(port)
		return nil, err
	}
	log.Debug("media session open", zap.Uint16("rtpPort", port), zap.Int("loop", s.loop.index))
	return s, nil
}

// listenRTP binds the RTP socket on port and the RTCP socket on port+1.
func listenRTP(ip netip.Addr, port uint16) (rtp, rtcp *udpio.Socket, err error) {
	rtp, err = udpio.Listen(netip.AddrPortFrom(ip, port), 0)
	if err != nil {
		return nil, nil, err
	}
	rtcp, err = udpio.Listen(netip.AddrPortFrom(ip, port+1), 0)
	if err != nil {
		rtp.Close()
		return nil, nil, err
	}
	return rtp, rtcp, nil
}

// forget removes a closed session.
func (e *Engine) forget(s *Session) {
	e.mu.Lock()
	delete(e.sessions, s)
	e.mu.Unlock()
}

// sweep ends answered calls whose trunk went silent, and browser legs that
// went silent or never connected. It reads times the packet paths store;
// there is no timer per packet or per session.
func (e *Engine) sweep() {
	defer close(e.done)
	t := time.NewTicker(e.sweepEvery)
	defer t.Stop()
	var batch []*Session
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		e.mu.Lock()
		for s := range e.sessions {
			batch = append(batch, s)
		}
		e.mu.Unlock()
		now := monoNow()
		for _, s := range batch {
			s.checkRTPTimeout(now, e.opts.RTPTimeout)
			s.checkBrowser(now)
		}
		clear(batch)
		batch = batch[:0]
	}
}

// Close closes every session and stops the engine's goroutines. Sessions
// cannot be created afterwards. It is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.done
		return nil
	}
	e.closed = true
	sessions := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()

	close(e.stop)
	<-e.done
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range sessions {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	e.stopLoops()
	return errors.Join(errs...)
}

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow returns monotonic nanoseconds since the process started.
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// gate lets Close wait for the goroutines and callbacks that may still touch
// a session or leg, and keeps new ones from starting once it is shut.
type gate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// enter reports whether the gate is open and, if so, counts the caller in;
// it must call exit.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *gate) exit() { g.wg.Done() }

// shut lets no one else in.
func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// wait waits for everyone inside to exit; call shut first.
func (g *gate) wait() { g.wg.Wait() }
