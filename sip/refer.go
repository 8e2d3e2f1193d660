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

// Blind transfer (RFC 3515 REFER, RFC 5589 "basic transfer"), hubline as the
// transferor: Transfer sends REFER in a confirmed dialog, outbound (Call,
// Outbound) or inbound (InboundInvite), with Refer-To the target on the
// trunk's host in the trunk's number format and Referred-By the rep's caller
// ID. The trunk (the transferee) answers 202 Accepted and reports the new
// call's progress in NOTIFYs (Event: refer, Content-Type message/sipfrag),
// each answered 200. The transfer's events reach onProgress in order, from
// one goroutine the UA owns:
//
//	202 (or any 2xx) to the REFER                TransferAccepted
//	NOTIFY with a 1xx sipfrag                    TransferProgress (Code, Reason)
//	NOTIFY with a 2xx sipfrag                    TransferSucceeded (last)
//	NOTIFY with a 3xx–6xx sipfrag                TransferFailed (Code, Reason; last)
//	REFER refused (4xx–6xx, 603 included)        TransferFailed (Code, Reason; last)
//	REFER unanswered, not sent                   TransferFailed (Err: ErrTimeout, ErrTransport; last)
//	no final NOTIFY in NotifyWait after the 202  TransferFailed (Err wrapping ErrTimeout; last)
//	the dialog ended first (BYE either way)      TransferFailed (Err wrapping ErrDialogState; Accepted; last)
//	the UA closes                                TransferFailed (Err wrapping ErrClosed; last)
//
// The dialog itself is left alone: ending the call after a successful
// transfer (BYE) is the caller's decision. A NOTIFY that matches no
// transfer in progress gets 481.

// ErrTransferBusy: a transfer of the dialog is already in progress.
var ErrTransferBusy = errors.New("sip: a transfer is already in progress")

// defaultNotifyWait bounds the wait for the final NOTIFY after the 202.
const defaultNotifyWait = 30 * time.Second

// TransferKind says what happened to a transfer.
type TransferKind int

const (
	// TransferAccepted: the trunk accepted the REFER (202).
	TransferAccepted TransferKind = iota + 1
	// TransferProgress: a NOTIFY reported a provisional response of the
	// new call (100 Trying, 180 Ringing, 183).
	TransferProgress
	// TransferSucceeded: a NOTIFY reported the new call answered (2xx).
	TransferSucceeded
	// TransferFailed: the REFER was refused or got no answer, a NOTIFY
	// reported a final non-2xx, or no final NOTIFY came in time.
	TransferFailed
)

func (k TransferKind) String() string {
	switch k {
	case TransferAccepted:
		return "accepted"
	case TransferProgress:
		return "progress"
	case TransferSucceeded:
		return "succeeded"
	case TransferFailed:
		return "failed"
	}
	return "unknown"
}

// Final reports whether k is a transfer's last event.
func (k TransferKind) Final() bool { return k == TransferSucceeded || k == TransferFailed }

// TransferEvent is one step of a transfer.
type TransferEvent struct {
	Kind TransferKind
	// Code and Reason: the REFER's response (Accepted, Failed by refusal)
	// or the NOTIFY's sipfrag status line (Progress, Succeeded, Failed).
	Code   int
	Reason string
	// Accepted: the REFER got its 202 before the transfer failed (a
	// timeout after 202 is not a refusal).
	Accepted bool
	Err      error
}

// Transfer describes a blind transfer.
type Transfer struct {
	// To is the E.164 number the call is transferred to. Required.
	To string
	// ReferredBy is the E.164 number of who transfers (the rep's caller
	// ID), sent in Referred-By. Empty: no Referred-By.
	ReferredBy string
}

