package sip

import "errors"

// ErrInvalidNumber: the number cannot be made a valid E.164 number.
var ErrInvalidNumber = errors.New("sip: invalid phone number")

// NormalizeNumber returns raw as E.164 ("+15551234567"). region is an ISO
// 3166 alpha-2 code ("US") used when raw has no country code; empty means raw
// must be international. The error wraps ErrInvalidNumber and says why.
func NormalizeNumber(raw, region string) (string, error) { panic("unimplemented") }
