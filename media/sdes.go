package media

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// SDES-SRTP on the trunk leg (RFC 4568, RFC 7714 for AEAD_AES_128_GCM).
//
// The keys travel in the SDP (a=crypto), so they are only as secret as the
// signalling: sip offers them to TLS trunks (srtp: mandatory needs TLS).
// Our offer carries two keys made with crypto/rand per session:
// AEAD_AES_128_GCM (tag 1, preferred) and AES_CM_128_HMAC_SHA1_80 (tag 2)
// (TrunkCrypto; sip adds them to the INVITE for trunks with srtp). The
// trunk's answer (SetTrunkAnswer) must echo one tag and its suite with its
// own key; an answer without a=crypto (srtp:
// optional) leaves the leg plain RTP. An inbound offer with a=crypto is
// answered in kind (AnswerTrunkOffer): the first offered suite we support
// (AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80 or _32), the offer's tag and
// transport (RTP/SAVP or RTP/AVP), a fresh key of ours.
//
// Hot path: handleTrunk decrypts in place before the relay rules;
// sendTrunk encrypts in place (the packet's buffer has room for the
// tag). The contexts are used by the session's loop only (the player sends
// its packets on the loop, trunkstream.go).

// sdesSuite is a crypto suite of RFC 4568 / RFC 7714.
type sdesSuite struct {
	name    string
	profile srtp.ProtectionProfile
}

// sdesSuites are the suites we accept, in our order of preference for
// nothing: an offer's order decides.
var sdesSuites = []sdesSuite{
	{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm},
	{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80},
	{"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32},
}

// offerSuites are the suites of our offers, in order (tags 1, 2).
var offerSuites = []sdesSuite{sdesSuites[0], sdesSuites[1]}

// offerSuite is the suite every SRTP trunk must support (RFC 4568 6.2.1).
var offerSuite = sdesSuites[1]

// srtpOverhead is the most an SRTP packet adds to an RTP one (the GCM tag).
const srtpOverhead = 16

var errUnknownSuite = errors.New("media: unsupported SRTP crypto suite")

// sdesCrypto is one a=crypto attribute: tag, suite, master key and salt.
type sdesCrypto struct {
	tag     int
	suite   sdesSuite
	keySalt []byte
}

func (c *sdesCrypto) String() string {
	return strconv.Itoa(c.tag) + " " + c.suite.name + " inline:" + base64.StdEncoding.EncodeToString(c.keySalt)
}

func suiteLens(s sdesSuite) (key, salt int) {
	key, _ = s.profile.KeyLen()
	salt, _ = s.profile.SaltLen()
	return key, salt
}

// parseCrypto reads an a=crypto value (RFC 4568 9.1): "tag suite
// inline:key||salt[|lifetime]". MKI and session parameters are not
// supported (they change the packet format or the crypto); an unknown
// suite is errUnknownSuite.
func parseCrypto(v string) (sdesCrypto, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return sdesCrypto{}, fmt.Errorf("media: malformed a=crypto %q", v)
	}
	if len(f) > 3 {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto session parameters are not supported: %q", v)
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 || f[0][0] == '+' || f[0][0] == '-' {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto tag %q", f[0])
	}
	c := sdesCrypto{tag: tag}
	found := false
	for _, s := range sdesSuites {
		if s.name == f[1] {
			c.suite, found = s, true
		}
	}
	if !found {
		return sdesCrypto{}, fmt.Errorf("%w: %q", errUnknownSuite, f[1])
	}
	params := strings.Split(f[2], ";")
	if len(params) != 1 {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto with several keys is not supported: %q", v)
	}
	inline, ok := strings.CutPrefix(params[0], "inline:")
	if !ok {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto key method %q: want inline", params[0])
	}
	parts := strings.Split(inline, "|")
	if len(parts) > 2 {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto MKI is not supported: %q", v)
	}
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		// Some peers leave the padding out.
		if key, err = base64.RawStdEncoding.DecodeString(parts[0]); err != nil {
			return sdesCrypto{}, fmt.Errorf("media: a=crypto key: %w", err)
		}
	}
	kl, sl := suiteLens(c.suite)
	if len(key) != kl+sl {
		return sdesCrypto{}, fmt.Errorf("media: a=crypto key of %d bytes, %s needs %d", len(key), c.suite.name, kl+sl)
	}
	c.keySalt = key
	return c, nil
}

// newCrypto makes a fresh key for suite s, with tag.
func newCrypto(tag int, s sdesSuite) sdesCrypto {
	kl, sl := suiteLens(s)
	key := make([]byte, kl+sl)
	rand.Read(key) // never fails (Go 1.24)
	return sdesCrypto{tag: tag, suite: s, keySalt: key}
}

// cryptoAttrs are the usable a=crypto attributes of md, in order; bad is
// how many were not.
func cryptoAttrs(md *sdp.MediaDescription) (usable []sdesCrypto, bad int) {
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		c, err := parseCrypto(a.Value)
		if err != nil {
			bad++
			continue
		}
		usable = append(usable, c)
	}
	return usable, bad
}

// trunkSRTP is the trunk leg's SRTP state.
type trunkSRTP struct {
	in, out       *srtp.Context
	inHdr, outHdr rtp.Header
	remote, local sdesCrypto
}

