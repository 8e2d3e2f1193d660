package cti

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hubline/hubline/media"
)

// ProtocolVersion is the version of docs/protocol.md this package speaks.
const ProtocolVersion = 1

// maxFrame is the largest frame a softphone may send (docs/protocol.md).
const maxFrame = 64 << 10

// ProtoError is an error the gateway reports on the socket: a code from
// docs/protocol.md and a message a rep can read.
type ProtoError struct {
	Code    string
	Message string
}

func (e *ProtoError) Error() string { return "cti: " + e.Code + ": " + e.Message }

func protoErr(code, format string, args ...any) *ProtoError {
	return &ProtoError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// envelope is the part every message has.
type envelope struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

func (e *envelope) env() *envelope { return e }

// clientMsg is a decoded softphone → gateway message.
type clientMsg interface {
	env() *envelope
	validate() error
}

type loginMsg struct {
	envelope
	Username string `json:"username"`
	Password string `json:"password"`
}

type resumeMsg struct {
	envelope
	Token string `json:"token"`
}

type emptyMsg struct{ envelope } // logout, ping

type sdkMsg struct {
	envelope
	Name string          `json:"name"`
	Data json.RawMessage `json:"data,omitempty"`
}

type dialMsg struct {
	envelope
	ToNumber string `json:"toNumber"`
}

type offerMsg struct {
	envelope
	CallID string `json:"callId"`
	SDP    string `json:"sdp"`
}

type candidateMsg struct {
	envelope
	CallID    string           `json:"callId"`
	Candidate *media.Candidate `json:"candidate"`
}

type hangupMsg struct {
	envelope
	CallID string `json:"callId"`
}

type wrapUpMsg struct {
	envelope
	CallID  string `json:"callId"`
	Outcome string `json:"outcome"`
	Notes   string `json:"notes"`
}

// callActionMsg is accept, decline and openRecord: an action on a call.
type callActionMsg struct {
	envelope
	CallID string `json:"callId"`
}

type setAvailableMsg struct {
	envelope
	Available *bool `json:"available"`
}

var newClientMsg = map[string]func() clientMsg{
	"login":     func() clientMsg { return new(loginMsg) },
	"resume":    func() clientMsg { return new(resumeMsg) },
	"logout":    func() clientMsg { return new(emptyMsg) },
	"ping":      func() clientMsg { return new(emptyMsg) },
	"sdk":       func() clientMsg { return new(sdkMsg) },
	"dial":      func() clientMsg { return new(dialMsg) },
	"offer":     func() clientMsg { return new(offerMsg) },
	"candidate": func() clientMsg { return new(candidateMsg) },
	"hangup":    func() clientMsg { return new(hangupMsg) },
	"wrapUp":    func() clientMsg { return new(wrapUpMsg) },
	// Inbound calls and presence.
	"accept":       func() clientMsg { return new(callActionMsg) },
	"decline":      func() clientMsg { return new(callActionMsg) },
	"openRecord":   func() clientMsg { return new(callActionMsg) },
	"setAvailable": func() clientMsg { return new(setAvailableMsg) },
	// Hold (hold.go).
	"hold":   func() clientMsg { return new(callActionMsg) },
	"unhold": func() clientMsg { return new(callActionMsg) }, // "resume" is the session's
	"dtmf":   func() clientMsg { return new(dtmfMsg) },       // dtmf.go
}

// sdkInbound lists the HubSpot → app events a softphone may forward.
var sdkInbound = map[string]bool{
	"onReady": true, "onDialNumber": true,
	"onCreateEngagementSucceeded": true, "onCreateEngagementFailed": true,
	"onEngagementCreated":         true,
	"onUpdateEngagementSucceeded": true, "onUpdateEngagementFailed": true,
	"onEndCall": true, "onVisibilityChanged": true,
	"onCallerIdMatchSucceeded": true, "onCallerIdMatchFailed": true,
	"onNavigateToRecordFailed":  true,
	"onInitiateCallIdSucceeded": true, "onInitiateCallIdFailed": true,
	"onFinalizeEngagementSucceeded": true, "onFinalizeEngagementFailed": true,
	"onSetWidgetUrlFailed": true, "onFailed": true,
}

func required(typ string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return protoErr("bad_message", "%q needs a non-empty %q", typ, fields[i])
		}
	}
	return nil
}

func maxLen(typ, field, v string, n int) error {
	if len(v) > n {
		return protoErr("bad_message", "%q field %q is longer than %d bytes", typ, field, n)
	}
	return nil
}