// ParseSipfrag reads the status line of a message/sipfrag body (RFC 3420)
// as a REFER NOTIFY carries it: "SIP/2.0 180 Ringing", optionally followed by
// header lines, which are ignored.
func ParseSipfrag(body []byte) (code int, reason string, err error) {
	line := body
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	s := strings.TrimSpace(string(line))
	if len(s) > 256 {
		return 0, "", errors.New("sip: sipfrag: status line too long")
	}
	ver, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(ver, "SIP/2.0") {
		return 0, "", fmt.Errorf("sip: sipfrag: %q is no SIP/2.0 status line", truncateStr(s, 64))
	}
	rest = strings.TrimLeft(rest, " ")
	num, reason, _ := strings.Cut(rest, " ")
	if len(num) != 3 {
		return 0, "", fmt.Errorf("sip: sipfrag: bad status code %q", truncateStr(num, 16))
	}
	code, err = strconv.Atoi(num)
	if err != nil || code < 100 || code > 699 {
		return 0, "", fmt.Errorf("sip: sipfrag: bad status code %q", num)
	}
	for _, r := range reason {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return 0, "", errors.New("sip: sipfrag: control character in the reason phrase")
		}
	}
	return code, strings.TrimSpace(reason), nil
}

// dlgReq asks a dialog's run goroutine, which owns the local CSeq, to send
// an in-dialog request.
type dlgReq struct {
	method gosip.RequestMethod
	hdrs   []gosip.Header
	ctype  string
	body   []byte
	res    chan dlgRes // capacity 1
}

type dlgRes struct {
	req *gosip.Request
	tx  gosip.ClientTransaction
	err error
}

// sendInDialog hands q to a dialog's run goroutine and waits for the sent
// request's transaction.
func sendInDialog(ch chan<- dlgReq, done <-chan struct{}, q dlgReq) (*gosip.Request, gosip.ClientTransaction, error) {
	q.res = make(chan dlgRes, 1)
	select {
	case ch <- q:
	case <-done:
		return nil, nil, fmt.Errorf("sip: %s: %w: the dialog is over", q.method, ErrDialogState)
	}
	r := <-q.res
	return r.req, r.tx, r.err
}

// buildInDialog is d's next request with q's headers and body.
func (u *UA) buildInDialog(d *dialog, q dlgReq, cseq uint32) *gosip.Request {
	req := u.dialogRequest(d, q.method, cseq)
	req.AppendHeader(u.contact(req.Transport()))
	for _, h := range q.hdrs {
		req.AppendHeader(h)
	}
	if len(q.body) > 0 {
		ct := gosip.ContentTypeHeader(q.ctype)
		req.AppendHeader(&ct)
		req.SetBody(q.body)
	}
	return req
}

// onDlgReq sends q in an outbound call's confirmed dialog (run's goroutine).
func (r *callRun) onDlgReq(q dlgReq) {
	c := r.c
	if r.phase != phaseAnswered || r.dlg == nil {
		q.res <- dlgRes{err: fmt.Errorf("sip: %s: %w: the call is not answered", q.method, ErrDialogState)}
		return
	}
	r.cseq++
	req := c.ua.buildInDialog(r.dlg, q, r.cseq)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, req)
	if err != nil {
		err = fmt.Errorf("sip: send %s: %w: %w", q.method, ErrTransport, err)
	}
	q.res <- dlgRes{req: req, tx: tx, err: err}
}

// onDlgReq sends q in an inbound call's confirmed dialog (run's goroutine).
func (r *uasRun) onDlgReq(q dlgReq) {
	in := r.in
	if (r.phase != uasConfirmed && r.phase != uasAccepted) || r.dlg == nil {
		q.res <- dlgRes{err: fmt.Errorf("sip: %s: %w: the call is not answered", q.method, ErrDialogState)}
		return
	}
	r.cseq++
	req := in.ua.buildInDialog(r.dlg, q, r.cseq)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := in.ua.send(ctx, nil, req)
	if err != nil {
		err = fmt.Errorf("sip: send %s: %w: %w", q.method, ErrTransport, err)
	}
	q.res <- dlgRes{req: req, tx: tx, err: err}
}

// referTable holds the transfers in progress, by Call-ID: at most one per
// dialog.
type referTable struct {
	mu   sync.Mutex
	subs map[string]*referSub
	// NotifyWait bounds the wait for the final NOTIFY after the 202. Zero:
	// 30s. Set before the UA is used (tests shorten it).
	notifyWait time.Duration
}

