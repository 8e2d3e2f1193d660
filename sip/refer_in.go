package sip

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// REFER from a trunk (RFC 3515, hubline as the transferee of RFC 5589): a
// trunk without AcceptRefer (or a UA without Options.OnRefer) gets 403
// Forbidden with a Reason. Otherwise the REFER is answered 202 Accepted and
// the Refer-To is checked: a sip: URI on the trunk's host whose user part is
// a valid number. A target that fails gets NOTIFY 603 Declined (the
// subscription terminated) and nothing else happens; a good one gets NOTIFY
// 100 Trying and goes to Options.OnRefer, which places the new call and
// reports its final response with IncomingRefer.Notify.

// referForbidden is the Reason of the 403 to a REFER the trunk may not send.
const referForbidden = `SIP;cause=403;text="Transfers (REFER) are not accepted from this trunk"`

// IncomingRefer is a REFER a trunk sent in one of our answered dialogs,
// accepted with 202 and with a valid target.
type IncomingRefer struct {
	// CallID is the dialog's Call-ID: the call being transferred.
	CallID string
	// Trunk is the trunk's Name.
	Trunk string
	// Target is the Refer-To number, E.164.
	Target string
	// ReferredBy is the Referred-By header as the trunk sent it, if any.
	ReferredBy string

	ua   *UA
	log  *zap.Logger
	reqs chan<- dlgReq
	done <-chan struct{}

	mu    sync.Mutex // serialises NOTIFYs; guards final
	final bool
}

// Notify reports the new call's progress to the trunk: NOTIFY (Event:
// refer, message/sipfrag "SIP/2.0 <code> <reason>"). A final code (200 and
// above) terminates the subscription; later calls do nothing. It waits for
// the NOTIFY's response, a few seconds at most. It fails with
// ErrDialogState once the dialog is over.
func (r *IncomingRefer) Notify(code int, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return nil
	}
	if code < 100 || code > 699 {
		return fmt.Errorf("sip: Notify: bad status code %d", code)
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, reason)
	state := "active;expires=60"
	if code >= 200 {
		r.final = true
		state = "terminated;reason=noresource"
	}
	q := dlgReq{
		method: gosip.NOTIFY,
		hdrs: []gosip.Header{
			gosip.NewHeader("Event", "refer"),
			gosip.NewHeader("Subscription-State", state),
		},
		ctype: "message/sipfrag;version=2.0",
		body:  fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", code, reason),
	}
	_, tx, err := sendInDialog(r.reqs, r.done, q)
	if err != nil {
		return err
	}
	defer tx.Terminate()
	timer := time.NewTimer(r.ua.timers.bye)
	defer timer.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			r.log.Debug("NOTIFY answered", zap.Int("sipfrag", code), zap.Int("code", res.StatusCode))
			if !res.IsSuccess() {
				return fmt.Errorf("sip: NOTIFY refused: %d %s", res.StatusCode, res.Reason)
			}
			return nil
		case <-tx.Done():
			return fmt.Errorf("sip: NOTIFY: %w: %w", ErrTransport, tx.Err())
		case <-timer.C:
			return fmt.Errorf("sip: NOTIFY: %w: no response", ErrTimeout)
		case <-r.ua.closing:
			return fmt.Errorf("sip: NOTIFY: %w", ErrClosed)
		}
	}
}