// sdesState is a Session's SDES part.
type sdesState struct {
	ctx   atomic.Pointer[trunkSRTP] // nil: plain RTP
	local []sdesCrypto              // our offer's keys, once made; guarded by Session.mu
}

func newTrunkSRTP(local, remote sdesCrypto) (*trunkSRTP, error) {
	kl, _ := suiteLens(remote.suite)
	in, err := srtp.CreateContext(remote.keySalt[:kl], remote.keySalt[kl:], remote.suite.profile,
		srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("media: SRTP from the trunk: %w", err)
	}
	kl, _ = suiteLens(local.suite)
	out, err := srtp.CreateContext(local.keySalt[:kl], local.keySalt[kl:], local.suite.profile)
	if err != nil {
		return nil, fmt.Errorf("media: SRTP to the trunk: %w", err)
	}
	return &trunkSRTP{in: in, out: out, remote: remote, local: local}, nil
}

// TrunkCrypto are the values of the a=crypto attributes ("1
// AEAD_AES_128_GCM inline:…", "2 AES_CM_128_HMAC_SHA1_80 inline:…") sip
// adds to TrunkOffer for trunks with SRTP. The keys are made on the first
// call and kept for the session.
func (s *Session) TrunkCrypto() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sdes.local == nil {
		for i, suite := range offerSuites {
			s.sdes.local = append(s.sdes.local, newCrypto(i+1, suite))
		}
	}
	var vals []string
	for i := range s.sdes.local {
		vals = append(vals, s.sdes.local[i].String())
	}
	return vals
}

// applyAnswerSDES keys the trunk leg from the trunk's answer to our offer:
// SRTP when it has a=crypto for the key we offered, plain RTP when it has
// none (and RTP/AVP).
func (s *Session) applyAnswerSDES(ans *trunkAnswer) error {
	if len(ans.crypto) == 0 {
		if ans.savp {
			return errors.New("media: trunk answered RTP/SAVP without a usable a=crypto")
		}
		s.sdes.ctx.Store(nil)
		return nil
	}
	s.mu.Lock()
	local := s.sdes.local
	s.mu.Unlock()
	if local == nil {
		return errors.New("media: the trunk answered with a=crypto to an offer without one")
	}
	for _, c := range ans.crypto {
		i := slices.IndexFunc(local, func(l sdesCrypto) bool { return l.tag == c.tag && l.suite == c.suite })
		if i < 0 {
			continue
		}
		// Fresh contexts for every SDP, even with the same keys: the
		// trunk's sequence numbers may start over (another fork's 200
		// after a 183, a media server swapped behind an SBC, a resume
		// after hold), and the old replay window would drop them all as
		// replayed (Janus PR #3640).
		ts, err := newTrunkSRTP(local[i], c)
		if err != nil {
			return err
		}
		s.sdes.ctx.Store(ts)
		return nil
	}
	return errors.New("media: the trunk's a=crypto matches none we offered (tag and suite)")
}

// answerOfferSDES keys the trunk leg for an inbound offer with a=crypto and
// returns the answer with our a=crypto and the offer's transport. An offer
// without one is answered as it was.
func (s *Session) answerOfferSDES(o *trunkAnswer, answer []byte) ([]byte, error) {
	if len(o.crypto) == 0 {
		if o.savp {
			return nil, errors.New("media: trunk offered RTP/SAVP without a usable a=crypto")
		}
		s.sdes.ctx.Store(nil)
		return answer, nil
	}
	remote := o.crypto[0]
	local := newCrypto(remote.tag, remote.suite)
	ts, err := newTrunkSRTP(local, remote)
	if err != nil {
		return nil, err
	}
	s.sdes.ctx.Store(ts)
	return withCrypto(answer, o.savp, local.String()), nil
}

// withCrypto adds a=crypto:value to the (single) audio section of our SDP,
// and makes its transport RTP/SAVP when savp.
func withCrypto(sdpText []byte, savp bool, value string) []byte {
	out := bytes.Clone(sdpText)
	if savp {
		out = bytes.Replace(out, []byte(" RTP/AVP "), []byte(" RTP/SAVP "), 1)
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, "\r\n"...)
	}
	return append(out, "a=crypto:"+value+"\r\n"...)
}

// unprotectTrunk decrypts an SRTP packet from the trunk in place. ok is
// false when it fails (counted as malformed). Plain RTP passes.
func (s *Session) unprotectTrunk(pkt []byte) (plain []byte, ok bool) {
	ts := s.sdes.ctx.Load()
	if ts == nil || len(pkt) < 2 || (pkt[1] >= 192 && pkt[1] <= 223) {
		return pkt, true // plain, or RTCP (the relay drops it)
	}
	plain, err := ts.in.DecryptRTP(pkt, pkt, &ts.inHdr)
	if err != nil {
		s.stats.malformed.Add(1)
		return nil, false
	}
	return plain, true
}

// protectTrunk encrypts an RTP packet for the trunk in place (its buffer
// needs srtpOverhead bytes of room). Plain RTP passes.
func (s *Session) protectTrunk(pkt []byte) ([]byte, error) {
	ts := s.sdes.ctx.Load()
	if ts == nil {
		return pkt, nil
	}
	return ts.out.EncryptRTP(pkt[:0], pkt, &ts.outHdr)
}
