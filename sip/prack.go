package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Reliable provisional responses (RFC 3262), outbound: our INVITEs say
// "Supported: 100rel"; an 18x with "Require: 100rel" and RSeq is
// acknowledged with PRACK (RAck: RSeq, the INVITE's CSeq) in its early
// dialog. The 18x's SDP (early media) is reported as before; the PRACK
// carries no body. A retransmission of a response already PRACKed (same
// To tag, RSeq not higher) is ignored: our PRACK transaction retransmits
// itself.

// parseRSeq reads an RSeq header: 1 to 2**32-1.
func parseRSeq(v string) (uint32, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 || v[0] == '+' {
		return 0, fmt.Errorf("sip: malformed RSeq %q", v)
	}
	return uint32(n), nil
}

// prack acknowledges res, an 18x to the current INVITE, when it is sent
// reliably.
func (r *callRun) prack(res *gosip.Response) {
	c := r.c
	if !hasOption(res, "100rel", "Require") {
		return
	}
	hs := res.GetHeaders("RSeq")
	if len(hs) == 0 {
		c.log.Warn("reliable provisional response without RSeq; not acknowledged", zap.Int("code", res.StatusCode))
		return
	}
	rseq, err := parseRSeq(hs[0].Value())
	if err != nil {
		c.log.Warn("reliable provisional response not acknowledged", zap.Error(err))
		return
	}
	tag := toTag(res)
	if tag == r.prackTag && rseq <= r.prackRSeq {
		return // a retransmission: our PRACK is on its way
	}
	d, err := newDialog(res, c.invite.From(), r.req.Recipient, c.trunk.transport)
	if err != nil {
		c.log.Warn("reliable provisional response not acknowledged", zap.Error(err))
		return
	}
	r.cseq++
	req := c.ua.dialogRequest(d, gosip.PRACK, r.cseq)
	inv := r.req.CSeq()
	req.AppendHeader(gosip.NewHeader("RAck", fmt.Sprintf("%d %d %s", rseq, inv.SeqNo, inv.MethodName)))
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	tx, err := c.ua.send(ctx, &c.trunk, req)
	if err != nil {
		c.log.Warn("PRACK not sent", zap.Error(err))
		return
	}
	r.endPrack()
	c.log.Debug("PRACK sent", zap.Uint32("rseq", rseq), zap.Int("code", res.StatusCode))
	r.prackTx, r.prackTag, r.prackRSeq = tx, tag, rseq
}

func (r *callRun) prackResponses() <-chan *gosip.Response {
	if r.prackTx == nil {
		return nil
	}
	return r.prackTx.Responses()
}

func (r *callRun) prackDone() <-chan struct{} {
	if r.prackTx == nil {
		return nil
	}
	return r.prackTx.Done()
}

func (r *callRun) onPrackResponse(res *gosip.Response) {
	if res.IsProvisional() {
		return
	}
	if !res.IsSuccess() {
		r.c.log.Info("PRACK refused", zap.Int("code", res.StatusCode), zap.String("reason", res.Reason))
	}
	r.prackTx = nil
}

func (r *callRun) onPrackDone() {
	if err := r.prackTx.Err(); err != nil && !errors.Is(err, gosip.ErrTransactionTerminated) {
		r.c.log.Info("PRACK got no response", zap.Error(err))
	}
	r.prackTx = nil
}

// endPrack lets go of a PRACK transaction still running.
func (r *callRun) endPrack() {
	if r.prackTx != nil {
		r.prackTx.Terminate()
		r.prackTx = nil
	}
}
