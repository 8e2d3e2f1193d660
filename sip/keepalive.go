package sip

import (
	"errors"
	"fmt"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// OPTIONS keepalive (RFC 3261 11): one goroutine per trunk with
// Keepalive.Interval, owned by the UA. It probes at once, then every
// Interval. Any response but 408, 5xx and 6xx means the trunk is there; no
// response within Keepalive.Timeout, a transport error, 408, 5xx or 6xx is a
// failed probe, and DownAfter failed probes in a row mark the trunk down
// (trunkState.probed), one answered probe marks it up again. All probes of
// a trunk share a Call-ID, with the next CSeq each.

func (u *UA) keepaliveLoop(ts *trunkState) {
	defer u.bgWG.Done()
	tc := &ts.conf
	callID := "ka-" + u.instance + "-" + gosip.GenerateTagN(8) + "@" + u.publicHost
	fromTag := gosip.GenerateTagN(16)
	var cseq uint32
	t := time.NewTicker(tc.keepalive.Interval)
	defer t.Stop()
	for {
		cseq++
		res, err := u.await(tc, u.buildOptions(tc, callID, fromTag, cseq), tc.keepalive.Timeout, u.closing)
		if errors.Is(err, errAborted) {
			return
		}
		if err == nil && (res.StatusCode == 408 || res.StatusCode >= 500) {
			err = fmt.Errorf("sip: OPTIONS answered %d %s", res.StatusCode, res.Reason)
		}
		ts.probed(err, false)
		select {
		case <-t.C:
		case <-u.closing:
			return
		}
	}
}

// buildOptions is a keepalive probe to the trunk, through its route set.
func (u *UA) buildOptions(tc *trunkConf, callID, fromTag string, cseq uint32) *gosip.Request {
	dest, transport := tc.nextHop()
	ruri := gosip.Uri{Scheme: "sip", Host: tc.host, Port: tc.port}
	req := gosip.NewRequest(gosip.OPTIONS, ruri)
	req.AppendHeader(u.newVia(transport))
	mf := gosip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&mf)
	for _, r := range tc.routes {
		req.AppendHeader(&gosip.RouteHeader{Address: *r.Clone()})
	}
	from := gosip.Uri{Scheme: "sip", User: contactUser, Host: tc.fromDomain}
	req.AppendHeader(&gosip.FromHeader{Address: from, Params: gosip.HeaderParams{{K: "tag", V: fromTag}}})
	req.AppendHeader(&gosip.ToHeader{Address: *ruri.Clone()})
	cid := gosip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: gosip.OPTIONS})
	req.AppendHeader(u.contact(transport))
	req.AppendHeader(gosip.NewHeader("Accept", "application/sdp"))
	req.AppendHeader(gosip.NewHeader("User-Agent", u.userAgent))
	req.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	req.SetBody(nil)
	u.route(req, transport, dest)
	return req
}
