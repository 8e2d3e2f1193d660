package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Every request this package sends is built here in full and sent with the
// prebuilt option, so what goes on the wire is what this file says: sipgo
// adds no header and changes none.

const (
	maxForwards = 70
	contactUser = "hubline"
)

// newVia is the Via of a new request (a new transaction) leaving on
// transport: our public host and listen port, a fresh branch, and rport (RFC
// 3581) so that the trunk answers to the address the request came from.
func (u *UA) newVia(transport string) *gosip.ViaHeader {
	params := gosip.NewParams()
	params.Add("branch", gosip.GenerateBranchN(16))
	params.Add("rport", "")
	if transport == "TLS" {
		// RFC 5923: the trunk may send its requests to us over this
		// connection (we do not accept TLS connections).
		params.Add("alias", "")
	}
	return &gosip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       transport,
		Host:            u.publicHost,
		Port:            u.port,
		Params:          params,
	}
}

// contact is where the trunk sends in-dialog requests: our listener.
func (u *UA) contact(transport string) *gosip.ContactHeader {
	return &gosip.ContactHeader{Address: gosip.Uri{
		Scheme:    "sip",
		User:      contactUser,
		Host:      u.publicHost,
		Port:      u.port,
		UriParams: gosip.HeaderParams{{K: "transport", V: strings.ToLower(transport)}},
	}}
}

// route fixes the transport and next hop of req. UDP requests leave from the
// listener (Laddr), so that the trunk sees the port of our Via and Contact;
// TCP requests use a connection of their own (or a reused one).
func (u *UA) route(req *gosip.Request, transport, dest string) {
	req.SetTransport(transport)
	req.SetDestination(dest)
	if transport == "UDP" {
		u.udpLaddr.Copy(&req.Laddr)
	}
}

// hostPort is the next-hop address of a SIP URI: its host and port, the
// transport's default port (5060, 5061 for TLS) when it has none.
func hostPort(uri gosip.Uri, transport string) string {
	port := uri.Port
	if port == 0 {
		port = 5060
		if transport == "TLS" {
			port = 5061
		}
	}
	return net.JoinHostPort(strings.Trim(uri.Host, "[]"), strconv.Itoa(port))
}

// uriTransport is the transport a request to uri uses: its transport
// parameter, or fallback. (RFC 3263 would take UDP for a URI without one;
// trunks that talk TCP commonly leave it out of their Contact, so we stay
// on the trunk's transport.)
func uriTransport(uri gosip.Uri, fallback string) string {
	if tp, ok := uri.UriParams.Get("transport"); ok && tp != "" {
		return strings.ToUpper(tp)
	}
	return fallback
}

// phoneURI is a SIP URI for a telephone number; a global number ("+…")
// says user=phone (RFC 3261 19.1.1), a local one (national, prefixed, an
// account id) does not, as it has no phone-context.
func phoneURI(user, host string, port int) gosip.Uri {
	uri := gosip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	if strings.HasPrefix(user, "+") {
		uri.UriParams = gosip.HeaderParams{{K: "user", V: "phone"}}
	}
	return uri
}

// anonymousFrom is the From of a call whose caller withholds their identity
// (RFC 3323 4.1.1.3).
const anonymousDisplay, anonymousUser, anonymousHost = "Anonymous", "anonymous", "anonymous.invalid"

