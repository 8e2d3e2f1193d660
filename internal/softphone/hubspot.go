package softphone

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// HubSpot describes the HubSpot page the phone simulates with
// Options.SimulateHubSpot. Zero fields take the defaults shown.
type HubSpot struct {
	PortalID int64  // onReady portalId; 0: 20000001
	UserID   int64  // onReady userId; 0: 30000001
	OwnerID  int64  // onReady ownerId; 0: 40000001
	HostURL  string // onReady hostUrl; "": https://app.hubspot.com

	// FailEngagement makes HubSpot answer outgoingCall with
	// onCreateEngagementFailed instead of onCreateEngagementSucceeded.
	FailEngagement bool
	// EngagementID returns the id of each engagement HubSpot "creates".
	// It runs on the phone's read loop and must not call the Phone.
	// Nil: random 11-digit numbers, like HubSpot's.
	EngagementID func() int64

	// Location is onReady's iframeLocation: "widget" (default), "remote"
	// or "window"; UsesCallingWindow its usesCallingWindow.
	Location          string
	UsesCallingWindow bool
	// CallerID is HubSpot's caller-ID match for an incoming call's number:
	// the phone answers incomingCall with onCallerIdMatchSucceeded and
	// these matches, or onCallerIdMatchFailed when there are none. It runs
	// on the phone's read loop and must not call the Phone. Nil: no match.
	CallerID func(fromNumber string) []CallerIDMatch
}

// CallerIDMatch is one record of HubSpot's caller-ID match.
type CallerIDMatch struct {
	CallerIDType      string            `json:"callerIdType"` // CONTACT or COMPANY
	ObjectCoordinates ObjectCoordinates `json:"objectCoordinates"`
	FirstName         string            `json:"firstName,omitempty"`
	LastName          string            `json:"lastName,omitempty"`
	Name              string            `json:"name,omitempty"` // companies
	Email             string            `json:"email,omitempty"`
}

// ObjectCoordinates name a CRM record.
type ObjectCoordinates struct {
	PortalID     int64  `json:"portalId"`
	ObjectID     int64  `json:"objectId"`
	ObjectTypeID string `json:"objectTypeId"` // "0-1" contact, "0-2" company
}

// ContactMatch is the caller-ID match of a contact.
func ContactMatch(portalID, contactID int64, first, last string) CallerIDMatch {
	return CallerIDMatch{CallerIDType: "CONTACT", FirstName: first, LastName: last,
		ObjectCoordinates: ObjectCoordinates{PortalID: portalID, ObjectID: contactID, ObjectTypeID: "0-1"}}
}

func (h HubSpot) withDefaults() HubSpot {
	if h.PortalID == 0 {
		h.PortalID = 20000001
	}
	if h.UserID == 0 {
		h.UserID = 30000001
	}
	if h.OwnerID == 0 {
		h.OwnerID = 40000001
	}
	if h.HostURL == "" {
		h.HostURL = "https://app.hubspot.com"
	}
	if h.Location == "" {
		h.Location = "widget"
	}
	if h.EngagementID == nil {
		h.EngagementID = func() int64 { return 10_000_000_000 + rand.Int64N(90_000_000_000) }
	}
	return h
}

// onReadyData is HubSpot's onReady payload (the SDK's SYNC message).
func (p *Phone) onReadyData() any {
	h := p.opts.HubSpot.withDefaults()
	return map[string]any{
		"portalId":          h.PortalID,
		"userId":            h.UserID,
		"ownerId":           h.OwnerID,
		"hostUrl":           h.HostURL,
		"iframeLocation":    h.Location,
		"usesCallingWindow": h.UsesCallingWindow,
	}
}

// DialNumber is HubSpot's onDialNumber payload: what HubSpot sends when a
// rep clicks Call on a record. Zero fields are sent as zero, like HubSpot's
// own for a number typed into the dialler; DialFromHubSpot fills PhoneNumber
// and PhoneNumberLegacy from each other and StartTimestamp with the time.
type DialNumber struct {
	PhoneNumber       string     `json:"phoneNumber"`
	PhoneNumberLegacy string     `json:"phone_number"`
	CountryCode       string     `json:"countryCode,omitempty"` // ISO 3166 alpha-2, e.g. "US"
	CalleeInfo        CalleeInfo `json:"calleeInfo"`
	ObjectID          int64      `json:"objectId"`
	ObjectType        string     `json:"objectType"` // CONTACT, COMPANY
	OwnerID           int64      `json:"ownerId"`
	PortalID          int64      `json:"portalId"`
	SubjectID         int64      `json:"subjectId"`
	StartTimestamp    int64      `json:"startTimestamp"` // Unix ms
	ToPhoneNumberSrc  string     `json:"toPhoneNumberSrc"`
}

