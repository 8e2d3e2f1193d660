package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
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

// signalHandler is mediaHandler that tells the test when an answer (from
// an ACK) was applied.
type signalHandler struct {
	mediaHandler
	applied chan error
}

func (h signalHandler) ApplyAnswer(a []byte) error {
	err := h.mediaHandler.ApplyAnswer(a)
	h.applied <- err
	return err
}

// TestSippInboundReoffers: on an inbound call SIPp holds with UPDATE
// (answered recvonly), re-INVITEs without SDP (we offer in the 200, its
// ACK answers), then our hold re-INVITE crosses its re-INVITE: each side
// gets 491, ours is retried after RFC 3261 14.1's delay (0–2 s: we are not
// the Call-ID's owner) and answered; the resume follows; SIPp hangs up.
// The scenario checks directions, Contact and o= versions.
func TestSippInboundReoffers(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_reoffers.xml")
	ms := newTestMedia(t)
	h := signalHandler{mediaHandler{ms}, make(chan error, 4)}
	in.SetSession(h)
	ans, err := ms.AnswerTrunkOffer(in.SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(ans); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.applied:
		if err != nil {
			t.Fatalf("the ACK's answer: %v", err)
		}
	case <-time.After(wait):
		t.Fatalf("no answer in an ACK\n%s", s.Logs())
	}
	if ms.TrunkHolds() {
		t.Error("the trunk's last SDP (the ACK's sendrecv answer) still holds the call")
	}
	offer, err := ms.LocalHoldOffer(true)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hans, err := in.Reinvite(ctx, offer)
	if err != nil {
		t.Fatalf("hold re-INVITE: %v\n%s", err, s.Logs())
	}
	t.Logf("hold answered after glare in %v", time.Since(start).Round(time.Millisecond))
	if err := ms.ApplyLocalHold(true, hans); err != nil {
		t.Fatal(err)
	}
	offer, _ = ms.LocalHoldOffer(false)
	rans, err := in.Reinvite(ctx, offer)
	if err != nil {
		t.Fatalf("resume re-INVITE: %v", err)
	}
	if err := ms.ApplyLocalHold(false, rans); err != nil {
		t.Fatal(err)
	}
	rec.want(t, EventHangup)
	passed(t, s)
	if _, err := in.Reinvite(ctx, offer); !errors.Is(err, ErrDialogState) {
		t.Errorf("Reinvite after the end: %v, want ErrDialogState", err)
	}
	u.Close()
	rec.none(t)
}

