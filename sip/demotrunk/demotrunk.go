// Package demotrunk owns the built-in demo trunk: a SIP user agent server
// on loopback, in the gateway's own process, that lets a newcomer without a
// trunk account place a call that works. `make run` points the gateway's
// trunk at it.
//
// Every INVITE gets 100 Trying, then 183 Session Progress with an SDP
// answer and a ringback tone as early media (425 Hz, 1 s on, 4 s off) for
// Options.RingDelay, then 200 OK; from then on every RTP packet the caller
// sends is sent back to it (an echo test). The dialled number, the user
// part of the To URI, picks other outcomes:
//
//	…0486  486 Busy Here
//	…0404  404 Not Found
//	…0408  180 Ringing, and no answer until the caller CANCELs
//
// There is no authentication: the demo trunk listens on loopback only and
// refuses any other address. It is a development tool; configuration keeps
// it out of production.
//
// Only cmd/gateway and tests import this package. It imports sipgo, pion
// and internal/audio, never hubline's sip or media packages (see
// deps_test.go).
package demotrunk

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// Options configures Start. The zero value is a demo trunk on
// 127.0.0.1:5070 with the defaults below.
type Options struct {
	// ListenAddr is the loopback IP and port to listen on, UDP and TCP
	// (same port). Port 0 picks a free one (see Server.Addr). "localhost"
	// means 127.0.0.1. A host that is not a loopback IP is refused
	// (ErrNotLoopback). Empty: "127.0.0.1:5070".
	ListenAddr string
	// RingDelay is how long a call rings (183 and ringback) before the
	// demo trunk answers. Zero: 1.5 s.
	RingDelay time.Duration
	// IdleTimeout hangs up (BYE) an answered call from which no RTP has
	// come for this long. Zero: 60 s.
	IdleTimeout time.Duration
	// MaxCalls is how many calls may be up at once, ringing or answered;
	// more get 503 Service Unavailable. Zero: 100.
	MaxCalls int
	// Logger receives the demo trunk's logs, each call's lines with its
	// Call-ID, and sipgo's logs named "sipgo". Nil discards them.
	Logger *zap.Logger
}

// Defaults of Options.
const (
	DefaultListenAddr  = "127.0.0.1:5070"
	DefaultRingDelay   = 1500 * time.Millisecond
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxCalls    = 100
)

const (
	// maxRing bounds the ringing of a number that never answers (…0408):
	// the caller's ring timeout CANCELs long before; if it never does, the
	// call ends with 480 rather than holding a slot forever.
	maxRing = 10 * time.Minute
	// byeTimeout bounds the wait for the answer to a BYE the demo trunk
	// sends (idle caller, Close). Shorter than Timer F: the call is over
	// either way, and Close should not hang on a caller that is gone.
	byeTimeout = 2 * time.Second
	// closeGrace is how long Close waits for an ACK that is due: of a
	// final error response, or of a 200 before the BYE (RFC 3261 15).
	closeGrace = time.Second
	// byeCleanupWait bounds how long the answer to the caller's BYE waits
	// for the call's media to be torn down.
	byeCleanupWait = 2 * time.Second

	allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS"
	userAgent    = "hubline-demo-trunk"
)

// ErrNotLoopback is returned by Start for a ListenAddr whose host is not a
// loopback IP address.
var ErrNotLoopback = errors.New("demotrunk: listen address is not loopback")

// Server is a running demo trunk. Create it with Start; Close it.
type Server struct {
	// Set by Start, read-only afterwards.
	log         *zap.Logger
	ringDelay   time.Duration
	idleTimeout time.Duration
	maxCalls    int
	ip          netip.Addr     // listen IP; also the RTP IP
	addr        netip.AddrPort // bound UDP and TCP address
	udpLaddr    sip.Addr       // the UDP listener: requests over UDP leave from it
	sua         *sipgo.UserAgent
	srv         *sipgo.Server
	client      *sipgo.Client
	udpConn     net.PacketConn
	tcpLn       net.Listener

	closing   chan struct{} // closed by Close: calls end, handlers stop waiting
	serveWG   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex // guards closed, calls and wg.Add
	closed bool
	calls  map[string]*call // by Call-ID
	wg     sync.WaitGroup   // request handlers and call goroutines
}

