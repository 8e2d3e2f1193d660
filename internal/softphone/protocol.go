package softphone

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// This file holds the wire types of docs/protocol.md, version 1. Types the
// gateway sends are decoded leniently (unknown fields are ignored, for
// forward compatibility); types the softphone sends carry exactly the fields
// the protocol names, because the gateway rejects anything else.

// ProtocolVersion is the protocol version this package speaks.
const ProtocolVersion = 1

// Message is one message from the gateway, or a local event of the phone.
// The concrete types are *Session, *LoggedOut, *Pong, *Error, *Call,
// *Answer, *SDK, *Presence, *Unknown (gateway messages) and *MediaEvent
// (local).
// Messages delivered by Phone.Events are the phone's own copies; treat them
// as read-only.
type Message interface {
	// Type returns the protocol type ("call", "sdk", ...) or "media" for a
	// MediaEvent.
	Type() string
}

// Session is the gateway's "session" message: the rep is logged in.
type Session struct {
	Token      string      `json:"token"`
	User       User        `json:"user"`
	ICEServers []ICEServer `json:"iceServers"`
	Outcomes   []Outcome   `json:"outcomes"`
	ExpiresAt  int64       `json:"expiresAt"` // Unix ms
	// Instance names this socket in Call.Owner.
	Instance string `json:"instance"`
	// Available: the rep takes inbound calls.
	Available bool `json:"available"`
}

// Presence is the gateway's "presence" message: whether the rep takes
// inbound calls, sent to every instance when it changes and in reply to
// setAvailable.
type Presence struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // "disconnected" when the gateway changed it
}

// User is the logged-in rep.
type User struct {
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	FromNumber  string `json:"fromNumber"`
}

// ICEServer is an RTCIceServer. URLs may be a string or a list on the wire.
type ICEServer struct {
	URLs       StringList `json:"urls"`
	Username   string     `json:"username,omitempty"`
	Credential string     `json:"credential,omitempty"`
}

// StringList is a list of strings that also decodes from a single string.
type StringList []string