// CalleeInfo is the record HubSpot dials from.
type CalleeInfo struct {
	CalleeID           int64  `json:"calleeId"`
	CalleeObjectTypeID string `json:"calleeObjectTypeId"` // "0-1" contact, "0-2" company
}

// ContactDial returns the payload HubSpot sends for a call to a contact's
// phone number.
func ContactDial(number, countryCode string, contactID int64) DialNumber {
	return DialNumber{
		PhoneNumber:      number,
		CountryCode:      countryCode,
		CalleeInfo:       CalleeInfo{CalleeID: contactID, CalleeObjectTypeID: "0-1"},
		ObjectID:         contactID,
		ObjectType:       "CONTACT",
		SubjectID:        contactID,
		ToPhoneNumberSrc: "Phone number",
	}
}

// DialFromHubSpot sends sdk onDialNumber with d, as HubSpot does when the
// rep clicks Call, and returns the new call's id once the gateway reports
// it dialling. With SimulateHubSpot it fails with ErrNotInitialized if the
// gateway has not sent initialized (HubSpot would not dial then). The
// simulated HubSpot's portal and owner fill d's zero PortalID and OwnerID.
func (p *Phone) DialFromHubSpot(ctx context.Context, d DialNumber) (string, error) {
	p.mu.Lock()
	initialized := p.initialized
	p.mu.Unlock()
	if p.opts.SimulateHubSpot {
		if !initialized {
			return "", ErrNotInitialized
		}
		h := p.opts.HubSpot.withDefaults()
		if d.PortalID == 0 {
			d.PortalID = h.PortalID
		}
		if d.OwnerID == 0 {
			d.OwnerID = h.OwnerID
		}
	}
	if d.PhoneNumber == "" {
		d.PhoneNumber = d.PhoneNumberLegacy
	}
	if d.PhoneNumberLegacy == "" {
		d.PhoneNumberLegacy = d.PhoneNumber
	}
	if d.StartTimestamp == 0 {
		d.StartTimestamp = time.Now().UnixMilli()
	}
	r := p.register("call", "")
	defer p.unregister(r)
	if err := p.sendSDK(ctx, r.id, "onDialNumber", d); err != nil {
		return "", err
	}
	m, err := p.await(ctx, r, nil)
	if err != nil {
		return "", err
	}
	return m.(*Call).CallID, nil
}

// hubSpotReply returns what HubSpot's page would send back for ev. Called
// on readLoop with mu held; the returned functions run after.
func (p *Phone) hubSpotReply(ev *SDK) []func() {
	reply := func(name string, data any) func() {
		msg := outSDK{V: ProtocolVersion, Type: "sdk", ID: p.newID(), Name: name, Data: data}
		return func() {
			p.log.Debug("simulated HubSpot replies", zap.String("event", name), zap.String("id", msg.ID))
			p.enqueue(msg)
		}
	}
	switch ev.Name {
	case "incomingCall":
		var d struct {
			CreateEngagement bool   `json:"createEngagement"`
			FromNumber       string `json:"fromNumber"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil
		}
		h := p.opts.HubSpot.withDefaults()
		var out []func()
		if d.CreateEngagement && !h.FailEngagement {
			id := h.EngagementID()
			p.engagements = id
			out = append(out, reply("onCreateEngagementSucceeded", map[string]any{"engagementId": id}))
		}
		var matches []CallerIDMatch
		if h.CallerID != nil {
			matches = h.CallerID(d.FromNumber)
		}
		if len(matches) > 0 {
			out = append(out, reply("onCallerIdMatchSucceeded", map[string]any{"callerIdMatches": matches}))
		} else {
			out = append(out, reply("onCallerIdMatchFailed", map[string]any{"error": map[string]any{"message": "no match"}}))
		}
		return out
	case "outgoingCall":
		var d struct {
			CreateEngagement bool `json:"createEngagement"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil || !d.CreateEngagement {
			return nil
		}
		h := p.opts.HubSpot.withDefaults()
		if h.FailEngagement {
			return []func(){reply("onCreateEngagementFailed", map[string]any{
				"error": map[string]any{"message": "simulated engagement failure"},
			})}
		}
		id := h.EngagementID()
		p.engagements = id
		return []func(){reply("onCreateEngagementSucceeded", map[string]any{"engagementId": id})}
	case "callCompleted":
		var d struct {
			EngagementID ID `json:"engagementId"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		data := map[string]any{}
		if d.EngagementID != "" {
			data["engagementId"] = d.EngagementID
		}
		return []func(){reply("onUpdateEngagementSucceeded", data)}
	}
	return nil
}

// EngagementID returns the id of the last engagement the simulated HubSpot
// created, or 0.
func (p *Phone) EngagementID() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.engagements
}
