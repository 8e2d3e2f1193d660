package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// The browser leg's offer/answer. The gateway answers as an ICE-lite agent
// (RFC 8445 2.5) with one host candidate and as the DTLS server
// (a=setup:passive), for the first audio section only; every other section
// is rejected. The answer lists the offer's G.711 and telephone-event/8000
// formats, in the offer's order.

// webrtcOffer is what the answer and the transport need from the offer.
type webrtcOffer struct {
	browserOffer
	ufrag, pwd   string        // the browser's ICE credentials
	fingerprints []fingerprint // of the browser's DTLS certificate
	setup        string        // actpass, active or passive
	sections     []offerSection
	audio        int  // index in sections of the audio section answered
	bundled      bool // the audio section's mid is in a BUNDLE group
	formats      []format
	eventFmtp    string    // the offer's fmtp of its telephone-event/8000, if any
	dir          direction // the offer's direction of the audio section
	rtcpMux      bool
}

// offerSection is one m= line of the offer, as the answer must mirror it.
type offerSection struct {
	media, proto, mid, firstFormat string
}

// fingerprint is an a=fingerprint line: hash function and hex value.
type fingerprint struct{ algorithm, value string }

// parseWebRTCOffer parses the browser's offer for the answer and the
// transport.
func parseWebRTCOffer(offer string) (webrtcOffer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return webrtcOffer{}, fmt.Errorf("media: parse browser offer: %w", err)
	}
	bo, err := browserOfferOf(&sd)
	if err != nil {
		return webrtcOffer{}, err
	}
	o := webrtcOffer{browserOffer: bo, audio: -1}
	session := func(key string) string { v, _ := sd.Attribute(key); return v }
	for i, md := range sd.MediaDescriptions {
		sec := offerSection{media: md.MediaName.Media, proto: strings.Join(md.MediaName.Protos, "/")}
		sec.mid, _ = md.Attribute("mid")
		if len(md.MediaName.Formats) > 0 {
			sec.firstFormat = md.MediaName.Formats[0]
		}
		o.sections = append(o.sections, sec)
		if o.audio >= 0 || md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		o.audio = i
		if !strings.Contains(sec.proto, "SAVP") || !strings.HasPrefix(sec.proto, "UDP/TLS/") {
			return webrtcOffer{}, fmt.Errorf("media: browser offer: audio over %q, want UDP/TLS/RTP/SAVPF", sec.proto)
		}
		attr := func(key string) string {
			if v, ok := md.Attribute(key); ok {
				return v
			}
			return session(key)
		}
		o.ufrag, o.pwd, o.setup = attr("ice-ufrag"), attr("ice-pwd"), attr("setup")
		for _, attrs := range [][]sdp.Attribute{md.Attributes, sd.Attributes} {
			for _, a := range attrs {
				if a.Key != "fingerprint" {
					continue
				}
				alg, val, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
				if ok {
					o.fingerprints = append(o.fingerprints, fingerprint{strings.ToLower(alg), strings.TrimSpace(val)})
				}
			}
			if len(o.fingerprints) > 0 {
				break
			}
		}
		_, o.rtcpMux = md.Attribute("rtcp-mux")
		o.dir = mediaDirection(&sd, md)
		for _, f := range audioFormats(md) {
			o.formats = append(o.formats, f)
			if f.codec == codecEvent && o.eventFmtp == "" {
				prefix := strconv.Itoa(int(f.pt)) + " "
				for _, a := range md.Attributes {
					if a.Key == "fmtp" && strings.HasPrefix(a.Value, prefix) {
						o.eventFmtp = strings.TrimSpace(a.Value[len(prefix):])
					}
				}
			}
		}
	}
	switch {
	case o.audio < 0:
		return webrtcOffer{}, errors.New("media: browser offer has no audio stream")
	case o.ufrag == "" || o.pwd == "":
		return webrtcOffer{}, errors.New("media: browser offer has no ICE credentials")
	case len(o.fingerprints) == 0:
		return webrtcOffer{}, errors.New("media: browser offer has no DTLS fingerprint")
	case o.setup == "passive":
		return webrtcOffer{}, errors.New("media: browser offer wants the gateway to be the DTLS client (a=setup:passive)")
	}
	mid := o.sections[o.audio].mid
	for _, a := range sd.Attributes {
		if a.Key == "group" && strings.HasPrefix(a.Value, "BUNDLE ") && mid != "" {
			for _, m := range strings.Fields(a.Value)[1:] {
				if m == mid {
					o.bundled = true
				}
			}
		}
	}
	return o, nil
}

// answerParams are the gateway's side of the answer.
type answerParams struct {
	sessionID   uint64
	addr        netip.AddrPort // the host candidate
	ufrag, pwd  string
	fingerprint string // sha-256, colon-separated upper-case hex
	ssrc        uint32
}

// buildWebRTCAnswer writes the answer to o.
func buildWebRTCAnswer(o *webrtcOffer, p answerParams) string {
	ipv, ip := "IP4", p.addr.Addr().String()
	if p.addr.Addr().Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	b.Grow(1024)
	fmt.Fprintf(&b, "v=0\r\no=hubline %d 1 IN %s %s\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n", p.sessionID, ipv, ip)
	audio := &o.sections[o.audio]
	if o.bundled {
		fmt.Fprintf(&b, "a=group:BUNDLE %s\r\n", audio.mid)
	}
	for i, sec := range o.sections {
		if i != o.audio {
			// Rejected: port 0, with the offer's first format.
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\nc=IN %s %s\r\n", sec.media, sec.proto, sec.firstFormat, ipv, ip)
			if sec.mid != "" {
				fmt.Fprintf(&b, "a=mid:%s\r\n", sec.mid)
			}
			continue
		}
		fmt.Fprintf(&b, "m=audio %d %s", p.addr.Port(), sec.proto)
		for _, f := range o.formats {
			fmt.Fprintf(&b, " %d", f.pt)
		}
		fmt.Fprintf(&b, "\r\nc=IN %s %s\r\n", ipv, ip)
		fmt.Fprintf(&b, "a=candidate:1 1 udp 2130706431 %s %d typ host\r\na=end-of-candidates\r\n", ip, p.addr.Port())
		fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:sha-256 %s\r\na=setup:passive\r\n", p.ufrag, p.pwd, p.fingerprint)
		if sec.mid != "" {
			fmt.Fprintf(&b, "a=mid:%s\r\n", sec.mid)
		}
		fmt.Fprintf(&b, "a=%s\r\n", answerDirection(o.dir))
		b.WriteString("a=msid:hubline audio\r\n")
		if o.rtcpMux {
			b.WriteString("a=rtcp-mux\r\n")
		}
		for _, f := range o.formats {
			switch f.codec {
			case codecPCMU:
				fmt.Fprintf(&b, "a=rtpmap:%d PCMU/8000\r\n", f.pt)
			case codecPCMA:
				fmt.Fprintf(&b, "a=rtpmap:%d PCMA/8000\r\n", f.pt)
			case codecEvent:
				fmtp := o.eventFmtp
				if fmtp == "" {
					fmtp = "0-16"
				}
				fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d %s\r\n", f.pt, f.pt, fmtp)
			}
		}
		fmt.Fprintf(&b, "a=ssrc:%d cname:hubline\r\na=ssrc:%d msid:hubline audio\r\n", p.ssrc, p.ssrc)
	}
	return b.String()
}

// answerDirection is the answer's direction to an offer's.
func answerDirection(offer direction) string {
	switch offer {
	case dirSendOnly:
		return "recvonly"
	case dirRecvOnly:
		return "sendonly"
	case dirInactive:
		return "inactive"
	}
	return "sendrecv"
}
