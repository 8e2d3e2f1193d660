package cti

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Presence and softphone instances.
//
// A rep may run several softphone instances at once: HubSpot's nav-bar
// remote in every tab, the calling window, the record widget. Each is a
// socket; an instance that finds the session token in the browser's
// storage resumes the same Session, so the gateway is the one place that
// knows them all. Every instance mirrors the rep's calls and presence from
// the gateway (call and presence messages); no instance talks to another.
//
// Each instance says where it runs in HubSpot's onReady (iframeLocation
// widget, remote or window; usesCallingWindow). With usesCallingWindow the
// calling window owns calls: remotes send HubSpot nothing and only forward
// the rep's clicks — unless no window is open, when they speak themselves
// (speakersLocked). The instance that holds a call's media is its owner
// (call.owner).
//
// A rep is available for inbound calls once signed in and after they said
// so (setAvailable → sdk userAvailable); setAvailable false, signing out,
// or having no instance connected for longer than ReconnectGrace makes them
// unavailable. While no instance is connected, or while they have a call
// (ringing, live or waiting for its wrap-up), inbound calls pass them by.

// instanceRole is what an instance's onReady said about it.
type instanceRole struct {
	location   string // widget, remote, window
	usesWindow bool   // usesCallingWindow
	ownerID    string // the HubSpot user's ownerId
}

var defaultRole = &instanceRole{location: "widget"}

func (c *conn) roleOf() *instanceRole {
	if r := c.role.Load(); r != nil {
		return r
	}
	return defaultRole
}

// newInstanceID names a socket for call.owner: 8 random characters.
func newInstanceID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// noteReady records where the instance runs, from HubSpot's onReady.
func (c *conn) noteReady(data json.RawMessage) {
	var d readyData
	_ = json.Unmarshal(data, &d)
	r := &instanceRole{location: "widget", usesWindow: d.UsesCallingWindow != nil && *d.UsesCallingWindow}
	switch d.IframeLocation {
	case "remote", "window":
		r.location = d.IframeLocation
	}
	r.ownerID = strings.Trim(string(d.OwnerID), `"`)
	if r.ownerID == "null" {
		r.ownerID = ""
	}
	c.role.Store(r)
	c.log.Debug("instance", zap.String("location", r.location), zap.Bool("usesCallingWindow", r.usesWindow),
		zap.String("ownerId", r.ownerID), zap.String("instance", c.instance))
}

// speakersLocked are the sockets that talk to HubSpot, oldest first: every
// instance but the remotes that defer to an open calling window. Called
// with s.mu held.
func (s *Session) speakersLocked() []*conn {
	window := false
	for _, c := range s.conns {
		if c.roleOf().location == "window" {
			window = true
		}
	}
	var out []*conn
	for _, c := range s.conns {
		r := c.roleOf()
		if window && r.location == "remote" && r.usesWindow {
			continue
		}
		out = append(out, c)
	}
	return out
}

// mirrorOnly reports whether c defers to a calling window of its session.
func (s *Session) mirrorOnly(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.speakersLocked() {
		if sp == c {
			return false
		}
	}
	return true
}

// mediaOwnerFor is the instance that takes the media of a call the rep
// answered on c: the calling window when c defers to one, else c.
func (s *Session) mediaOwnerFor(c *conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.speakersLocked()
	for _, x := range sp {
		if x == c {
			return c
		}
	}
	for i := len(sp) - 1; i >= 0; i-- {
		if sp[i].roleOf().location == "window" {
			return sp[i]
		}
	}
	if len(sp) > 0 {
		return sp[len(sp)-1]
	}
	return c
}

// ownerCandidate is the instance that should take a call over when its
// owner goes: the most recent calling window, else the most recent
// speaker; nil when none is connected.
func (s *Session) ownerCandidate() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.speakersLocked()
	for i := len(sp) - 1; i >= 0; i-- {
		if sp[i].roleOf().location == "window" {
			return sp[i]
		}
	}
	if len(sp) > 0 {
		return sp[len(sp)-1]
	}
	return nil
}

// attached reports whether c is one of the session's sockets.
func (s *Session) attached(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.conns {
		if x == c {
			return true
		}
	}
	return false
}