// Start listens on opts.ListenAddr and serves until Close.
func Start(opts Options) (*Server, error) {
	listen, err := parseListen(opts.ListenAddr)
	if err != nil {
		return nil, err
	}
	if opts.RingDelay < 0 || opts.IdleTimeout < 0 || opts.MaxCalls < 0 {
		return nil, errors.New("demotrunk: RingDelay, IdleTimeout and MaxCalls must not be negative")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		log:         log,
		ringDelay:   orDefault(opts.RingDelay, DefaultRingDelay),
		idleTimeout: orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		maxCalls:    orDefault(opts.MaxCalls, DefaultMaxCalls),
		ip:          listen.Addr(),
		closing:     make(chan struct{}),
		calls:       make(map[string]*call),
	}
	s.udpConn, s.tcpLn, err = listenUDPAndTCP(listen)
	if err != nil {
		return nil, err
	}
	s.addr = s.udpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.addr = netip.AddrPortFrom(s.addr.Addr().Unmap(), s.addr.Port())
	s.udpLaddr = sip.Addr{IP: s.addr.Addr().AsSlice(), Port: int(s.addr.Port())}

	sl := slogLogger(log)
	host := uriHost(s.ip)
	s.sua, err = sipgo.NewUA(
		sipgo.WithUserAgent(userAgent),
		sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sl),
			// A dropped TCP connection ends its INVITE transaction, and so
			// a ringing call, at once.
			sip.WithTransactionLayerTerminateOnConnClose(),
			// Retransmitted responses to our BYEs end up here.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				if ce := log.Check(zap.DebugLevel, "stray SIP response"); ce != nil {
					ce.Write(zap.String("response", r.Short()))
				}
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sl)),
	)
	if err == nil {
		s.srv, err = sipgo.NewServer(s.sua, sipgo.WithServerLogger(sl))
	}
	if err == nil {
		s.client, err = sipgo.NewClient(s.sua, sipgo.WithClientLogger(sl), sipgo.WithClientHostname(host))
	}
	if err != nil {
		if s.sua != nil {
			s.sua.Close()
		}
		s.udpConn.Close()
		s.tcpLn.Close()
		return nil, fmt.Errorf("demotrunk: new user agent: %w", err)
	}
	s.srv.OnInvite(s.handleInvite)
	s.srv.OnAck(s.handleAck)
	s.srv.OnBye(s.handleBye)
	s.srv.OnCancel(s.handleCancel)
	s.srv.OnOptions(s.handleOptions)
	s.srv.OnNoRoute(s.handleOther)

	// Our BYEs over UDP leave from the listener (Request.Laddr). sipgo
	// finds it in the UDP pool, where ServeUDP registers it only once its
	// goroutine runs: register it now.
	s.sua.TransportLayer().Pool("udp").Add(s.addr.String(), &sip.UDPConnection{
		PacketConn: s.udpConn,
		PacketAddr: s.addr.String(),
		Listener:   true,
	})
	s.serveWG.Add(2)
	go func() {
		defer s.serveWG.Done()
		_ = s.srv.ServeUDP(s.udpConn)
	}()
	go func() {
		defer s.serveWG.Done()
		_ = s.srv.ServeTCP(s.tcpLn)
	}()
	log.Info("demo trunk started", zap.Stringer("addr", s.addr), zap.Duration("ringDelay", s.ringDelay))
	return s, nil
}

