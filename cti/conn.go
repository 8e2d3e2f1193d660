package cti

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

const (
	pingEvery     = 20 * time.Second
	readTimeout   = 60 * time.Second
	writeTimeout  = 10 * time.Second
	sendQueue     = 128
	maxAuthErrors = 5
	// closeAuthFailures is the close code after too many failed logins.
	closeAuthFailures = 4001
)

// conn is one softphone socket. readLoop and writeLoop are its goroutines;
// others only enqueue.
type conn struct {
	hub      *Hub
	ws       *websocket.Conn
	log      *zap.Logger
	instance string                       // names the instance in call.owner; immutable
	role     atomic.Pointer[instanceRole] // from onReady (presence.go)
	send     chan []byte
	quit     chan struct{}
	once     sync.Once
	closeM   sync.Mutex
	code     int
	reason   string

	// Owned by readLoop.
	session       *Session
	authFailures  int
	toldLoggedOut bool // HubSpot heard initialized{isLoggedIn: false} from this instance
}

func newConn(h *Hub, ws *websocket.Conn, remote string) *conn {
	id := newInstanceID()
	return &conn{
		hub:      h,
		ws:       ws,
		instance: id,
		log:      h.log.With(zap.String("remote", remote), zap.String("instance", id)),
		send:     make(chan []byte, sendQueue),
		quit:     make(chan struct{}),
	}
}

// enqueue queues msg for the writer. A socket that cannot keep up is closed
// rather than allowed to hold up a call.
func (c *conn) enqueue(msg []byte) {
	select {
	case <-c.quit:
		return
	default:
	}
	select {
	case c.send <- msg:
	case <-c.quit:
	default:
		c.log.Warn("softphone too slow; closing its socket")
		c.closeWith(websocket.ClosePolicyViolation, "too slow")
	}
}

func (c *conn) sendError(re, callID string, pe *ProtoError) {
	c.enqueue(encode("error", &errorMsg{header: header{Re: re}, Code: pe.Code, Message: pe.Message, CallID: callID}))
}

// closeWith asks the writer to send a close frame and end the socket.
func (c *conn) closeWith(code int, reason string) {
	c.once.Do(func() {
		c.closeM.Lock()
		c.code, c.reason = code, reason
		c.closeM.Unlock()
		close(c.quit)
	})
}

func (c *conn) writeLoop() {
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	defer c.ws.Close()
	write := func(typ int, b []byte) error {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		return c.ws.WriteMessage(typ, b)
	}
	for {
		select {
		case m := <-c.send:
			if err := write(websocket.TextMessage, m); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := write(websocket.PingMessage, nil); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-c.quit:
			// Flush what is queued (the last call events matter), then close.
		flush:
			for {
				select {
				case m := <-c.send:
					if write(websocket.TextMessage, m) != nil {
						return
					}
				default:
					break flush
				}
			}
			c.closeM.Lock()
			code, reason := c.code, c.reason
			c.closeM.Unlock()
			if code != websocket.CloseAbnormalClosure {
				_ = write(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
			}
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.hub.connGone(c)
	defer func() {
		if c.session != nil {
			c.session.detach(c)
		}
		c.closeWith(websocket.CloseNormalClosure, "")
	}()
	c.ws.SetReadLimit(maxFrame)
	_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	})
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.log.Warn("frame too large; closing")
				c.closeWith(websocket.CloseMessageTooBig, "frame larger than 64 KiB")
			} else if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				c.log.Debug("socket read ended", zap.Error(err))
			}
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		if typ != websocket.TextMessage {
			c.sendError("", "", protoErr("bad_json", "messages must be text frames"))
			continue
		}
		msg, perr := decodeClientMsg(frame)
		if perr != nil {
			c.log.Info("message rejected", zap.String("code", perr.Code), zap.String("why", perr.Message))
			c.sendError("", "", perr)
			continue
		}
		if !c.handle(msg) {
			return
		}
		select {
		case <-c.quit:
			return
		default:
		}
	}
}

