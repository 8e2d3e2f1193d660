package demotrunk

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/hubline/hubline/internal/audio"
)

// SDP offer/answer for the demo trunk: plain RTP/AVP, G.711 and
// telephone-event (RFC 3264). pion/sdp parses and prints; this file only
// picks from what it parsed.

// Errors of parseOffer. The INVITE handler maps them to SIP status codes.
var (
	// errBadSDP: the body is not SDP, or its audio stream is malformed
	// (400 Bad Request).
	errBadSDP = errors.New("demotrunk: malformed SDP")
	// errNotAcceptable: well-formed, but nothing the demo trunk can answer:
	// no audio stream, not RTP/AVP, or neither PCMU nor PCMA (488).
	errNotAcceptable = errors.New("demotrunk: SDP not acceptable")
)

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

// reverse is the answerer's direction for an offered d.
func (d direction) reverse() direction {
	switch d {
	case dirSendOnly:
		return dirRecvOnly
	case dirRecvOnly:
		return dirSendOnly
	}
	return d
}

// recvs reports whether the side whose direction is d receives media.
func (d direction) recvs() bool { return d == dirSendRecv || d == dirRecvOnly }

// offer is what the demo trunk takes from the caller's SDP offer.
type offer struct {
	// remote is the audio stream's connection address (media-level c=,
	// else session-level) and m= port: where RTP goes, and the only
	// source whose RTP is echoed. An unspecified address (0.0.0.0, ::)
	// means "latch the first source".
	remote netip.AddrPort
	// dir is the caller's direction attribute.
	dir direction
	// law is the first of PCMU and PCMA in the m= list, lawPT its payload
	// type and lawName its encoding name as offered.
	law     audio.Law
	lawPT   uint8
	lawName string
	// eventPT is the offered telephone-event/8000 payload type, if
	// hasEvent.
	eventPT  uint8
	hasEvent bool
	// media is the index of the audio stream among the offer's m= lines;
	// the answer rejects the others (port 0), as RFC 3264 6 requires.
	media int
	// sd is the parsed offer, for the rejected m= lines of the answer.
	sd *sdp.SessionDescription
}

// parseOffer parses the caller's SDP offer and picks the first m=audio
// stream with a non-zero port. Errors wrap errBadSDP or errNotAcceptable.
func parseOffer(b []byte) (offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return offer{}, fmt.Errorf("%w: %w", errBadSDP, err)
	}
	idx := -1
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			idx = i
			break
		}
	}
	if idx < 0 {
		return offer{}, fmt.Errorf("%w: no audio stream", errNotAcceptable)
	}
	md := sd.MediaDescriptions[idx]
	port := md.MediaName.Port
	if port.Value < 0 || port.Value > 65535 || (port.Range != nil && *port.Range != 1) {
		return offer{}, fmt.Errorf("%w: bad audio port %s", errBadSDP, port.String())
	}
	if proto := strings.Join(md.MediaName.Protos, "/"); proto != "RTP/AVP" {
		return offer{}, fmt.Errorf("%w: transport %q (want RTP/AVP)", errNotAcceptable, proto)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	addr, err := connectionAddr(ci)
	if err != nil {
		return offer{}, err
	}
	o := offer{
		remote: netip.AddrPortFrom(addr, uint16(port.Value)),
		dir:    mediaDirection(&sd, md),
		media:  idx,
		sd:     &sd,
	}
	haveLaw := false
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			continue
		}
		pt := uint8(n)
		name, rate, mapped := rtpmap(md, pt)
		if !mapped {
			switch pt {
			case 0:
				name, rate = "PCMU", 8000
			case 8:
				name, rate = "PCMA", 8000
			}
		}
		if rate != 8000 {
			continue
		}
		switch {
		case !haveLaw && strings.EqualFold(name, "PCMU"):
			o.law, o.lawPT, o.lawName, haveLaw = audio.PCMU, pt, name, true
		case !haveLaw && strings.EqualFold(name, "PCMA"):
			o.law, o.lawPT, o.lawName, haveLaw = audio.PCMA, pt, name, true
		case !o.hasEvent && strings.EqualFold(name, "telephone-event"):
			o.eventPT, o.hasEvent = pt, true
		}
	}
	if !haveLaw {
		return offer{}, fmt.Errorf("%w: neither PCMU nor PCMA in m=audio %s", errNotAcceptable,
			strings.Join(md.MediaName.Formats, " "))
	}
	if o.hasEvent && o.eventPT == o.lawPT {
		o.hasEvent = false
	}
	return o, nil
}

