package cti

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// HubSpotOrigins are the origins HubSpot's app is served from.
var HubSpotOrigins = []string{
	"https://app.hubspot.com",
	"https://app-eu1.hubspot.com",
	"https://app.hubspotqa.com",
}

// User is a rep who may log in.
type User struct {
	Username    string
	DisplayName string
	// PasswordHash is a bcrypt hash ("gateway hash-password" makes one).
	PasswordHash string
	// FromNumber is the rep's caller ID, E.164.
	FromNumber string
	// HubSpotOwnerID is the rep's HubSpot owner id, for owner-aware
	// routing. Empty: learnt from the ownerId of the rep's instances'
	// onReady.
	HubSpotOwnerID string
}

// Options configures a Hub. Zero values are documented per field.
type Options struct {
	Users []User
	// AllowedOrigins may open the WebSocket besides the gateway's own origin
	// and HubSpotOrigins.
	AllowedOrigins []string
	// SessionTTL is how long a login lasts. Zero: 12h.
	SessionTTL time.Duration
	// ReconnectGrace is how long a call outlives its rep's sockets. Zero: 30s.
	ReconnectGrace time.Duration
	// EngagementWait is how long callEnded waits for HubSpot's engagement id.
	// Zero: 3s.
	EngagementWait time.Duration
	// ShutdownTrunkWait bounds how long a stopping call waits for its BYE or
	// CANCEL to be answered. Zero: 5s.
	ShutdownTrunkWait time.Duration
	// DefaultRegion (ISO 3166 alpha-2) reads national numbers when HubSpot
	// sends no countryCode. Empty: numbers must be international.
	DefaultRegion string
	// HideWidget is callCompleted.hideWidget. False keeps the softphone open
	// for the next call of a sequence.
	HideWidget bool
	// Outcomes the rep picks from at wrap-up. Nil: DefaultOutcomes.
	Outcomes []Outcome
	Trunk    Trunk       // required
	Media    MediaEngine // required
	// Routes route inbound calls by DID (route.go). Nil: every inbound
	// INVITE gets 404.
	Routes []Route
	// MaxDuration ends an answered call (outbound or inbound) with BYE
	// once it has lasted this long: callEnded COMPLETED, reason "max
	// duration" in the log (maxduration.go). Zero: no maximum.
	MaxDuration time.Duration
	// RingTimeout is how long a route step rings when it sets no time of
	// its own. Zero: 20s.
	RingTimeout time.Duration
	// Owners finds the HubSpot owner of a CRM record, for owner-aware
	// routing (Route.OwnerFirst). Nil: only an owner id in the caller-ID
	// match itself is used.
	Owners RecordOwners
	// MusicOnHold is played to the trunk while a rep holds a call (G.711
	// µ-law at 8 kHz, looped). Nil: silence.
	MusicOnHold []byte
	// OnVoicemail receives every voicemail message, on a goroutine of its
	// own. Nil: messages are logged and dropped.
	OnVoicemail func(VoicemailMessage)
	// Logger receives the package's logs. Nil: no logs.
	Logger *zap.Logger
}

// Hub is the registry of reps' sessions, their sockets and their calls, and
// the WebSocket endpoint (it is an http.Handler).
type Hub struct {
	opts      Options
	log       *zap.Logger
	users     map[string]*User
	dummyHash []byte
	origins   map[string]bool
	upgrader  websocket.Upgrader

	routes map[string]*Route // by DID, read-only

	mu               sync.Mutex
	sessions         map[string]*Session // by token
	calls            map[string]*Call
	incoming         map[*inCall]struct{}             // inbound calls
	reps             map[string]map[*Session]struct{} // sessions by username
	owners           map[string]string                // HubSpot owner id → username
	configuredOwners map[string]bool                  // owner ids from Users: never relearnt
	conns            map[*conn]struct{}
	closing          bool

	wg sync.WaitGroup // every call and socket goroutine
}

