package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// UA is hubline's SIP user agent: one sipgo UA, client and server, listening
// on one UDP and one TCP socket (same host and port), and opening TLS
// connections to TLS trunks.
//
// It places outbound calls (Dial on one trunk, DialTrunks on the configured
// trunks with failover), takes inbound ones (Options.OnInvite, uas.go),
// registers with and probes its configured trunks, and answers the requests
// that reach it. Out-of-dialog requests from addresses that are no
// configured trunk's get Options.UnknownSources (403, or nothing). From
// trunks: BYE for its calls, outbound or inbound (200; 481 for unknown
// dialogs), OPTIONS (200), ACK (to the inbound dialog whose 2xx it
// confirms, else absorbed), CANCEL without a transaction (481), inbound
// INVITE (Options.OnInvite, else 480), re-INVITE and UPDATE in a dialog
// (answered by its SessionHandler, reoffer.go; 488 without one), anything
// else 405.
type UA struct {
	// Set by NewUA, read-only afterwards.
	log        *zap.Logger
	userAgent  string
	publicHost string
	port       int        // UDP and TCP listen port
	udpLaddr   gosip.Addr // the UDP listener: every UDP request leaves from it
	sua        *sipgo.UserAgent
	srv        *sipgo.Server
	client     *sipgo.Client
	udpConn    net.PacketConn
	tcpLn      net.Listener
	tlsHandoff *handoff // TLS connections the UA opened, handed to sipgo
	timers     uaTimers
	trunks     []*trunkState // Options.Trunks, in order
	unknown    SourcePolicy  // for out-of-dialog requests from unknown sources
	unknownOpt SourcePolicy  // the same for OPTIONS
	onInvite   func(*InboundInvite)
	onRefer    func(*IncomingRefer)
	instance   string // random; makes the Call-IDs of REGISTER and OPTIONS unique

	seFloor time.Duration // the lowest Min-SE a trunk may have (timer.go)

	trust atomic.Pointer[trustTable] // trunks' addresses; replaced by the resolver
	refer referTable                 // transfers in progress (refer.go)

	tlsMu    sync.Mutex             // guards tlsDials
	tlsDials map[string]*sync.Mutex // by address: serialises TLS dials

	closing   chan struct{} // closed by Close: live calls abort, registrations end
	closeCtx  context.Context
	cancelCtx context.CancelFunc // cancels closeCtx, with closing
	serveWG   sync.WaitGroup
	bgWG      sync.WaitGroup // registration, keepalive and resolver goroutines
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex // guards closed, calls, inbound, unwanted and callWG.Add
	closed   bool
	calls    map[string]*Call          // by Call-ID
	inbound  map[string]*InboundInvite // inbound dialogs, by Call-ID
	unwanted map[string]time.Time      // dialogs whose 2xx we ACKed and BYEd (ackAndBye): when
	callWG   sync.WaitGroup            // each call's run and deliver goroutines; ackAndBye's BYEs
}

// uaTimers are the UA's own transaction-user timeouts. They default to RFC
// 3261 values from sipgo's T1; tests shorten them per UA.
type uaTimers struct {
	invite time.Duration // no response at all to an INVITE (Timer B, 64*T1)
	cancel time.Duration // no final response after CANCEL (64*T1, RFC 3261 9.1)
	bye    time.Duration // no final response to our BYE
	ack    time.Duration // no ACK for our 2xx to an inbound INVITE (64*T1)
	// register: no final response to a REGISTER; unregister bounds the
	// unregistering on Close.
	register, unregister time.Duration
	resolve              time.Duration // how often trunks' host names are resolved again
}

func defaultTimers() uaTimers {
	return uaTimers{
		invite: 64 * gosip.T1,
		cancel: 64 * gosip.T1,
		// Shorter than Timer F (64*T1): the call is over for the user once
		// BYE is sent; 16*T1 still leaves room for four retransmissions.
		bye:        16 * gosip.T1,
		ack:        64 * gosip.T1,
		register:   16 * gosip.T1,
		unregister: 4 * gosip.T1,
		resolve:    5 * time.Minute,
	}
}

const (
	defaultListenAddr  = "127.0.0.1:5060"
	defaultUserAgent   = "hubline"
	defaultRingTimeout = 60 * time.Second
	allowMethods       = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO"
)