// handle acts on one message. It reports false when the socket must close.
func (c *conn) handle(m clientMsg) bool {
	re := m.env().ID
	if c.session != nil && c.session.isClosed() {
		// Another instance of the rep signed out: so did this one.
		c.session = nil
	}
	if c.session == nil {
		switch m := m.(type) {
		case *loginMsg:
			return c.authenticate(re, func() (*Session, error) { return c.hub.login(m.Username, m.Password) }, true)
		case *resumeMsg:
			return c.authenticate(re, func() (*Session, error) { return c.hub.resume(m.Token) }, false)
		case *emptyMsg:
			if m.Type == "ping" {
				c.enqueue(encode("pong", &replyMsg{header{Re: re}}))
				return true
			}
		case *sdkMsg:
			if m.Name == "onReady" {
				c.noteReady(m.Data)
				c.toldLoggedOut = true
				c.enqueue(encode("sdk", &sdkOutMsg{Name: "initialized", Data: initializedData{IsLoggedIn: false}}))
				return true
			}
		}
		c.sendError(re, "", protoErr("unauthenticated", "Sign in first."))
		return true
	}
	s := c.session
	switch m := m.(type) {
	case *loginMsg, *resumeMsg:
		c.sendError(re, "", protoErr("bad_state", "this socket is already signed in"))
	case *emptyMsg:
		if m.Type == "ping" {
			c.enqueue(encode("pong", &replyMsg{header{Re: re}}))
			return true
		}
		// logout
		if call := s.currentCall(); call != nil {
			snap := call.snapshot()
			if snap.state.Live() {
				c.sendError(re, call.callID(), protoErr("bad_state", "End the call before signing out."))
				return true
			}
			autoComplete(call)
		}
		c.hub.logout(s, c)
		c.enqueue(encode("sdk", &sdkOutMsg{Name: "userLoggedOut"}))
		c.enqueue(encode("loggedOut", &replyMsg{header{Re: re}}))
		c.session = nil
	case *sdkMsg:
		c.onSDK(re, m)
	case *dialMsg:
		c.hub.dial(s, c, re, m.ToNumber, "", nil)
	case *offerMsg:
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: evOffer, conn: c, re: re, sdp: m.SDP})
		}
	case *candidateMsg:
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: evCandidate, conn: c, re: re, cand: *m.Candidate})
		}
	case *hangupMsg:
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: evHangup, conn: c, re: re})
		}
	case *wrapUpMsg:
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: evWrapUp, conn: c, re: re, outcome: m.Outcome, notes: m.Notes})
		}
	case *callActionMsg:
		kind := map[string]evKind{"accept": evAccept, "decline": evDecline, "openRecord": evOpenRecord,
			"hold": evHold, "unhold": evResume}[m.Type]
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: kind, conn: c, re: re})
		}
	case *setAvailableMsg:
		s.setAvailable(*m.Available, "", c, re)
	case *transferMsg:
		c.handleTransfer(re, m)
	case *dtmfMsg:
		if call := c.callFor(re, m.CallID); call != nil {
			call.post(callEvent{kind: evDTMF, conn: c, re: re, digits: m.Digits})
		}
	}
	return true
}

// callFor returns the rep's call with id, or tells the softphone there is none.
func (c *conn) callFor(re, id string) callRef {
	call := c.session.currentCall()
	if call == nil || call.callID() != id {
		c.sendError(re, id, protoErr("no_such_call", "There is no call %q.", truncate(id, 64)))
		return nil
	}
	return call
}

