package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	// sipgo's process-wide settings, set once as main would: no logs, and
	// no automatic "100 Trying" from the test peers' server transactions
	// (the tests decide which provisional responses a peer sends).
	SetProcessLogger(nil)
	gosip.Timer_1xx = time.Hour
	code := m.Run()
	if code == 0 {
		if err := findLeaks(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sipgoLayers are the transport layers of every sipgo user agent the tests
// made (the UAs' and the peers'), closed once more before looking for
// leaks. sipgo hands each message to a goroutine of its own; a request read
// just before a listener closes may be handled after, find the listener
// gone from the connection pool, and open a UDP socket of its own, which
// goes into the pool after the user agent closed it. Closing the pool again
// once the tests are over closes those sockets: what is left then leaked.
var sipgoLayers struct {
	sync.Mutex
	all []*gosip.TransportLayer
}

func addSipgoLayer(l *gosip.TransportLayer) {
	sipgoLayers.Lock()
	sipgoLayers.all = append(sipgoLayers.all, l)
	sipgoLayers.Unlock()
}

func findLeaks() error {
	var err error
	for range 5 {
		sipgoLayers.Lock()
		for _, l := range sipgoLayers.all {
			l.Close()
		}
		sipgoLayers.Unlock()
		if err = goleak.Find(); err == nil { // retries for half a second
			return nil
		}
	}
	return err
}

// wait bounds every wait in these tests.
const wait = 5 * time.Second

// testLogger collects a test's logs and prints them if it fails (or always
// with HUBLINE_TEST_LOG=1). Unlike zaptest it survives logs written by
// goroutines after the test returned.
func testLogger(t *testing.T) *zap.Logger {
	t.Helper()
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	ws := zapcore.AddSync(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), ws, zapcore.DebugLevel)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HUBLINE_TEST_LOG") != "" {
			mu.Lock()
			t.Logf("logs:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return zap.New(core)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// newTestUA is a UA on 127.0.0.1 with short transaction-user timers, closed
// when the test ends.
func newTestUA(t *testing.T) *UA {
	t.Helper()
	return newTestUAWith(t, Options{})
}

// newTestUAWith is newTestUA with opts (ListenAddr, Logger and UserAgent
// are set here). The trunks' registration and keepalive start before the
// short test timers are set: tests that need them short set them in the
// Trunk.
func newTestUAWith(t *testing.T, opts Options) *UA {
	t.Helper()
	opts.ListenAddr, opts.Logger, opts.UserAgent = "127.0.0.1:0", testLogger(t), "hubline-test"
	u, err := NewUA(opts)
	if err != nil {
		t.Fatalf("NewUA: %v", err)
	}
	u.timers.invite, u.timers.cancel, u.timers.bye = 2*time.Second, 2*time.Second, 2*time.Second
	addSipgoLayer(u.sua.TransportLayer())
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return u
}

// trusting is Options with the peers configured as trunks (no keepalive,
// no registration): the UA takes their out-of-dialog requests.
func trusting(ps ...*peer) Options {
	var o Options
	for i, p := range ps {
		o.Trunks = append(o.Trunks, Trunk{Name: fmt.Sprintf("peer%d", i+1), Address: p.addr})
	}
	return o
}

// recorder collects a call's events.
type recorder struct {
	ch chan Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 32)} }

func (r *recorder) onEvent(ev Event) { r.ch <- ev }

// next is the next event; the test fails after wait.
func (r *recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(wait):
		t.Fatalf("no call event within %v", wait)
		return Event{}
	}
}

// answered is the EventAnswered that comes next, after at most one
// EventProvisional: sipgo handles each incoming message on a goroutine of
// its own, so a 180 sent just before the 200 may reach the transaction
// after it (and is dropped then).
func (r *recorder) answered(t *testing.T) Event {
	t.Helper()
	ev := r.next(t)
	if ev.Kind == EventProvisional {
		ev = r.next(t)
	}
	if ev.Kind != EventAnswered {
		t.Fatalf("event %v (code %d, err %v), want answered", ev.Kind, ev.Code, ev.Err)
	}
	return ev
}