// NewUA checks opts.Trunks, starts listening on opts.ListenAddr (UDP and
// TCP, same port; port 0 picks a free one), and starts registering with and
// probing the trunks.
func NewUA(opts Options) (*UA, error) {
	confs, err := parseTrunks(opts.Trunks)
	if err != nil {
		return nil, err
	}
	floor := sessionFloor(opts.SessionTimerFloor)
	if err := checkSessionFloor(opts.Trunks, floor); err != nil {
		return nil, err
	}
	unknown, unknownOpt, err := sourcePolicies(opts.UnknownSources, opts.UnknownSourceOptions)
	if err != nil {
		return nil, err
	}
	listen := opts.ListenAddr
	if listen == "" {
		listen = defaultListenAddr
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: %w", listen, err)
	}
	public := opts.PublicHost
	if public == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return nil, fmt.Errorf("sip: PublicHost is required when listening on %q", listen)
		}
		public = host
	}
	userAgent := opts.UserAgent
	if userAgent == "" {
		userAgent = defaultUserAgent
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("sip")

	udpConn, tcpLn, err := listenUDPAndTCP(listen)
	if err != nil {
		return nil, err
	}
	laddr := udpConn.LocalAddr().(*net.UDPAddr)

	u := &UA{
		log:        log,
		userAgent:  userAgent,
		publicHost: public,
		port:       laddr.Port,
		udpLaddr:   gosip.Addr{IP: laddr.IP, Port: laddr.Port, Zone: laddr.Zone},
		udpConn:    udpConn,
		tcpLn:      tcpLn,
		timers:     defaultTimers(),
		unknown:    unknown,
		unknownOpt: unknownOpt,
		onInvite:   opts.OnInvite,
		seFloor:    floor,
		onRefer:    opts.OnRefer,
		instance:   gosip.GenerateTagN(10),
		tlsDials:   make(map[string]*sync.Mutex),
		closing:    make(chan struct{}),
		calls:      make(map[string]*Call),
		inbound:    make(map[string]*InboundInvite),
		unwanted:   make(map[string]time.Time),
	}

	sl := slogLogger(log)
	u.closeCtx, u.cancelCtx = context.WithCancel(context.Background())
	for _, tc := range confs {
		u.trunks = append(u.trunks, newTrunkState(tc, log))
	}
	u.sua, err = sipgo.NewUA(
		sipgo.WithUserAgent(userAgent),
		sipgo.WithUserAgentHostname(public),
		sipgo.WithUserAgenTLSConfig(sipgoTLSConfig()),
		sipgo.WithUserAgentTransactionLayerOptions(
			gosip.WithTransactionLayerLogger(sl),
			gosip.WithTransactionLayerUnhandledResponseHandler(u.handleStrayResponse),
			// A dropped TCP connection fails its transactions at once
			// (EventFailed 503) instead of waiting for Timer B.
			gosip.WithTransactionLayerTerminateOnConnClose(),
		),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(sl)),
	)
	if err != nil {
		udpConn.Close()
		tcpLn.Close()
		return nil, fmt.Errorf("sip: new user agent: %w", err)
	}
	u.srv, err = sipgo.NewServer(u.sua, sipgo.WithServerLogger(sl))
	if err == nil {
		u.client, err = sipgo.NewClient(u.sua, sipgo.WithClientLogger(sl), sipgo.WithClientHostname(public))
	}
	if err != nil {
		u.sua.Close()
		udpConn.Close()
		tcpLn.Close()
		return nil, fmt.Errorf("sip: new user agent: %w", err)
	}
	u.srv.OnInvite(u.handleInvite)
	u.srv.OnBye(u.handleBye)
	u.srv.OnPrack(u.handlePrack)
	u.srv.OnAck(u.handleAck)
	u.srv.OnCancel(u.handleCancel)
	u.srv.OnOptions(u.handleOptions)
	u.srv.OnUpdate(u.handleInDialogOffer)
	u.srv.OnRefer(u.handleRefer)
	u.srv.OnNotify(u.handleNotify)
	u.srv.OnInfo(u.handleInfo) // info.go
	u.srv.OnNoRoute(u.handleOther)

	// Requests over UDP leave from the listener (Request.Laddr), so that
	// the trunk sees the port of our Via and Contact. sipgo finds it in the
	// UDP connection pool, where ServeUDP registers it only once its
	// goroutine runs: register it now so that a Dial right after NewUA
	// finds it. ServeUDP replaces the entry with its own wrapper of the
	// same socket.
	u.sua.TransportLayer().Pool("udp").Add(laddr.String(), &gosip.UDPConnection{
		PacketConn: udpConn,
		PacketAddr: laddr.String(),
		Listener:   true,
	})
	u.tlsHandoff = newHandoff(tcpLn.Addr())
	u.serveWG.Add(3)
	go func() {
		defer u.serveWG.Done()
		u.srv.ServeUDP(udpConn)
	}()
	go func() {
		defer u.serveWG.Done()
		u.srv.ServeTCP(tcpLn)
	}()
	go func() {
		defer u.serveWG.Done()
		u.srv.ServeTLS(u.tlsHandoff)
	}()
	log.Info("sip user agent listening", zap.String("addr", laddr.String()), zap.String("publicHost", public))
	u.startTrunks()
	return u, nil
}

