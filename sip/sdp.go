package sip

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The trunk's codec preference (Trunk.Codecs) is applied to the offer here,
// as bytes: sip does not import media, which builds the offer. Only the
// first m=audio section is touched: its format list is reordered, and the
// a=rtpmap and a=fmtp lines of the formats removed from it go too.

// staticCodecs names the static audio payload types (RFC 3551) an offer may
// use without an rtpmap.
var staticCodecs = map[string]string{"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "13": "CN", "18": "G729"}

// errNoPreferredCodec: the offer has none of the trunk's codecs.
var errNoPreferredCodec = errors.New("sip: the offer has none of the trunk's codecs")

// preferCodecs returns sdp with the formats of its first m=audio line in
// the order of prefs (encoding names, upper case): the formats of listed
// codecs first, in prefs order, then telephone-event and CN; every other
// format is removed with its rtpmap and fmtp lines. Empty prefs returns sdp
// unchanged. Line endings are kept.
func preferCodecs(sdp []byte, prefs []string) ([]byte, error) {
	if len(prefs) == 0 {
		return sdp, nil
	}
	lines := bytes.SplitAfter(sdp, []byte("\n"))
	// Find the first audio section: [start, end) lines, m= line at start.
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
	mline, eol := trimEOL(lines[start])
	fields := strings.Fields(string(mline))
	if len(fields) < 4 {
		return nil, fmt.Errorf("sip: malformed m= line %q", mline)
	}
	formats := fields[3:]
	// Encoding name of each format: rtpmap, else the static table.
	names := map[string]string{}
	for _, f := range formats {
		names[f] = staticCodecs[f]
	}
	for _, l := range lines[start+1 : end] {
		pt, rest, ok := attrPT(l, "a=rtpmap:")
		if !ok {
			continue
		}
		if _, listed := names[pt]; listed {
			enc, _, _ := strings.Cut(strings.TrimSpace(rest), "/")
			names[pt] = strings.ToUpper(enc)
		}
	}
	var keep []string
	for _, p := range prefs {
		for _, f := range formats {
			if names[f] == p && !slices.Contains(keep, f) {
				keep = append(keep, f)
			}
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("%w (%s): it offers %s", errNoPreferredCodec, strings.Join(prefs, ", "), strings.Join(formats, " "))
	}
	for _, f := range formats {
		if n := names[f]; (n == "TELEPHONE-EVENT" || n == "CN") && !slices.Contains(keep, f) {
			keep = append(keep, f)
		}
	}
	var out bytes.Buffer
	for i, l := range lines {
		switch {
		case i == start:
			out.WriteString(strings.Join(append(fields[:3:3], keep...), " "))
			out.Write(eol)
			continue
		case i > start && i < end:
			if pt, _, ok := attrPT(l, "a=rtpmap:"); ok && !slices.Contains(keep, pt) {
				continue
			}
			if pt, _, ok := attrPT(l, "a=fmtp:"); ok && !slices.Contains(keep, pt) {
				continue
			}
		}
		out.Write(l)
	}
	return out.Bytes(), nil
}

// trimEOL splits a line from its "\n" or "\r\n".
func trimEOL(l []byte) (line, eol []byte) {
	switch {
	case bytes.HasSuffix(l, []byte("\r\n")):
		return l[:len(l)-2], l[len(l)-2:]
	case bytes.HasSuffix(l, []byte("\n")):
		return l[:len(l)-1], l[len(l)-1:]
	}
	return l, nil
}

// attrPT reads "a=<attr>:<pt> <rest>": the payload type and the rest.
func attrPT(l []byte, prefix string) (pt, rest string, ok bool) {
	if !bytes.HasPrefix(l, []byte(prefix)) {
		return "", "", false
	}
	line, _ := trimEOL(l)
	pt, rest, _ = strings.Cut(string(line[len(prefix):]), " ")
	return pt, rest, pt != ""
}