// buildInvite is the call's first INVITE (RFC 3261 8.1.1), in the trunk's
// number format, caller-ID policy and codec preference, through its route
// set.
func (c *Call) buildInvite() (*gosip.Request, error) {
	tr := &c.trunk
	u := c.ua
	to, err := formatNumber(c.inv.To, tr.numbers, true)
	if err != nil {
		return nil, fmt.Errorf("sip: Invite.To %q for trunk %q: %w", c.inv.To, tr.name, err)
	}
	caller, err := formatNumber(c.inv.From, tr.numbers, false)
	if err != nil {
		return nil, fmt.Errorf("sip: Invite.From %q for trunk %q: %w", c.inv.From, tr.name, err)
	}
	sdp, err := preferCodecs(c.inv.SDP, tr.codecs)
	if err == nil {
		sdp, err = withCrypto(sdp, tr.srtp, c.inv.Crypto)
	}
	if err != nil {
		return nil, fmt.Errorf("sip: trunk %q: %w", tr.name, err)
	}
	dest, transport := tr.nextHop()
	ruri := phoneURI(to, tr.host, tr.port)
	if tr.transport == "TLS" {
		// A proxy that routes on the Request-URI must keep the call on TLS
		// (RFC 3261 19.1.1; sips: is refused by most trunks).
		ruri.UriParams = append(ruri.UriParams, gosip.HeaderKV{K: "transport", V: "tls"})
	}
	req := gosip.NewRequest(gosip.INVITE, ruri)
	req.AppendHeader(u.newVia(transport))
	mf := gosip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&mf)
	for _, r := range tr.routes {
		req.AppendHeader(&gosip.RouteHeader{Address: *r.Clone()})
	}
	from := &gosip.FromHeader{
		DisplayName: displayName(c.inv.FromName),
		Address:     phoneURI(caller, tr.fromDomain, 0),
		Params:      gosip.HeaderParams{{K: "tag", V: c.localTag}},
	}
	if tr.callerID.FromUser != "" {
		from.Address = phoneURI(tr.callerID.FromUser, tr.fromDomain, 0)
	}
	if tr.callerID.Privacy == "id" {
		from.DisplayName, from.Address = anonymousDisplay, gosip.Uri{Scheme: "sip", User: anonymousUser, Host: anonymousHost}
	}
	req.AppendHeader(from)
	req.AppendHeader(&gosip.ToHeader{Address: phoneURI(to, tr.host, 0)})
	callID := gosip.CallIDHeader(c.id)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.INVITE})
	req.AppendHeader(u.contact(transport))
	if tr.callerID.AssertIdentity {
		pai := gosip.Uri{Scheme: "sip", User: caller, Host: tr.fromDomain}
		if strings.HasPrefix(caller, "+") {
			pai.UriParams = gosip.HeaderParams{{K: "user", V: "phone"}}
		}
		v := "<" + pai.String() + ">"
		if name := displayName(c.inv.FromName); name != "" {
			v = `"` + name + `" ` + v
		}
		req.AppendHeader(gosip.NewHeader("P-Asserted-Identity", v))
	}
	if tr.callerID.Privacy == "id" {
		req.AppendHeader(gosip.NewHeader("Privacy", "id"))
	}
	if rb := referredByHeader(c.inv.ReferredBy); rb != nil {
		req.AppendHeader(rb)
	}
	req.AppendHeader(gosip.NewHeader("User-Agent", u.userAgent))
	req.AppendHeader(gosip.NewHeader("Allow", allowMethods))
	addSessionHeaders(req, tr.session, tr.session.expires)
	ct := gosip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(bytes.Clone(sdp))
	u.route(req, transport, dest)
	return req, nil
}

// retryInvite is prev again with credentials for res's challenge (RFC 3261
// 22.2): a new transaction (new branch), the next CSeq, the same Call-ID and
// From tag. prev is not modified: its transaction may still be using it to
// ACK retransmitted challenges.
func (c *Call) retryInvite(prev *gosip.Request, res *gosip.Response, cseq uint32) (*gosip.Request, error) {
	return c.ua.withCredentials(prev, res, c.trunk.user, c.trunk.pass, cseq)
}

// withCredentials is retryInvite for any request of ours (a re-INVITE
// too), with user and pass.
func (u *UA) withCredentials(prev *gosip.Request, res *gosip.Response, user, pass string, cseq uint32) (*gosip.Request, error) {
	ch, err := parseChallenge(res)
	if err != nil {
		return nil, err
	}
	req := prev.Clone()
	cred, err := ch.credentials(req, user, pass, 0)
	if err != nil {
		return nil, err
	}
	req.RemoveHeader("Via")
	req.PrependHeader(u.newVia(prev.Transport()))
	req.CSeq().SeqNo = cseq
	req.RemoveHeader("Authorization")
	req.RemoveHeader("Proxy-Authorization")
	req.AppendHeader(cred)
	return req, nil
}

// challenge is a digest challenge (RFC 3261 22.4) we can answer, and the
// header the answer goes in.
type challenge struct {
	chal    *digest.Challenge
	credHdr string // Authorization or Proxy-Authorization
}

// parseChallenge takes the first digest challenge of res (401
// WWW-Authenticate or 407 Proxy-Authenticate) that we can compute.
func parseChallenge(res *gosip.Response) (*challenge, error) {
	challengeHdr, credHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == gosip.StatusProxyAuthRequired {
		challengeHdr, credHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	hdrs := res.GetHeaders(challengeHdr)
	if len(hdrs) == 0 {
		return nil, fmt.Errorf("sip: %d without %s", res.StatusCode, challengeHdr)
	}
	var errs []error
	for _, h := range hdrs {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		chal.Algorithm = strings.ToUpper(chal.Algorithm)
		if !digest.CanDigest(chal) {
			errs = append(errs, fmt.Errorf("algorithm %q, qop %q not supported", chal.Algorithm, chal.QOP))
			continue
		}
		return &challenge{chal: chal, credHdr: credHdr}, nil
	}
	return nil, fmt.Errorf("sip: no usable digest challenge in %d: %w", res.StatusCode, errors.Join(errs...))
}

// credentials answers the challenge for req (its method, Request-URI and
// body). count is the nonce count when a challenge is used again (0 the
// first time).
func (ch *challenge) credentials(req *gosip.Request, user, pass string, count int) (gosip.Header, error) {
	body := req.Body()
	cred, err := digest.Digest(ch.chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.String(),
		Username: user,
		Password: pass,
		Count:    count,
		GetBody:  func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	})
	if err != nil {
		return nil, fmt.Errorf("sip: digest: %w", err)
	}
	return gosip.NewHeader(ch.credHdr, cred.String()), nil
}