// want is the next event, which must be of kind k.
func (r *recorder) want(t *testing.T, k EventKind) Event {
	t.Helper()
	ev := r.next(t)
	if ev.Kind != k {
		t.Fatalf("event %v (code %d, err %v), want %v", ev.Kind, ev.Code, ev.Err, k)
	}
	return ev
}

// none checks that no event is queued; call it once the UA is closed (all
// deliveries are over then).
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event after the last one: %+v", ev)
	default:
	}
}

var testSDP = []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

var answerSDP = []byte("v=0\r\no=peer 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

var callSeq struct {
	sync.Mutex
	n int
}

func testInvite() Invite {
	callSeq.Lock()
	callSeq.n++
	n := callSeq.n
	callSeq.Unlock()
	return Invite{
		CallID:   fmt.Sprintf("test-%d-%d@hubline", os.Getpid(), n),
		To:       "+15550100100",
		From:     "+15550100199",
		FromName: `Ann "Sales" Lee`,
		SDP:      testSDP,
	}
}

// peer is the trunk in loopback tests: a sipgo user agent on 127.0.0.1
// whose INVITE handling each test scripts.
type peer struct {
	t      *testing.T
	addr   string // host:port it listens on (UDP or TCP)
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	tag      string        // the To tag of its responses
	proceed  chan struct{} // if set, answer waits for it between 180 and 200
	closed   chan struct{} // closed when the test ends: scripts stop
	onInvite func(req *gosip.Request, tx gosip.ServerTransaction)
	onBye    func(req *gosip.Request, tx gosip.ServerTransaction) // nil: 200
	// onOptions and onRegister script OPTIONS and REGISTER; nil: 200.
	onOptions, onRegister func(req *gosip.Request, tx gosip.ServerTransaction)
	// tlsConfig is the server side of a "tls" peer.
	tlsConfig *tls.Config
	// beforeRead sees every datagram or stream chunk before sipgo parses it.
	beforeRead func(data []byte)

	mu       sync.Mutex
	got      []*gosip.Request // requests received and not yet taken by expect
	grew     chan struct{}    // closed (and replaced) when got grows
	errs     []string         // script failures, reported when the test ends
	ending   bool             // no more handlers start
	handlers sync.WaitGroup   // running handlers; Add under mu while !ending
}

// newPeer starts a peer listening on transport ("udp" or "tcp").
// opts set the peer's fields before it starts.
func newPeer(t *testing.T, transport string, onInvite func(p *peer, req *gosip.Request, tx gosip.ServerTransaction), opts ...func(*peer)) *peer {
	t.Helper()
	p := &peer{t: t, tag: gosip.GenerateTagN(8), closed: make(chan struct{}), grew: make(chan struct{})}
	p.onInvite = func(req *gosip.Request, tx gosip.ServerTransaction) { onInvite(p, req, tx) }
	for _, o := range opts {
		o(p)
	}
	discard := slogLogger(testLogger(t).Named("peer"))
	parser := gosip.NewParser()
	readFilter := func(props gosip.TransportReadProps, data []byte) ([]byte, error) {
		if p.beforeRead != nil {
			p.beforeRead(data)
		}
		if props.Transport == "UDP" && bytes.HasPrefix(data, []byte("ACK ")) {
			// ACKs are recorded here and go no further: sipgo makes a
			// server transaction for an ACK that matches none, and one
			// that arrives as the peer closes gets a UDP socket of its own
			// that nothing closes.
			if msg, err := parser.ParseSIP(data); err == nil {
				if req, ok := msg.(*gosip.Request); ok {
					p.record(req)
				}
			}
			return nil, nil
		}
		return data, nil
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("peer"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(gosip.WithTransactionLayerLogger(discard)),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(discard),
			gosip.WithTransportLayerReadFilter(readFilter)))
	if err != nil {
		t.Fatalf("peer UA: %v", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(discard))
	if err != nil {
		t.Fatalf("peer server: %v", err)
	}
	p.ua, p.srv = ua, srv
	addSipgoLayer(ua.TransportLayer())
	handle := func(h func(req *gosip.Request, tx gosip.ServerTransaction)) sipgo.RequestHandler {
		return func(req *gosip.Request, tx gosip.ServerTransaction) {
			p.mu.Lock()
			if p.ending {
				p.mu.Unlock()
				return
			}
			p.handlers.Add(1)
			p.mu.Unlock()
			defer p.handlers.Done()
			p.record(req)
			h(req, tx)
		}
	}
	srv.OnInvite(handle(func(req *gosip.Request, tx gosip.ServerTransaction) { p.onInvite(req, tx) }))
	srv.OnAck(handle(func(*gosip.Request, gosip.ServerTransaction) {}))
	srv.OnBye(handle(func(req *gosip.Request, tx gosip.ServerTransaction) {
		if p.onBye != nil {
			p.onBye(req, tx)
			return
		}
		p.respond(req, tx, 200, "OK", nil)
	}))
	srv.OnCancel(handle(func(req *gosip.Request, tx gosip.ServerTransaction) {
		p.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
	}))
	srv.OnOptions(handle(func(req *gosip.Request, tx gosip.ServerTransaction) {
		if p.onOptions != nil {
			p.onOptions(req, tx)
			return
		}
		p.respond(req, tx, 200, "OK", nil)
	}))
	srv.OnRegister(handle(func(req *gosip.Request, tx gosip.ServerTransaction) {
		if p.onRegister != nil {
			p.onRegister(req, tx)
			return
		}
		p.respond(req, tx, 200, "OK", nil)
	}))

	var wg sync.WaitGroup
	var closeLn func() error
	switch transport {
	case "udp":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer listen: %v", err)
		}
		p.addr, closeLn = conn.LocalAddr().String(), conn.Close
		// As NewUA does: the client finds the listener before ServeUDP runs.
		ua.TransportLayer().Pool("udp").Add(p.addr, &gosip.UDPConnection{PacketConn: conn, PacketAddr: p.addr, Listener: true})
		wg.Go(func() { srv.ServeUDP(conn) })
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer listen: %v", err)
		}
		p.addr, closeLn = ln.Addr().String(), ln.Close
		wg.Go(func() { srv.ServeTCP(ln) })
	case "tls":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer listen: %v", err)
		}
		tln := tls.NewListener(ln, p.tlsConfig)
		p.addr, closeLn = ln.Addr().String(), tln.Close
		wg.Go(func() { srv.ServeTLS(tln) })
	}
	// The peer's requests leave from its listener when on UDP, like a
	// trunk's. (sipgo would otherwise open a socket of its own, which its
	// connection pool loses track of, and never closes, once the listener
	// hears from the same remote address.)
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(discard), sipgo.WithClientHostname("127.0.0.1")}
	if transport == "udp" {
		copts = append(copts, sipgo.WithClientConnectionAddr(p.addr))
	}
	if p.client, err = sipgo.NewClient(ua, copts...); err != nil {
		t.Fatalf("peer client: %v", err)
	}
	t.Cleanup(func() {
		close(p.closed)
		closeLn()
		wg.Wait()
		ua.Close() // ends the transactions scripts wait on
		p.mu.Lock()
		p.ending = true
		p.mu.Unlock()
		p.handlers.Wait()
		for _, e := range p.errs {
			t.Error(e)
		}
	})
	return p
}