// parseTrunks checks the configured trunks: each valid, names unique.
func parseTrunks(trunks []Trunk) ([]trunkConf, error) {
	var confs []trunkConf
	names := map[string]bool{}
	for i, t := range trunks {
		if t.Name == "" {
			return nil, fmt.Errorf("sip: trunk %d has no name", i+1)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("sip: trunk %q configured twice", t.Name)
		}
		names[t.Name] = true
		tc, err := parseTrunk(t)
		if err != nil {
			return nil, err
		}
		confs = append(confs, tc)
	}
	return confs, nil
}

// listenUDPAndTCP binds UDP on addr and TCP on the same host and port. With
// port 0 it retries when the TCP side of the picked UDP port is taken.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	attempts := 1
	if port == "0" || port == "" {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		udpConn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen udp %s: %w", addr, err)
		}
		p := udpConn.LocalAddr().(*net.UDPAddr).Port
		tcpLn, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udpConn, tcpLn, nil
		}
		udpConn.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("sip: listen tcp %s: %w", addr, lastErr)
}

// Addr is the UDP (and TCP) address the UA listens on.
func (u *UA) Addr() string { return u.udpConn.LocalAddr().String() }

// Close stops listening. Calls should be hung up first: Close cuts short the
// ones still live (a best-effort CANCEL or BYE, then a terminal event with
// Err wrapping ErrClosed) and waits for their goroutines, which includes
// waiting for their onEvent callbacks to return. It then unregisters from
// the trunks it registered with (REGISTER with Expires: 0, bounded by a few
// seconds) and stops probing them. Idempotent.
func (u *UA) Close() error {
	u.closeOnce.Do(func() {
		u.mu.Lock()
		u.closed = true
		u.mu.Unlock()
		close(u.closing)
		u.cancelCtx()
		u.callWG.Wait()
		u.bgWG.Wait() // registrations end with an unregister

		u.tlsHandoff.Close()
		err := errors.Join(ignoreClosed(u.udpConn.Close()), ignoreClosed(u.tcpLn.Close()))
		u.serveWG.Wait()
		err = errors.Join(err, ignoreClosed(u.sua.Close()))
		if err != nil {
			u.closeErr = fmt.Errorf("sip: close: %w", err)
		}
		u.log.Info("sip user agent closed")
	})
	return u.closeErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Dial sends the INVITE on trunk and returns once it is on the wire. Events
// follow on onEvent, in order, from one goroutine; onEvent must not block
// for long, and may call Hangup. The last event is EventFailed, EventHangup
// or EventEnded, exactly once, and nothing follows it.
//
// ctx bounds only the sending (DNS, TCP connect); the call itself lives
// until it ends or Hangup. Dial returns an error, and no events follow, when
// the input is invalid (wrapping ErrInvalidNumber for bad numbers), the UA is
// closed (ErrClosed), the Call-ID is in use, or the INVITE could not be sent
// (ErrTransport).
func (u *UA) Dial(ctx context.Context, trunk Trunk, inv Invite, onEvent func(Event)) (*Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}
	tr, err := parseTrunk(trunk)
	if err != nil {
		return nil, err
	}
	if err := checkSessionFloor([]Trunk{trunk}, u.seFloor); err != nil {
		return nil, err
	}
	if err := validateInvite(inv); err != nil {
		return nil, err
	}
	return u.dial(ctx, &tr, inv, onEvent, tr.ring)
}

