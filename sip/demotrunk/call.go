package demotrunk

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// call is one INVITE the demo trunk accepted, from 183 to its end. Its
// state belongs to its run goroutine; the request handlers only fire its
// signals (CANCEL, ACK, BYE) and read its immutable fields.
type call struct {
	// Set before run starts, read-only afterwards.
	s         *Server
	id        string // Call-ID
	log       *zap.Logger
	inv       *sip.Request
	tx        sip.ServerTransaction
	transport string // "UDP" or "TCP"
	localTag  string // our To tag
	remoteTag string // the caller's From tag
	noAnswer  bool   // …0408: ring until CANCEL
	m         *media // nil when noAnswer
	answer    []byte // SDP answer, in 183 and 200
	sessionID uint64 // its o= session id

	sdpVersion atomic.Uint64 // the o= version last sent (re-INVITEs count up)

	canceled *signal // CANCEL received (sipgo has sent 487)
	acked    *signal // ACK for our 200 received
	byeRcvd  *signal // the caller's BYE received

	// handlerDone is closed once the INVITE handler may return: the final
	// response is sent (final is its status code, written before the
	// close) or the call has ended.
	handlerDone chan struct{}
	handlerOnce sync.Once
	final       int

	done chan struct{} // closed when the call is unregistered and its media closed
}

// signal is an event that happens at most once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire() { s.once.Do(func() { close(s.ch) }) }

// handleInvite answers an INVITE. For the calls it accepts it starts the
// call goroutine and returns once the final response is sent: sipgo
// terminates the transaction when its handler returns.
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !s.enter() {
		s.respond(tx, s.response(req, "", sip.StatusServiceUnavailable, "Service Unavailable", nil), s.log)
		return
	}
	defer s.wg.Done()

	callID, toTag, fromTag, ok := dialogID(req)
	log := s.log.With(zap.String("callID", callID))
	refuse := func(tag string, code int, reason, why string, extra ...sip.Header) {
		log.Info("call refused", zap.Int("status", code), zap.String("why", why))
		res := s.response(req, tag, code, reason, nil)
		for _, h := range extra {
			res.AppendHeader(h)
		}
		s.respond(tx, res, log)
		s.waitAck(req, tx)
	}
	if !ok || fromTag == "" || req.Contact() == nil {
		refuse("", sip.StatusBadRequest, "Bad Request", "missing Call-ID, From tag or Contact")
		return
	}
	if toTag != "" {
		// A re-INVITE: hold and resume are answered (the direction
		// reversed, same media); anything else gets 488, which leaves the
		// session as it was (RFC 3261 14.2).
		c := s.lookup(req)
		if c == nil {
			refuse("", sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "re-INVITE for an unknown dialog")
			return
		}
		if c.m == nil || len(req.Body()) == 0 {
			refuse("", sip.StatusNotAcceptableHere, "Not Acceptable Here", "re-INVITE without SDP, or before the answer")
			return
		}
		o, err := parseOffer(req.Body())
		if err != nil {
			refuse("", sip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
			return
		}
		answer, err := buildAnswerVersion(o, s.ip, c.m.port(), c.sessionID, c.sdpVersion.Add(1))
		if err != nil {
			refuse("", sip.StatusInternalServerError, "Server Internal Error", err.Error())
			return
		}
		log.Info("demo trunk answered a re-INVITE", zap.Stringer("offered", o.dir), zap.Stringer("answered", o.dir.reverse()))
		s.respond(tx, s.response(req, "", sip.StatusOK, "OK", answer), log)
		return
	}
	s.respond(tx, s.response(req, "", sip.StatusTrying, "Trying", nil), log)
	if h := req.GetHeader("Require"); h != nil {
		// No extension is supported (no 100rel, no session timers).
		refuse("", sip.StatusBadExtension, "Bad Extension", "Require: "+h.Value(), sip.NewHeader("Unsupported", h.Value()))
		return
	}

	tag := sip.GenerateTagN(16)
	number := req.To().Address.User
	log = log.With(zap.String("to", number))
	switch {
	case strings.HasSuffix(number, "0486"):
		refuse(tag, sip.StatusBusyHere, "Busy Here", "number ends in 0486")
		return
	case strings.HasSuffix(number, "0404"):
		refuse(tag, sip.StatusNotFound, "Not Found", "number ends in 0404")
		return
	}
	if len(req.Body()) == 0 {
		refuse(tag, sip.StatusNotAcceptableHere, "Not Acceptable Here", "no SDP offer (late offer is not supported)")
		return
	}
	if ct := req.ContentType(); ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		refuse(tag, sip.StatusUnsupportedMediaType, "Unsupported Media Type", "body is not application/sdp")
		return
	}
	o, err := parseOffer(req.Body())
	switch {
	case errors.Is(err, errBadSDP):
		refuse(tag, sip.StatusBadRequest, "Bad Request", err.Error())
		return
	case err != nil:
		refuse(tag, sip.StatusNotAcceptableHere, "Not Acceptable Here", err.Error())
		return
	}

	c := &call{
		s:           s,
		id:          callID,
		log:         log,
		inv:         req,
		tx:          tx,
		transport:   strings.ToUpper(req.Transport()),
		localTag:    tag,
		remoteTag:   fromTag,
		noAnswer:    strings.HasSuffix(number, "0408"),
		canceled:    newSignal(),
		acked:       newSignal(),
		byeRcvd:     newSignal(),
		handlerDone: make(chan struct{}),
		done:        make(chan struct{}),
	}
	if !c.noAnswer {
		if c.m, err = newMedia(s.ip, o, s.idleTimeout, log); err != nil {
			refuse(tag, sip.StatusServiceUnavailable, "Service Unavailable", "no RTP port: "+err.Error())
			return
		}
		c.sessionID = rand.Uint64() >> 1
		c.sdpVersion.Store(1)
		if c.answer, err = buildAnswer(o, s.ip, c.m.port(), c.sessionID); err != nil {
			c.m.close(false)
			refuse(tag, sip.StatusInternalServerError, "Server Internal Error", err.Error())
			return
		}
	}
	if code, reason := s.admit(c); code != 0 {
		if c.m != nil {
			c.m.close(false)
		}
		refuse(tag, code, reason, "not admitted (closing, call limit or duplicate Call-ID)")
		return
	}
	if c.m != nil {
		log.Info("call ringing", zap.Stringer("rtpPeer", o.remote), zap.Uint16("rtpPort", c.m.port()),
			zap.Stringer("codec", o.law), zap.Duration("ringDelay", s.ringDelay))
	} else {
		log.Info("call ringing, will not answer")
	}
	go c.run()
	<-c.handlerDone
	if c.final >= 300 {
		s.waitAck(req, tx)
	}
}