// orDefault returns v, or def if v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// parseListen validates a ListenAddr.
func parseListen(s string) (netip.AddrPort, error) {
	if s == "" {
		s = DefaultListenAddr
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("demotrunk: listen address %q: %w", s, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: %q (the demo trunk has no authentication; use 127.0.0.1)", ErrNotLoopback, s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("demotrunk: listen address %q: bad port", s)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
}

// listenUDPAndTCP binds UDP on addr and TCP on the same IP and port. With
// port 0 it retries when the TCP side of the picked UDP port is taken.
func listenUDPAndTCP(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	attempts := 1
	if addr.Port() == 0 {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		udpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, fmt.Errorf("demotrunk: listen udp %s: %w", addr, err)
		}
		p := udpConn.LocalAddr().(*net.UDPAddr).Port
		tcpLn, err := net.Listen("tcp", net.JoinHostPort(addr.Addr().String(), strconv.Itoa(p)))
		if err == nil {
			return udpConn, tcpLn, nil
		}
		udpConn.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("demotrunk: listen tcp %s: %w", addr, lastErr)
}

// Addr returns the bound "host:port" (UDP and TCP), e.g. "127.0.0.1:5070".
func (s *Server) Addr() string { return s.addr.String() }

// Close hangs up every call (BYE to answered calls, 503 to ringing ones,
// waiting at most about byeTimeout for their answers), closes the sockets
// and waits for every goroutine it started. Idempotent; safe on a nil
// Server.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		n := len(s.calls)
		s.mu.Unlock()
		close(s.closing)
		if n > 0 {
			s.log.Info("demo trunk closing: hanging up calls", zap.Int("calls", n))
		}
		s.wg.Wait()

		err := errors.Join(ignoreClosed(s.udpConn.Close()), ignoreClosed(s.tcpLn.Close()))
		s.serveWG.Wait()
		err = errors.Join(err, ignoreClosed(s.sua.Close()))
		if err != nil {
			s.closeErr = fmt.Errorf("demotrunk: close: %w", err)
		}
		s.log.Info("demo trunk closed")
	})
	return s.closeErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// enter counts a request handler or call goroutine in wg, unless Close has
// begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// admit registers c and counts its goroutine, or returns the status code
// and reason to refuse it with.
func (s *Server) admit(c *call) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return sip.StatusServiceUnavailable, "Service Unavailable"
	case len(s.calls) >= s.maxCalls:
		return sip.StatusServiceUnavailable, "Service Unavailable"
	}
	if _, dup := s.calls[c.id]; dup {
		// A second INVITE of the same Call-ID and no To tag, not a
		// retransmission (RFC 3261 8.2.2.2).
		return 482, "Loop Detected"
	}
	s.calls[c.id] = c
	s.wg.Add(1)
	return 0, ""
}

// remove unregisters c.
func (s *Server) remove(c *call) {
	s.mu.Lock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
	s.mu.Unlock()
}

// lookup returns the call of an in-dialog request (Call-ID, our tag in To,
// the caller's in From), or nil.
func (s *Server) lookup(req *sip.Request) *call {
	id, local, remote, ok := dialogID(req)
	if !ok {
		return nil
	}
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil || c.localTag != local || c.remoteTag != remote {
		return nil
	}
	return c
}

// dialogID returns the Call-ID and tags of a request from the caller.
func dialogID(req *sip.Request) (callID, toTag, fromTag string, ok bool) {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return "", "", "", false
	}
	toTag, _ = to.Params.Get("tag")
	fromTag, _ = from.Params.Get("tag")
	return cid.Value(), toTag, fromTag, true
}

// activeCalls is the number of registered calls (tests).
func (s *Server) activeCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// contact is the Contact header of our responses.
func (s *Server) contact(transport string) *sip.ContactHeader {
	h := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "demo", Host: uriHost(s.ip), Port: int(s.addr.Port())}}
	if transport != "" && transport != "UDP" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", sip.NetworkToLower(transport))
	}
	return h
}

// uriHost is ip as the host of a SIP URI (IPv6 in brackets).
func uriHost(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// slogLogger bridges a zap logger into the slog logger sipgo takes.
func slogLogger(l *zap.Logger) *slog.Logger {
	l = l.Named("sipgo")
	return slog.New(zapslog.NewHandler(l.Core(), zapslog.WithName(l.Name())))
}
