// Package softphonetest runs a fake hubline gateway for the tests of
// internal/softphone and cmd/softphone: protocol v1 (docs/protocol.md) on a
// real WebSocket on loopback, and a pion peer per call that echoes the
// phone's RTP back. It implements enough of the gateway to take a phone
// through every call state, and records what the phone sent. It is not the
// gateway (cti) and must not import it: the softphone tests the gateway
// from the outside. Only tests import this package.
//
// Numbers pick what the fake "trunk" does once the phone's offer arrives,
// as the demo trunk does: ending in 0486 busy, 0404 not found, 0408 rings
// until hung up, anything else rings and answers at once.
package softphonetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Options configure a Gateway. The zero value is a gateway with user
// demo/demo, PCMU, telephone-event and loopback-only ICE.
type Options struct {
	Users            map[string]string // username → password; nil: demo → demo
	PCMA             bool              // answer with A-law only
	NoTelephoneEvent bool              // do not accept telephone-event
	ICENetworks      []netip.Prefix    // nil: 127.0.0.0/8
}

// Frame is one message the phone sent.
type Frame struct {
	Type string
	ID   string
	Name string // of an sdk message
	Raw  json.RawMessage
}

// Decode unmarshals the whole frame into v.
func (f Frame) Decode(v any) error { return json.Unmarshal(f.Raw, v) }

// Data returns an sdk frame's data as a map.
func (f Frame) Data() map[string]any {
	var m struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(f.Raw, &m)
	return m.Data
}

// Gateway is a fake gateway listening on loopback.
type Gateway struct {
	URL    string // ws://127.0.0.1:port/ws
	Origin string // the origin it accepts, http://127.0.0.1:port

	o   Options
	srv *httptest.Server
	api *webrtc.API

	mu      sync.Mutex
	changed chan struct{}
	closed  bool
	conns   map[*conn]bool
	frames  []Frame
	events  []rtp.Packet // telephone-event packets received
	audio   int          // G.711 packets received
	wg      sync.WaitGroup
}

// New starts a fake gateway. Close stops it.
func New(o Options) (*Gateway, error) {
	if o.Users == nil {
		o.Users = map[string]string{"demo": "demo"}
	}
	if o.ICENetworks == nil {
		o.ICENetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	api, err := newAPI(o)
	if err != nil {
		return nil, err
	}
	g := &Gateway{o: o, api: api, changed: make(chan struct{}), conns: map[*conn]bool{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serveWS))
	g.URL = "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/ws"
	g.Origin = g.srv.URL
	return g, nil
}

func newAPI(o Options) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	codecs := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	}
	if o.PCMA {
		codecs = codecs[1:]
	}
	if !o.NoTelephoneEvent {
		codecs = append(codecs, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"},
			PayloadType:        101,
		})
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return false
		}
		for _, p := range o.ICENetworks {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

// Close drops every connection, closes the calls' media and stops the
// server, waiting for all of its goroutines.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
	g.srv.Close()
	g.wg.Wait()
}

// Frames returns every message the phones sent, in order.
func (g *Gateway) Frames() []Frame {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Frame(nil), g.frames...)
}