// waitAck waits, over UDP, for the ACK of a non-2xx final response: sipgo
// hands it to tx.Acks() and would otherwise park a goroutine until the
// transaction ends. Close waits for it too, at most closeGrace: an ACK
// that sipgo handles after Close would find its transaction gone and leak
// a socket.
func (s *Server) waitAck(req *sip.Request, tx sip.ServerTransaction) {
	if sip.IsReliable(req.Transport()) {
		return
	}
	var grace <-chan time.Time
	closing := s.closing
	for {
		select {
		case <-tx.Acks():
			return
		case <-tx.Done():
			return
		case <-closing:
			t := time.NewTimer(closeGrace)
			defer t.Stop()
			grace, closing = t.C, nil
		case <-grace:
			return
		}
	}
}

// handleAck passes the ACK of a 200 to its call.
func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	if c := s.lookup(req); c != nil {
		c.acked.fire()
		return
	}
	if ce := s.log.Check(zap.DebugLevel, "ACK for no call"); ce != nil {
		ce.Write(zap.String("callID", callIDOf(req)))
	}
}

// handleBye ends a call: 200 once its media is torn down, 481 for an
// unknown dialog.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	tracked := s.enter()
	if tracked {
		defer s.wg.Done()
	}
	c := s.lookup(req)
	if c == nil {
		log := s.log.With(zap.String("callID", callIDOf(req)))
		log.Info("BYE for an unknown dialog")
		s.respond(tx, s.response(req, "", sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil), log)
		return
	}
	c.log.Info("BYE from the caller")
	c.byeRcvd.fire()
	if tracked {
		t := time.NewTimer(byeCleanupWait)
		select {
		case <-c.done:
		case <-t.C:
			c.log.Warn("call still tearing down; answering BYE anyway")
		}
		t.Stop()
	}
	s.respond(tx, s.response(req, "", sip.StatusOK, "OK", nil), c.log)
}

// handleCancel answers a CANCEL that matches no INVITE transaction (sipgo
// answers the others: 200, and 487 to the INVITE).
func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	log := s.log.With(zap.String("callID", callIDOf(req)))
	log.Info("CANCEL for no pending INVITE")
	s.respond(tx, s.response(req, "", sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil), log)
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := s.response(req, "", sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	s.respond(tx, res, s.log.With(zap.String("callID", callIDOf(req))))
}

