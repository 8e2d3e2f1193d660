package softphone

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/audio"
)

// Socket timings. The gateway pings every 20 s and drops a peer silent for
// 60 s; the phone gives up on a gateway silent for readTimeout.
const (
	readTimeout  = 70 * time.Second
	writeTimeout = 10 * time.Second
	closeTimeout = time.Second
	maxFrame     = 1 << 20 // gateway frames are small; SDP is the largest
)

// Options configure a Phone. The zero value of each field is documented;
// only URL is required.
type Options struct {
	// URL is the gateway's WebSocket, ws://host:port/ws or wss://….
	URL string
	// Origin is sent as the Origin header, which the gateway checks.
	// Empty: the URL's own origin (http://host:port for ws://host:port).
	Origin string
	// TLSConfig is used for wss:// URLs. Nil: the system's defaults.
	TLSConfig *tls.Config

	// Logger receives the phone's logs (named "softphone"), and pion's.
	// Nil: no logs.
	Logger *zap.Logger

	// Source is the audio the phone sends on every call, at 8 kHz. It is
	// read by one call at a time. Nil: silence.
	Source audio.Source
	// Record keeps the audio heard on each call, for Heard.
	Record bool
	// NoMedia skips WebRTC entirely: no offer is sent for calls. For tests
	// of the protocol alone.
	NoMedia bool
	// Media, when not nil, takes over the audio of every call (load
	// generators such as cmd/hubload): WebRTC is negotiated as usual, but
	// the phone sends nothing from Source and records nothing; see
	// MediaHandler.
	Media MediaHandler
	// ICEServers, when not nil, replaces the STUN/TURN servers the
	// session names. An empty, non-nil list means host candidates only.
	ICEServers []ICEServer
	// ICENetworks restricts the phone's ICE candidates to these networks
	// (a loopback prefix, such as 127.0.0.0/8, also enables loopback
	// candidates). Empty: every address but link-local ones.
	ICENetworks []netip.Prefix

	// SimulateHubSpot makes the phone also play HubSpot's part: it sends
	// sdk onReady on connecting, answers outgoingCall with
	// onCreateEngagementSucceeded (or Failed) and callCompleted with
	// onUpdateEngagementSucceeded, as HubSpot's page would.
	SimulateHubSpot bool
	// HubSpot describes the simulated HubSpot. The zero value is fine.
	HubSpot HubSpot
}

// Phone is one softphone: a socket to the gateway and the WebRTC media of
// its calls. Methods are safe for concurrent use. Close releases it.
type Phone struct {
	opts Options
	log  *zap.Logger
	ws   *websocket.Conn
	api  *webrtc.API
	// logGate silences pion after Close.
	logGate *logGate

	out    chan outFrame // to writeLoop
	ctx    context.Context
	cancel context.CancelFunc // with quit
	quit   chan struct{}      // closed when the connection is down (lost or closed)
	closed chan struct{}      // closed by Close
	once   sync.Once
	wg     sync.WaitGroup // readLoop, writeLoop, pump
	ids    atomic.Uint64

	// Events: the reader and media goroutines append, pump delivers.
	evMu    sync.Mutex
	evQueue []Message
	evFinal bool // no more events; pump closes the channel once drained
	evWake  chan struct{}
	events  chan Message

	// mediaWG counts media goroutines; Add happens only on readLoop.
	mediaWG sync.WaitGroup
	srcMu   sync.Mutex // serialises reads of opts.Source

	// Guarded by mu. No I/O happens under mu.
	mu          sync.Mutex
	err         error // why the connection is down; nil while up
	changed     chan struct{}
	pending     []*request
	session     *Session
	initialized bool
	sdk         []SDK
	transfers   []TransferStatus // transfer.go
	calls       map[string]*Call
	media       map[string]*callMedia
	lastCall    string
	dtmfIn      []DTMFReceived // digits from the trunk (keypad.go)
	lastMedia   *callMedia
	engagements int64 // engagement ids handed out by the simulated HubSpot
}

type outFrame struct {
	b    []byte
	done chan error // cap 1
}

// request is a message waiting for its answer. The gateway's reply carries
// the request's id as re; replies that carry none (a new call after dial,
// an answer after offer) are matched by kind.
type request struct {
	id     string
	kind   string // type of the reply without re; "" when only errors answer
	callID string // for kind "answer"
	reply  chan Message
}

