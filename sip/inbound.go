package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Inbound requests are taken only from the trunks: an out-of-dialog request
// (and an in-dialog one that matches no dialog of ours) from an address
// that is not a configured trunk's gets the UA's SourcePolicy before
// anything else looks at it. A trunk's addresses are its host, its Route
// hosts and its registrar host, resolved (again every few minutes), plus
// its InboundAllow networks.

// trustTable maps source addresses to trunks.
type trustTable struct {
	entries  []trustEntry
	byHost   map[string][]netip.Addr // resolved host names, kept when a lookup fails
	hasNames bool                    // some host is a name: resolve again now and then
}

type trustEntry struct {
	ts       *trunkState
	prefixes []netip.Prefix
}

// match is the first trunk (in configured order) ip belongs to; nil if none.
func (t *trustTable) match(ip netip.Addr) *trunkState {
	if t == nil {
		return nil
	}
	ip = ip.Unmap()
	for _, e := range t.entries {
		for _, p := range e.prefixes {
			if p.Contains(ip) {
				return e.ts
			}
		}
	}
	return nil
}

const resolveTimeout = 2 * time.Second

// resolveTrust builds the trust table from the trunks, resolving host names
// (a failed lookup keeps the addresses it had).
func (u *UA) resolveTrust(ctx context.Context) {
	old := u.trust.Load()
	t := &trustTable{byHost: map[string][]netip.Addr{}}
	for _, ts := range u.trunks {
		tc := &ts.conf
		hosts := []string{tc.host, tc.registrar.host}
		for _, r := range tc.routes {
			hosts = append(hosts, r.Host)
		}
		e := trustEntry{ts: ts, prefixes: append([]netip.Prefix(nil), tc.allow...)}
		for _, h := range hosts {
			h = strings.Trim(h, "[]")
			if ip, err := netip.ParseAddr(h); err == nil {
				e.prefixes = append(e.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			t.hasNames = true
			addrs, ok := t.byHost[h]
			if !ok {
				lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
				ips, err := net.DefaultResolver.LookupNetIP(lctx, "ip", h)
				cancel()
				if err != nil && old != nil {
					ips = old.byHost[h]
					u.log.Warn("trunk host not resolved; keeping its addresses", zap.String("trunk", tc.name),
						zap.String("host", h), zap.Error(err))
				} else if err != nil {
					u.log.Warn("trunk host not resolved; requests from it are refused until it is",
						zap.String("trunk", tc.name), zap.String("host", h), zap.Error(err))
				}
				for _, ip := range ips {
					addrs = append(addrs, ip.Unmap())
				}
				t.byHost[h] = addrs
			}
			for _, ip := range addrs {
				e.prefixes = append(e.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
		t.entries = append(t.entries, e)
	}
	u.trust.Store(t)
}

func (u *UA) resolveLoop() {
	defer u.bgWG.Done()
	t := time.NewTicker(u.timers.resolve)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			u.resolveTrust(u.closeCtx)
		case <-u.closing:
			return
		}
	}
}

// sourceOf is the address req came from.
func sourceOf(req *gosip.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// trunkOf is the trunk req came from; nil when its address is no trunk's.
func (u *UA) trunkOf(req *gosip.Request) *trunkState {
	src := sourceOf(req)
	if !src.IsValid() {
		return nil
	}
	return u.trust.Load().match(src.Addr())
}

// sourcePolicies checks and defaults Options.UnknownSources and
// UnknownSourceOptions.
func sourcePolicies(unknown, opt SourcePolicy) (SourcePolicy, SourcePolicy, error) {
	switch unknown {
	case "":
		unknown = Reject
	case Reject, Drop:
	default:
		return "", "", fmt.Errorf("sip: UnknownSources %q: want reject or drop", unknown)
	}
	switch opt {
	case "":
		opt = unknown
	case Reject, Drop, Answer:
	default:
		return "", "", fmt.Errorf("sip: UnknownSourceOptions %q: want answer, reject or drop", opt)
	}
	return unknown, opt, nil
}

// refuse applies policy to a request from an unknown source: a bare 403
// (no Server, no Allow), or nothing at all.
func (u *UA) refuse(req *gosip.Request, tx gosip.ServerTransaction, policy SourcePolicy) {
	u.log.Info("request from an address that is no trunk's refused", zap.Stringer("method", req.Method),
		zap.String("source", req.Source()), zap.String("policy", string(policy)),
		zap.String("sipCallId", callIDOf(req)), zap.String("from", fromURI(req)))
	if policy == Drop {
		tx.Terminate() // no response, not even sipgo's automatic 100 Trying
		return
	}
	if err := tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusForbidden, "Forbidden", nil)); err != nil {
		u.log.Debug("403 not sent", zap.Error(err))
	}
}

// InboundInvite is an out-of-dialog INVITE from a trunk's address, handed to
// Options.OnInvite before anything (media least of all) is set up for it.
// The handler must answer it, at once or later from another goroutine:
// Reject (or RejectAfter), or Progress and then Answer or Reject. After
// Answer, hubline is the UAS of the dialog (uas.go): Hangup sends BYE, and
// the dialog's end arrives on the OnEvent callback. The caller may CANCEL
// at any time before the answer (sipgo answers 487); that too is an event.
//
// Methods are safe for concurrent use; each returns an error wrapping
// ErrDialogState when the dialog is past the point it applies to.
type InboundInvite struct {
	// Trunk is the Name of the trunk whose address it came from.
	Trunk string
	// Source is the address it came from.
	Source netip.AddrPort
	CallID string
	// To is the user part of the Request-URI; From the user part of From.
	To, From string
	// FromName is the From display name ("" when none).
	FromName string
	// DID is the trunk's DID (E.164) the Request-URI or To names; "" when
	// none does.
	DID string
	// SDP is the offer; nil for an offerless INVITE.
	SDP []byte
	// Received is when the INVITE reached the UA.
	Received time.Time

	ua       *UA
	req      *gosip.Request
	tx       gosip.ServerTransaction
	log      *zap.Logger
	localTag string // our To tag

	cmds       chan uasCmd         // to run
	acks       chan *gosip.Request // ACKs for our 2xx (cap 1)
	byes       chan *gosip.Request // BYEs from the trunk, answered already (cap 1)
	inDialog   chan inDialogReq    // PRACKs (rel100.go)
	session    sessionConf         // the trunk's session timer settings
	prack      bool                // the trunk's PRACK setting
	dlgReqs    chan dlgReq         // in-dialog requests to send (refer.go)
	canceled   chan struct{}       // closed when the caller CANCELs
	cancelOnce sync.Once
	final      chan struct{} // closed once the INVITE has its final response (or never will)
	finalOnce  sync.Once
	done       chan struct{} // closed when run returns
	offers     *dialogOffers // in-dialog offers both ways (reoffer.go)

	evMu    sync.Mutex // guards evQueue and onEvent
	evQueue []Event
	onEvent func(Event)
	evReady chan struct{} // cap 1: evQueue or onEvent changed

	info infoDialog // INFO in the dialog (info.go)
}

// Reject answers the INVITE with a final non-2xx code (300–699).
func (in *InboundInvite) Reject(code int, reason string) error {
	return in.RejectAfter(code, reason, 0)
}

// RejectAfter is Reject with a Retry-After header of retryAfter (whole
// seconds; zero: none), as a 480 or 503 may carry (RFC 3261 20.33).
func (in *InboundInvite) RejectAfter(code int, reason string, retryAfter time.Duration) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("sip: Reject: %d is not a final non-2xx code", code)
	}
	return in.do(uasCmd{kind: cmdReject, code: code, reason: reason, retryAfter: retryAfter})
}

