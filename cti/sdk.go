package cti

import "encoding/json"

// The SDK events the gateway emits, with the exact payloads HubSpot's
// calling-extensions-sdk methods take (docs/protocol.md).

type initializedData struct {
	IsLoggedIn   bool            `json:"isLoggedIn"`
	EngagementID json.RawMessage `json:"engagementId,omitempty"`
	// IsAvailable is the rep's presence for inbound calls (HubSpot's docs
	// and demos send it; the typed SDK does not list it).
	IsAvailable bool `json:"isAvailable"`
}

// incomingCallData is incomingCall's payload (INCOMING_CALL).
type incomingCallData struct {
	ExternalCallID   string `json:"externalCallId"`
	FromNumber       string `json:"fromNumber"`
	ToNumber         string `json:"toNumber"`
	CallStartTime    int64  `json:"callStartTime"`
	CreateEngagement bool   `json:"createEngagement"`
}

// callTransferredData is callTransferred's payload (SDK 0.9.6): the
// inbound call was routed away from this rep.
type callTransferredData struct {
	ExternalCallID string `json:"externalCallId"`
}

// navigateToRecordData is navigateToRecord's payload.
type navigateToRecordData struct {
	ObjectCoordinates json.RawMessage `json:"objectCoordinates"`
	EngagementID      json.RawMessage `json:"engagementId,omitempty"`
}

// readyData is the part of HubSpot's onReady (SYNC) payload the gateway
// reads: where this instance runs and for which HubSpot user.
type readyData struct {
	IframeLocation    string          `json:"iframeLocation"`
	UsesCallingWindow *bool           `json:"usesCallingWindow"`
	OwnerID           json.RawMessage `json:"ownerId"`
}

// callerIDMatchData is onCallerIdMatchSucceeded's payload.
type callerIDMatchData struct {
	CallerIDMatches []callerIDMatch `json:"callerIdMatches"`
}

type callerIDMatch struct {
	CallerIDType      string          `json:"callerIdType"` // CONTACT, COMPANY
	ObjectCoordinates json.RawMessage `json:"objectCoordinates"`
	FirstName         string          `json:"firstName"`
	LastName          string          `json:"lastName"`
	Name              string          `json:"name"`
	// OwnerID is not in HubSpot's documented payload; used when present.
	OwnerID json.RawMessage `json:"ownerId"`
}

// objectCoordinates is a CRM record's address in callerIdMatches.
type objectCoordinates struct {
	PortalID     json.Number `json:"portalId"`
	ObjectID     json.Number `json:"objectId"`
	ObjectTypeID string      `json:"objectTypeId"`
}

type outgoingCallData struct {
	ExternalCallID   string          `json:"externalCallId"`
	ToNumber         string          `json:"toNumber"`
	FromNumber       string          `json:"fromNumber"`
	CallStartTime    int64           `json:"callStartTime"`
	CreateEngagement bool            `json:"createEngagement"`
	DialingContext   json.RawMessage `json:"dialingContext,omitempty"`
}

type callAnsweredData struct {
	ExternalCallID string `json:"externalCallId"`
}

type callEndedData struct {
	ExternalCallID string          `json:"externalCallId"`
	EngagementID   json.RawMessage `json:"engagementId,omitempty"`
	CallEndStatus  EndStatus       `json:"callEndStatus"`
}

type callCompletedData struct {
	ExternalCallID       string            `json:"externalCallId"`
	EngagementID         json.RawMessage   `json:"engagementId,omitempty"`
	HideWidget           bool              `json:"hideWidget"`
	EngagementProperties map[string]string `json:"engagementProperties"`
}

// dialNumberData is the part of HubSpot's onDialNumber payload the gateway
// reads. The whole payload is kept, unchanged, as outgoingCall.dialingContext.
type dialNumberData struct {
	PhoneNumber  string `json:"phoneNumber"`
	PhoneNumber2 string `json:"phone_number"`
	CountryCode  string `json:"countryCode"`
}

// engagementData is the payload of onCreateEngagementSucceeded and
// onEngagementCreated. engagementId is a number in HubSpot's messages; it is
// kept as raw JSON and echoed exactly.
type engagementData struct {
	EngagementID json.RawMessage `json:"engagementId"`
}

// Outcome is a call outcome a rep can pick at wrap-up. Disposition is the
// HubSpot hs_call_disposition GUID it sets (empty: none).
type Outcome struct {
	Key         string
	Label       string
	Disposition string
}

// DefaultOutcomes are HubSpot's default call outcomes. The GUIDs are the
// defaults of a new portal; a portal can change them (GET
// /calling/v1/dispositions lists a portal's own), so they are configurable.
var DefaultOutcomes = []Outcome{
	{Key: "connected", Label: "Connected", Disposition: "f240bbac-87c9-4f6e-bf70-924b57d47db7"},
	{Key: "left_voicemail", Label: "Left voicemail", Disposition: "b2cf5968-551e-4856-9783-52b3da59a7d0"},
	{Key: "left_live_message", Label: "Left live message", Disposition: "a4c4c377-d246-4b32-a13b-75a56a4cd0ff"},
	{Key: "no_answer", Label: "No answer", Disposition: "73a0d17f-1163-4015-bdd5-ec830791da20"},
	{Key: "busy", Label: "Busy", Disposition: "9d9162e7-6cf3-4944-bf63-4dff82258764"},
	{Key: "wrong_number", Label: "Wrong number", Disposition: "17b47fee-58de-441e-a44c-c6300d46f273"},
}