// WaitFrame waits for a message the phone sent that matches.
func (g *Gateway) WaitFrame(ctx context.Context, match func(Frame) bool) (Frame, error) {
	var found Frame
	err := g.wait(ctx, func() bool {
		for _, f := range g.frames {
			if match(f) {
				found = f
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitEventPackets waits until n telephone-event packets have arrived and
// returns all of them.
func (g *Gateway) WaitEventPackets(ctx context.Context, n int) ([]rtp.Packet, error) {
	var out []rtp.Packet
	err := g.wait(ctx, func() bool {
		out = append([]rtp.Packet(nil), g.events...)
		return len(g.events) >= n
	})
	return out, err
}

// AudioPackets returns how many G.711 packets have arrived.
func (g *Gateway) AudioPackets() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.audio
}

// wait waits until cond, called with mu held, is true.
func (g *Gateway) wait(ctx context.Context, cond func() bool) error {
	for {
		g.mu.Lock()
		ok := cond()
		ch := g.changed
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *Gateway) changedLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Hangup ends every live call as if the callee hung up (a BYE from the
// trunk): ended, COMPLETED.
func (g *Gateway) Hangup() {
	g.mu.Lock()
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.call != nil && c.call.live() {
			c.endCall("COMPLETED", 0, "")
		}
		c.mu.Unlock()
	}
}

var upgrader = websocket.Upgrader{}

func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	up := upgrader
	up.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") == g.Origin }
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered 403 or 400
	}
	c := &conn{g: g, ws: ws}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		ws.Close()
		return
	}
	g.conns[c] = true
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()
	c.serve()
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// conn is one phone's socket. serve handles its messages one at a time
// under mu, which also guards the call against Gateway.Hangup.
type conn struct {
	g   *Gateway
	ws  *websocket.Conn
	wmu sync.Mutex // serialises writes

	mu    sync.Mutex
	user  string
	call  *call
	media []*echo
}

type call struct {
	id, to, from                   string
	state                          string
	startedAt, answeredAt, endedAt int64
	endStatus                      string
	sipCode                        int
	sipReason                      string
	engagementID, dialingContext   json.RawMessage
	held                           bool
}

func (c *call) live() bool { return c.state != "ended" && c.state != "completed" }

func (c *conn) serve() {
	defer func() {
		c.mu.Lock()
		media := c.media
		c.media = nil
		c.mu.Unlock()
		for _, e := range media {
			e.close()
		}
		c.ws.Close()
	}()
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.handle(b)
		c.mu.Unlock()
	}
}

func (c *conn) send(v map[string]any) {
	v["v"] = 1
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.ws.WriteJSON(v)
}

func (c *conn) sendError(re, callID, code, msg string) {
	m := map[string]any{"type": "error", "code": code, "message": msg}
	if re != "" {
		m["re"] = re
	}
	if callID != "" {
		m["callId"] = callID
	}
	c.send(m)
}

func (c *conn) sdk(name string, data any) {
	m := map[string]any{"type": "sdk", "name": name}
	if data != nil {
		m["data"] = data
	}
	c.send(m)
}

// Client messages, decoded strictly as the gateway does.
type (
	envelope struct {
		V    int    `json:"v"`
		Type string `json:"type"`
		ID   string `json:"id,omitempty"`
	}
	loginMsg struct {
		envelope
		Username string `json:"username"`
		Password string `json:"password"`
	}
	resumeMsg struct {
		envelope
		Token string `json:"token"`
	}
	sdkMsg struct {
		envelope
		Name string          `json:"name"`
		Data json.RawMessage `json:"data,omitempty"`
	}
	dialMsg struct {
		envelope
		ToNumber string `json:"toNumber"`
	}
	offerMsg struct {
		envelope
		CallID string `json:"callId"`
		SDP    string `json:"sdp"`
	}
	candidateMsg struct {
		envelope
		CallID    string          `json:"callId"`
		Candidate json.RawMessage `json:"candidate"`
	}
	hangupMsg struct {
		envelope
		CallID string `json:"callId"`
	}
	wrapUpMsg struct {
		envelope
		CallID  string `json:"callId"`
		Outcome string `json:"outcome"`
		Notes   string `json:"notes"`
	}
)

var outcomes = []map[string]string{
	{"key": "connected", "label": "Connected"},
	{"key": "busy", "label": "Busy"},
	{"key": "no_answer", "label": "No answer"},
}

func (c *conn) handle(b []byte) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		c.sendError("", "", "bad_json", "a message must be one JSON object")
		return
	}
	f := Frame{Type: env.Type, ID: env.ID, Raw: append(json.RawMessage(nil), b...)}
	if env.Type == "sdk" {
		var s sdkMsg
		_ = json.Unmarshal(b, &s)
		f.Name = s.Name
	}
	c.g.mu.Lock()
	c.g.frames = append(c.g.frames, f)
	c.g.changedLocked()
	c.g.mu.Unlock()

	re := env.ID
	if env.V != 1 {
		c.sendError(re, "", "unsupported_version", "this gateway speaks version 1")
		return
	}
	var msg any
	switch env.Type {
	case "login":
		msg = new(loginMsg)
	case "resume":
		msg = new(resumeMsg)
	case "logout", "ping":
		msg = new(envelope)
	case "sdk":
		msg = new(sdkMsg)
	case "dial":
		msg = new(dialMsg)
	case "offer":
		msg = new(offerMsg)
	case "candidate":
		msg = new(candidateMsg)
	case "hangup":
		msg = new(hangupMsg)
	case "wrapUp":
		msg = new(wrapUpMsg)
	case "hold", "unhold":
		msg = new(hangupMsg) // the same fields: callId
	default:
		c.sendError(re, "", "unknown_type", fmt.Sprintf("unknown message type %q", env.Type))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(msg); err != nil {
		c.sendError(re, "", "bad_message", fmt.Sprintf("%q: %s", env.Type, err))
		return
	}

	if c.user == "" {
		switch m := msg.(type) {
		case *loginMsg:
			if pw, ok := c.g.o.Users[m.Username]; !ok || pw != m.Password {
				c.sendError(re, "", "auth_failed", "Wrong username or password.")
				return
			}
			c.user = m.Username
			c.send(map[string]any{"type": "session", "re": re, "token": "tok-" + m.Username,
				"user":       map[string]any{"username": m.Username, "displayName": "Demo Rep", "fromNumber": "+14155550100"},
				"iceServers": []any{}, "outcomes": outcomes, "expiresAt": time.Now().Add(time.Hour).UnixMilli()})
			c.sdk("userLoggedIn", nil)
			return
		case *resumeMsg:
			c.sendError(re, "", "session_expired", "The session has expired. Sign in again.")
			return
		case *envelope:
			if m.Type == "ping" {
				c.send(map[string]any{"type": "pong", "re": re})
				return
			}
		case *sdkMsg:
			if m.Name == "onReady" {
				c.sdk("initialized", map[string]any{"isLoggedIn": false})
				return
			}
		}
		c.sendError(re, "", "unauthenticated", "Sign in first.")
		return
	}

	switch m := msg.(type) {
	case *loginMsg, *resumeMsg:
		c.sendError(re, "", "bad_state", "this socket is already signed in")
	case *envelope:
		if m.Type == "ping" {
			c.send(map[string]any{"type": "pong", "re": re})
			return
		}
		if c.call != nil && c.call.live() {
			c.sendError(re, c.call.id, "bad_state", "End the call before signing out.")
			return
		}
		c.user = ""
		c.sdk("userLoggedOut", nil)
		c.send(map[string]any{"type": "loggedOut", "re": re})
	case *sdkMsg:
		c.onSDK(re, m)
	case *dialMsg:
		c.dial(re, m.ToNumber, "", nil)
	case *offerMsg:
		c.offer(re, m)
	case *candidateMsg:
		// Trickled candidates are not needed on loopback.
	case *hangupMsg:
		if !c.callFor(re, m.CallID) {
			return
		}
		if m.Type == "hold" || m.Type == "unhold" {
			// The trunk takes every hold and resume.
			if c.call.state != "answered" {
				c.sendError(re, c.call.id, "bad_state", "Only an answered call can be put on hold or resumed.")
				return
			}
			c.call.held = m.Type == "hold"
			c.publish()
			return
		}
		if !c.call.live() {
			c.sendError(re, c.call.id, "bad_state", "the call has already ended")
			return
		}
		if c.call.state == "answered" {
			c.endCall("COMPLETED", 0, "")
		} else {
			c.endCall("CANCELED", 487, "Request Terminated")
		}
	case *wrapUpMsg:
		if !c.callFor(re, m.CallID) {
			return
		}
		if c.call.state != "ended" {
			c.sendError(re, c.call.id, "bad_state", "wrap-up is possible once the call has ended")
			return
		}
		known := m.Outcome == ""
		for _, o := range outcomes {
			known = known || o["key"] == m.Outcome
		}
		if !known {
			c.sendError(re, c.call.id, "bad_message", fmt.Sprintf("unknown outcome %q", m.Outcome))
			return
		}
		c.complete(m.Outcome, m.Notes)
	}
}

func (c *conn) callFor(re, id string) bool {
	if c.call == nil || c.call.id != id {
		c.sendError(re, id, "no_such_call", fmt.Sprintf("There is no call %q.", id))
		return false
	}
	return true
}

func (c *conn) onSDK(re string, m *sdkMsg) {
	switch m.Name {
	case "onReady":
		c.sdk("initialized", map[string]any{"isLoggedIn": true})
	case "onDialNumber":
		var d struct {
			PhoneNumber  string `json:"phoneNumber"`
			PhoneNumber2 string `json:"phone_number"`
			CountryCode  string `json:"countryCode"`
		}
		if err := json.Unmarshal(m.Data, &d); err != nil {
			c.sendError(re, "", "bad_message", "onDialNumber data: "+err.Error())
			return
		}
		n := d.PhoneNumber
		if n == "" {
			n = d.PhoneNumber2
		}
		c.dial(re, n, d.CountryCode, m.Data)
	case "onCreateEngagementSucceeded", "onEngagementCreated":
		var d struct {
			EngagementID json.RawMessage `json:"engagementId"`
		}
		_ = json.Unmarshal(m.Data, &d)
		if c.call != nil {
			c.call.engagementID = d.EngagementID
		}
	case "onEndCall":
		if c.call != nil && c.call.live() {
			c.endCall("CANCELED", 487, "Request Terminated")
		}
	case "onCreateEngagementFailed", "onUpdateEngagementSucceeded", "onUpdateEngagementFailed":
	default:
		c.sendError(re, "", "unknown_sdk_event", fmt.Sprintf("unknown HubSpot event %q", m.Name))
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

func normalize(raw, country string) (string, bool) {
	n := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -().", r) {
			return -1
		}
		return r
	}, raw)
	if !strings.HasPrefix(n, "+") && (country == "" || strings.EqualFold(country, "US")) && len(n) == 10 {
		n = "+1" + n
	}
	return n, e164.MatchString(n)
}