func (u *UA) newInbound(ts *trunkState, req *gosip.Request, tx gosip.ServerTransaction) *InboundInvite {
	in := &InboundInvite{
		Trunk: ts.conf.name, Source: sourceOf(req), CallID: callIDOf(req),
		To: req.Recipient.User, SDP: sdpOf(req), Received: time.Now(), ua: u, req: req, tx: tx,
		localTag: gosip.GenerateTagN(16),
		cmds:     make(chan uasCmd),
		acks:     make(chan *gosip.Request, 1),
		byes:     make(chan *gosip.Request, 1),
		inDialog: make(chan inDialogReq),
		session:  ts.conf.session,
		prack:    ts.conf.prack,
		dlgReqs:  make(chan dlgReq),
		canceled: make(chan struct{}),
		final:    make(chan struct{}),
		done:     make(chan struct{}),
		evReady:  make(chan struct{}, 1),
		offers:   newDialogOffers(nil),
	}
	in.log = u.log.With(zap.String("sipCallId", in.CallID), zap.String("trunk", ts.conf.name))
	if f := req.From(); f != nil {
		in.From = f.Address.User
		in.FromName = f.DisplayName
	}
	users := []string{req.Recipient.User}
	if to := req.To(); to != nil {
		users = append(users, to.Address.User)
	}
	for _, user := range users {
		if n, err := NormalizeNumber(user, ts.conf.numbers.Region); err == nil && ts.conf.dids[n] {
			in.DID = n
			break
		}
	}
	return in
}