// Dial connects to the gateway at o.URL. A refused or failed connection is
// a *DialError. With o.SimulateHubSpot it sends sdk onReady at once.
func Dial(ctx context.Context, o Options) (*Phone, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, &DialError{URL: o.URL, Err: fmt.Errorf("not a ws:// or wss:// URL")}
	}
	origin := o.Origin
	if origin == "" {
		scheme := "http"
		if u.Scheme == "wss" {
			scheme = "https"
		}
		origin = scheme + "://" + u.Host
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("softphone")
	if o.Source == nil {
		o.Source = audio.Silence{}
	}
	gate := new(logGate)
	api, err := newAPI(&o, log, gate)
	if err != nil {
		return nil, err
	}

	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 15 * time.Second,
		TLSClientConfig:  o.TLSConfig,
	}
	ws, resp, err := d.DialContext(ctx, o.URL, http.Header{"Origin": {origin}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		de := &DialError{URL: o.URL, Err: err}
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			de.Status = resp.StatusCode
		}
		return nil, de
	}
	ws.SetReadLimit(maxFrame)

	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		ctx:     ctx,
		cancel:  cancel,
		opts:    o,
		log:     log,
		ws:      ws,
		api:     api,
		logGate: gate,
		out:     make(chan outFrame, 64),
		quit:    make(chan struct{}),
		closed:  make(chan struct{}),
		evWake:  make(chan struct{}, 1),
		events:  make(chan Message, eventsBuffer),
		changed: make(chan struct{}),
		calls:   make(map[string]*Call),
		media:   make(map[string]*callMedia),
	}
	p.wg.Add(3)
	go p.readLoop()
	go p.writeLoop()
	go p.pump()
	log.Debug("connected", zap.String("url", o.URL), zap.String("origin", origin))

	if o.SimulateHubSpot {
		if err := p.sendSDK(ctx, "", "onReady", p.onReadyData()); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Events returns the gateway's messages and the phone's MediaEvents, in
// order. Messages queue without bound until read, so a caller that does
// not care may ignore the channel. It is closed once the connection is
// down and every message was read; after Close, once the channel's buffer
// holds what remained (up to 256 unread messages; more are dropped).
func (p *Phone) Events() <-chan Message { return p.events }

// Done is closed when the connection to the gateway is down.
func (p *Phone) Done() <-chan struct{} { return p.quit }

// Err returns nil while the phone is connected, ErrClosed after Close, or
// why the connection was lost.
func (p *Phone) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Session returns the current session, or nil when not logged in.
func (p *Phone) Session() *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session
}

// SDKEvents returns, in order, every sdk event the gateway asked the phone
// to send to HubSpot, each with the time it arrived.
func (p *Phone) SDKEvents() []SDK {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]SDK(nil), p.sdk...)
}

// Close closes the socket and the media of every call, and waits for the
// phone's goroutines. It does not hang up: the gateway keeps a live call
// for its reconnect grace. Close is idempotent and always returns nil.
func (p *Phone) Close() error {
	p.once.Do(func() {
		p.shutdown(ErrClosed)
		close(p.closed)
	})
	p.wg.Wait()
	p.logGate.close()
	return nil
}