// errorf records a script failure (scripts run on sipgo's goroutines, which
// may outlive the test).
func (p *peer) errorf(format string, args ...any) {
	p.mu.Lock()
	p.errs = append(p.errs, "peer: "+fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func (p *peer) record(req *gosip.Request) {
	p.mu.Lock()
	p.got = append(p.got, req)
	close(p.grew)
	p.grew = make(chan struct{})
	p.mu.Unlock()
}

// changed is closed when the peer next receives a request.
func (p *peer) changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grew
}

// has reports whether the peer received a request with method not taken yet.
func (p *peer) has(method gosip.RequestMethod) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.got {
		if r.Method == method {
			return true
		}
	}
	return false
}

// expect takes the first request with method the peer received (waiting
// for it); the others stay for later expects (sipgo hands requests to
// handlers concurrently, so their order is not the wire's).
func (p *peer) expect(method gosip.RequestMethod) *gosip.Request {
	p.t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		for i, r := range p.got {
			if r.Method == method {
				p.got = append(p.got[:i:i], p.got[i+1:]...)
				p.mu.Unlock()
				return r
			}
		}
		grew := p.grew
		p.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			p.t.Fatalf("peer got no %s within %v (has %v)", method, wait, p.methods())
			return nil
		}
	}
}

// methods lists the requests not taken yet.
func (p *peer) methods() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var m []string
	for _, r := range p.got {
		m = append(m, string(r.Method))
	}
	return m
}