func (m *emptyMsg) validate() error { return nil }

func (m *loginMsg) validate() error {
	if err := required("login", "username", m.Username, "password", m.Password); err != nil {
		return err
	}
	if err := maxLen("login", "username", m.Username, 128); err != nil {
		return err
	}
	return maxLen("login", "password", m.Password, 1024)
}

func (m *resumeMsg) validate() error {
	if err := required("resume", "token", m.Token); err != nil {
		return err
	}
	return maxLen("resume", "token", m.Token, 256)
}

func (m *sdkMsg) validate() error {
	if err := required("sdk", "name", m.Name); err != nil {
		return err
	}
	if !sdkInbound[m.Name] {
		return protoErr("unknown_sdk_event", "unknown HubSpot event %q", truncate(m.Name, 64))
	}
	if len(m.Data) > 0 && !bytes.Equal(m.Data, []byte("null")) && m.Data[0] != '{' {
		return protoErr("bad_message", "%q field \"data\" must be an object", "sdk")
	}
	return nil
}

func (m *dialMsg) validate() error {
	if err := required("dial", "toNumber", m.ToNumber); err != nil {
		return err
	}
	return maxLen("dial", "toNumber", m.ToNumber, 64)
}

func (m *offerMsg) validate() error {
	return required("offer", "callId", m.CallID, "sdp", m.SDP)
}

func (m *candidateMsg) validate() error {
	if err := required("candidate", "callId", m.CallID); err != nil {
		return err
	}
	if m.Candidate == nil {
		return protoErr("bad_message", "%q needs a \"candidate\" object", "candidate")
	}
	return maxLen("candidate", "candidate", m.Candidate.Candidate, 1024)
}

func (m *hangupMsg) validate() error { return required("hangup", "callId", m.CallID) }

func (m *callActionMsg) validate() error {
	if err := required(m.Type, "callId", m.CallID); err != nil {
		return err
	}
	return maxLen(m.Type, "callId", m.CallID, 64)
}

func (m *setAvailableMsg) validate() error {
	if m.Available == nil {
		return protoErr("bad_message", "%q needs a boolean \"available\"", "setAvailable")
	}
	return nil
}

func (m *wrapUpMsg) validate() error {
	if err := required("wrapUp", "callId", m.CallID); err != nil {
		return err
	}
	if err := maxLen("wrapUp", "outcome", m.Outcome, 64); err != nil {
		return err
	}
	return maxLen("wrapUp", "notes", m.Notes, 10000)
}

// decodeClientMsg parses one frame from a softphone. Every failure is a
// *ProtoError whose message says what is wrong.
func decodeClientMsg(frame []byte) (clientMsg, *ProtoError) {
	var head map[string]json.RawMessage
	if err := json.Unmarshal(frame, &head); err != nil || head == nil {
		return nil, protoErr("bad_json", "a message must be one JSON object")
	}
	var v int
	rawV, ok := head["v"]
	if !ok {
		return nil, protoErr("bad_message", "missing protocol version \"v\"")
	}
	if err := json.Unmarshal(rawV, &v); err != nil {
		return nil, protoErr("bad_message", "\"v\" must be a number")
	}
	if v != ProtocolVersion {
		return nil, protoErr("unsupported_version", "protocol version %d is not supported; this gateway speaks %d", v, ProtocolVersion)
	}
	var typ string
	if err := json.Unmarshal(head["type"], &typ); err != nil || typ == "" {
		return nil, protoErr("bad_message", "missing message \"type\"")
	}
	mk, ok := newClientMsg[typ]
	if !ok {
		return nil, protoErr("unknown_type", "unknown message type %q", truncate(typ, 64))
	}
	msg := mk()
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.DisallowUnknownFields()
	if err := dec.Decode(msg); err != nil {
		return nil, protoErr("bad_message", "%q: %s", typ, jsonProblem(err))
	}
	if dec.More() {
		return nil, protoErr("bad_json", "a message must be one JSON object")
	}
	if len(msg.env().ID) > 64 {
		return nil, protoErr("bad_message", "\"id\" is longer than 64 bytes")
	}
	if err := msg.validate(); err != nil {
		var pe *ProtoError
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, protoErr("bad_message", "%s", err)
	}
	return msg, nil
}