func (c *conn) dial(re, raw, country string, dialingContext json.RawMessage) {
	if c.call != nil && c.call.live() {
		c.sendError(re, c.call.id, "call_in_progress", "Finish the current call before dialling another.")
		return
	}
	if c.call != nil && c.call.state == "ended" {
		c.complete("", "")
	}
	to, ok := normalize(raw, country)
	if !ok {
		c.sendError(re, "", "invalid_number", fmt.Sprintf("%q is not a phone number we can call", raw))
		return
	}
	c.call = &call{id: uuid(), to: to, from: "+14155550100", state: "dialling", startedAt: time.Now().UnixMilli(), dialingContext: dialingContext}
	c.publish()
	data := map[string]any{"externalCallId": c.call.id, "toNumber": to, "fromNumber": c.call.from,
		"callStartTime": c.call.startedAt, "createEngagement": true}
	if len(dialingContext) > 0 {
		data["dialingContext"] = dialingContext
	}
	c.sdk("outgoingCall", data)
}

func (c *conn) publish() {
	k := c.call
	m := map[string]any{"type": "call", "callId": k.id, "state": k.state, "direction": "OUTBOUND",
		"toNumber": k.to, "fromNumber": k.from, "startedAt": k.startedAt}
	if k.answeredAt != 0 {
		m["answeredAt"] = k.answeredAt
	}
	if k.endedAt != 0 {
		m["endedAt"] = k.endedAt
		m["endStatus"] = k.endStatus
	}
	if k.sipCode != 0 {
		m["sipCode"], m["sipReason"] = k.sipCode, k.sipReason
	}
	if len(k.engagementID) > 0 {
		m["engagementId"] = k.engagementID
	}
	if k.held {
		m["held"] = true
	}
	c.send(m)
}

