package sip

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// SDES-SRTP on the trunk leg (RFC 4568), the SIP side: Trunk.SRTP says
// whether our offer to the trunk carries the media side's key
// (Invite.Crypto): "optional" adds a=crypto to the RTP/AVP offer
// (best-effort: a plain answer is fine), "mandatory" makes it RTP/SAVP and
// refuses a 2xx without a=crypto (ACK, BYE, EventFailed 488). Mandatory
// needs a TLS trunk: the keys travel in the SDP. Inbound, a mandatory trunk's
// INVITE without a=crypto gets 488; offers with a=crypto are answered in
// kind by the media side whatever the setting.

// SRTP modes of a trunk.
const (
	SRTPOff       = "off"
	SRTPOptional  = "optional"
	SRTPMandatory = "mandatory"
)

// errNoSRTPAnswer: a mandatory-SRTP trunk answered without a=crypto.
var errNoSRTPAnswer = errors.New("sip: the trunk's answer has no a=crypto (srtp: mandatory)")

// parseSRTPMode checks a Trunk's SRTP against its transport.
func parseSRTPMode(mode, transport string) (string, error) {
	switch m := strings.ToLower(mode); m {
	case "", SRTPOff:
		return SRTPOff, nil
	case SRTPOptional:
		return m, nil
	case SRTPMandatory:
		if transport != "TLS" {
			return "", errors.New("srtp: mandatory needs transport tls (SDES keys travel in the SDP)")
		}
		return m, nil
	}
	return "", fmt.Errorf("srtp %q: want off, optional or mandatory", mode)
}

// withCrypto adds the a=crypto lines to the first m=audio section of
// offer, and makes its transport RTP/SAVP when mandatory.
func withCrypto(offer []byte, mode string, crypto []string) ([]byte, error) {
	if mode == SRTPOff {
		return offer, nil
	}
	if len(crypto) == 0 {
		return nil, fmt.Errorf("sip: the trunk wants SRTP (srtp: %s) but the offer has no key (Invite.Crypto)", mode)
	}
	lines := bytes.SplitAfter(offer, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	start, end := -1, len(lines)
	for i, l := range lines {
		if !bytes.HasPrefix(l, []byte("m=")) {
			continue
		}
		if start >= 0 {
			end = i
			break
		}
		if bytes.HasPrefix(l, []byte("m=audio ")) {
			start = i
		}
	}
	if start < 0 {
		return nil, errors.New("sip: the offer has no m=audio line")
	}
	if mode == SRTPMandatory {
		lines[start] = bytes.Replace(lines[start], []byte(" RTP/AVP "), []byte(" RTP/SAVP "), 1)
	}
	eol := []byte("\r\n")
	if l := lines[start]; !bytes.HasSuffix(l, eol) {
		eol = []byte("\n")
	}
	var add [][]byte
	for _, c := range crypto {
		add = append(add, append([]byte("a=crypto:"+c), eol...))
	}
	out := make([][]byte, 0, len(lines)+len(add))
	out = append(out, lines[:end]...)
	if end > 0 && !bytes.HasSuffix(out[end-1], []byte("\n")) {
		out[end-1] = append(bytes.Clone(out[end-1]), eol...)
	}
	out = append(out, add...)
	out = append(out, lines[end:]...)
	return bytes.Join(out, nil), nil
}

// hasCrypto reports whether an SDP has an a=crypto line.
func hasCrypto(sdp []byte) bool {
	for line := range bytes.Lines(sdp) {
		if bytes.HasPrefix(line, []byte("a=crypto:")) {
			return true
		}
	}
	return false
}

// checkSRTPAnswer is nil unless the trunk is mandatory-SRTP and res's SDP
// has no a=crypto.
func (c *Call) checkSRTPAnswer(res *gosip.Response) error {
	if c.trunk.srtp != SRTPMandatory {
		return nil
	}
	if sdp := sdpOf(res); len(sdp) > 0 && !hasCrypto(sdp) {
		return errNoSRTPAnswer
	}
	return nil
}

// refuseNoSRTP answers 488 to an inbound INVITE without a=crypto on a
// mandatory-SRTP trunk, and reports whether it did.
func (u *UA) refuseNoSRTP(tc *trunkConf, req *gosip.Request, tx gosip.ServerTransaction) bool {
	if tc.srtp != SRTPMandatory || hasCrypto(sdpOf(req)) {
		return false
	}
	u.log.Info("inbound INVITE refused: no SRTP key in the offer (srtp: mandatory)", zap.String("sipCallId", callIDOf(req)))
	u.respond(req, tx, gosip.StatusNotAcceptableHere, "Not Acceptable Here (SRTP required)")
	return true
}