// noMore fails if the peer received a request with method not taken yet.
func (p *peer) noMore(method gosip.RequestMethod) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.got {
		if r.Method == method {
			p.t.Fatalf("peer got an unexpected %s:\n%s", method, r)
		}
	}
}

// response builds a response to req with the peer's To tag, Contact, and
// SDP body if any.
func (p *peer) response(req *gosip.Request, code int, reason string, sdp []byte, hdrs ...gosip.Header) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	if code > 100 {
		if to := res.To(); to != nil {
			to.Params.Remove("tag")
			to.Params.Add("tag", p.tag)
		}
	}
	if code > 100 && code < 300 {
		res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: portOf(p.addr)}})
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if sdp != nil {
		ct := gosip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
	}
	res.SetBody(sdp)
	return res
}

func (p *peer) respond(req *gosip.Request, tx gosip.ServerTransaction, code int, reason string, sdp []byte, hdrs ...gosip.Header) {
	if err := tx.Respond(p.response(req, code, reason, sdp, hdrs...)); err != nil {
		select {
		case <-p.closed: // the test is over
		default:
			p.errorf("respond %d: %v", code, err)
		}
	}
}

// bye sends a BYE in the dialog the peer's 2xx to inv set up.
func (p *peer) bye(inv *gosip.Request, hdrs ...gosip.Header) *gosip.Response {
	p.t.Helper()
	return p.inDialog(gosip.BYE, inv, 1, hdrs...)
}

func (p *peer) inDialog(method gosip.RequestMethod, inv *gosip.Request, seq uint32, hdrs ...gosip.Header) *gosip.Response {
	p.t.Helper()
	return p.inDialogSDP(method, inv, seq, answerSDP, hdrs...)
}

// inDialogSDP is inDialog with sdp as the body of an INVITE.
func (p *peer) inDialogSDP(method gosip.RequestMethod, inv *gosip.Request, seq uint32, sdp []byte, hdrs ...gosip.Header) *gosip.Response {
	p.t.Helper()
	req := gosip.NewRequest(method, inv.Contact().Address)
	from := &gosip.FromHeader{Address: inv.To().Address, Params: gosip.HeaderParams{{K: "tag", V: p.tag}}}
	req.AppendHeader(from)
	to := inv.From().AsTo()
	req.AppendHeader(&to)
	req.AppendHeader(gosip.HeaderClone(inv.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if method == gosip.INVITE {
		req.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOf(p.addr)}})
		ct := gosip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(sdp)
	}
	return p.do(req)
}

// do sends req (outside any dialog if it has no To tag) and returns the
// final response.
func (p *peer) do(req *gosip.Request) *gosip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("peer %s: %v", req.Method, err)
	}
	if req.IsInvite() && res.IsSuccess() {
		// Not expected in these tests, but never leave a dialog up.
		p.t.Fatalf("peer INVITE answered: %s", res.StartLine())
	}
	return res
}

func portOf(addr string) int {
	_, port, err := gosip.ParseAddr(addr)
	if err != nil {
		panic(err)
	}
	return port
}

// header is the value of req's header name ("" when absent), several
// joined by ", ".
func header(msg gosip.Message, name string) string {
	var vals []string
	for _, h := range msg.GetHeaders(name) {
		vals = append(vals, h.Value())
	}
	return strings.Join(vals, ", ")
}

// dial places a call on p and fails the test if Dial fails.
func dial(t *testing.T, u *UA, trunk Trunk, inv Invite, rec *recorder) *Call {
	t.Helper()
	c, err := u.Dial(context.Background(), trunk, inv, rec.onEvent)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}