func (c *conn) setState(s string) {
	c.call.state = s
	if s == "answered" {
		c.call.answeredAt = time.Now().UnixMilli()
	}
	c.publish()
}

func (c *conn) endCall(status string, code int, reason string) {
	k := c.call
	k.endedAt, k.endStatus, k.sipCode, k.sipReason = time.Now().UnixMilli(), status, code, reason
	c.setState("ended")
	c.sdk("callEnded", map[string]any{"externalCallId": k.id, "engagementId": k.engagementID, "callEndStatus": status})
	media := c.media
	c.media = nil
	for _, e := range media {
		// Not under mu: pion's Close waits for its goroutines.
		c.g.wg.Add(1)
		go func() {
			defer c.g.wg.Done()
			e.close()
		}()
	}
}

func (c *conn) complete(outcome, notes string) {
	k := c.call
	props := map[string]string{}
	if notes != "" {
		props["hs_call_body"] = notes
	}
	if outcome != "" {
		props["hs_call_disposition"] = outcome
	}
	c.sdk("callCompleted", map[string]any{"externalCallId": k.id, "engagementId": k.engagementID,
		"hideWidget": false, "engagementProperties": props})
	c.setState("completed")
}

func (c *conn) offer(re string, m *offerMsg) {
	if !c.callFor(re, m.CallID) {
		return
	}
	if !c.call.live() {
		c.sendError(re, c.call.id, "bad_state", "the call has ended")
		return
	}
	e, answer, err := c.g.newEcho(m.SDP)
	if err != nil {
		c.sendError(re, c.call.id, "media_failed", "The browser's audio could not be connected: "+err.Error())
		return
	}
	c.media = append(c.media, e)
	c.send(map[string]any{"type": "answer", "re": re, "callId": c.call.id, "sdp": answer})
	to := c.call.to
	switch {
	case strings.HasSuffix(to, "0404"):
		c.endCall("FAILED", 404, "Not Found")
	case strings.HasSuffix(to, "0486"):
		c.setState("ringing")
		c.endCall("BUSY", 486, "Busy Here")
	case strings.HasSuffix(to, "0408"):
		c.setState("ringing")
	default:
		c.setState("ringing")
		c.setState("answered")
		c.sdk("callAnswered", map[string]any{"externalCallId": c.call.id})
	}
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// echo is the fake's media for one call: a PeerConnection that records
// the phone's telephone-events and sends every packet back.
type echo struct {
	g     *Gateway
	pc    *webrtc.PeerConnection
	track *echoTrack
	mu    sync.Mutex
	done  bool
	wg    sync.WaitGroup
	once  sync.Once
}

func (g *Gateway) newEcho(offer string) (*echo, string, error) {
	pc, err := g.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	e := &echo{g: g, pc: pc, track: &echoTrack{}}
	fail := func(err error) (*echo, string, error) {
		_ = pc.GracefulClose()
		return nil, "", err
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		e.mu.Lock()
		if e.done {
			e.mu.Unlock()
			return
		}
		e.wg.Add(1)
		e.mu.Unlock()
		defer e.wg.Done()
		e.read(t)
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	if _, err := pc.AddTrack(e.track); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fail(errors.New("ICE gathering timed out"))
	}
	return e, pc.LocalDescription().SDP, nil
}

func (e *echo) read(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil && n == 0 {
			return
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		g := e.g
		g.mu.Lock()
		switch p.PayloadType {
		case 0, 8:
			g.audio++
		default:
			p.Payload = append([]byte(nil), p.Payload...)
			g.events = append(g.events, p)
		}
		g.changedLocked()
		g.mu.Unlock()
		if b := e.track.b.Load(); b != nil {
			h := p.Header
			h.SSRC = b.ssrc
			_, _ = b.w.WriteRTP(&h, p.Payload)
		}
	}
}

func (e *echo) close() {
	e.once.Do(func() {
		e.mu.Lock()
		e.done = true
		e.mu.Unlock()
		_ = e.pc.GracefulClose()
		e.wg.Wait()
	})
}

// echoTrack sends packets of any payload type, so telephone-events echo.
type echoTrack struct{ b atomic.Pointer[echoBinding] }

type echoBinding struct {
	ssrc uint32
	w    webrtc.TrackLocalWriter
}

func (t *echoTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.b.Store(&echoBinding{ssrc: uint32(ctx.SSRC()), w: ctx.WriteStream()})
	return codecs[0], nil
}

func (t *echoTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (t *echoTrack) ID() string                            { return "echo" }
func (t *echoTrack) RID() string                           { return "" }
func (t *echoTrack) StreamID() string                      { return "gateway" }
func (t *echoTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }
