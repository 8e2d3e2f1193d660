package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// SDP for the trunk leg (built and parsed here, plain RTP/AVP) and the few
// facts the browser leg needs from the WebRTC offer and answer (pion builds
// those).

// Payload types of the trunk offer. The trunk sends to us with these.
const (
	trunkPTPCMU  = 0
	trunkPTPCMA  = 8
	trunkPTEvent = 101
)

// trunkOfferFormats are the formats TrunkOffer lists, in its order.
var trunkOfferFormats = []format{
	{trunkPTPCMU, codecPCMU},
	{trunkPTPCMA, codecPCMA},
	{trunkPTEvent, codecEvent},
}

// errAudioRejected: the answer's audio stream has port 0.
var errAudioRejected = errors.New("media: audio stream rejected (port 0)")

// buildTrunkOffer returns the SDP offer for the INVITE.
func buildTrunkOffer(addr netip.Addr, port uint16, sessionID, sessionVersion uint64) ([]byte, error) {
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	host := addr.WithZone("").String()
	sd := &sdp.SessionDescription{
		Version: 0,
		Origin: sdp.Origin{
			Username:       "hubline",
			SessionID:      sessionID,
			SessionVersion: sessionVersion,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: host,
		},
		SessionName: "hubline",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: host},
		},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media:   "audio",
				Port:    sdp.RangedPort{Value: int(port)},
				Protos:  []string{"RTP", "AVP"},
				Formats: []string{"0", "8", "101"},
			},
			Attributes: []sdp.Attribute{
				sdp.NewAttribute("rtpmap", "0 PCMU/8000"),
				sdp.NewAttribute("rtpmap", "8 PCMA/8000"),
				sdp.NewAttribute("rtpmap", "101 telephone-event/8000"),
				sdp.NewAttribute("fmtp", "101 0-16"),
				sdp.NewAttribute("ptime", "20"),
				sdp.NewPropertyAttribute("sendrecv"),
			},
		}},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: build trunk offer: %w", err)
	}
	return b, nil
}

// direction is an SDP media direction attribute.
type direction uint8

const (
	dirSendRecv direction = iota // the default
	dirSendOnly
	dirRecvOnly
	dirInactive
)

func (d direction) String() string {
	return [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}[d]
}

// trunkAnswer is what the trunk's SDP says about the audio stream.
type trunkAnswer struct {
	// remote is the connection address (media-level c=, else session-level)
	// and the m= port. An unspecified address (c=IN IP4 0.0.0.0) is hold.
	remote netip.AddrPort
	// dir is the trunk's direction attribute, from the trunk's side.
	dir direction
	// law is PCMU or PCMA, the first of ours in the trunk's m= list, and
	// lawPT its payload type there. We send audio with it.
	law   codec
	lawPT uint8
	// eventPT is the trunk's telephone-event/8000 payload type, if hasEvent.
	eventPT  uint8
	hasEvent bool
	// formats are the formats of ours in the trunk's m= list, in its order.
	formats []format
	// offerer: the SDP was the trunk's offer (an inbound call), so the
	// trunk sends with its payload types rather than ours.
	offerer bool
	// savp: the transport is RTP/SAVP; crypto are its usable a=crypto
	// attributes (sdes.go), with either transport.
	savp   bool
	crypto []sdesCrypto
}

// hold reports whether the trunk put the stream on hold with c=0.0.0.0.
func (a *trunkAnswer) hold() bool { return a.remote.Addr().IsUnspecified() }

// sends reports whether we may send RTP to the trunk.
func (a *trunkAnswer) sends() bool {
	return !a.hold() && (a.dir == dirSendRecv || a.dir == dirRecvOnly)
}

