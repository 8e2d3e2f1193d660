package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// DTMF over SIP INFO, in the dialogs of calls both ways.
//
// From the trunk: an in-dialog INFO with application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5") is answered 200
// and becomes EventDTMF on the call; a body that says no digit gets 400
// with the reason in the phrase; another content type 415 with Accept; an
// INFO without a body (RFC 6086 keepalives) 200.
//
// To the trunk: SendDTMF sends one INFO application/dtmf-relay per digit
// through the dialog, one at a time (the next only once the previous got
// its final response). The dialog's goroutine sends each one (dlgReq,
// refer.go), so INFO shares the dialog's CSeq with every other request of
// ours in it (re-INVITE, UPDATE, REFER, BYE).

// DTMFMode says how digits go to a trunk.
type DTMFMode string

const (
	// DTMFAuto: RFC 4733 when the trunk's SDP has telephone-event, else INFO.
	DTMFAuto DTMFMode = "auto"
	// DTMFRFC4733: telephone-event RTP packets (media.Session.SendDTMF).
	DTMFRFC4733 DTMFMode = "rfc4733"
	// DTMFInfo: SIP INFO application/dtmf-relay.
	DTMFInfo DTMFMode = "info"
)

func parseDTMFMode(s string) (DTMFMode, error) {
	switch m := DTMFMode(strings.ToLower(s)); m {
	case "":
		return DTMFAuto, nil
	case DTMFAuto, DTMFRFC4733, DTMFInfo:
		return m, nil
	}
	return "", fmt.Errorf("dtmfMode %q is not rfc4733, info or auto", s)
}

// ErrBadDTMFBody: an INFO body with no digit in it.
var ErrBadDTMFBody = errors.New("sip: malformed DTMF body")

// infoAccept lists the INFO bodies we take.
const infoAccept = "application/dtmf-relay, application/dtmf"

// parseDTMFInfo reads the digit of an INFO body of content type ct; ok is
// false for a content type we do not take. Duration is 0 when the body
// has none.
func parseDTMFInfo(ct string, body []byte) (digit byte, dur time.Duration, ok bool, err error) {
	mt, _, perr := mime.ParseMediaType(ct)
	if perr != nil {
		return 0, 0, false, nil
	}
	switch mt {
	case "application/dtmf-relay":
		var signal string
		for _, line := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\n' || r == '\r' }) {
			k, v, found := strings.Cut(line, "=")
			if !found {
				if strings.TrimSpace(line) == "" {
					continue
				}
				return 0, 0, true, fmt.Errorf("%w: line %q is not key=value", ErrBadDTMFBody, truncateStr(line, 32))
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch strings.ToLower(k) {
			case "signal":
				signal = v
			case "duration":
				ms, err := strconv.Atoi(v)
				if err != nil || ms < 0 || ms > 60000 {
					return 0, 0, true, fmt.Errorf("%w: Duration %q is not 0-60000 ms", ErrBadDTMFBody, truncateStr(v, 16))
				}
				dur = time.Duration(ms) * time.Millisecond
			}
		}
		if signal == "" {
			return 0, 0, true, fmt.Errorf("%w: no Signal", ErrBadDTMFBody)
		}
		d, err := infoDigit(signal)
		return d, dur, true, err
	case "application/dtmf":
		d, err := infoDigit(strings.TrimSpace(string(body)))
		return d, 0, true, err
	}
	return 0, 0, false, nil
}

