package media

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// Offers within a dialog (re-INVITE, UPDATE) and hold. The session keeps
// one o= line for everything it sends the trunk (RFC 3264 8: the same
// session id, the version one up for each new SDP), and whether the rep
// holds the call (LocalHoldOffer, ApplyLocalHold): then the browser's
// audio is not relayed to the trunk, while Play still is (music on hold).

// trunkRebaseAfter is the pause in the browser's audio to the trunk (a
// hold) after which the stream to the trunk goes on from its last sequence
// number and timestamp (splicer).
const trunkRebaseAfter = time.Second

// localSDP is our side of the trunk leg's SDP; Session.mu guards it.
type localSDP struct {
	id, ver uint64 // the o= session id and the version last sent
	hold    bool   // the rep holds the call: we offered sendonly
}

// answerDir is the direction of our answer to an offer with direction
// offer (from the trunk's side), zeroAddr for c=0.0.0.0 (RFC 2543 hold),
// while localHold says whether we hold the call ourselves. A held stream is
// never answered sendrecv: carriers hang up on that (livekit/sip #779).
func answerDir(offer direction, zeroAddr, localHold bool) direction {
	if zeroAddr {
		return dirInactive
	}
	var weSend, weRecv bool
	switch offer {
	case dirSendRecv:
		weSend, weRecv = true, true
	case dirSendOnly:
		weRecv = true
	case dirRecvOnly:
		weSend = true
	}
	if localHold {
		weRecv = false
	}
	switch {
	case weSend && weRecv:
		return dirSendRecv
	case weSend:
		return dirSendOnly
	case weRecv:
		return dirRecvOnly
	}
	return dirInactive
}

// AnswerTrunkReoffer answers a new offer from the trunk within the dialog
// (re-INVITE, UPDATE) and applies it at once: a new address or port (the
// source latch follows it), another law (the relay converts), a hold
// (nothing is sent to a trunk that holds us; the inactivity timeout is
// suspended while it sends nothing). Our answer keeps the RTP port and the
// o= session id, with the version one up; its direction answers the
// offer's (answerDir). An offer the session cannot use returns an error
// and leaves the session as it was (the caller answers 488).
func (s *Session) AnswerTrunkReoffer(offer []byte) ([]byte, error) {
	o, err := parseTrunkAnswer(offer)
	if err != nil {
		return nil, err
	}
	o.offerer = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	dir := answerDir(o.dir, o.hold(), s.local.hold)
	answer, err := buildTrunkAnswer(s.e.announce, s.port, &o, s.local.id, s.local.ver+1, dir)
	if err == nil {
		answer, err = s.answerOfferSDES(&o, answer) // SDES trunks: keys for the new SDP
	}
	if err != nil {
		return nil, err
	}
	s.local.ver++
	s.trunkAns = &o
	s.publishRules()
	s.lastRTP.Store(monoNow())
	s.log.Info("trunk re-offer answered", zap.Stringer("remote", o.remote), zap.Stringer("law", o.law),
		zap.Stringer("offer", o.dir), zap.Bool("zeroAddr", o.hold()), zap.Stringer("answer", dir))
	return answer, nil
}

// TrunkReoffer is a new offer of ours for a request that came without one
// (a re-INVITE without SDP): the session's codecs, port and o= id, the
// version one up, sendrecv (sendonly while the rep holds). The trunk's
// answer goes to SetTrunkAnswer.
func (s *Session) TrunkReoffer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := buildTrunkOfferDir(s.e.announce, s.port, s.local.id, s.local.ver+1, s.local.hold)
	if err == nil {
		s.local.ver++
	}
	return s.reofferCrypto(b), err
}

// LocalHoldOffer is the offer of the re-INVITE that holds the call
// (a=sendonly) or resumes it (a=sendrecv). It changes nothing: the session
// holds once ApplyLocalHold has the trunk's answer.
func (s *Session) LocalHoldOffer(hold bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := buildTrunkOfferDir(s.e.announce, s.port, s.local.id, s.local.ver+1, hold)
	return s.reofferCrypto(b), err
}

// reofferCrypto adds to b, a new offer of ours, the a=crypto of the key in
// use on an SDES trunk leg (RFC 4568 7.1.4: a re-offer may keep it), and
// makes it the one key offered, for applyAnswerSDES. Plain legs: b as it
// is. Session.mu is held.
func (s *Session) reofferCrypto(b []byte) []byte {
	ts := s.sdes.ctx.Load()
	if ts == nil || b == nil {
		return b
	}
	s.sdes.local = []sdesCrypto{ts.local}
	return withCrypto(b, s.trunkAns != nil && s.trunkAns.savp, ts.local.String())
}

// ApplyLocalHold applies the trunk's answer to LocalHoldOffer(hold): from
// now on the browser's audio goes to the trunk (resume) or not (hold). An
// answer the session cannot use returns an error and changes nothing.
func (s *Session) ApplyLocalHold(hold bool, answer []byte) error {
	ans, err := parseTrunkAnswer(answer)
	if err != nil {
		return err
	}
	if err := s.applyAnswerSDES(&ans); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.local.ver++
	s.local.hold = hold
	s.trunkAns = &ans
	s.publishRules()
	s.mu.Unlock()
	s.lastRTP.Store(monoNow())
	s.log.Info("local hold applied", zap.Bool("hold", hold), zap.Stringer("answer", ans.dir))
	return nil
}

// TrunkHolds reports whether the trunk's latest SDP holds the call: it
// sends nothing or takes nothing from us (sendonly, inactive, c=0.0.0.0).
func (s *Session) TrunkHolds() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.trunkAns
	return a != nil && (a.hold() || a.dir == dirSendOnly || a.dir == dirInactive)
}

// buildTrunkOfferDir is buildTrunkOffer with o= id and version, sendonly
// when hold.
func buildTrunkOfferDir(addr netip.Addr, port uint16, id, ver uint64, hold bool) ([]byte, error) {
	b, err := buildTrunkOffer(addr, port, id, ver)
	if err != nil || !hold {
		return b, err
	}
	out, n := replaceOnce(b, "a=sendrecv\r\n", "a=sendonly\r\n")
	if n != 1 {
		return nil, fmt.Errorf("media: build hold offer: no direction line")
	}
	return out, nil
}

func replaceOnce(b []byte, old, new string) ([]byte, int) {
	s := string(b)
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return []byte(s[:i] + new + s[i+len(old):]), 1
		}
	}
	return b, 0
}