// parseTrunkAnswer parses the trunk's SDP (the answer to TrunkOffer). It
// uses the first m=audio line. Errors: a malformed SDP, no audio stream,
// port 0 (errAudioRejected), a transport other than RTP/AVP, no usable
// connection address, and no G.711 codec of ours (ErrNoCommonCodec).
func parseTrunkAnswer(b []byte) (trunkAnswer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return trunkAnswer{}, fmt.Errorf("media: parse trunk SDP: %w", err)
	}
	md := firstAudio(&sd)
	if md == nil {
		return trunkAnswer{}, errors.New("media: trunk SDP has no audio stream")
	}
	port := md.MediaName.Port
	if port.Value == 0 {
		return trunkAnswer{}, errAudioRejected
	}
	if port.Value < 0 || port.Value > 65535 || (port.Range != nil && *port.Range != 1) {
		return trunkAnswer{}, fmt.Errorf("media: trunk SDP: bad audio port %s", port.String())
	}
	proto := strings.Join(md.MediaName.Protos, "/")
	if proto != "RTP/AVP" && proto != "RTP/SAVP" {
		return trunkAnswer{}, fmt.Errorf("media: trunk SDP: unsupported transport %q", proto)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	addr, err := connectionAddr(ci)
	if err != nil {
		return trunkAnswer{}, err
	}

	ans := trunkAnswer{
		remote:  netip.AddrPortFrom(addr, uint16(port.Value)),
		dir:     mediaDirection(&sd, md),
		formats: audioFormats(md),
		savp:    proto == "RTP/SAVP",
	}
	ans.crypto, _ = cryptoAttrs(md)
	if ans.savp && len(ans.crypto) == 0 {
		return trunkAnswer{}, errors.New("media: trunk SDP: RTP/SAVP without a usable a=crypto")
	}
	for _, f := range ans.formats {
		switch f.codec {
		case codecPCMU, codecPCMA:
			if ans.law == codecNone {
				ans.law, ans.lawPT = f.codec, f.pt
			}
		case codecEvent:
			if !ans.hasEvent {
				ans.eventPT, ans.hasEvent = f.pt, true
			}
		}
	}
	if ans.law == codecNone {
		return trunkAnswer{}, fmt.Errorf("%w: trunk answered m=audio with %s", ErrNoCommonCodec,
			strings.Join(md.MediaName.Formats, " "))
	}
	return ans, nil
}

// connectionAddr validates a c= line and returns its address: an IPv4 or
// IPv6 literal matching the address type, unicast or unspecified.
func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, error) {
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, errors.New("media: trunk SDP has no connection address (c=)")
	}
	if ci.NetworkType != "IN" {
		return netip.Addr{}, fmt.Errorf("media: trunk SDP: unsupported network type %q", ci.NetworkType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("media: trunk SDP: connection address %q is not an IP address", ci.Address.Address)
	}
	switch {
	case ci.AddressType == "IP4" && addr.Is4(), ci.AddressType == "IP6" && addr.Is6() && !addr.Is4In6():
	default:
		return netip.Addr{}, fmt.Errorf("media: trunk SDP: connection address %q does not match type %q",
			ci.Address.Address, ci.AddressType)
	}
	if addr.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("media: trunk SDP: multicast connection address %s", addr)
	}
	return addr, nil
}

// mediaDirection returns the direction attribute of md, else of the
// session, else sendrecv.
func mediaDirection(sd *sdp.SessionDescription, md *sdp.MediaDescription) direction {
	for _, attrs := range [][]sdp.Attribute{md.Attributes, sd.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv":
				return dirSendRecv
			case "sendonly":
				return dirSendOnly
			case "recvonly":
				return dirRecvOnly
			case "inactive":
				return dirInactive
			}
		}
	}
	return dirSendRecv
}

// firstAudio returns the first m=audio section, or nil.
func firstAudio(sd *sdp.SessionDescription) *sdp.MediaDescription {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			return md
		}
	}
	return nil
}