// rtpmap returns the encoding name and clock rate of the rtpmap attribute
// of pt in md, if there is a well-formed one.
func rtpmap(md *sdp.MediaDescription, pt uint8) (name string, rate int, ok bool) {
	prefix := strconv.Itoa(int(pt)) + " "
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" || !strings.HasPrefix(a.Value, prefix) {
			continue
		}
		enc := strings.TrimSpace(a.Value[len(prefix):])
		parts := strings.Split(enc, "/")
		if len(parts) < 2 {
			return "", 0, false
		}
		r, err := strconv.Atoi(parts[1])
		if err != nil {
			return "", 0, false
		}
		return parts[0], r, true
	}
	return "", 0, false
}

// connectionAddr validates a c= line and returns its address: an IPv4 or
// IPv6 literal matching the address type, unicast or unspecified.
func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, error) {
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, fmt.Errorf("%w: no connection address (c=)", errBadSDP)
	}
	if ci.NetworkType != "IN" {
		return netip.Addr{}, fmt.Errorf("%w: network type %q", errNotAcceptable, ci.NetworkType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: connection address %q is not an IP address", errNotAcceptable, ci.Address.Address)
	}
	switch {
	case ci.AddressType == "IP4" && addr.Is4(), ci.AddressType == "IP6" && addr.Is6() && !addr.Is4In6():
	default:
		return netip.Addr{}, fmt.Errorf("%w: connection address %q does not match type %q",
			errBadSDP, ci.Address.Address, ci.AddressType)
	}
	if addr.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%w: multicast connection address %s", errNotAcceptable, addr)
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

// buildAnswer returns the SDP answer to o: the chosen G.711 law and
// telephone-event if offered, the reverse of the caller's direction, media
// on addr:port. Other offered m= lines are rejected with port 0.
func buildAnswer(o offer, addr netip.Addr, port uint16, sessionID uint64) ([]byte, error) {
	return buildAnswerVersion(o, addr, port, sessionID, 1)
}

// buildAnswerVersion is buildAnswer with the o= version (answers to
// re-INVITEs count up).
func buildAnswerVersion(o offer, addr netip.Addr, port uint16, sessionID, version uint64) ([]byte, error) {
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	host := addr.WithZone("").String()
	formats := []string{strconv.Itoa(int(o.lawPT))}
	attrs := []sdp.Attribute{sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", o.lawPT, o.lawName))}
	if o.hasEvent {
		formats = append(formats, strconv.Itoa(int(o.eventPT)))
		attrs = append(attrs,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", o.eventPT)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", o.eventPT)))
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(o.dir.reverse().String()))

	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "hubline-demo",
			SessionID:      sessionID,
			SessionVersion: version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: host,
		},
		SessionName: "hubline demo trunk",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: host},
		},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
	for i, md := range o.sd.MediaDescriptions {
		if i == o.media {
			sd.MediaDescriptions = append(sd.MediaDescriptions, &sdp.MediaDescription{
				MediaName: sdp.MediaName{
					Media:   "audio",
					Port:    sdp.RangedPort{Value: int(port)},
					Protos:  []string{"RTP", "AVP"},
					Formats: formats,
				},
				Attributes: attrs,
			})
			continue
		}
		rejected := sdp.MediaName{Media: md.MediaName.Media, Protos: md.MediaName.Protos, Formats: md.MediaName.Formats}
		if len(rejected.Formats) > 1 {
			rejected.Formats = rejected.Formats[:1]
		}
		if len(rejected.Protos) == 0 {
			rejected.Protos = []string{"RTP", "AVP"}
		}
		if len(rejected.Formats) == 0 {
			rejected.Formats = []string{"0"}
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, &sdp.MediaDescription{MediaName: rejected})
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("demotrunk: build SDP answer: %w", err)
	}
	return b, nil
}