// TestSippDelayedOfferAckWithoutAnswer: an INVITE without SDP gets our
// offer in the 200; its ACK brings no answer, so the call ends with our
// BYE and an error naming why.
func TestSippDelayedOfferAckWithoutAnswer(t *testing.T) {
	u, ch := inboundUA(t)
	s, in, rec := callIn(t, u, ch, "inbound_delayed_no_answer.xml")
	if len(in.SDP) != 0 {
		t.Fatalf("INVITE SDP %q, want none", in.SDP)
	}
	ms := newTestMedia(t)
	in.SetSession(mediaHandler{ms})
	if err := in.Answer(ms.TrunkOffer()); err != nil {
		t.Fatal(err)
	}
	ev := rec.want(t, EventEnded)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "no SDP answer") {
		t.Errorf("ended %+v, want an error about the missing answer", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

// TestSippReinviteLateAck: our 200 to a re-INVITE is retransmitted until
// the trunk's ACK comes (sipgo #42: a re-INVITE's 2xx needs its ACK like
// the first one's); the call goes on.
func TestSippReinviteLateAck(t *testing.T) {
	s := startSipp(t, "trunk_reinvite_late_ack.xml")
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
	// The first 200 to "CSeq: 2 INVITE" and its retransmissions at T1 and 3*T1.
	if n := strings.Count(s.Messages(), "CSeq: 2 INVITE\r\n"); n < 1+1+2 {
		t.Errorf("SIPp's log has %d messages with CSeq 2 INVITE, want the re-INVITE and at least 3 of our 200s", n)
	}
	u.Close()
	rec.none(t)
}

// TestSippReinviteNoAck: without an ACK for our 200 to its re-INVITE the
// call ends with our BYE and ErrTimeout.
func TestSippReinviteNoAck(t *testing.T) {
	s := startSipp(t, "trunk_reinvite_no_ack.xml")
	u := newTestUA(t)
	u.timers.ack = time.Second
	ms := newTestMedia(t)
	rec := newRecorder()
	inv := testInvite()
	inv.SDP, inv.Session = ms.TrunkOffer(), mediaHandler{ms}
	dial(t, u, sippTrunk(s), inv, rec)
	rec.want(t, EventAnswered)
	if ev := rec.want(t, EventEnded); !errors.Is(ev.Err, ErrTimeout) {
		t.Errorf("ended %+v, want ErrTimeout", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

// answeredHandler is mediaHandler that tells the test when it answered an
// offer.
type answeredHandler struct {
	mediaHandler
	answered chan struct{}
}

func (h answeredHandler) AnswerOffer(o []byte) ([]byte, error) {
	a, err := h.mediaHandler.AnswerOffer(o)
	h.answered <- struct{}{}
	return a, err
}

// TestSippReinviteRefreshesTarget: a re-INVITE's Contact becomes the
// dialog's remote target: our BYE goes there (the scenario checks its
// Request-URI).
func TestSippReinviteRefreshesTarget(t *testing.T) {
	s := startSipp(t, "trunk_reinvite_new_target.xml")
	u := newTestUA(t)
	ms := newTestMedia(t)
	rec := newRecorder()
	h := answeredHandler{mediaHandler{ms}, make(chan struct{}, 1)}
	inv := testInvite()
	inv.SDP, inv.Session = ms.TrunkOffer(), h
	c := dial(t, u, sippTrunk(s), inv, rec)
	rec.want(t, EventAnswered)
	select {
	case <-h.answered:
	case <-time.After(wait):
		t.Fatal("no re-INVITE")
	}
	// The ACK of our 200 may still be on its way: Hangup waits for the
	// dialog's goroutine, which takes the ACK first if it is there.
	c.Hangup(context.Background())
	if ev := rec.want(t, EventEnded); ev.Err != nil {
		t.Errorf("ended %+v", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}

// TestSippOurReinviteChallenged: the trunk challenges our hold re-INVITE;
// it goes again with credentials and the next CSeq (the scenario checks
// them) and its answer comes back.
func TestSippOurReinviteChallenged(t *testing.T) {
	s := startSipp(t, "our_reinvite_challenged.xml")
	u := newTestUA(t)
	ms := newTestMedia(t)
	rec := newRecorder()
	tr := sippTrunk(s)
	tr.Username, tr.Password = "alice", "s3cret"
	inv := testInvite()
	inv.SDP, inv.Session = ms.TrunkOffer(), mediaHandler{ms}
	c := dial(t, u, tr, inv, rec)
	rec.want(t, EventAnswered)
	offer, err := ms.LocalHoldOffer(true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ans, err := c.Reinvite(ctx, offer)
	if err != nil {
		t.Fatalf("hold: %v\n%s", err, s.Logs())
	}
	if !strings.Contains(string(ans), "a=recvonly") {
		t.Errorf("answer %q", ans)
	}
	rec.want(t, EventHangup)
	passed(t, s)
	u.Close()
	rec.none(t)
}

// TestSippOurReinvite481: a 481 to our re-INVITE means the dialog is gone:
// Reinvite fails with the status, and the call ends with our BYE.
func TestSippOurReinvite481(t *testing.T) {
	s := startSipp(t, "our_reinvite_481.xml")
	u := newTestUA(t)
	ms := newTestMedia(t)
	rec := newRecorder()
	inv := testInvite()
	inv.SDP, inv.Session = ms.TrunkOffer(), mediaHandler{ms}
	c := dial(t, u, sippTrunk(s), inv, rec)
	rec.want(t, EventAnswered)
	offer, _ := ms.LocalHoldOffer(true)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := c.Reinvite(ctx, offer)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 481 {
		t.Fatalf("Reinvite: %v, want a 481 StatusError", err)
	}
	if ev := rec.want(t, EventEnded); ev.Err == nil || !strings.Contains(ev.Err.Error(), "481") {
		t.Errorf("ended %+v, want an error naming the 481", ev)
	}
	passed(t, s)
	u.Close()
	rec.none(t)
}