// deliverSpeakers sends an SDK message to to (those still attached), else
// to every speaker, else keeps it for the next socket.
func (s *Session) deliverSpeakers(to []*conn, msg []byte) []*conn {
	s.mu.Lock()
	var out []*conn
	for _, c := range to {
		for _, x := range s.conns {
			if x == c {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		out = s.speakersLocked()
	}
	if len(out) == 0 {
		if len(s.outbox) >= maxOutbox {
			s.outbox = s.outbox[1:]
		}
		s.outbox = append(s.outbox, msg)
	}
	s.mu.Unlock()
	for _, c := range out {
		c.enqueue(msg)
	}
	return out
}

// available reports whether the rep takes an inbound call now.
func (s *Session) available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.availableLocked()
}

func (s *Session) availableLocked() bool {
	return !s.closed && s.wantAvailable && len(s.conns) > 0 && s.call == nil
}

// reserve makes r the session's call if the rep is available: the inbound
// call rings them. It reports whether it did.
func (s *Session) reserve(r callRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.availableLocked() {
		return false
	}
	s.call = r
	return true
}

// presence reports the rep's choice (what HubSpot was told).
func (s *Session) presence() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wantAvailable
}

// setAvailable records the rep's presence and, when it changed, tells
// every instance (presence) and HubSpot (userAvailable, userUnavailable).
// reason says why the gateway changed it ("" for the rep's own choice).
// from, when set, asked: it gets the presence message with re whether or
// not anything changed.
func (s *Session) setAvailable(want bool, reason string, from *conn, re string) {
	s.mu.Lock()
	changed := s.wantAvailable != want && !s.closed
	if changed {
		s.wantAvailable = want
	}
	now := s.wantAvailable
	conns := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	if from != nil {
		from.enqueue(encode("presence", &presenceMsg{header: header{Re: re}, Available: now, Reason: reason}))
	}
	if !changed {
		return
	}
	s.log.Info("presence", zap.Bool("available", want), zap.String("reason", reason))
	msg := encode("presence", &presenceMsg{Available: want, Reason: reason})
	for _, c := range conns {
		if c != from {
			c.enqueue(msg)
		}
	}
	name := "userUnavailable"
	if want {
		name = "userAvailable"
	}
	s.deliverSpeakers(nil, encode("sdk", &sdkOutMsg{Name: name}))
}

// awayLocked starts the clock when the last socket goes: without one back
// within ReconnectGrace, the rep is unavailable (HubSpot hears it when an
// instance comes back). Called with s.mu held.
func (s *Session) awayLocked() {
	if len(s.conns) > 0 || !s.wantAvailable || s.away != nil || s.closed {
		return
	}
	s.away = time.AfterFunc(s.hub.opts.ReconnectGrace, func() {
		s.mu.Lock()
		stale := len(s.conns) > 0 || s.away == nil
		s.away = nil
		s.mu.Unlock()
		if !stale {
			s.setAvailable(false, "disconnected", nil, "")
		}
	})
}

// end signs every instance of a logged-out session out; from is the socket
// that asked (it gets its replies from its own read loop).
func (s *Session) end(from *conn) {
	s.mu.Lock()
	s.closed = true
	s.wantAvailable = false
	if s.away != nil {
		s.away.Stop()
		s.away = nil
	}
	others := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		if c != from {
			others = append(others, c)
		}
	}
	speakers := s.speakersLocked()
	s.conns = nil
	s.mu.Unlock()
	for _, c := range others {
		for _, sp := range speakers {
			if sp == c {
				c.enqueue(encode("sdk", &sdkOutMsg{Name: "userLoggedOut"}))
			}
		}
		c.enqueue(encode("loggedOut", &replyMsg{}))
	}
}

// isClosed reports whether the session was logged out.
func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Reps and HubSpot owners: Hub.reps indexes the sessions of each rep;
// Hub.owners maps HubSpot owner ids to reps (configured, then learnt from
// onReady).

func (h *Hub) addSession(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reps[s.user.Username] == nil {
		h.reps[s.user.Username] = map[*Session]struct{}{}
	}
	h.reps[s.user.Username][s] = struct{}{}
}

func (h *Hub) removeSession(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.reps[s.user.Username], s)
}

// sessionsOf returns the rep's sessions.
func (h *Hub) sessionsOf(username string) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Session, 0, len(h.reps[username]))
	for s := range h.reps[username] {
		out = append(out, s)
	}
	return out
}

// learnOwner maps a HubSpot owner id to the rep whose instance reported it
// in onReady, unless the configuration maps it already.
func (h *Hub) learnOwner(ownerID, username string) {
	if ownerID == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, configured := h.configuredOwners[ownerID]; configured {
		return
	}
	if h.owners[ownerID] != username {
		h.owners[ownerID] = username
		h.log.Info("HubSpot owner learnt from onReady", zap.String("ownerId", ownerID), zap.String("user", username))
	}
}

// repOfOwner is the rep a HubSpot owner id belongs to ("" if unknown).
func (h *Hub) repOfOwner(ownerID string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.owners[ownerID]
}