// referSub is one transfer's implicit subscription (RFC 3515).
type referSub struct {
	callID    string
	localTag  string // our tag: the NOTIFY's To tag
	remoteTag string // the trunk's tag: the NOTIFY's From tag
	notifies  chan *gosip.Request
}

func (t *referTable) add(s *referSub) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		t.subs = make(map[string]*referSub)
	}
	if _, ok := t.subs[s.callID]; ok {
		return ErrTransferBusy
	}
	t.subs[s.callID] = s
	return nil
}

func (t *referTable) remove(s *referSub) {
	t.mu.Lock()
	if t.subs[s.callID] == s {
		delete(t.subs, s.callID)
	}
	t.mu.Unlock()
}

func (t *referTable) lookup(req *gosip.Request) *referSub {
	t.mu.Lock()
	s := t.subs[callIDOf(req)]
	t.mu.Unlock()
	if s == nil || toTag(req) != s.localTag || fromTag(req) != s.remoteTag {
		return nil
	}
	return s
}

func (t *referTable) wait() time.Duration {
	if t.notifyWait > 0 {
		return t.notifyWait
	}
	return defaultNotifyWait
}

// referTo is the Refer-To and Referred-By headers for tr: the target on the
// trunk's host in its number format, who transfers on the From domain.
func referHeaders(tr *trunkConf, t Transfer) ([]gosip.Header, error) {
	if !e164.MatchString(t.To) {
		return nil, fmt.Errorf("sip: transfer target %q: %w: not E.164", t.To, ErrInvalidNumber)
	}
	to, err := formatNumber(t.To, tr.numbers, true)
	if err != nil {
		return nil, fmt.Errorf("sip: transfer target %q for trunk %q: %w", t.To, tr.name, err)
	}
	target := phoneURI(to, tr.host, 0)
	hdrs := []gosip.Header{gosip.NewHeader("Refer-To", "<"+target.String()+">")}
	if t.ReferredBy != "" {
		if !e164.MatchString(t.ReferredBy) {
			return nil, fmt.Errorf("sip: Referred-By %q: %w: not E.164", t.ReferredBy, ErrInvalidNumber)
		}
		by, err := formatNumber(t.ReferredBy, tr.numbers, false)
		if err != nil {
			return nil, fmt.Errorf("sip: Referred-By %q for trunk %q: %w", t.ReferredBy, tr.name, err)
		}
		who := phoneURI(by, tr.fromDomain, 0)
		hdrs = append(hdrs, gosip.NewHeader("Referred-By", "<"+who.String()+">"))
	}
	return hdrs, nil
}

// Transfer transfers the answered call to t.To (blind, RFC 5589): see the
// comment at the top of refer.go. It returns once the REFER is sent; the
// outcome reaches onProgress. It fails at once, and nothing follows, for an
// invalid number, a call that is not answered (ErrDialogState) or has a
// transfer in progress (ErrTransferBusy), or a REFER that could not be sent.
func (c *Call) Transfer(t Transfer, onProgress func(TransferEvent)) error {
	hdrs, err := referHeaders(&c.trunk, t)
	if err != nil {
		return err
	}
	c.ackMu.Lock()
	remote := c.remoteTag
	c.ackMu.Unlock()
	return c.ua.transfer(c.log, c.id, c.localTag, remote, hdrs, c.dlgReqs, c.done, onProgress)
}

// Transfer is Call.Transfer on the attempt that was answered.
func (o *Outbound) Transfer(t Transfer, onProgress func(TransferEvent)) error {
	o.mu.Lock()
	c := o.cur
	o.mu.Unlock()
	if c == nil {
		return fmt.Errorf("sip: transfer: %w: no call", ErrDialogState)
	}
	return c.Transfer(t, onProgress)
}