func (c *conn) authenticate(re string, open func() (*Session, error), fresh bool) bool {
	s, err := open()
	if err != nil {
		c.authFailures++
		var pe *ProtoError
		if !errors.As(err, &pe) {
			pe = protoErr("internal", "sign-in failed")
		}
		c.log.Info("sign-in refused", zap.String("code", pe.Code), zap.Int("failures", c.authFailures))
		c.sendError(re, "", pe)
		if c.authFailures >= maxAuthErrors {
			c.closeWith(closeAuthFailures, "too many failed sign-ins")
			return false
		}
		return true
	}
	greeting := [][]byte{encode("session", &sessionMsg{
		header:     header{Re: re},
		Token:      s.token,
		User:       userInfo{Username: s.user.Username, DisplayName: s.user.DisplayName, FromNumber: s.user.FromNumber},
		ICEServers: c.hub.opts.Media.ICEServers(),
		Outcomes:   c.hub.outcomeInfos(),
		ExpiresAt:  s.expires.UnixMilli(),
		Instance:   c.instance,
		Available:  s.presence(),
	})}
	if fresh || c.toldLoggedOut {
		// A login, or an instance HubSpot still takes for logged out
		// resuming another instance's session.
		greeting = append(greeting, encode("sdk", &sdkOutMsg{Name: "userLoggedIn"}))
	}
	if !s.attach(c, greeting...) {
		c.sendError(re, "", protoErr("session_expired", "Your session has ended. Please sign in again."))
		return true
	}
	c.session = s
	c.log = c.log.With(zap.String("user", s.user.Username))
	c.toldLoggedOut = false
	return true
}

func (h *Hub) outcomeInfos() []outcomeInfo {
	out := make([]outcomeInfo, len(h.opts.Outcomes))
	for i, o := range h.opts.Outcomes {
		out[i] = outcomeInfo{Key: o.Key, Label: o.Label}
	}
	return out
}

// onSDK acts on an event HubSpot sent the softphone.
func (c *conn) onSDK(re string, m *sdkMsg) {
	s := c.session
	call := s.currentCall()
	switch m.Name {
	case "onReady":
		c.noteReady(m.Data)
		c.hub.learnOwner(c.roleOf().ownerID, s.user.Username)
		d := initializedData{IsLoggedIn: true, IsAvailable: s.presence()}
		if call != nil && call.snapshot().state.Live() {
			d.EngagementID = call.snapshot().engagementID
		}
		c.enqueue(encode("sdk", &sdkOutMsg{Name: "initialized", Data: d}))
	case "onDialNumber":
		var d dialNumberData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			c.sendError(re, "", protoErr("bad_message", "onDialNumber data: %s", jsonProblem(err)))
			return
		}
		number := d.PhoneNumber
		if number == "" {
			number = d.PhoneNumber2
		}
		if number == "" {
			c.sendError(re, "", protoErr("invalid_number", "HubSpot sent no phone number to dial."))
			return
		}
		c.hub.dial(s, c, re, number, d.CountryCode, m.Data)
	case "onCreateEngagementSucceeded", "onEngagementCreated", "onCreateEngagementFailed":
		var d engagementData
		_ = json.Unmarshal(m.Data, &d)
		if call == nil {
			c.log.Info("engagement event without a call", zap.String("event", m.Name))
			return
		}
		if m.Name == "onCreateEngagementFailed" {
			c.log.Warn("HubSpot could not create the engagement", zap.String("externalCallId", call.callID()),
				zap.ByteString("data", m.Data))
			d.EngagementID = nil
		}
		call.post(callEvent{kind: evEngagement, conn: c, engagementID: d.EngagementID})
	case "onCallerIdMatchSucceeded", "onCallerIdMatchFailed":
		if call == nil {
			c.log.Info("caller-ID match without a call", zap.String("event", m.Name))
			return
		}
		var d callerIDMatchData
		if m.Name == "onCallerIdMatchSucceeded" {
			if err := json.Unmarshal(m.Data, &d); err != nil {
				c.log.Info("caller-ID match unreadable", zap.Error(err))
			}
		} else {
			c.log.Info("HubSpot matched no record to the caller", zap.ByteString("data", m.Data))
		}
		call.post(callEvent{kind: evCallerID, conn: c, matches: d.CallerIDMatches})
	case "onEndCall":
		if call != nil && call.snapshot().state.Live() {
			call.post(callEvent{kind: evHangup})
		}
	case "onUpdateEngagementFailed", "onFailed", "onNavigateToRecordFailed", "onSetWidgetUrlFailed",
		"onFinalizeEngagementFailed", "onInitiateCallIdFailed":
		c.log.Warn("HubSpot reported a failure", zap.String("event", m.Name), zap.ByteString("data", m.Data))
	default:
		c.log.Debug("HubSpot event", zap.String("event", m.Name), zap.ByteString("data", m.Data))
	}
}
