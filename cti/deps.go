package cti

import (
	"context"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
	"github.com/hubline/hubline/sip"
)

// Trunk places calls on the SIP trunks. SIPTrunks adapts a *sip.UA; tests use fakes.
type Trunk interface {
	Dial(ctx context.Context, inv sip.Invite, onEvent func(sip.Event)) (TrunkCall, error)
}

// TrunkCall is one outbound INVITE dialog.
type TrunkCall interface {
	// Hangup sends CANCEL before answer and BYE after; the outcome arrives as
	// a sip.Event.
	Hangup(ctx context.Context) error
}

// MediaEngine makes a call's media session. MediaOf adapts a *media.Engine.
type MediaEngine interface {
	NewSession(log *zap.Logger, onEvent func(media.Event)) (MediaSession, error)
	ICEServers() []media.ICEServer
}

// MediaSession is one call's media, as *media.Session implements it.
type MediaSession interface {
	TrunkOffer() []byte
	SetTrunkAnswer(sdp []byte) error
	MarkAnswered()
	AcceptBrowserOffer(offer string) (string, error)
	AddBrowserCandidate(c media.Candidate) error
	Close() error
}

// SIPTrunks places calls on ua's configured trunks, in order, failing over
// from one to the next on trunk-side failures (sip.UA.DialTrunks). The
// failover is invisible here: one TrunkCall, one Call-ID, one event stream.
func SIPTrunks(ua *sip.UA) Trunk { return sipTrunks{ua: ua} }

type sipTrunks struct{ ua *sip.UA }

func (t sipTrunks) Dial(ctx context.Context, inv sip.Invite, onEvent func(sip.Event)) (TrunkCall, error) {
	o, err := t.ua.DialTrunks(ctx, inv, onEvent)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// MediaOf adapts e to MediaEngine.
func MediaOf(e *media.Engine) MediaEngine { return mediaEngine{e} }

type mediaEngine struct{ e *media.Engine }

func (m mediaEngine) NewSession(log *zap.Logger, onEvent func(media.Event)) (MediaSession, error) {
	s, err := m.e.NewSession(log, onEvent)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m mediaEngine) ICEServers() []media.ICEServer { return m.e.ICEServers() }