// Transfer is Call.Transfer for an inbound call the trunk delivered.
func (in *InboundInvite) Transfer(t Transfer, onProgress func(TransferEvent)) error {
	ts := in.ua.trunkNamed(in.Trunk)
	if ts == nil {
		return fmt.Errorf("sip: transfer: trunk %q is not configured", in.Trunk)
	}
	hdrs, err := referHeaders(&ts.conf, t)
	if err != nil {
		return err
	}
	return in.ua.transfer(in.log, in.CallID, in.localTag, fromTag(in.req), hdrs, in.dlgReqs, in.done, onProgress)
}

func (u *UA) trunkNamed(name string) *trunkState {
	for _, ts := range u.trunks {
		if ts.conf.name == name {
			return ts
		}
	}
	return nil
}

// transfer sends the REFER through the dialog's run goroutine and starts
// the goroutine that follows it.
func (u *UA) transfer(log *zap.Logger, callID, localTag, remoteTag string, hdrs []gosip.Header,
	reqs chan<- dlgReq, done <-chan struct{}, onProgress func(TransferEvent)) error {
	if onProgress == nil {
		onProgress = func(TransferEvent) {}
	}
	sub := &referSub{callID: callID, localTag: localTag, remoteTag: remoteTag, notifies: make(chan *gosip.Request, 16)}
	if err := u.refer.add(sub); err != nil {
		return err
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		u.refer.remove(sub)
		return fmt.Errorf("sip: transfer: %w", ErrClosed)
	}
	u.callWG.Add(1)
	u.mu.Unlock()
	_, tx, err := sendInDialog(reqs, done, dlgReq{method: gosip.REFER, hdrs: hdrs})
	if err != nil {
		u.refer.remove(sub)
		u.callWG.Done()
		return err
	}
	log.Info("REFER sent", zap.String("referTo", hdrs[0].Value()))
	go func() {
		defer u.callWG.Done()
		defer u.refer.remove(sub)
		u.followTransfer(log, sub, tx, done, onProgress)
	}()
	return nil
}

// followTransfer waits for the REFER's response and the NOTIFYs. When the
// dialog ends first it takes in what already arrived and reports a last
// TransferFailed wrapping ErrDialogState (Accepted says whether the 202
// came: a trunk that hangs up after its 202 has usually transferred).
func (u *UA) followTransfer(log *zap.Logger, sub *referSub, tx gosip.ClientTransaction, done <-chan struct{},
	onProgress func(TransferEvent)) {
	accepted := false
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
		if tx != nil {
			tx.Terminate()
		}
	}()
	report := func(ev TransferEvent) bool {
		ev.Accepted = accepted
		log.Info("transfer", zap.Stringer("kind", ev.Kind), zap.Int("code", ev.Code),
			zap.String("reason", ev.Reason), zap.Bool("accepted", accepted), zap.Error(ev.Err))
		onProgress(ev)
		return ev.Kind.Final()
	}
	accept := func() {
		if !accepted {
			accepted = true
			wait = time.NewTimer(u.refer.wait())
		}
	}
	// onResponse and onNotify report whether the transfer is over.
	onResponse := func(res *gosip.Response) bool {
		if res.IsProvisional() {
			return false
		}
		tx = nil
		if !res.IsSuccess() {
			return report(TransferEvent{Kind: TransferFailed, Code: res.StatusCode, Reason: res.Reason})
		}
		if !accepted {
			accept()
			report(TransferEvent{Kind: TransferAccepted, Code: res.StatusCode, Reason: res.Reason})
		}
		return false
	}
	onNotify := func(req *gosip.Request) bool {
		// A NOTIFY may overtake the 202 (RFC 3515): it accepts.
		code, reason, err := ParseSipfrag(req.Body())
		if err != nil {
			log.Info("NOTIFY without a usable sipfrag", zap.Error(err))
			if terminated(req) && accepted {
				return report(TransferEvent{Kind: TransferFailed, Err: fmt.Errorf("sip: transfer: subscription ended without a final status: %w", err)})
			}
			return false
		}
		if !accepted {
			accept()
			report(TransferEvent{Kind: TransferAccepted, Code: 202, Reason: "Accepted"})
		}
		switch {
		case code < 200:
			return report(TransferEvent{Kind: TransferProgress, Code: code, Reason: reason})
		case code < 300:
			return report(TransferEvent{Kind: TransferSucceeded, Code: code, Reason: reason})
		default:
			return report(TransferEvent{Kind: TransferFailed, Code: code, Reason: reason})
		}
	}
	for {
		var txRes <-chan *gosip.Response
		var txDone <-chan struct{}
		if tx != nil {
			txRes, txDone = tx.Responses(), tx.Done()
		}
		select {
		case res := <-txRes:
			if onResponse(res) {
				return
			}
		case <-txDone:
			err := tx.Err()
			tx = nil
			if errors.Is(err, gosip.ErrTransactionTimeout) {
				err = fmt.Errorf("sip: REFER: %w: %w", ErrTimeout, err)
			} else {
				err = fmt.Errorf("sip: REFER: %w: %w", ErrTransport, err)
			}
			report(TransferEvent{Kind: TransferFailed, Code: 408, Reason: "No response to REFER", Err: err})
			return
		case req := <-sub.notifies:
			if onNotify(req) {
				return
			}
		case <-timerC(wait):
			wait = nil
			report(TransferEvent{Kind: TransferFailed, Err: fmt.Errorf("sip: transfer: %w: no final NOTIFY", ErrTimeout)})
			return
		case <-done:
			// Take in what arrived before the dialog ended.
			for {
				if tx != nil {
					select {
					case res := <-tx.Responses():
						if onResponse(res) {
							return
						}
						continue
					default:
					}
				}
				select {
				case req := <-sub.notifies:
					if onNotify(req) {
						return
					}
					continue
				default:
				}
				break
			}
			report(TransferEvent{Kind: TransferFailed, Err: fmt.Errorf("sip: transfer: %w: the call ended", ErrDialogState)})
			return
		case <-u.closing:
			report(TransferEvent{Kind: TransferFailed, Err: fmt.Errorf("sip: transfer: %w", ErrClosed)})
			return
		}
	}
}

