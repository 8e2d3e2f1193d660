package cti

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxOutbox bounds the SDK events kept for a rep with no socket attached.
const maxOutbox = 256

// Session is a logged-in rep: their sockets (one per softphone instance:
// the record widget, the nav-bar remote of every HubSpot tab, the calling
// window), their current call, their presence for inbound calls, and the
// SDK events waiting for a socket.
type Session struct {
	hub     *Hub
	token   string
	user    *User
	log     *zap.Logger
	expires time.Time

	// dialMu serialises dial: two softphone instances of one rep must not
	// both find "no call" and place two.
	dialMu sync.Mutex

	mu     sync.Mutex // guards the fields below; no I/O under it
	conns  []*conn    // in attach order: the last is the most recent
	outbox [][]byte   // sdk messages no socket could take
	call   callRef    // live, or ended and waiting for wrap-up
	grace  *time.Timer
	closed bool // logged out: its sockets are signed out too
	// Presence (presence.go): the rep asked to take inbound calls; kept
	// for ReconnectGrace after the last socket goes.
	wantAvailable bool
	away          *time.Timer
}

func (s *Session) currentCall() callRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.call
}

func (s *Session) setCall(c callRef) {
	s.mu.Lock()
	s.call = c
	s.mu.Unlock()
}

func (s *Session) callGone(c callRef) {
	s.mu.Lock()
	if s.call == c {
		s.call = nil
	}
	s.mu.Unlock()
}

// attach adds a socket: it sends it greeting (its sign-in replies) first,
// then what it missed: the call's state and the SDK events kept while no
// socket was attached. The greeting goes out under the session's lock, so
// nothing another instance causes (a sign-out, an incoming call) can reach
// the socket before it, nor be missed once the socket has its session. It
// reports false, sending nothing, when the session was signed out meanwhile.
func (s *Session) attach(c *conn, greeting ...[]byte) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	for _, m := range greeting {
		c.enqueue(m)
	}
	s.conns = append(s.conns, c)
	missed := s.outbox
	s.outbox = nil
	call := s.call
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	if s.away != nil {
		s.away.Stop()
		s.away = nil
	}
	s.mu.Unlock()
	if call != nil {
		call.post(callEvent{kind: evResync, conn: c})
	}
	for _, m := range missed {
		c.enqueue(m)
	}
	return true
}

// detach removes a socket. When the last one goes during a call, the call
// has ReconnectGrace to see one come back.
func (s *Session) detach(c *conn) {
	s.mu.Lock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	call := s.call
	if len(s.conns) == 0 && call != nil && call.snapshot().state.Live() && s.grace == nil {
		s.grace = time.AfterFunc(s.hub.opts.ReconnectGrace, func() {
			call.post(callEvent{kind: evGrace})
		})
	}
	s.awayLocked()
	s.mu.Unlock()
	if call != nil {
		call.post(callEvent{kind: evDetach, conn: c})
	}
}

// deliverSDK sends an SDK event to the socket that owns the call, else to the
// most recent socket, else keeps it until one attaches.
func (s *Session) deliverSDK(owner *conn, msg []byte) {
	s.mu.Lock()
	var to *conn
	for _, c := range s.conns {
		if c == owner {
			to = c
		}
	}
	if to == nil {
		if sp := s.speakersLocked(); len(sp) > 0 {
			to = sp[len(sp)-1]
		}
	}
	if to == nil {
		if len(s.outbox) >= maxOutbox {
			s.log.Warn("outbox full; dropping the oldest SDK event")
			s.outbox = s.outbox[1:]
		}
		s.outbox = append(s.outbox, msg)
	}
	s.mu.Unlock()
	if to != nil {
		to.enqueue(msg)
	}
}

// deliverState sends a call state message to every socket of the rep: each
// softphone instance mirrors the call.
func (s *Session) deliverState(msg []byte) {
	s.mu.Lock()
	conns := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.enqueue(msg)
	}
}
