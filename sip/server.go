package sip

import (
	"context"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// The UA's answers to the requests that reach it, and to responses no
// transaction wants. sipgo calls each from a goroutine of its own.

// handleInvite hands re-INVITEs to their dialog (reoffer.go) and inbound
// INVITEs from trunks to Options.OnInvite (480 without one). Unknown
// sources get the source policy. It returns (and sipgo lets the INVITE's
// transaction go) once the INVITE has its final response.
func (u *UA) handleInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	if toTag(req) != "" {
		u.handleInDialogOffer(req, tx)
		return
	}
	ts := u.trunkOf(req)
	if ts == nil {
		u.refuse(req, tx, u.unknown)
		return
	}
	if u.refuseSmallInterval(&ts.conf, req, tx) || u.refuseNoSRTP(&ts.conf, req, tx) {
		return
	}
	if u.onInvite == nil {
		u.log.Info("inbound INVITE refused: inbound calls are not routed", zap.String("trunk", ts.conf.name),
			zap.String("sipCallId", callIDOf(req)), zap.String("from", fromURI(req)))
		u.respond(req, tx, gosip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	in := u.newInbound(ts, req, tx)
	if code, reason := u.registerInbound(in); code != 0 {
		in.log.Info("inbound INVITE refused", zap.Int("code", code), zap.String("reason", reason))
		u.respond(req, tx, code, reason)
		return
	}
	in.log.Info("inbound INVITE", zap.String("to", in.To), zap.String("did", in.DID), zap.String("from", in.From),
		zap.String("source", in.Source.String()))
	go in.run()
	go in.deliver()
	u.onInvite(in)
	<-in.final
}

// handleAck hands the ACK of an inbound call's 2xx to its dialog; other
// ACKs (for our non-2xx responses they are absorbed by sipgo's
// transactions) are dropped.
func (u *UA) handleAck(req *gosip.Request, tx gosip.ServerTransaction) {
	if c := u.lookup(req); c != nil {
		select {
		case c.offers.acks <- req: // the ACK of our 2xx to a re-INVITE
		default:
		}
		return
	}
	if in := u.lookupInbound(req); in != nil {
		select {
		case in.acks <- req:
		default: // one is queued already
		}
	}
}

// noDialog answers an in-dialog request that matches no dialog: 481 to a
// trunk, the source policy to anyone else.
func (u *UA) noDialog(req *gosip.Request, tx gosip.ServerTransaction) {
	if u.trunkOf(req) == nil {
		u.refuse(req, tx, u.unknown)
		return
	}
	u.respond(req, tx, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// handleBye answers a BYE for one of our calls, outbound or inbound, with
// 200 and tells the call; 481 for an unknown dialog.
func (u *UA) handleBye(req *gosip.Request, tx gosip.ServerTransaction) {
	c := u.lookup(req)
	if c != nil {
		c.ackMu.Lock()
		remote := c.remoteTag
		c.ackMu.Unlock()
		if remote != "" && fromTag(req) != remote {
			c = nil // another fork's dialog: we never confirmed it
		}
	}
	if c != nil {
		u.respond(req, tx, gosip.StatusOK, "OK")
		c.remoteBye(req)
		return
	}
	if in := u.lookupInbound(req); in != nil {
		u.respond(req, tx, gosip.StatusOK, "OK")
		select {
		case in.byes <- req:
		default: // one is pending already: that one ends the call
		}
		return
	}
	u.log.Info("BYE for an unknown dialog", zap.String("sipCallId", callIDOf(req)),
		zap.String("toTag", toTag(req)), zap.String("fromTag", fromTag(req)))
	u.noDialog(req, tx)
}

// handleCancel answers a CANCEL that matches no INVITE transaction: sipgo
// answers those that match.
func (u *UA) handleCancel(req *gosip.Request, tx gosip.ServerTransaction) {
	u.noDialog(req, tx)
}

// handleOptions answers keepalive pings from trunks, and from elsewhere as
// Options.UnknownSourceOptions says.
func (u *UA) handleOptions(req *gosip.Request, tx gosip.ServerTransaction) {
	if u.unknownOpt != Answer && u.trunkOf(req) == nil {
		u.refuse(req, tx, u.unknownOpt)
		return
	}
	u.respond(req, tx, gosip.StatusOK, "OK", gosip.NewHeader("Accept", "application/sdp"))
}

// handleOther refuses every other method.
func (u *UA) handleOther(req *gosip.Request, tx gosip.ServerTransaction) {
	if u.trunkOf(req) == nil {
		u.refuse(req, tx, u.unknown)
		return
	}
	u.log.Debug("method not allowed", zap.Stringer("method", req.Method), zap.String("sipCallId", callIDOf(req)))
	u.respond(req, tx, gosip.StatusMethodNotAllowed, "Method Not Allowed")
}

// respond answers req; every response says Allow and Server.
func (u *UA) respond(req *gosip.Request, tx gosip.ServerTransaction, code int, reason string, hdrs ...gosip.Header) {
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	res.AppendHeader(gosip.NewHeader("Server", u.userAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		u.log.Warn("response not sent", zap.Int("code", code), zap.Stringer("method", req.Method),
			zap.String("sipCallId", callIDOf(req)), zap.Error(err))
	}
}

// handleStrayResponse takes the responses no client transaction matches
// (RFC 3261 17.1.1.2: they go to the TU). Only a 2xx to an INVITE matters:
// the trunk retransmits it until it gets an ACK. A retransmission for one
// of our answered calls gets its ACK again; any other 2xx (a fork, a call
// already given up) is ACKed and hung up with BYE (RFC 3261 13.2.2.4), so
// that no call stays up on the trunk.
func (u *UA) handleStrayResponse(res *gosip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != gosip.INVITE || !res.IsSuccess() {
		u.log.Debug("stray response ignored", zap.String("response", res.StartLine()),
			zap.String("sipCallId", callIDOf(res)))
		return
	}
	if c := u.lookupResponse(res); c != nil && c.reack(res) {
		return
	}
	u.log.Info("2xx for no live dialog; ACK and BYE it", zap.String("sipCallId", callIDOf(res)))
	u.ackAndBye(res)
}

// lookupResponse finds the call a response belongs to: its Call-ID, and our
// From tag.
func (u *UA) lookupResponse(res *gosip.Response) *Call {
	cid := res.CallID()
	if cid == nil {
		return nil
	}
	u.mu.Lock()
	c := u.calls[string(*cid)]
	u.mu.Unlock()
	if c == nil || fromTag(res) != c.localTag {
		return nil
	}
	return c
}

// ackAndBye confirms the dialog of a 2xx nobody wants and ends it at once:
// ACK, then BYE in the background (a goroutine Close waits for). The 2xx's
// retransmissions, until our ACK gets through, get the ACK only.
func (u *UA) ackAndBye(res *gosip.Response) {
	log := u.log.With(zap.String("sipCallId", callIDOf(res)))
	if res.Contact() == nil {
		log.Warn("2xx without Contact: cannot ACK it")
		return
	}
	d, err := newDialog(res, nil, gosip.Uri{}, res.Transport())
	if err != nil {
		log.Warn("2xx cannot be ACKed", zap.Error(err))
		return
	}
	seq := res.CSeq().SeqNo
	if err := u.write(nil, u.dialogRequest(d, gosip.ACK, seq)); err != nil {
		log.Warn("ACK not sent", zap.Error(err))
	}
	if !u.markUnwanted(d.callID + "\x00" + tagOf(d.to.Params)) {
		log.Debug("2xx of an unwanted dialog again; ACKed only")
		return
	}
	bye := u.dialogRequest(d, gosip.BYE, seq+1)
	u.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		tx, err := u.send(ctx, nil, bye)
		if err != nil {
			log.Warn("BYE not sent", zap.Error(err))
			return
		}
		defer tx.Terminate()
		timer := time.NewTimer(u.timers.bye)
		defer timer.Stop()
		for {
			select {
			case r := <-tx.Responses():
				if r.IsProvisional() {
					continue
				}
				log.Debug("BYE of unwanted dialog answered", zap.Int("code", r.StatusCode))
			case <-tx.Done():
			case <-timer.C:
			case <-u.closing:
			}
			return
		}
	})
}

// markUnwanted records the dialog id (Call-ID and remote tag) of a 2xx we
// BYE, and reports whether it is new. Entries live as long as the trunk may
// retransmit the 2xx (64*T1, RFC 3261 13.3.1.4).
func (u *UA) markUnwanted(id string) bool {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, at := range u.unwanted {
		if now.Sub(at) > 64*gosip.T1 {
			delete(u.unwanted, k)
		}
	}
	if _, ok := u.unwanted[id]; ok {
		return false
	}
	u.unwanted[id] = now
	return true
}

// spawn runs f in a goroutine Close waits for; not at all once Close began.
func (u *UA) spawn(f func()) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.callWG.Add(1)
	u.mu.Unlock()
	go func() {
		defer u.callWG.Done()
		f()
	}()
}

func callIDOf(msg gosip.Message) string {
	if cid := msg.CallID(); cid != nil {
		return string(*cid)
	}
	return ""
}

func fromURI(req *gosip.Request) string {
	if f := req.From(); f != nil {
		return f.Address.String()
	}
	return ""
}
