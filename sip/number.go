package sip

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidNumber: the number cannot be made a valid E.164 number.
var ErrInvalidNumber = errors.New("sip: invalid phone number")

// e164 is what NormalizeNumber returns and what Dial accepts in Invite.To
// and Invite.From: "+", a country code that does not start with 0, and 7 to
// 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// maxNumberInput bounds the raw input; nobody types a 64-character number.
const maxNumberInput = 64

// NormalizeNumber returns raw as E.164 ("+15551234567"). region is an ISO
// 3166 alpha-2 code ("US") used when raw has no country code; empty means raw
// must be international. The error wraps ErrInvalidNumber and says why.
//
// Accepted input: digits with the usual separators (space, '-', '.', '(',
// ')', '/'), a leading '+', or a leading "00" international prefix (taken as
// '+' whatever the region), or the region's own international prefix ("011"
// in NANP). Letters (vanity numbers, extensions) are refused.
//
// The check is libphonenumber's "possible number": a known country code and
// a number length that fits that country (numbers only diallable locally are
// refused). IsValidNumber is deliberately not required: it calls NANP's
// fictional 555-01xx numbers ("+1 555 010 0100", used in demos and tests)
// and ranges allocated after the library's metadata release invalid, and the
// trunk, not this function, is the authority on what routes.
func NormalizeNumber(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", invalidNumber("empty")
	}
	if len(s) > maxNumberInput {
		return "", invalidNumber("too long")
	}
	var digits strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+':
			if i != 0 {
				return "", invalidNumber("'+' is only allowed at the start")
			}
			plus = true
		case strings.ContainsRune(" -.()/", r):
		case (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			return "", invalidNumber("letters are not allowed")
		default:
			return "", invalidNumber(fmt.Sprintf("character %q is not allowed", r))
		}
	}
	d := digits.String()
	if d == "" {
		return "", invalidNumber("no digits")
	}

	region = strings.ToUpper(strings.TrimSpace(region))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", invalidNumber(fmt.Sprintf("unknown region %q", region))
	}
	var input string
	switch {
	case plus:
		input = "+" + d
	case strings.HasPrefix(d, "00"):
		input = "+" + d[2:]
	case region == "":
		return "", invalidNumber("no country code and no region")
	default:
		input = d
	}

	num, err := phonenumbers.Parse(input, region)
	if err != nil {
		return "", invalidNumber(parseReason(err))
	}
	if num.GetNationalNumber() == 0 {
		// All zeros: libphonenumber keeps them as "leading zeros" and
		// formats one fewer than it parsed, so such a "number" would not
		// even survive normalising twice.
		return "", invalidNumber("not a phone number")
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", invalidNumber("unknown country code")
	case phonenumbers.TOO_SHORT:
		return "", invalidNumber("too short")
	case phonenumbers.TOO_LONG:
		return "", invalidNumber("too long")
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", invalidNumber("too short: only diallable locally")
	default:
		return "", invalidNumber("wrong length for the country")
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	if !e164.MatchString(out) || !roundTrips(out) {
		return "", invalidNumber("not representable as E.164")
	}
	return out, nil
}

// roundTrips reports whether out, an E.164 number NormalizeNumber is about
// to return, parses back to itself: what NormalizeNumber returns, it accepts
// unchanged.
func roundTrips(out string) bool {
	num, err := phonenumbers.Parse(out, "")
	return err == nil && phonenumbers.IsPossibleNumberWithReason(num) == phonenumbers.IS_POSSIBLE &&
		phonenumbers.Format(num, phonenumbers.E164) == out
}

func invalidNumber(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidNumber, reason)
}

func parseReason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "unknown country code"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "not a phone number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	}
	return err.Error()
}

// formatNumber writes the E.164 number n in the form f asks for, as a SIP
// URI user part. called adds f.DialPrefix (the called number only). f has
// been checked by checkNumberFormat.
func formatNumber(n string, f NumberFormat, called bool) (string, error) {
	var out string
	switch f.Style {
	case "", "e164":
		out = n
	case "e164-noplus":
		out = strings.TrimPrefix(n, "+")
	case "national":
		num, err := phonenumbers.Parse(n, "")
		if err != nil {
			return "", invalidNumber(parseReason(err))
		}
		var s string
		if int(num.GetCountryCode()) == phonenumbers.GetCountryCodeForRegion(f.Region) {
			s = phonenumbers.Format(num, phonenumbers.NATIONAL)
		} else {
			s = phonenumbers.FormatOutOfCountryCallingNumber(num, f.Region)
		}
		out = digitsOnly(s)
		if out == "" || out == "+" {
			return "", invalidNumber("cannot be written in the national format")
		}
	default:
		return "", fmt.Errorf("sip: number style %q", f.Style)
	}
	if called {
		out = f.DialPrefix + out
	}
	// '#' is not allowed unescaped in a URI user part (RFC 3261 25.1).
	return strings.ReplaceAll(out, "#", "%23"), nil
}

// digitsOnly keeps the digits of s, and a leading '+'.
func digitsOnly(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= '0' && r <= '9' || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