// dial places one INVITE on tr with the ring timeout ring; see Dial.
func (u *UA) dial(ctx context.Context, tr *trunkConf, inv Invite, onEvent func(Event), ring time.Duration) (*Call, error) {
	c := u.newCall(*tr, inv, onEvent, ring)
	invite, err := c.buildInvite()
	if err != nil {
		return nil, err
	}
	c.invite = invite
	if err := u.register(c); err != nil {
		return nil, err
	}
	tx, err := u.send(ctx, &c.trunk, c.invite)
	if err != nil {
		u.unregister(c)
		c.goroutinesDone()
		if errors.Is(err, ErrTransport) || errors.Is(err, ErrClosed) {
			return nil, fmt.Errorf("sip: send INVITE: %w", err)
		}
		return nil, fmt.Errorf("sip: send INVITE: %w: %w", ErrTransport, err)
	}
	c.inviteTx = tx
	c.log.Debug("INVITE sent", zap.String("to", inv.To), zap.String("addr", tr.addr()))
	go c.run()
	if c.onEvent != nil {
		go c.deliver()
	}
	return c, nil
}

// send starts a client transaction for req, which this package built in
// full. To a TLS destination it first makes sure there is a connection
// verified with tc's TLS settings (nil tc: only an existing one is used).
func (u *UA) send(ctx context.Context, tc *trunkConf, req *gosip.Request) (gosip.ClientTransaction, error) {
	if req.Transport() == "TLS" {
		if err := u.tlsConnect(ctx, tc, req); err != nil {
			return nil, err
		}
	}
	return u.client.TransactionRequest(ctx, req, prebuilt)
}

// write sends req (an ACK) outside any transaction, like send.
func (u *UA) write(tc *trunkConf, req *gosip.Request) error {
	if req.Transport() == "TLS" {
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		if err := u.tlsConnect(ctx, tc, req); err != nil {
			return err
		}
	}
	return u.client.WriteRequest(req, prebuilt)
}

// prebuilt is the sipgo request option for requests this package builds in
// full: it stops sipgo from adding or changing headers.
func prebuilt(*sipgo.Client, *gosip.Request) error { return nil }

// register reserves inv.CallID and counts the call's goroutines, under the
// lock Close takes, so that Close never waits while a call is being added.
func (u *UA) register(c *Call) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return fmt.Errorf("sip: dial: %w", ErrClosed)
	}
	if _, ok := u.calls[c.id]; ok {
		return fmt.Errorf("sip: dial: Call-ID %q is already in use", c.id)
	}
	u.calls[c.id] = c
	n := 1
	if c.onEvent != nil {
		n = 2
	}
	u.callWG.Add(n)
	return nil
}

func (u *UA) unregister(c *Call) {
	u.mu.Lock()
	if u.calls[c.id] == c {
		delete(u.calls, c.id)
	}
	u.mu.Unlock()
}

// lookup finds the call an in-dialog request belongs to: its Call-ID, and
// our From tag as its To tag.
func (u *UA) lookup(req *gosip.Request) *Call {
	cid := req.CallID()
	to := req.To()
	if cid == nil || to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	u.mu.Lock()
	c := u.calls[string(*cid)]
	u.mu.Unlock()
	if c == nil || tag != c.localTag {
		return nil
	}
	return c
}

func validateInvite(inv Invite) error {
	if !validCallID(inv.CallID) {
		return fmt.Errorf("sip: Invite.CallID %q is not a valid Call-ID", inv.CallID)
	}
	if !e164.MatchString(inv.To) {
		return fmt.Errorf("sip: Invite.To %q: %w: not E.164", inv.To, ErrInvalidNumber)
	}
	if !e164.MatchString(inv.From) {
		return fmt.Errorf("sip: Invite.From %q: %w: not E.164", inv.From, ErrInvalidNumber)
	}
	if len(inv.SDP) == 0 {
		return errors.New("sip: Invite.SDP is required (offerless INVITE is not supported)")
	}
	return nil
}

// validCallID: RFC 3261 25.1, word ["@" word].
func validCallID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	ats := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", ch) >= 0:
		case ch == '@':
			ats++
			if ats > 1 || i == 0 || i == len(s)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// displayName makes s safe inside the quoted display name of From: quotes
// and backslashes escaped, control characters (CR, LF: header injection)
// dropped.
func displayName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