// handleRefer takes a REFER from a trunk; see the comment at the top.
func (u *UA) handleRefer(req *gosip.Request, tx gosip.ServerTransaction) {
	var (
		tc        *trunkConf
		reqs      chan<- dlgReq
		done      <-chan struct{}
		log       *zap.Logger
		trunkName string
	)
	if c := u.lookup(req); c != nil {
		c.ackMu.Lock()
		remote := c.remoteTag
		c.ackMu.Unlock()
		if remote != "" && fromTag(req) == remote {
			tc, reqs, done, log, trunkName = &c.trunk, c.dlgReqs, c.done, c.log, c.trunk.name
		}
	} else if in := u.lookupInbound(req); in != nil {
		if ts := u.trunkNamed(in.Trunk); ts != nil {
			tc, reqs, done, log, trunkName = &ts.conf, in.dlgReqs, in.done, in.log, in.Trunk
		}
	}
	if tc == nil {
		if u.trunkOf(req) == nil {
			u.refuse(req, tx, u.unknown)
			return
		}
		u.log.Info("REFER for an unknown dialog", zap.String("sipCallId", callIDOf(req)))
		u.noDialog(req, tx)
		return
	}
	if !tc.acceptRefer || u.onRefer == nil {
		log.Info("REFER refused: the trunk may not transfer calls", zap.Bool("acceptRefer", tc.acceptRefer))
		u.respond(req, tx, gosip.StatusForbidden, "Forbidden", gosip.NewHeader("Reason", referForbidden))
		return
	}
	rt := req.GetHeaders("Refer-To")
	if len(rt) != 1 {
		u.respond(req, tx, gosip.StatusBadRequest, "Exactly one Refer-To is required")
		return
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		u.respond(req, tx, gosip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	u.callWG.Add(1)
	u.mu.Unlock()
	ir := &IncomingRefer{CallID: callIDOf(req), Trunk: trunkName, ua: u, log: log, reqs: reqs, done: done}
	if h := req.GetHeader("Referred-By"); h != nil {
		ir.ReferredBy = h.Value()
	}
	target, terr := referTarget(rt[0].Value(), tc)
	u.respond(req, tx, gosip.StatusAccepted, "Accepted", u.contact(req.Transport()))
	go func() {
		defer u.callWG.Done()
		if terr != nil {
			log.Info("REFER target refused", zap.String("referTo", rt[0].Value()), zap.Error(terr))
			if err := ir.Notify(603, "Declined"); err != nil {
				log.Info("NOTIFY 603 not delivered", zap.Error(err))
			}
			return
		}
		ir.Target = target
		log.Info("REFER accepted", zap.String("target", target), zap.String("referredBy", ir.ReferredBy))
		if err := ir.Notify(gosip.StatusTrying, "Trying"); err != nil {
			log.Info("NOTIFY 100 not delivered", zap.Error(err))
			if errors.Is(err, ErrDialogState) || errors.Is(err, ErrClosed) {
				return
			}
		}
		u.onRefer(ir)
	}()
}

// referTarget checks a Refer-To value: a sip: or sips: URI on tc's host (or
// its From domain) whose user part is a number, which it returns in E.164.
func referTarget(v string, tc *trunkConf) (string, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", errors.New("sip: Refer-To: unterminated <")
		}
		v = v[i+1 : i+j]
	} else if k := strings.IndexByte(v, ';'); k >= 0 {
		v = v[:k] // header parameters, without <>
	}
	var uri gosip.Uri
	if err := gosip.ParseUri(v, &uri); err != nil {
		return "", fmt.Errorf("sip: Refer-To %q: %w", truncateStr(v, 64), err)
	}
	if s := strings.ToLower(uri.Scheme); s != "sip" && s != "sips" {
		return "", fmt.Errorf("sip: Refer-To scheme %q is not sip", uri.Scheme)
	}
	if len(uri.Headers) > 0 {
		return "", errors.New("sip: Refer-To with URI headers (Replaces: attended transfer) is not supported")
	}
	host := strings.Trim(uri.Host, "[]")
	if !strings.EqualFold(host, strings.Trim(tc.host, "[]")) && !strings.EqualFold(host, tc.fromDomain) {
		return "", fmt.Errorf("sip: Refer-To host %q is not the trunk's (%s)", truncateStr(uri.Host, 64), tc.host)
	}
	user := uri.User
	if k := strings.IndexByte(user, ';'); k >= 0 {
		user = user[:k]
	}
	n, err := NormalizeNumber(user, tc.numbers.Region)
	if err != nil {
		return "", fmt.Errorf("sip: Refer-To user %q: %w", truncateStr(user, 32), err)
	}
	return n, nil
}

// referredByHeader is the Referred-By of an INVITE placed for a REFER: the
// REFER's value without control characters; nil for none.
func referredByHeader(v string) gosip.Header {
	v = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v))
	if v == "" || len(v) > 512 {
		return nil
	}
	return gosip.NewHeader("Referred-By", v)
}
