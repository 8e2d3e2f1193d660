package demotrunk

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The test's caller: a sipgo UAC on 127.0.0.1 (UDP listener, or TCP
// client), and a UDP socket for its RTP.

// wait bounds every wait of these tests.
const wait = 5 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startDemo starts a demo trunk on a free loopback port. Its logs are kept
// and printed if the test fails.
func startDemo(t *testing.T, opts Options) (*Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	opts.ListenAddr = "127.0.0.1:0"
	opts.Logger = zap.New(core)
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			for _, e := range logs.All() {
				if !strings.HasPrefix(e.LoggerName, "sipgo") || e.Level > zap.DebugLevel {
					t.Logf("%s %s %s %v", e.Level, e.LoggerName, e.Message, e.ContextMap())
				}
			}
		}
	})
	return s, logs
}

type uac struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	client *sipgo.Client
	conn   net.PacketConn // UDP listener, nil for TCP
	host   string
	port   int
	tcp    bool
	byes   chan *sip.Request // BYEs received (answered 200)
	wg     sync.WaitGroup
}

// newUAC starts a caller; over UDP it listens on 127.0.0.1 and sends from
// its listener, over TCP it connects to the demo trunk.
func newUAC(t *testing.T, tcp bool) *uac {
	t.Helper()
	u := &uac{t: t, host: "127.0.0.1", tcp: tcp, byes: make(chan *sip.Request, 4)}
	var err error
	u.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("test-uac"),
		sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(u.ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case u.byes <- req:
		default:
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	if tcp {
		u.port = 5999 // only in Contact; the demo trunk answers on the connection
		u.client, err = sipgo.NewClient(u.ua, sipgo.WithClientLogger(quiet), sipgo.WithClientHostname(u.host))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.ua.Close() })
		return u
	}
	u.conn, err = net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	laddr := u.conn.LocalAddr().String()
	u.port = u.conn.LocalAddr().(*net.UDPAddr).Port
	u.client, err = sipgo.NewClient(u.ua, sipgo.WithClientLogger(quiet), sipgo.WithClientConnectionAddr(laddr))
	if err != nil {
		t.Fatal(err)
	}
	u.ua.TransportLayer().Pool("udp").Add(laddr, &sip.UDPConnection{PacketConn: u.conn, PacketAddr: laddr, Listener: true})
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		_ = srv.ServeUDP(u.conn)
	}()
	t.Cleanup(func() {
		u.conn.Close()
		u.wg.Wait()
		u.ua.Close()
	})
	return u
}

// outgoing is an INVITE in progress.
type outgoing struct {
	u   *uac
	req *sip.Request
	tx  sip.ClientTransaction
	res *sip.Response // the 2xx, once answered
}

// offerSDP is an offer like the gateway's: PCMU, PCMA, telephone-event.
func offerSDP(rtpPort int) []byte {
	return []byte("v=0\r\n" +
		"o=test 1 1 IN IP4 127.0.0.1\r\n" +
		"s=test\r\n" +
		"c=IN IP4 127.0.0.1\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(rtpPort) + " RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n")
}

// invite sends an INVITE for number to the demo trunk s with body (no
// body if nil).
func (u *uac) invite(s *Server, number string, body []byte) *outgoing {
	u.t.Helper()
	port := int(s.addr.Port())
	ruri := sip.Uri{Scheme: "sip", User: number, Host: "127.0.0.1", Port: port}
	contact := sip.Uri{Scheme: "sip", User: "uac", Host: u.host, Port: u.port}
	if u.tcp {
		ruri.UriParams = sip.NewParams()
		ruri.UriParams.Add("transport", "tcp")
		contact.UriParams = sip.NewParams()
		contact.UriParams.Add("transport", "tcp")
	}
	req := sip.NewRequest(sip.INVITE, ruri)
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tx, err := u.client.TransactionRequest(ctx, req)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(tx.Terminate)
	return &outgoing{u: u, req: req, tx: tx}
}

// next returns the next response other than 100 Trying.
func (o *outgoing) next() *sip.Response {
	o.u.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case res := <-o.tx.Responses():
			if res.StatusCode == sip.StatusTrying {
				continue
			}
			return res
		case <-o.tx.Done():
			o.u.t.Fatalf("INVITE transaction ended: %v", o.tx.Err())
		case <-timer.C:
			o.u.t.Fatal("no response to INVITE")
		}
	}
}

// expect returns the next response, which must have status code.
func (o *outgoing) expect(code int) *sip.Response {
	o.u.t.Helper()
	res := o.next()
	if res.StatusCode != code {
		o.u.t.Fatalf("got %s, want %d", res.StartLine(), code)
	}
	return res
}