// Login signs in and returns the session. Wrong credentials give an *Error
// with code CodeAuthFailed.
func (p *Phone) Login(ctx context.Context, username, password string) (*Session, error) {
	r := p.register("session", "")
	defer p.unregister(r)
	if err := p.send(ctx, outLogin{V: ProtocolVersion, Type: "login", ID: r.id, Username: username, Password: password}); err != nil {
		return nil, err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return m.(*Session), nil
}

// Resume re-attaches to a live session by its token (after a reconnect).
// The gateway then sends the current call and the sdk events missed.
func (p *Phone) Resume(ctx context.Context, token string) (*Session, error) {
	r := p.register("session", "")
	defer p.unregister(r)
	if err := p.send(ctx, outResume{V: ProtocolVersion, Type: "resume", ID: r.id, Token: token}); err != nil {
		return nil, err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return m.(*Session), nil
}

// Logout ends the session and waits for the gateway's loggedOut.
func (p *Phone) Logout(ctx context.Context) error {
	r := p.register("loggedOut", "")
	defer p.unregister(r)
	if err := p.send(ctx, outLogout{V: ProtocolVersion, Type: "logout", ID: r.id}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, nil)
	return err
}

// Ping sends a protocol ping and waits for the pong.
func (p *Phone) Ping(ctx context.Context) error {
	r := p.register("pong", "")
	defer p.unregister(r)
	if err := p.send(ctx, outPing{V: ProtocolVersion, Type: "ping", ID: r.id}); err != nil {
		return err
	}
	_, err := p.await(ctx, r, nil)
	return err
}

// SendSDK forwards a HubSpot event to the gateway, as the browser does
// when HubSpot calls the app. It returns once the frame is written; a
// gateway error in reply arrives on Events.
func (p *Phone) SendSDK(ctx context.Context, name string, data any) error {
	return p.sendSDK(ctx, p.newID(), name, data)
}

func (p *Phone) sendSDK(ctx context.Context, id, name string, data any) error {
	return p.send(ctx, outSDK{V: ProtocolVersion, Type: "sdk", ID: id, Name: name, Data: data})
}

// closedErrLocked says why the phone cannot act: ErrClosed, wrapping the
// loss of the connection if that is why. Called with mu held.
func (p *Phone) closedErrLocked() error {
	if p.err == nil || errors.Is(p.err, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, p.err)
}

func (p *Phone) closedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closedErrLocked()
}

func (p *Phone) newID() string { return "c" + strconv.FormatUint(p.ids.Add(1), 10) }

// shutdown marks the connection down, once, and wakes every waiter.
func (p *Phone) shutdown(cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	p.err = cause
	close(p.quit)
	p.cancel()
	p.broadcastLocked()
}

// broadcastLocked wakes everyone waiting for a change. Called with mu held.
func (p *Phone) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Phone) register(kind, callID string) *request {
	r := &request{id: p.newID(), kind: kind, callID: callID, reply: make(chan Message, 1)}
	p.mu.Lock()
	p.pending = append(p.pending, r)
	p.mu.Unlock()
	return r
}

func (p *Phone) unregister(r *request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.pending {
		if x == r {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			return
		}
	}
}

// send writes one message and waits until it is on the socket.
func (p *Phone) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("softphone: encoding message: %w", err)
	}
	f := outFrame{b: b, done: make(chan error, 1)}
	select {
	case p.out <- f:
	case <-p.quit:
		return p.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-f.done:
		if err != nil {
			return p.closedErr()
		}
		return nil
	case <-p.quit:
		return p.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue queues a message without waiting; for replies sent from the
// read loop, which must not block on the socket.
func (p *Phone) enqueue(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.log.Error("encoding message", zap.Error(err))
		return
	}
	select {
	case p.out <- outFrame{b: b}:
	case <-p.quit:
	}
}

// await waits for r's reply. done, when not nil, is checked (with mu held)
// on every change of the phone's state; when it reports true, await
// returns its error (nil: success, with a nil Message).
func (p *Phone) await(ctx context.Context, r *request, done func() (bool, error)) (Message, error) {
	for {
		p.mu.Lock()
		if done != nil {
			if ok, err := done(); ok {
				p.mu.Unlock()
				return nil, err
			}
		}
		if p.err != nil {
			err := p.closedErrLocked()
			p.mu.Unlock()
			return nil, err
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case m := <-r.reply:
			if e, ok := m.(*Error); ok {
				return nil, e
			}
			return m, nil
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// writeLoop owns writes to the socket, and closes it when the phone goes
// down.
func (p *Phone) writeLoop() {
	defer p.wg.Done()
	defer p.ws.Close()
	for {
		select {
		case f := <-p.out:
			_ = p.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			err := p.ws.WriteMessage(websocket.TextMessage, f.b)
			if f.done != nil {
				f.done <- err
			}
			if err != nil {
				p.shutdown(fmt.Errorf("softphone: writing to gateway: %w", err))
				return
			}
		case <-p.quit:
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = p.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeTimeout))
			return
		}
	}
}

// readLoop reads and dispatches the gateway's frames until the socket
// fails or is closed, then waits for the calls' media and ends Events.
func (p *Phone) readLoop() {
	defer p.wg.Done()
	ws := p.ws
	_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			p.shutdown(lostError(err))
			break
		}
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		if typ != websocket.TextMessage {
			continue
		}
		m, env, err := decodeMessage(frame)
		if err != nil {
			p.log.Warn("frame ignored", zap.Error(err))
			continue
		}
		p.dispatch(m, env)
	}
	p.mediaWG.Wait()
	p.evMu.Lock()
	p.evFinal = true
	p.evMu.Unlock()
	p.wake()
}

