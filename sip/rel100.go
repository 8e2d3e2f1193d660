package sip

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Reliable provisional responses (RFC 3262), inbound: when the trunk's
// INVITE says "Require: 100rel" (or "Supported: 100rel" and the trunk has
// PRACK set), our 18x go reliably: Require: 100rel and RSeq, retransmitted
// from T1, doubling, until the trunk PRACKs them (a PRACK with the right
// RAck gets 200; others 481). One is outstanding at a time: Progress calls
// in between are queued. An Answer while an 18x with SDP awaits its PRACK
// waits for it (RFC 3262 3: no 2xx before then). Without a PRACK for 64*T1
// the INVITE is rejected with 500.

// relState is the reliable provisional responses of one inbound dialog,
// owned by its run goroutine.
type relState struct {
	on       bool
	rseq     uint32            // of the last reliable response sent
	pending  *gosip.Response   // sent, awaiting PRACK
	queue    []*gosip.Response // waiting for pending's PRACK
	timer    *time.Timer       // pending's next retransmission
	wait     time.Duration
	since    time.Time // when pending was first sent
	deferred *uasCmd   // an Answer waiting for pending's PRACK
}

// reliable reports whether inv asks for reliable provisional responses we
// send: Require: 100rel, or Supported: 100rel on a trunk with PRACK.
func reliable(inv *gosip.Request, prack bool) bool {
	return hasOption(inv, "100rel", "Require") || (prack && supports(inv, "100rel"))
}

// parseRAck reads "RSeq CSeq Method".
func parseRAck(v string) (rseq, cseq uint32, method string, err error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return 0, 0, "", fmt.Errorf("sip: malformed RAck %q", v)
	}
	if rseq, err = parseRSeq(f[0]); err != nil {
		return 0, 0, "", err
	}
	n, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return 0, 0, "", fmt.Errorf("sip: malformed RAck %q", v)
	}
	return rseq, uint32(n), strings.ToUpper(f[2]), nil
}

// progress sends a provisional response, reliably when the INVITE asked
// for that.
func (r *uasRun) progress(res *gosip.Response) error {
	rel := &r.rel
	if !rel.on {
		return r.respond(res)
	}
	if rel.pending != nil {
		rel.queue = append(rel.queue, res)
		return nil
	}
	return r.sendReliable(res)
}

func (r *uasRun) sendReliable(res *gosip.Response) error {
	rel := &r.rel
	if rel.rseq == 0 {
		rel.rseq = 1 + rand.Uint32N(1<<31-1) // RFC 3262 3: 1 to 2**31-1
	} else {
		rel.rseq++
	}
	res.AppendHeader(gosip.NewHeader("Require", "100rel"))
	res.AppendHeader(gosip.NewHeader("RSeq", strconv.FormatUint(uint64(rel.rseq), 10)))
	if err := r.respond(res); err != nil {
		return err
	}
	rel.pending, rel.since, rel.wait = res, time.Now(), gosip.T1
	rel.timer = time.NewTimer(rel.wait)
	return nil
}

// relTimerC is the channel of the pending response's retransmission timer.
func (r *uasRun) relTimerC() <-chan time.Time { return timerC(r.rel.timer) }

// retransmitReliable sends the pending response again, or gives the
// INVITE up after 64*T1 without PRACK.
func (r *uasRun) retransmitReliable() {
	rel := &r.rel
	rel.timer = nil
	if rel.pending == nil || r.phase != uasOffered {
		return
	}
	if time.Since(rel.since) >= 64*gosip.T1 {
		r.in.log.Warn("no PRACK for our reliable provisional response; rejecting the INVITE")
		rel.pending, rel.queue = nil, nil
		r.reject(gosip.StatusInternalServerError, "Server Internal Error (no PRACK)", 0)
		return
	}
	if err := r.in.tx.Respond(rel.pending); err != nil {
		r.in.log.Debug("reliable provisional response not retransmitted", zap.Error(err))
	}
	rel.wait = min(2*rel.wait, gosip.T2)
	rel.timer = time.NewTimer(rel.wait)
}

// deferAnswer holds an Answer back while an 18x with SDP awaits its PRACK;
// it reports whether it did (run replies to c later).
func (r *uasRun) deferAnswer(c uasCmd) bool {
	rel := &r.rel
	if c.kind != cmdAnswer || r.phase != uasOffered || rel.pending == nil || rel.deferred != nil {
		return false
	}
	sdpPending := len(rel.pending.Body()) > 0
	for _, q := range rel.queue {
		sdpPending = sdpPending || len(q.Body()) > 0
	}
	if !sdpPending {
		return false
	}
	r.in.log.Debug("answer waits for the PRACK of our 183")
	rel.deferred = &c
	return true
}

// endReliable stops retransmitting and answers a deferred Answer: the
// dialog is over.
func (r *uasRun) endReliable() {
	rel := &r.rel
	stop(&rel.timer)
	rel.pending, rel.queue = nil, nil
	if rel.deferred != nil {
		rel.deferred.res <- fmt.Errorf("sip: Answer: %w: the call ended before the PRACK", ErrDialogState)
		rel.deferred = nil
	}
}

// onPrack answers a PRACK: 200 when it acknowledges the pending response
// (then the next queued one goes, or a deferred Answer), else 481.
func (r *uasRun) onPrack(q inDialogReq) {
	defer close(q.done)
	in, rel := r.in, &r.rel
	rseq, cseq, method, err := parseRAck(header1(q.req, "RAck"))
	inv := in.req.CSeq()
	if err != nil || rel.pending == nil || rseq != rel.rseq || inv == nil || cseq != inv.SeqNo || method != string(gosip.INVITE) {
		in.log.Info("PRACK matches no reliable provisional response", zap.Error(err))
		in.ua.respond(q.req, q.tx, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	in.ua.respond(q.req, q.tx, gosip.StatusOK, "OK")
	in.log.Debug("PRACK received", zap.Uint32("rseq", rseq))
	stop(&rel.timer)
	rel.pending = nil
	if len(rel.queue) > 0 && r.phase == uasOffered {
		next := rel.queue[0]
		rel.queue = rel.queue[1:]
		if err := r.sendReliable(next); err != nil {
			in.log.Warn("queued provisional response not sent", zap.Error(err))
		}
		if len(next.Body()) > 0 {
			return // the deferred Answer waits for this one
		}
	}
	if d := rel.deferred; d != nil && rel.pending == nil {
		rel.deferred = nil
		d.res <- r.onCmd(*d)
	}
}

// handlePrack takes PRACKs for our inbound dialogs' reliable 18x.
func (u *UA) handlePrack(req *gosip.Request, tx gosip.ServerTransaction) {
	if in := u.lookupInbound(req); in != nil {
		if !postInDialog(in.inDialog, in.done, req, tx) {
			u.respond(req, tx, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		}
		return
	}
	u.noDialog(req, tx)
}