// NewHub checks opts and returns a Hub ready to serve.
func NewHub(opts Options) (*Hub, error) {
	if opts.Trunk == nil || opts.Media == nil {
		return nil, errors.New("cti: Options.Trunk and Options.Media are required")
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.ReconnectGrace == 0 {
		opts.ReconnectGrace = 30 * time.Second
	}
	if opts.EngagementWait == 0 {
		opts.EngagementWait = 3 * time.Second
	}
	if opts.ShutdownTrunkWait == 0 {
		opts.ShutdownTrunkWait = 5 * time.Second
	}
	if opts.Outcomes == nil {
		opts.Outcomes = DefaultOutcomes
	}
	if opts.RingTimeout == 0 {
		opts.RingTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	h := &Hub{
		opts:     opts,
		log:      opts.Logger.Named("cti"),
		users:    make(map[string]*User),
		origins:  make(map[string]bool),
		sessions: make(map[string]*Session),
		calls:    make(map[string]*Call),
		incoming: make(map[*inCall]struct{}),
		reps:     make(map[string]map[*Session]struct{}),
		owners:   make(map[string]string),
		conns:    make(map[*conn]struct{}),

		configuredOwners: make(map[string]bool),
	}
	for i := range opts.Users {
		u := &opts.Users[i]
		if u.Username == "" {
			return nil, fmt.Errorf("cti: user %d has no username", i+1)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return nil, fmt.Errorf("cti: user %q: password hash is not bcrypt: %w", u.Username, err)
		}
		if _, dup := h.users[u.Username]; dup {
			return nil, fmt.Errorf("cti: user %q listed twice", u.Username)
		}
		if _, err := sip.NormalizeNumber(u.FromNumber, ""); err != nil {
			return nil, fmt.Errorf("cti: user %q: fromNumber %q: %w", u.Username, u.FromNumber, err)
		}
		h.users[u.Username] = u
		if u.HubSpotOwnerID != "" {
			if other, dup := h.owners[u.HubSpotOwnerID]; dup {
				return nil, fmt.Errorf("cti: users %q and %q have the same HubSpot owner id %s", other, u.Username, u.HubSpotOwnerID)
			}
			h.owners[u.HubSpotOwnerID] = u.Username
			h.configuredOwners[u.HubSpotOwnerID] = true
		}
	}
	routes, err := checkRoutes(opts.Routes, h.users)
	if err != nil {
		return nil, err
	}
	h.routes = routes
	// Unknown usernames are compared against this hash so a login takes as
	// long whether or not the user exists: same cost as the reps' hashes.
	cost := bcrypt.DefaultCost
	if len(opts.Users) > 0 {
		cost, _ = bcrypt.Cost([]byte(opts.Users[0].PasswordHash))
	}
	h.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("hubline-no-such-user"), cost)
	for _, o := range append(append([]string{}, HubSpotOrigins...), opts.AllowedOrigins...) {
		h.origins[strings.TrimRight(strings.ToLower(o), "/")] = true
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		CheckOrigin:      h.checkOrigin,
	}
	return h, nil
}

// checkOrigin admits the gateway's own origin, HubSpot's and configured ones.
// A request without Origin is refused: browsers always send it.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return h.origins[strings.TrimRight(strings.ToLower(origin), "/")]
}

// ServeHTTP upgrades a request to the softphone WebSocket.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.checkOrigin(r) {
		h.log.Warn("websocket refused: origin not allowed", zap.String("origin", r.Header.Get("Origin")),
			zap.String("remote", r.RemoteAddr))
		http.Error(w, "hubline: origin not allowed", http.StatusForbidden)
		return
	}
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		http.Error(w, "hubline: shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Info("websocket upgrade failed", zap.Error(err), zap.String("remote", r.RemoteAddr))
		return
	}
	c := newConn(h, ws, r.RemoteAddr)
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		c.closeWith(websocket.CloseGoingAway, "gateway shutting down")
		_ = ws.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.wg.Add(2)
	h.mu.Unlock()
	go func() { defer h.wg.Done(); c.writeLoop() }()
	go func() { defer h.wg.Done(); c.readLoop() }()
}