// jsonProblem turns encoding/json's errors into words for a rep's developer.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	s := strings.TrimPrefix(err.Error(), "json: ")
	return s
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "int", "int64", "uint16", "float64":
		return "number"
	case "struct", "ptr", "map":
		return "object"
	}
	return k
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Gateway → softphone messages. They start with header, whose "re" echoes
// the "id" of the request a message answers.

type header struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Re   string `json:"re,omitempty"`
}

func (h *header) hdr() *header { return h }

// replyMsg is a reply with no fields of its own: pong, loggedOut.
type replyMsg struct{ header }

type sessionMsg struct {
	header
	Token      string            `json:"token"`
	User       userInfo          `json:"user"`
	ICEServers []media.ICEServer `json:"iceServers"`
	Outcomes   []outcomeInfo     `json:"outcomes"`
	ExpiresAt  int64             `json:"expiresAt"`
	// Instance names this socket (this softphone instance) in call.owner.
	Instance string `json:"instance"`
	// Available: the rep takes inbound calls (presence, below).
	Available bool `json:"available"`
}

// presenceMsg tells every instance of a rep whether they take inbound calls.
type presenceMsg struct {
	header
	Available bool `json:"available"`
	// Reason says why the gateway changed it ("" when the rep did):
	// "disconnected" (no instance stayed connected).
	Reason string `json:"reason,omitempty"`
}

type userInfo struct {
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	FromNumber  string `json:"fromNumber"`
}

type outcomeInfo struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

type errorMsg struct {
	header
	Code    string `json:"code"`
	Message string `json:"message"`
	CallID  string `json:"callId,omitempty"`
}

// callMsg is a call's state for the widget.
type callMsg struct {
	header
	CallID       string          `json:"callId"`
	State        string          `json:"state"`
	Direction    string          `json:"direction"`
	ToNumber     string          `json:"toNumber"`
	FromNumber   string          `json:"fromNumber"`
	StartedAt    int64           `json:"startedAt"`
	AnsweredAt   int64           `json:"answeredAt,omitempty"`
	EndsAt       int64           `json:"endsAt,omitempty"` // when the gateway hangs up (Options.MaxDuration)
	EndedAt      int64           `json:"endedAt,omitempty"`
	EndStatus    EndStatus       `json:"endStatus,omitempty"`
	SIPCode      int             `json:"sipCode,omitempty"`
	SIPReason    string          `json:"sipReason,omitempty"`
	Message      string          `json:"message,omitempty"`
	EngagementID json.RawMessage `json:"engagementId,omitempty"`
	// Owner is the instance that holds the call's media and talks to
	// HubSpot about it (sessionMsg.Instance); "" while an inbound call
	// rings. Other instances of the rep mirror the call.
	Owner string `json:"owner,omitempty"`
	// Inbound calls only.
	Caller *callerInfo `json:"caller,omitempty"` // HubSpot's caller-ID match
	// EndReason says why an inbound call ended for this rep: answered,
	// answered_elsewhere, declined, missed, routed (rang out, or went to
	// another rep or the fallback).
	EndReason  string `json:"endReason,omitempty"`
	AnsweredBy string `json:"answeredBy,omitempty"` // display name, for answered_elsewhere
	// Held: the rep put the call on hold (hold). HeldByRemote: the other
	// side did (its re-INVITE said sendonly, inactive or c=0.0.0.0).
	Held         bool `json:"held,omitempty"`
	HeldByRemote bool `json:"heldByRemote,omitempty"`
}

// callerInfo is the record HubSpot matched to an inbound caller.
type callerInfo struct {
	Name              string          `json:"name,omitempty"`
	Type              string          `json:"type,omitempty"` // CONTACT, COMPANY
	ObjectCoordinates json.RawMessage `json:"objectCoordinates,omitempty"`
}

type answerMsg struct {
	header
	CallID string `json:"callId"`
	SDP    string `json:"sdp"`
}

type sdkOutMsg struct {
	header
	Name string `json:"name"`
	Data any    `json:"data,omitempty"`
}

func encode(typ string, m interface{ hdr() *header }) []byte {
	h := m.hdr()
	h.V, h.Type = ProtocolVersion, typ
	b, err := json.Marshal(m)
	if err != nil {
		// Only our own types are encoded, with JSON the decoder already
		// checked; say so on the socket rather than crash.
		b, _ = json.Marshal(&errorMsg{header: header{V: ProtocolVersion, Type: "error"},
			Code: "internal", Message: "the gateway could not encode a " + typ + " message"})
	}
	return b
}