// infoDigit is the digit of a Signal value: one of 0-9 * # A-D, or the
// event codes 10-15 some devices send for * # A-D.
func infoDigit(s string) (byte, error) {
	const digits = "0123456789*#ABCD"
	if len(s) == 1 {
		c := s[0]
		if c >= 'a' && c <= 'd' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(digits, c) >= 0 {
			return c, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 10 && n <= 15 {
		return digits[n], nil
	}
	return 0, fmt.Errorf("%w: Signal %q is not a DTMF digit", ErrBadDTMFBody, truncateStr(s, 16))
}

// truncateStr cuts s (for a log or a reason phrase) to n bytes and an
// ellipsis.
func truncateStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hasTelephoneEvent reports whether an SDP has telephone-event in an rtpmap.
func hasTelephoneEvent(sdp []byte) bool {
	for _, line := range bytes.Split(sdp, []byte("\n")) {
		line = bytes.ToLower(bytes.TrimSpace(line))
		if bytes.HasPrefix(line, []byte("a=rtpmap:")) && bytes.Contains(line, []byte(" telephone-event/")) {
			return true
		}
	}
	return false
}

// infoDialog is what INFO needs of a dialog: whether the trunk's SDP has
// telephone-event, and the lock that keeps one INFO outstanding.
type infoDialog struct {
	mu       sync.Mutex // guards rtpEvent
	rtpEvent bool

	send sync.Mutex // held for one INFO transaction
}

// confirm records the trunk's SDP of the confirmed dialog (its goroutine
// calls it).
func (d *infoDialog) confirm(sdp []byte) {
	d.mu.Lock()
	d.rtpEvent = hasTelephoneEvent(sdp)
	d.mu.Unlock()
}

func (d *infoDialog) mode(conf DTMFMode) DTMFMode {
	if conf != DTMFAuto {
		return conf
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rtpEvent {
		return DTMFRFC4733
	}
	return DTMFInfo
}

// sendDTMF sends one digit as INFO application/dtmf-relay and waits for
// its final response.
func sendDTMFInfo(ctx context.Context, d *infoDialog, reqs chan<- dlgReq, over <-chan struct{}, log *zap.Logger, digit byte, dur time.Duration) error {
	if _, err := infoDigit(string(digit)); err != nil {
		return err
	}
	if dur <= 0 {
		dur = 100 * time.Millisecond
	}
	d.send.Lock()
	defer d.send.Unlock()
	_, tx, err := sendInDialog(reqs, over, dlgReq{
		method: gosip.INFO, ctype: "application/dtmf-relay",
		body: fmt.Appendf(nil, "Signal=%c\r\nDuration=%d\r\n", digit, dur.Milliseconds()),
	})
	if err != nil {
		return err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				log.Info("INFO DTMF refused", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
				return fmt.Errorf("sip: INFO refused: %d %s", res.StatusCode, res.Reason)
			}
			log.Debug("INFO DTMF sent", zap.String("digit", string(rune(digit))))
			return nil
		case <-tx.Done():
			return fmt.Errorf("sip: INFO: %w: %w", ErrTimeout, tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("sip: INFO: %w", ctx.Err())
		}
	}
}

// SendDTMF sends digit (0-9 * # A-D) to the trunk as SIP INFO
// application/dtmf-relay with Duration dur (zero: 100 ms), and returns
// once the trunk answered it. Calls are serialised: one INFO at a time.
func (c *Call) SendDTMF(ctx context.Context, digit byte, dur time.Duration) error {
	return sendDTMFInfo(ctx, &c.info, c.dlgReqs, c.done, c.log, digit, dur)
}

// DTMFMode is how digits go to this call's trunk: the trunk's DTMFMode,
// with auto resolved by the answer's SDP.
func (c *Call) DTMFMode() DTMFMode { return c.info.mode(c.trunk.dtmfMode) }

// SendDTMF is the current attempt's Call.SendDTMF.
func (o *Outbound) SendDTMF(ctx context.Context, digit byte, dur time.Duration) error {
	o.mu.Lock()
	c := o.cur
	o.mu.Unlock()
	if c == nil {
		return fmt.Errorf("sip: INFO: %w: no call", ErrDialogState)
	}
	return c.SendDTMF(ctx, digit, dur)
}

// DTMFMode is the current attempt's Call.DTMFMode.
func (o *Outbound) DTMFMode() DTMFMode {
	o.mu.Lock()
	c := o.cur
	o.mu.Unlock()
	if c == nil {
		return DTMFAuto
	}
	return c.DTMFMode()
}

// SendDTMF sends digit as SIP INFO in the inbound call's dialog, like
// Call.SendDTMF; ErrDialogState before the answer.
func (in *InboundInvite) SendDTMF(ctx context.Context, digit byte, dur time.Duration) error {
	return sendDTMFInfo(ctx, &in.info, in.dlgReqs, in.done, in.log, digit, dur)
}

// DTMFMode is how digits go to the inbound call's trunk: its DTMFMode,
// with auto resolved by the trunk's offer.
func (in *InboundInvite) DTMFMode() DTMFMode {
	conf := DTMFAuto
	if ts := in.ua.trunkByName(in.Trunk); ts != nil {
		conf = ts.conf.dtmfMode
	}
	if conf != DTMFAuto {
		return conf
	}
	if hasTelephoneEvent(in.SDP) {
		return DTMFRFC4733
	}
	return DTMFInfo
}

// trunkByName is the configured trunk named name, or nil.
func (u *UA) trunkByName(name string) *trunkState {
	for _, ts := range u.trunks {
		if ts.conf.name == name {
			return ts
		}
	}
	return nil
}

// handleInfo answers an in-dialog INFO from the trunk (see above).
func (u *UA) handleInfo(req *gosip.Request, tx gosip.ServerTransaction) {
	var emit func(Event)
	var log *zap.Logger
	if c := u.lookup(req); c != nil {
		c.ackMu.Lock()
		remote := c.remoteTag
		c.ackMu.Unlock()
		if remote != "" && fromTag(req) == remote {
			emit, log = c.emit, c.log
		}
	}
	if emit == nil {
		if in := u.lookupInbound(req); in != nil {
			emit, log = in.emit, in.log
		}
	}
	if emit == nil {
		u.noDialog(req, tx)
		return
	}
	body := req.Body()
	if len(body) == 0 {
		u.respond(req, tx, gosip.StatusOK, "OK")
		return
	}
	ct := ""
	if h := req.GetHeader("Content-Type"); h != nil {
		ct = h.Value()
	}
	digit, dur, ok, err := parseDTMFInfo(ct, body)
	switch {
	case !ok:
		log.Info("INFO refused: unsupported content type", zap.String("contentType", ct))
		u.respond(req, tx, gosip.StatusUnsupportedMediaType, "Unsupported Media Type", gosip.NewHeader("Accept", infoAccept))
		return
	case err != nil:
		log.Info("INFO refused: malformed DTMF", zap.Error(err))
		u.respond(req, tx, gosip.StatusBadRequest, "Bad Request ("+strings.TrimPrefix(err.Error(), "sip: ")+")")
		return
	}
	// The digit is handed on before the 200: the trunk sends the next INFO
	// only once it has the 200, and that one is handled on another
	// goroutine, so answering first could let its digit overtake this one.
	log.Debug("DTMF from the trunk (INFO)", zap.String("digit", string(rune(digit))), zap.Duration("duration", dur))
	emit(Event{Kind: EventDTMF, Digit: digit})
	u.respond(req, tx, gosip.StatusOK, "OK")
}