// Stats are the Hub's gauges, for /healthz.
type Stats struct {
	Sessions int `json:"sessions"`
	Sockets  int `json:"sockets"`
	Calls    int `json:"calls"`
}

// Stats returns the current gauges.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Sessions: len(h.sessions), Sockets: len(h.conns), Calls: len(h.calls) + len(h.incoming)}
}

// Shutdown ends every call (BYE or CANCEL, callEnded and callCompleted to the
// softphones), then closes every socket. It returns when all of it is done or
// ctx expires.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	calls := make([]*Call, 0, len(h.calls))
	for _, c := range h.calls {
		calls = append(calls, c)
	}
	incoming := make([]*inCall, 0, len(h.incoming))
	for c := range h.incoming {
		incoming = append(incoming, c)
	}
	h.mu.Unlock()
	h.log.Info("shutting down", zap.Int("calls", len(calls)), zap.Int("inboundCalls", len(incoming)))
	for _, c := range calls {
		c.post(callEvent{kind: evShutdown})
	}
	for _, c := range incoming {
		c.post(callEvent{kind: evShutdown})
	}
	for _, c := range calls {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
	}
	for _, c := range incoming {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
	}
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "gateway shutting down")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cti: shutdown: %w", ctx.Err())
	}
}

func (h *Hub) connGone(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func (h *Hub) callGone(c *Call) {
	h.mu.Lock()
	delete(h.calls, c.ID)
	h.mu.Unlock()
	c.sess.callGone(c)
}

func (h *Hub) outcome(key string) (Outcome, bool) {
	for _, o := range h.opts.Outcomes {
		if o.Key == key {
			return o, true
		}
	}
	return Outcome{}, false
}

// login checks a username and password and opens a session.
func (h *Hub) login(username, password string) (*Session, error) {
	u := h.users[username]
	hash := h.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || u == nil {
		return nil, protoErr("auth_failed", "Wrong username or password.")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, protoErr("internal", "could not create a session")
	}
	s := &Session{
		hub:     h,
		token:   base64.RawURLEncoding.EncodeToString(b[:]),
		user:    u,
		expires: time.Now().Add(h.opts.SessionTTL),
	}
	s.log = h.log.With(zap.String("user", u.Username), zap.String("session", s.token[:8]))
	h.mu.Lock()
	h.sessions[s.token] = s
	h.mu.Unlock()
	h.addSession(s)
	s.log.Info("logged in")
	return s, nil
}

func (h *Hub) resume(token string) (*Session, error) {
	h.mu.Lock()
	s := h.sessions[token]
	if s != nil && time.Now().After(s.expires) {
		delete(h.sessions, token)
		delete(h.reps[s.user.Username], s)
		s = nil
	}
	h.mu.Unlock()
	if s == nil {
		return nil, protoErr("session_expired", "Your session has expired. Please sign in again.")
	}
	return s, nil
}

// logout ends s: every instance of it is signed out; from is the socket
// that asked.
func (h *Hub) logout(s *Session, from *conn) {
	h.mu.Lock()
	delete(h.sessions, s.token)
	h.mu.Unlock()
	h.removeSession(s)
	s.end(from)
	s.log.Info("logged out")
}

// dial places a call for s. raw is the number as the rep or HubSpot gave it;
// dialingContext is HubSpot's onDialNumber payload (nil for keypad calls).
func (h *Hub) dial(s *Session, from *conn, re, raw, region string, dialingContext json.RawMessage) {
	received := time.Now()
	s.dialMu.Lock()
	defer s.dialMu.Unlock()
	if prev := s.currentCall(); prev != nil {
		snap := prev.snapshot()
		if snap.state.Live() {
			from.sendError(re, prev.callID(), protoErr("call_in_progress", "Finish the current call before dialling another."))
			return
		}
		if snap.state == StateEnded {
			// HubSpot must see callCompleted for the old call before the new
			// call starts, or it keeps a ghost engagement.
			autoComplete(prev)
		}
	}
	if region != "" && len(region) != 2 {
		region = ""
	}
	if region == "" {
		region = h.opts.DefaultRegion
	}
	to, err := sip.NormalizeNumber(raw, strings.ToUpper(region))
	if err != nil {
		s.log.Info("dial refused: invalid number", zap.String("number", truncate(raw, 64)), zap.Error(err))
		from.sendError(re, "", protoErr("invalid_number", "%q is not a phone number we can call: %s", truncate(raw, 64), strings.TrimPrefix(err.Error(), "sip: ")))
		return
	}
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		from.sendError(re, "", protoErr("trunk_unavailable", "The gateway is restarting. Try again in a moment."))
		return
	}

	id := uuid.NewString()
	c := &Call{
		ID:             id,
		hub:            h,
		sess:           s,
		owner:          from,
		to:             to,
		from:           s.user.FromNumber,
		dialingContext: dialingContext,
		events:         make(chan callEvent, 64),
		done:           make(chan struct{}),
		state:          StateDialling,
	}
	c.log = s.log.With(zap.String("externalCallId", id), zap.String("to", to))
	ms, err := h.opts.Media.NewSession(c.log, func(ev media.Event) { c.post(callEvent{kind: evMedia, media: ev}) })
	if err != nil {
		c.log.Error("no media session", zap.Error(err))
		from.sendError(re, "", protoErr("internal", "The gateway has no free media ports. Try again in a moment."))
		return
	}
	c.media = ms
	c.startedAt = time.Now()
	tc, err := h.opts.Trunk.Dial(context.Background(), c.invite(id, to), func(ev sip.Event) { c.post(callEvent{kind: evSIP, sip: ev}) })
	if err != nil {
		_ = ms.Close()
		c.log.Error("INVITE not sent", zap.Error(err))
		msg := "The call could not be placed: the trunk is unreachable."
		if errors.Is(err, sip.ErrNoTrunk) {
			msg = "The call could not be placed: no trunk is available (all are down or at their call limit)."
		} else if errors.Is(err, sip.ErrTLSCertificate) {
			msg = "The call could not be placed: the trunk's TLS certificate is not trusted."
		}
		from.sendError(re, "", protoErr("trunk_unavailable", "%s", msg))
		return
	}
	c.trunk = tc
	c.log.Info("INVITE sent", zap.Duration("dialToInvite", time.Since(received)))
	c.publish()
	h.mu.Lock()
	h.calls[id] = c
	h.wg.Add(1)
	h.mu.Unlock()
	s.setCall(c)
	s.deliverState(c.stateMsg())
	c.sdk("outgoingCall", outgoingCallData{
		ExternalCallID: id, ToNumber: to, FromNumber: c.from, CallStartTime: c.startedAt.UnixMilli(),
		CreateEngagement: true, DialingContext: dialingContext,
	})
	go func() { defer h.wg.Done(); c.run() }()
}

// invite is the INVITE of the call's trunk leg to number to with Call-ID
// id: the media's offer (with SDES keys for trunks with SRTP, sip/sdes.go)
// and the handler of the trunk's in-dialog offers (hold, new address).
func (c *Call) invite(id, to string) sip.Invite {
	inv := sip.Invite{
		CallID: id, To: to, From: c.from, FromName: c.sess.user.DisplayName, SDP: c.media.TrunkOffer(),
		Session: &sessionHandler{media: c.media, hold: &c.hold, notify: notifier(c.events, callEvent{kind: evRemoteHold})},
	}
	if k, ok := c.media.(interface{ TrunkCrypto() []string }); ok {
		inv.Crypto = k.TrunkCrypto()
	}
	return inv
}