// terminated reports whether a NOTIFY ends its subscription.
func terminated(req *gosip.Request) bool {
	h := req.GetHeader("Subscription-State")
	if h == nil {
		return false
	}
	state, _, _ := strings.Cut(h.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(state), "terminated")
}

// handleNotify answers a NOTIFY of a transfer in progress with 200 and
// passes it on; 489 for another event package, 481 when no transfer
// matches (RFC 6665).
func (u *UA) handleNotify(req *gosip.Request, tx gosip.ServerTransaction) {
	sub := u.refer.lookup(req)
	if sub == nil {
		if u.trunkOf(req) == nil && u.lookup(req) == nil && u.lookupInbound(req) == nil {
			u.refuse(req, tx, u.unknown)
			return
		}
		u.log.Info("NOTIFY for no transfer in progress", zap.String("sipCallId", callIDOf(req)))
		u.respond(req, tx, gosip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	ev := req.GetHeader("Event")
	if ev == nil {
		u.respond(req, tx, gosip.StatusBadRequest, "Missing Event header")
		return
	}
	pkg, _, _ := strings.Cut(ev.Value(), ";")
	if !strings.EqualFold(strings.TrimSpace(pkg), "refer") {
		u.respond(req, tx, 489, "Bad Event", gosip.NewHeader("Allow-Events", "refer"))
		return
	}
	if ct := req.GetHeader("Content-Type"); ct != nil && len(req.Body()) > 0 {
		if mt, _, err := mime.ParseMediaType(ct.Value()); err != nil || mt != "message/sipfrag" {
			u.respond(req, tx, gosip.StatusUnsupportedMediaType, "Unsupported Media Type",
				gosip.NewHeader("Accept", "message/sipfrag"))
			return
		}
	}
	u.respond(req, tx, gosip.StatusOK, "OK")
	select {
	case sub.notifies <- req:
	default:
		u.log.Warn("NOTIFY dropped: too many pending", zap.String("sipCallId", sub.callID))
	}
}