// audioFormats returns the formats of md's m= list that this package
// relays, in list order, each payload type once. A payload type is
// identified by its rtpmap; 0 and 8 without one are PCMU and PCMA.
func audioFormats(md *sdp.MediaDescription) []format {
	var out []format
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			continue
		}
		pt := uint8(n)
		c, mapped := rtpmapCodec(md, pt)
		if !mapped {
			switch pt {
			case 0:
				c = codecPCMU
			case 8:
				c = codecPCMA
			}
		}
		if c == codecNone || containsPT(out, pt) {
			continue
		}
		out = append(out, format{pt: pt, codec: c})
	}
	return out
}

// rtpmapCodec looks up the rtpmap of pt in md. mapped reports whether there
// is one; c is codecNone when it names something this package does not
// relay.
func rtpmapCodec(md *sdp.MediaDescription, pt uint8) (c codec, mapped bool) {
	prefix := strconv.Itoa(int(pt)) + " "
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" || !strings.HasPrefix(a.Value, prefix) {
			continue
		}
		enc := strings.Split(strings.TrimSpace(a.Value[len(prefix):]), "/")
		if len(enc) < 2 || enc[1] != "8000" || (len(enc) == 3 && enc[2] != "1") || len(enc) > 3 {
			return codecNone, true
		}
		switch strings.ToLower(enc[0]) {
		case "pcmu":
			return codecPCMU, true
		case "pcma":
			return codecPCMA, true
		case "telephone-event":
			return codecEvent, true
		}
		return codecNone, true
	}
	return codecNone, false
}

func containsPT(fs []format, pt uint8) bool {
	for _, f := range fs {
		if f.pt == pt {
			return true
		}
	}
	return false
}

// browserOffer is what this package needs from the browser's WebRTC offer.
type browserOffer struct {
	law      codec // PCMU if offered, else PCMA
	hasEvent bool  // telephone-event/8000 offered
}

// parseBrowserOffer picks the G.711 law for the browser leg from its offer:
// PCMU if the first audio section offers it, else PCMA, else
// ErrNoCommonCodec.
func parseBrowserOffer(offer string) (browserOffer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return browserOffer{}, fmt.Errorf("media: parse browser offer: %w", err)
	}
	return browserOfferOf(&sd)
}

// browserOfferOf is parseBrowserOffer of a parsed offer.
func browserOfferOf(sd *sdp.SessionDescription) (browserOffer, error) {
	md := firstAudio(sd)
	if md == nil || md.MediaName.Port.Value == 0 {
		return browserOffer{}, errors.New("media: browser offer has no audio stream")
	}
	var bo browserOffer
	for _, f := range audioFormats(md) {
		switch f.codec {
		case codecPCMU:
			bo.law = codecPCMU
		case codecPCMA:
			if bo.law == codecNone {
				bo.law = codecPCMA
			}
		case codecEvent:
			bo.hasEvent = true
		}
	}
	if bo.law == codecNone {
		return browserOffer{}, fmt.Errorf("%w: browser offered m=audio with %s", ErrNoCommonCodec,
			strings.Join(md.MediaName.Formats, " "))
	}
	return bo, nil
}

// browserLeg is what our WebRTC answer negotiated for audio.
type browserLeg struct {
	law     codec    // the law of the gateway's track towards the browser
	lawPT   uint8    // its payload type
	formats []format // every format the browser may send to us
}

// parseBrowserAnswer reads the negotiated audio formats from our answer.
func parseBrowserAnswer(answer string, law codec) (browserLeg, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		return browserLeg{}, fmt.Errorf("media: parse own answer: %w", err)
	}
	md := firstAudio(&sd)
	if md == nil || md.MediaName.Port.Value == 0 {
		return browserLeg{}, errors.New("media: answer rejected the browser's audio stream")
	}
	leg := browserLeg{law: law, formats: audioFormats(md)}
	for _, f := range leg.formats {
		if f.codec == law {
			leg.lawPT = f.pt
			return leg, nil
		}
	}
	return browserLeg{}, fmt.Errorf("%w: answer to the browser lacks %s", ErrNoCommonCodec, law)
}