func (s *Server) handleOther(req *sip.Request, tx sip.ServerTransaction) {
	log := s.log.With(zap.String("callID", callIDOf(req)))
	log.Info("method not allowed", zap.String("method", req.Method.String()))
	s.respond(tx, s.response(req, "", sip.StatusMethodNotAllowed, "Method Not Allowed", nil), log)
}

func callIDOf(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// response builds a response to req. A non-empty tag becomes the To tag
// (except on 100); INVITE responses that may establish a dialog carry our
// Contact.
func (s *Server) response(req *sip.Request, tag string, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if tag != "" && code > 100 {
		res.To().Params.Add("tag", tag)
	}
	if req.IsInvite() && code > 100 && code < 300 {
		res.AppendHeader(s.contact(strings.ToUpper(req.Transport())))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if code == sip.StatusMethodNotAllowed || req.Method == sip.OPTIONS || (req.IsInvite() && code == sip.StatusOK) {
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	res.AppendHeader(sip.NewHeader("Server", userAgent))
	return res
}

func (s *Server) respond(tx sip.ServerTransaction, res *sip.Response, log *zap.Logger) {
	if err := tx.Respond(res); err != nil {
		log.Warn("sending SIP response failed", zap.Int("status", res.StatusCode), zap.Error(err))
	}
}

// run is the call: ring, answer, echo, hang up.
func (c *call) run() {
	defer c.s.wg.Done()
	started := time.Now()
	mediaStarted := false
	defer func() { c.finish(mediaStarted, started) }()

	if !c.tx.OnCancel(func(*sip.Request) { c.canceled.fire() }) {
		c.log.Info("INVITE canceled or ended before it rang")
		c.setFinal(sip.StatusRequestTerminated)
		return
	}
	if c.m != nil {
		mediaStarted = true
		go c.m.run()
	}

	ring := c.response(sip.StatusRinging, "Ringing", nil)
	ringFor := maxRing
	if !c.noAnswer {
		ring = c.response(sip.StatusSessionInProgress, "Session Progress", c.answer)
		ringFor = c.s.ringDelay
	}
	if err := c.tx.Respond(ring); err != nil {
		c.log.Warn("sending ringing response failed", zap.Int("status", ring.StatusCode), zap.Error(err))
		if c.canceledNow() {
			c.setFinal(sip.StatusRequestTerminated)
		}
		return
	}
	t := time.NewTimer(ringFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.canceled.ch:
		c.log.Info("call canceled by the caller before answer")
		c.setFinal(sip.StatusRequestTerminated)
		return
	case <-c.byeRcvd.ch:
		c.reject(sip.StatusRequestTerminated, "Request Terminated")
		return
	case <-c.s.closing:
		c.log.Info("demo trunk closing: refusing ringing call")
		c.reject(sip.StatusServiceUnavailable, "Service Unavailable")
		return
	case <-c.tx.Done():
		c.log.Info("INVITE transaction ended before answer", zap.Error(c.tx.Err()))
		return
	}
	if c.noAnswer {
		c.log.Info("nobody answered", zap.Duration("after", ringFor))
		c.reject(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}

	c.m.mode.Store(modeEcho)
	ok := c.response(sip.StatusOK, "OK", c.answer)
	if err := c.tx.Respond(ok); err != nil {
		if c.canceledNow() {
			c.log.Info("call canceled by the caller as it was answered")
			c.setFinal(sip.StatusRequestTerminated)
			return
		}
		c.log.Warn("sending 200 OK failed", zap.Error(err))
		return
	}
	c.setFinal(sip.StatusOK)
	c.log.Info("call answered: echoing")
	if !c.waitAck(ok) {
		return
	}
	select {
	case <-c.byeRcvd.ch:
	case <-c.m.idle:
		c.log.Info("no RTP from the caller: hanging up", zap.Duration("idle", c.s.idleTimeout))
		c.bye()
	case <-c.s.closing:
		c.log.Info("demo trunk closing: hanging up")
		c.bye()
	}
}

// response builds a response to the INVITE with our tag.
func (c *call) response(code int, reason string, body []byte) *sip.Response {
	return c.s.response(c.inv, c.localTag, code, reason, body)
}

// reject sends a final error response to the INVITE.
func (c *call) reject(code int, reason string) {
	c.s.respond(c.tx, c.response(code, reason, nil), c.log)
	c.setFinal(code)
}

func (c *call) canceledNow() bool {
	select {
	case <-c.canceled.ch:
		return true
	default:
		return false
	}
}

// setFinal records the final response and lets the INVITE handler return.
func (c *call) setFinal(code int) {
	c.handlerOnce.Do(func() {
		c.final = code
		close(c.handlerDone)
	})
}

// waitAck waits for the ACK of our 200, retransmitting the 200 over UDP
// (RFC 3261 13.3.1.4). Without an ACK after 64*T1, or closeGrace after
// Close began, it hangs up. It reports whether the call goes on.
func (c *call) waitAck(ok *sip.Response) bool {
	interval := sip.T1
	rt := time.NewTimer(interval)
	defer rt.Stop()
	var retransmit <-chan time.Time
	if c.transport == "UDP" {
		retransmit = rt.C
	}
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	closing := c.s.closing
	var graceUp <-chan time.Time
	for {
		select {
		case <-c.acked.ch:
			return true
		case <-retransmit:
			if err := c.tx.Respond(ok); err != nil {
				c.log.Debug("retransmitting 200 OK failed", zap.Error(err))
			}
			interval = min(2*interval, sip.T2)
			rt.Reset(interval)
		case <-giveUp.C:
			c.log.Warn("no ACK for 200 OK: hanging up")
			c.bye()
			return false
		case <-c.byeRcvd.ch:
			return false
		case <-closing:
			// BYE must wait for the ACK (RFC 3261 15), which is likely on
			// its way; but not for long.
			grace := time.NewTimer(closeGrace)
			defer grace.Stop()
			closing, graceUp = nil, grace.C
		case <-graceUp:
			c.log.Info("demo trunk closing: hanging up before the ACK")
			c.bye()
			return false
		}
	}
}

// bye sends BYE and waits (at most byeTimeout) for its answer.
func (c *call) bye() {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	tx, err := c.s.client.TransactionRequest(ctx, c.byeRequest(), prebuilt)
	if err != nil {
		c.log.Warn("sending BYE failed", zap.Error(err))
		return
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			c.log.Info("BYE sent", zap.Int("status", res.StatusCode))
			return
		case <-tx.Done():
			c.log.Warn("BYE failed", zap.Error(tx.Err()))
			return
		case <-ctx.Done():
			c.log.Warn("BYE unanswered", zap.Duration("after", byeTimeout))
			return
		case <-c.byeRcvd.ch:
			return // both sides hung up at once
		}
	}
}

// prebuilt is the sipgo request option for requests built in full here: it
// stops sipgo from adding or changing headers.
func prebuilt(*sipgo.Client, *sip.Request) error { return nil }

// byeRequest builds our BYE in the dialog (RFC 3261 12.2.1.1): to the
// caller's Contact, through its Record-Route, with the tags swapped. It
// goes where the INVITE came from (or to the first route), over the same
// transport, so that it reuses the caller's TCP connection.
func (c *call) byeRequest() *sip.Request {
	inv := c.inv
	req := sip.NewRequest(sip.BYE, *inv.Contact().Address.Clone())
	via := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       c.transport,
		Host:            uriHost(c.s.ip),
		Port:            int(c.s.addr.Port()),
		Params:          sip.NewParams(),
	}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	req.AppendHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := inv.To().AsFrom()
	from.Params.Add("tag", c.localTag)
	req.AppendHeader(&from)
	to := inv.From().AsTo()
	req.AppendHeader(&to)
	callID := sip.CallIDHeader(c.id)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
	for _, rr := range inv.GetHeaders("Record-Route") {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", userAgent))
	req.SetBody(nil)
	req.SetTransport(c.transport)
	dest := inv.Source()
	if rr := inv.RecordRoute(); rr != nil {
		port := rr.Address.Port
		if port == 0 {
			port = int(sip.DefaultPort(c.transport))
		}
		dest = net.JoinHostPort(strings.Trim(rr.Address.Host, "[]"), strconv.Itoa(port))
	}
	req.SetDestination(dest)
	if c.transport == "UDP" {
		req.Laddr = c.s.udpLaddr
	}
	return req
}

// finish unregisters the call and frees its RTP port.
func (c *call) finish(mediaStarted bool, started time.Time) {
	c.setFinal(0) // no-op if a final response was sent
	if c.m != nil {
		c.m.close(mediaStarted)
	}
	c.s.remove(c)
	close(c.done)
	c.log.Info("call ended", zap.Duration("duration", time.Since(started).Round(time.Millisecond)))
}