// buildCancel cancels inv (RFC 3261 9.1): same Request-URI, Call-ID, From,
// To, CSeq number and top Via (so that it matches the INVITE's server
// transaction), same Route, sent to the same next hop.
func (u *UA) buildCancel(inv *gosip.Request) *gosip.Request {
	req := gosip.NewRequest(gosip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(inv.Via().Clone())
	for _, h := range inv.GetHeaders("Route") {
		req.AppendHeader(gosip.HeaderClone(h))
	}
	mf := gosip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&mf)
	req.AppendHeader(gosip.HeaderClone(inv.From()))
	req.AppendHeader(gosip.HeaderClone(inv.To()))
	req.AppendHeader(gosip.HeaderClone(inv.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: gosip.CANCEL})
	req.AppendHeader(gosip.NewHeader("User-Agent", u.userAgent))
	req.SetBody(nil)
	u.route(req, inv.Transport(), inv.Destination())
	return req
}

// dialog is a confirmed dialog we are the UAC of, as its 2xx set it up (RFC
// 3261 12.1.2).
type dialog struct {
	callID    string
	from      *gosip.FromHeader // local URI and tag
	to        *gosip.ToHeader   // remote URI and tag
	target    gosip.Uri         // remote target: the 2xx's Contact
	routes    []gosip.Uri       // route set: the 2xx's Record-Route, reversed
	transport string            // for URIs without a transport parameter
}

// newDialog reads the dialog a 2xx to an INVITE establishes. from is our
// From (nil: the response's), fallbackTarget the Request-URI, used when the
// 2xx has no Contact (a broken peer; RFC 3261 requires one).
func newDialog(res *gosip.Response, from *gosip.FromHeader, fallbackTarget gosip.Uri, transport string) (*dialog, error) {
	if from == nil {
		from = res.From()
	}
	to, callID := res.To(), res.CallID()
	if from == nil || to == nil || callID == nil {
		return nil, errors.New("sip: 2xx without From, To or Call-ID")
	}
	d := &dialog{
		callID:    string(*callID),
		from:      gosip.HeaderClone(from).(*gosip.FromHeader),
		to:        gosip.HeaderClone(to).(*gosip.ToHeader),
		target:    *fallbackTarget.Clone(),
		transport: transport,
	}
	if ct := res.Contact(); ct != nil && !ct.Address.Wildcard {
		d.target = *ct.Address.Clone()
	}
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		if h, ok := rr[i].(*gosip.RecordRouteHeader); ok {
			d.routes = append(d.routes, *h.Address.Clone())
		}
	}
	return d, nil
}

// request builds an in-dialog request (RFC 3261 12.2.1.1): Request-URI the
// remote target and Route the route set (loose routing), or, when the first
// route is a strict router (no lr), Request-URI that route and the remote
// target last in Route. ACK for a 2xx takes the INVITE's CSeq number; every
// request has a new branch (an ACK for a 2xx is a transaction of its own).
func (u *UA) dialogRequest(d *dialog, method gosip.RequestMethod, cseq uint32) *gosip.Request {
	ruri, routes := d.target, d.routes
	next := ruri
	if len(routes) > 0 {
		next = routes[0]
		if !routes[0].UriParams.Has("lr") {
			ruri = routes[0]
			ruri.Headers = nil // not allowed in a Request-URI
			routes = append(routes[1:len(routes):len(routes)], d.target)
		}
	}
	transport := uriTransport(next, d.transport)
	req := gosip.NewRequest(method, *ruri.Clone())
	req.AppendHeader(u.newVia(transport))
	mf := gosip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&mf)
	for _, r := range routes {
		req.AppendHeader(&gosip.RouteHeader{Address: *r.Clone()})
	}
	req.AppendHeader(gosip.HeaderClone(d.from))
	req.AppendHeader(gosip.HeaderClone(d.to))
	callID := gosip.CallIDHeader(d.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(gosip.NewHeader("User-Agent", u.userAgent))
	req.SetBody(nil)
	u.route(req, transport, hostPort(next, transport))
	return req
}

// sdpOf is msg's body when it is SDP: Content-Type application/sdp, or a
// body without Content-Type.
func sdpOf(msg gosip.Message) []byte {
	body := msg.Body()
	if len(body) == 0 {
		return nil
	}
	if ct := msg.GetHeaders("Content-Type"); len(ct) > 0 {
		mt, _, err := mime.ParseMediaType(ct[0].Value())
		if err != nil || mt != "application/sdp" {
			return nil
		}
	}
	return bytes.Clone(body)
}

// reasonHeader is msg's Reason header (RFC 3326), several joined by ", ".
func reasonHeader(msg gosip.Message) string {
	var vals []string
	for _, h := range msg.GetHeaders("Reason") {
		vals = append(vals, h.Value())
	}
	return strings.Join(vals, ", ")
}

// tagOf is the tag parameter of a From or To header's params.
func tagOf(params gosip.HeaderParams) string {
	tag, _ := params.Get("tag")
	return tag
}

// fromTag and toTag are msg's From and To tags; "" when it has none.
func fromTag(msg gosip.Message) string {
	if h := msg.From(); h != nil {
		return tagOf(h.Params)
	}
	return ""
}

func toTag(msg gosip.Message) string {
	if h := msg.To(); h != nil {
		return tagOf(h.Params)
	}
	return ""
}