// UnmarshalJSON accepts "s" and ["s", ...].
func (l *StringList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// Outcome is a wrap-up outcome the rep may pick.
type Outcome struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// LoggedOut is the gateway's "loggedOut" message: the session ended.
type LoggedOut struct{}

// Pong is the gateway's reply to a ping.
type Pong struct{}

// CallState is the state of a call, as the gateway reports it.
type CallState string

// Call states, in the order a call goes through them. StateEnded may follow
// any state.
const (
	StateDialling   CallState = "dialling"    // INVITE sent
	StateRinging    CallState = "ringing"     // 180
	StateEarlyMedia CallState = "early_media" // 183 with SDP
	StateAnswered   CallState = "answered"    // 200
	StateEnded      CallState = "ended"
	StateCompleted  CallState = "completed" // after wrap-up
)

// rank orders states for WaitState; ringing and early media are peers.
func (s CallState) rank() int {
	switch s {
	case StateDialling:
		return 0
	case StateRinging, StateEarlyMedia:
		return 1
	case StateAnswered:
		return 2
	case StateEnded:
		return 3
	case StateCompleted:
		return 4
	}
	return -1
}

// Terminal reports whether no media flows any more in s: ended or completed.
func (s CallState) Terminal() bool { return s == StateEnded || s == StateCompleted }

// Call is the gateway's "call" message: the state of a call, sent on every
// transition. Optional fields are zero when absent.
type Call struct {
	CallID       string    `json:"callId"`
	State        CallState `json:"state"`
	Direction    string    `json:"direction"`
	ToNumber     string    `json:"toNumber"`
	FromNumber   string    `json:"fromNumber"`
	StartedAt    int64     `json:"startedAt"`            // Unix ms
	AnsweredAt   int64     `json:"answeredAt,omitempty"` // Unix ms
	EndedAt      int64     `json:"endedAt,omitempty"`    // Unix ms
	EndsAt       int64     `json:"endsAt,omitempty"`     // Unix ms: the gateway hangs up then (calls.maxDuration)
	EndStatus    string    `json:"endStatus,omitempty"`  // COMPLETED, FAILED, CANCELED, BUSY, NO_ANSWER
	SIPCode      int       `json:"sipCode,omitempty"`
	SIPReason    string    `json:"sipReason,omitempty"`
	Message      string    `json:"message,omitempty"`
	EngagementID ID        `json:"engagementId,omitempty"`
	// Owner is the instance (Session.Instance) that holds the call's media;
	// empty while an inbound call rings.
	Owner string `json:"owner,omitempty"`
	// Inbound calls: HubSpot's caller-ID match, why the call ended for this
	// rep (answered, answered_elsewhere, declined, missed, routed), and who
	// answered it elsewhere.
	Caller     *Caller `json:"caller,omitempty"`
	EndReason  string  `json:"endReason,omitempty"`
	AnsweredBy string  `json:"answeredBy,omitempty"`
	// Held: the rep put the call on hold (Hold); HeldByRemote: the other
	// side did.
	Held         bool `json:"held,omitempty"`
	HeldByRemote bool `json:"heldByRemote,omitempty"`

	// States lists every state this phone has seen the call in, oldest
	// first. It is kept locally and is not part of the message.
	States []CallState `json:"-"`
}

// Caller is the record HubSpot matched to an inbound caller.
type Caller struct {
	Name              string          `json:"name"`
	Type              string          `json:"type"`
	ObjectCoordinates json.RawMessage `json:"objectCoordinates"`
}

// Inbound reports whether the call came in from the trunk.
func (c Call) Inbound() bool { return c.Direction == "INBOUND" }

// Outcome returns the end of the call in words, as
// "BUSY (SIP 486 Busy Here)", or "" while the call has not ended.
func (c Call) Outcome() string {
	if c.EndStatus == "" && !c.State.Terminal() {
		return ""
	}
	s := c.EndStatus
	if s == "" {
		s = "without a status"
	}
	switch {
	case c.SIPCode != 0 && c.SIPReason != "":
		s += fmt.Sprintf(" (SIP %d %s)", c.SIPCode, c.SIPReason)
	case c.SIPCode != 0:
		s += fmt.Sprintf(" (SIP %d)", c.SIPCode)
	case c.Message != "":
		s += " (" + c.Message + ")"
	}
	return s
}

// ID is an identifier that the wire carries as a JSON number or a string
// (HubSpot engagement ids are numbers; nothing promises they stay so). It
// holds the number's decimal text, or the string.
type ID string

// UnmarshalJSON accepts a number or a string; null leaves the ID empty.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*id = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("softphone: id %s is neither a number nor a string", b)
		}
		*id = ID(n)
	}
	return nil
}

// MarshalJSON writes a number when the ID is an integer, else a string.
func (id ID) MarshalJSON() ([]byte, error) {
	if _, err := strconv.ParseInt(string(id), 10, 64); err == nil {
		return []byte(id), nil
	}
	return json.Marshal(string(id))
}

// Answer is the gateway's WebRTC answer for a call.
type Answer struct {
	CallID string `json:"callId"`
	SDP    string `json:"sdp"`
}

// SDK is an "sdk" message: a HubSpot Calling Extensions SDK event the
// gateway asks the softphone to send to HubSpot, unchanged.
type SDK struct {
	Name string          `json:"name"`
	Data json.RawMessage `json:"data,omitempty"` // a JSON object, or empty

	// At is when the phone received the event. It is kept locally and is
	// not part of the message.
	At time.Time `json:"-"`
}