// lostError words why the socket ended.
func lostError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" {
			return fmt.Errorf("softphone: gateway closed the connection (%d %s)", ce.Code, ce.Text)
		}
		return fmt.Errorf("softphone: gateway closed the connection (%d)", ce.Code)
	}
	return fmt.Errorf("softphone: connection to gateway lost: %s", shortCause(err))
}

// emit queues m for Events.
func (p *Phone) emit(m Message) {
	p.evMu.Lock()
	if !p.evFinal {
		p.evQueue = append(p.evQueue, m)
	}
	p.evMu.Unlock()
	p.wake()
}

func (p *Phone) wake() {
	select {
	case p.evWake <- struct{}{}:
	default:
	}
}

// eventsBuffer is how many messages Events holds unread; after Close,
// what does not fit is dropped.
const eventsBuffer = 256

// pump delivers queued events to the Events channel. After Close it stops
// blocking: it waits for the last events of the read loop and the media,
// puts what fits in the channel's buffer and closes it.
func (p *Phone) pump() {
	defer p.wg.Done()
	defer close(p.events)
	closing := false
	for {
		p.evMu.Lock()
		if len(p.evQueue) == 0 {
			final := p.evFinal
			p.evMu.Unlock()
			if final {
				return
			}
			if closing {
				<-p.evWake // readLoop sets evFinal soon and wakes us
				continue
			}
			select {
			case <-p.evWake:
			case <-p.closed:
				closing = true
			}
			continue
		}
		m := p.evQueue[0]
		p.evQueue[0] = nil
		p.evQueue = p.evQueue[1:]
		p.evMu.Unlock()
		if !closing {
			select {
			case p.events <- m:
				continue
			case <-p.closed:
				closing = true
			}
		}
		select {
		case p.events <- m:
		default: // nobody reads and the buffer is full
		}
	}
}

// dispatch acts on one gateway message: answers the request it replies to,
// updates calls, runs the simulated HubSpot, and emits it on Events.
// It runs on readLoop only.
func (p *Phone) dispatch(m Message, env envelope) {
	var after []func() // I/O to do once mu is released
	p.mu.Lock()
	switch m := m.(type) {
	case *Session:
		p.session = m
	case *LoggedOut:
		p.session = nil
	case *SDK:
		m.At = time.Now()
		p.sdk = append(p.sdk, *m)
		if m.Name == "initialized" {
			p.initialized = true
		}
		if p.opts.SimulateHubSpot {
			after = append(after, p.hubSpotReply(m)...)
		}
	case *Call:
		after = append(after, p.updateCallLocked(m)...)
	case *TransferStatus:
		p.transfers = append(p.transfers, *m)
	case *DTMFReceived:
		p.dtmfIn = append(p.dtmfIn, *m)
	}
	p.answerLocked(m, env)
	p.broadcastLocked()
	p.mu.Unlock()

	if e, ok := m.(*Error); ok {
		p.log.Info("gateway error", zap.String("code", e.Code), zap.String("message", e.Message),
			zap.String("re", e.Re), zap.String("callId", e.CallID))
	} else if ce := p.log.Check(zap.DebugLevel, "from gateway"); ce != nil {
		ce.Write(zap.String("type", m.Type()))
	}
	p.emit(m)
	for _, f := range after {
		f()
	}
}

// answerLocked hands m to the request it answers, if any.
func (p *Phone) answerLocked(m Message, env envelope) {
	deliver := func(i int) {
		r := p.pending[i]
		p.pending = append(p.pending[:i], p.pending[i+1:]...)
		r.reply <- m
	}
	matches := func(r *request) bool {
		if m.Type() != r.kind {
			return false
		}
		if a, ok := m.(*Answer); ok {
			return a.CallID == r.callID
		}
		return true
	}
	_, isErr := m.(*Error)
	for _, re := range []string{env.Re, env.ID} {
		if re == "" {
			continue
		}
		for i, r := range p.pending {
			if r.id == re && (isErr || matches(r)) {
				deliver(i)
				return
			}
		}
	}
	if isErr {
		return
	}
	if c, ok := m.(*Call); ok && len(p.calls[c.CallID].States) != 1 {
		return // only a new call answers a dial
	}
	for i, r := range p.pending {
		if matches(r) {
			deliver(i)
			return
		}
	}
}
