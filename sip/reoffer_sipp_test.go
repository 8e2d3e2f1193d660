package sip

import (
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/media"
)

// mediaHandler answers in-dialog offers with a real media session, as cti
// does.
type mediaHandler struct{ s *media.Session }

func (h mediaHandler) AnswerOffer(o []byte) ([]byte, error) { return h.s.AnswerTrunkReoffer(o) }
func (h mediaHandler) Offer() ([]byte, error)               { return h.s.TrunkReoffer() }
func (h mediaHandler) ApplyAnswer(a []byte) error           { return h.s.SetTrunkAnswer(a) }

func newTestMedia(t *testing.T) *media.Session {
	t.Helper()
	e, err := media.NewEngine(media.Options{
		BindIP:      netip.MustParseAddr("127.0.0.1"),
		RTPPortMin:  43000,
		RTPPortMax:  43999,
		ICENetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RTPTimeout:  time.Minute,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewSession(zap.NewNop(), func(media.Event) {})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		e.Close()
	})
	return s
}

// TestSippTrunkReinviteHold: SIPp as the trunk of an outbound call puts it
// on hold with re-INVITEs (sendonly, inactive, c=0.0.0.0, recvonly),
// resumes it, moves its media and switches to PCMA, and offers a codec we
// lack. The scenario checks each 200: our answer's direction (recvonly to
// sendonly, never sendrecv to a hold), Contact, Content-Type, the same o=
// session id with the version one up; and the 488 to the bad offer. The
// call goes on to SIPp's BYE.
func TestSippTrunkReinviteHold(t *testing.T) {
	s := startSipp(t, "trunk_reinvite_hold.xml")
	u := newTestUA(t)
	ms := newTestMedia(t)
	rec := newRecorder()
	inv := testInvite()
	inv.SDP, inv.Session = ms.TrunkOffer(), mediaHandler{ms}
	dial(t, u, sippTrunk(s), inv, rec)
	rec.want(t, EventAnswered)
	if ev := rec.want(t, EventHangup); ev.Err != nil {
		t.Errorf("hangup %+v", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}