// ack acknowledges the 2xx res.
func (o *outgoing) ack(res *sip.Response) {
	o.u.t.Helper()
	o.res = res
	ack := o.inDialog(sip.ACK, o.req.CSeq().SeqNo)
	if err := o.u.client.WriteRequest(ack); err != nil {
		o.u.t.Fatal(err)
	}
}

// ackAndWait acknowledges the 2xx res and waits until the demo trunk has
// the ACK, so that nothing of the call is still in flight when the test
// ends (sipgo handles each message in a goroutine of its own).
func (o *outgoing) ackAndWait(s *Server, res *sip.Response) {
	o.u.t.Helper()
	c := callOf(o.u.t, s, o)
	o.ack(res)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-c.acked.ch:
	case <-timer.C:
		o.u.t.Fatal("the demo trunk did not get the ACK")
	}
}

// inDialog builds a request in the dialog of the answered INVITE.
func (o *outgoing) inDialog(method sip.RequestMethod, seq uint32) *sip.Request {
	req := sip.NewRequest(method, *o.res.Contact().Address.Clone())
	req.AppendHeader(sip.HeaderClone(o.req.From()))
	req.AppendHeader(sip.HeaderClone(o.res.To()))
	req.AppendHeader(sip.HeaderClone(o.req.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetBody(nil)
	return req
}

// bye hangs up the answered call and returns the status of the answer.
func (o *outgoing) bye() int {
	o.u.t.Helper()
	return o.u.do(o.inDialog(sip.BYE, o.req.CSeq().SeqNo+1))
}

// do sends a non-INVITE request and returns the final status code.
func (u *uac) do(req *sip.Request) int {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := u.client.Do(ctx, req)
	if err != nil {
		u.t.Fatalf("%s: %v", req.Method, err)
	}
	return res.StatusCode
}

// cancel sends CANCEL for the pending INVITE and returns the status of
// its answer.
func (o *outgoing) cancel() int {
	o.u.t.Helper()
	inv := o.req
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.AppendHeader(inv.Via().Clone())
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetBody(nil)
	c.SetTransport(inv.Transport())
	c.Laddr = inv.Laddr
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := o.u.client.Do(ctx, c, func(*sipgo.Client, *sip.Request) error { return nil })
	if err != nil {
		o.u.t.Fatalf("CANCEL: %v", err)
	}
	return res.StatusCode
}

// answerAddr returns the RTP address of an SDP answer and checks its
// codecs.
func answerAddr(t *testing.T, body []byte, wantFormats string) netip.AddrPort {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("answer SDP: %v\n%s", err, body)
	}
	if len(sd.MediaDescriptions) != 1 {
		t.Fatalf("answer has %d m= lines", len(sd.MediaDescriptions))
	}
	md := sd.MediaDescriptions[0]
	if got := strings.Join(md.MediaName.Formats, " "); got != wantFormats {
		t.Errorf("answer formats %q, want %q", got, wantFormats)
	}
	if _, ok := md.Attribute("sendrecv"); !ok {
		t.Errorf("answer is not sendrecv:\n%s", body)
	}
	addr := netip.MustParseAddr(sd.ConnectionInformation.Address.Address)
	return netip.AddrPortFrom(addr, uint16(md.MediaName.Port.Value))
}

// rtpPeer is the caller's RTP socket. A goroutine reads it into packets
// until the test ends.
type rtpPeer struct {
	t       *testing.T
	conn    *net.UDPConn
	packets chan rtpIn
}

type rtpIn struct {
	pkt  rtp.Packet
	from netip.AddrPort
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{t: t, conn: conn, packets: make(chan rtpIn, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var in rtpIn
			if err := in.pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
				t.Errorf("bad RTP from %s: %v", from, err)
				continue
			}
			in.from = unmap(from)
			select {
			case p.packets <- in:
			default:
				t.Error("RTP backlog full")
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return p
}

func (p *rtpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// read returns the next packet, failing the test after wait.
func (p *rtpPeer) read() rtpIn {
	p.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case in := <-p.packets:
		return in
	case <-timer.C:
		p.t.Fatal("no RTP")
		return rtpIn{}
	}
}

// send sends an RTP packet to addr.
func (p *rtpPeer) send(to netip.AddrPort, h rtp.Header, payload []byte) {
	p.t.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// callOf returns the demo trunk's call of the INVITE (tests wait on its
// done channel).
func callOf(t *testing.T, s *Server, o *outgoing) *call {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[o.req.CallID().Value()]
	if c == nil {
		t.Fatal("demo trunk has no such call")
	}
	return c
}

// waitDone waits for the call to end.
func waitDone(t *testing.T, c *call) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		t.Fatal("call did not end")
	}
}

// expectBye waits for the demo trunk's BYE.
func (u *uac) expectBye() *sip.Request {
	u.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case req := <-u.byes:
		return req
	case <-timer.C:
		u.t.Fatal("no BYE from the demo trunk")
		return nil
	}
}