// Decode unmarshals the event's data into v.
func (s *SDK) Decode(v any) error {
	if len(s.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(s.Data, v); err != nil {
		return fmt.Errorf("softphone: sdk %s data: %w", s.Name, err)
	}
	return nil
}

// Unknown is a message of a type this package does not know.
type Unknown struct {
	Kind string          // the message's "type"
	Raw  json.RawMessage // the whole frame
}

// Type implementations.
func (*Session) Type() string   { return "session" }
func (*LoggedOut) Type() string { return "loggedOut" }
func (*Pong) Type() string      { return "pong" }
func (*Error) Type() string     { return "error" }
func (*Call) Type() string      { return "call" }
func (*Answer) Type() string    { return "answer" }
func (*SDK) Type() string       { return "sdk" }
func (*Presence) Type() string  { return "presence" }
func (u *Unknown) Type() string { return u.Kind }

// MediaState is a step of a call's WebRTC media, as a MediaEvent reports it.
type MediaState string

// Media states, in order. MediaFailed and MediaClosed end the media.
const (
	MediaOffered   MediaState = "offered"   // offer sent to the gateway
	MediaAnswered  MediaState = "answered"  // the gateway's answer applied
	MediaConnected MediaState = "connected" // ICE and DTLS up; audio flows
	MediaFailed    MediaState = "failed"    // negotiation or connection failed; Err says why
	MediaClosed    MediaState = "closed"    // the call ended or the phone closed
)

// MediaEvent is a local event of the phone: a change of a call's media. It
// is delivered on Phone.Events, in order with the gateway's messages.
type MediaEvent struct {
	CallID string
	State  MediaState
	Err    error // why, for MediaFailed
}

func (*MediaEvent) Type() string { return "media" }

// envelope is the part of every frame the reader looks at first. Replies
// carry the request's id as "re"; ID is read too because some gateway
// builds echo it as "id".
type envelope struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Re   string `json:"re"`
	ID   string `json:"id"`
}

// decodeMessage parses one frame from the gateway.
func decodeMessage(frame []byte) (Message, envelope, error) {
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, env, fmt.Errorf("softphone: bad frame from gateway: %w", err)
	}
	var m Message
	switch env.Type {
	case "session":
		m = new(Session)
	case "loggedOut":
		return new(LoggedOut), env, nil
	case "pong":
		return new(Pong), env, nil
	case "error":
		m = new(Error)
	case "call":
		m = new(Call)
	case "answer":
		m = new(Answer)
	case "sdk":
		m = new(SDK)
	case "presence":
		m = new(Presence)
	case "transfer":
		m = new(TransferStatus)
	case "dtmfSent":
		m = new(DTMFSent)
	case "dtmfReceived":
		m = new(DTMFReceived)
	default:
		return &Unknown{Kind: env.Type, Raw: append(json.RawMessage(nil), frame...)}, env, nil
	}
	if err := json.Unmarshal(frame, m); err != nil {
		return nil, env, fmt.Errorf("softphone: bad %q message from gateway: %w", env.Type, err)
	}
	return m, env, nil
}

// Messages the softphone sends. Each has exactly the protocol's fields.

type outLogin struct {
	V        int    `json:"v"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type outLogout struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

type outPing struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

type outResume struct {
	V     int    `json:"v"`
	Type  string `json:"type"`
	ID    string `json:"id"`
	Token string `json:"token"`
}

type outSDK struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	Data any    `json:"data,omitempty"`
}

type outDial struct {
	V        int    `json:"v"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	ToNumber string `json:"toNumber"`
}

type outOffer struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	ID     string `json:"id"`
	CallID string `json:"callId"`
	SDP    string `json:"sdp"`
}

type outHangup struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	ID     string `json:"id"`
	CallID string `json:"callId"`
}

type outCallAction struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // accept, decline, openRecord
	ID     string `json:"id"`
	CallID string `json:"callId"`
}

type outSetAvailable struct {
	V         int    `json:"v"`
	Type      string `json:"type"`
	ID        string `json:"id"`
	Available bool   `json:"available"`
}

type outWrapUp struct {
	V       int    `json:"v"`
	Type    string `json:"type"`
	ID      string `json:"id"`
	CallID  string `json:"callId"`
	Outcome string `json:"outcome"`
	Notes   string `json:"notes"`
}
