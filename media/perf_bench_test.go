package media

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/benchcpu"
	"github.com/hubline/hubline/internal/udpio"
)

// Benchmarks paired with their floors, for docs/performance.md: each runs
// its floor first, then the gateway's code doing the same job, so that
// `go test -bench -count N` interleaves them. Each reports cpu-ns/op
// (getrusage) and wall/cpu beside ns/op; `hubload table` pairs the runs,
// drops rounds whose floor ran on a busy machine (wall/cpu > 1.1) and
// prints the ratios. Under -benchtime=1x (CI) they only prove they run.

var (
	keyA  = []byte("0123456789abcdef") // protects the browser's packets
	saltA = []byte("saltsaltsalt")
	keyB  = []byte("fedcba9876543210") // protects the gateway's packets
	saltB = []byte("tlastlastlas")
)

func gcmContext(tb testing.TB, key, salt []byte, opts ...srtp.ContextOption) *srtp.Context {
	tb.Helper()
	c, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// protectSink is the browser leg without its socket: it encrypts.
type protectSink struct{ leg *webrtcLeg }

func (p protectSink) sendRTP(pkt, scratch []byte) error {
	_, err := p.leg.protect(pkt, scratch)
	return err
}

// benchSession is a connected session without sockets: trunk law trunkPT
// at 192.0.2.1:4000, the browser on PCMU, a leg with keys installed.
func benchSession(tb testing.TB, trunkPT string) (*Session, *webrtcLeg) {
	tb.Helper()
	ta, err := parseTrunkAnswer([]byte(trunkSDP("192.0.2.1", 4000, trunkPT+" 101", "a=rtpmap:101 telephone-event/8000\r\n")))
	if err != nil {
		tb.Fatal(err)
	}
	bl := browserLeg{law: codecPCMU, lawPT: 0, formats: []format{{0, codecPCMU}, {101, codecEvent}}}
	s := &Session{log: zap.NewNop(), onEvent: func(Event) {}}
	s.rules.Store(buildRules(&ta, &bl))
	leg := &webrtcLeg{s: s, ssrc: 0xabcdef}
	leg.in.ctx = gcmContext(tb, keyA, saltA, srtp.SRTPReplayProtection(srtpReplayWindow))
	leg.out.ctx = gcmContext(tb, keyB, saltB)
	leg.connected.Store(true)
	leg.detached.Store(true)
	s.out.Store(&browserOut{sink: protectSink{leg}, ssrc: leg.ssrc})
	return s, leg
}

// browserStream is one second of the browser's packets, encrypted with
// keyA, sequence numbers from 0: the decrypting benchmarks replay it,
// with a fresh context for every lap.
var browserStream = sync.OnceValue(func() [][]byte {
	enc, err := srtp.CreateContext(keyA, saltA, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		panic(err)
	}
	out := make([][]byte, 1<<16)
	for i := range out {
		pkt := rtpPacket(0, uint16(i), uint32(i)*160, 0x1234, fill(0xff, 160))
		if out[i], err = enc.EncryptRTP(nil, pkt, nil); err != nil {
			panic(err)
		}
	}
	return out
})

// BenchmarkPerPacket is the per-packet handler of each direction, without
// sockets, next to the SRTP operation it cannot avoid. Both laws are PCMU
// (no conversion); -transcode adds the A-law conversion.
func BenchmarkPerPacket(b *testing.B) {
	floorEncrypt := func(b *testing.B) {
		ctx := gcmContext(b, keyB, saltB)
		pkt := rtpPacket(0, 0, 0, 0xabcdef, fill(0xff, 160))
		var hdr rtp.Header
		scratch := make([]byte, maxDatagram+64)
		b.ReportAllocs()
		m := benchcpu.Start(b, benchcpu.Thread)
		for i := 0; i < b.N; i++ {
			binary.BigEndian.PutUint16(pkt[2:], uint16(i))
			if _, err := ctx.EncryptRTP(scratch[:0], pkt, &hdr); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop()
	}
	trunkToBrowser := func(trunkPT byte) func(b *testing.B) {
		return func(b *testing.B) {
			s, _ := benchSession(b, map[byte]string{0: "0", 8: "8"}[trunkPT])
			var tr trunkReader
			pkt := rtpPacket(trunkPT, 0, 0, 0x4242, fill(0xd5, 160))
			src := netip.MustParseAddrPort("192.0.2.1:4000")
			scratch := make([]byte, maxDatagram+64)
			now := int64(time.Hour)
			b.ReportAllocs()
			m := benchcpu.Start(b, benchcpu.Thread)
			for i := 0; i < b.N; i++ {
				pkt[1] = trunkPT
				binary.BigEndian.PutUint16(pkt[2:], uint16(i))
				binary.BigEndian.PutUint32(pkt[8:], 0x4242)
				now += int64(20 * time.Millisecond)
				if err := s.handleTrunk(&tr, pkt, src, now, scratch); err != nil {
					b.Fatal(err)
				}
			}
			m.Stop()
			if s.stats.toBrowser.Load() != uint64(b.N) {
				b.Fatalf("relayed %d of %d", s.stats.toBrowser.Load(), b.N)
			}
		}
	}
	floorDecrypt := func(b *testing.B) {
		stream := browserStream()
		var ctx *srtp.Context
		var hdr rtp.Header
		pkt := make([]byte, maxDatagram)
		b.ReportAllocs()
		m := benchcpu.Start(b, benchcpu.Thread)
		for i := 0; i < b.N; i++ {
			k := i & (len(stream) - 1)
			if k == 0 {
				ctx = gcmContext(b, keyA, saltA, srtp.SRTPReplayProtection(srtpReplayWindow))
			}
			p := pkt[:copy(pkt, stream[k])]
			if _, err := ctx.DecryptRTP(p, p, &hdr); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop()
	}
	browserToTrunk := func(b *testing.B) {
		s, leg := benchSession(b, "0")
		stream := browserStream()
		pkt := make([]byte, maxDatagram)
		b.ReportAllocs()
		m := benchcpu.Start(b, benchcpu.Thread)
		for i := 0; i < b.N; i++ {
			k := i & (len(stream) - 1)
			if k == 0 {
				leg.in.ctx = gcmContext(b, keyA, saltA, srtp.SRTPReplayProtection(srtpReplayWindow))
			}
			p := pkt[:copy(pkt, stream[k])]
			plain, ok := leg.unprotect(p)
			if !ok {
				b.Fatal("not decrypted")
			}
			if _, ok := s.handleBrowser(plain); !ok {
				b.Fatal("dropped")
			}
		}
		m.Stop()
	}
	// SDES-SRTP trunk (sdes.go): each op includes the trunk's encryption of
	// its packet; the relay decrypts in place before the same step.
	srtpTrunkToBrowser := func(b *testing.B) {
		s, _ := benchSession(b, "0")
		peer := sdesKeys(b, s)
		var tr trunkReader
		pkt := rtpPacket(0, 0, 0, 0x4242, fill(0xd5, 160))
		enc := make([]byte, 0, maxDatagram)
		src := netip.MustParseAddrPort("192.0.2.1:4000")
		scratch := make([]byte, maxDatagram+64)
		now := int64(time.Hour)
		b.ReportAllocs()
		m := benchcpu.Start(b, benchcpu.Thread)
		for i := 0; i < b.N; i++ {
			pkt[1] = 0
			binary.BigEndian.PutUint16(pkt[2:], uint16(i))
			e, err := peer.enc.EncryptRTP(enc[:0], pkt, &peer.encHdr)
			if err != nil {
				b.Fatal(err)
			}
			now += int64(20 * time.Millisecond)
			if err := s.handleTrunk(&tr, e, src, now, scratch); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop()
		if s.stats.toBrowser.Load() != uint64(b.N) {
			b.Fatalf("relayed %d of %d", s.stats.toBrowser.Load(), b.N)
		}
	}
	browserToSRTPTrunk := func(b *testing.B) {
		s, _ := benchSession(b, "0")
		sdesKeys(b, s)
		pkt := rtpPacket(0, 0, 0, 0x4242, fill(0xff, 160))
		buf := make([]byte, len(pkt), maxDatagram)
		b.ReportAllocs()
		m := benchcpu.Start(b, benchcpu.Thread)
		for i := 0; i < b.N; i++ {
			copy(buf, pkt)
			binary.BigEndian.PutUint16(buf[2:], uint16(i))
			if _, ok := s.handleBrowser(buf); !ok {
				b.Fatal("dropped")
			}
			if _, err := s.protectTrunk(buf); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop()
	}
	rounds(b, []sub{
		{"floor-encrypt", floorEncrypt},
		{"trunk-to-browser", trunkToBrowser(0)},
		{"floor-decrypt", floorDecrypt},
		{"browser-to-trunk", browserToTrunk},
		{"trunk-to-browser-transcode", trunkToBrowser(8)},
		{"srtp-trunk-to-browser", srtpTrunkToBrowser},
		{"browser-to-srtp-trunk", browserToSRTPTrunk},
	})
}

// sub is one sub-benchmark of a paired benchmark.
type sub struct {
	name string
	f    func(*testing.B)
}

// rounds runs subs in order, HUBLINE_BENCH_ROUNDS times (default 1), so
// that each subject runs between two runs of its floor. (-count repeats a
// sub-benchmark back to back instead.) Later rounds are named name#01,
// name#02, ...
func rounds(b *testing.B, subs []sub) {
	n, err := strconv.Atoi(os.Getenv("HUBLINE_BENCH_ROUNDS"))
	if err != nil || n < 1 {
		n = 1
	}
	for range n {
		for _, s := range subs {
			b.Run(s.name, s.f)
		}
	}
}

// callPeers are the two ends of one call for BenchmarkCallRelay: a
// browser (liteBrowser: SRTP on a UDP socket) and a trunk (a UDP socket).
type callPeers struct {
	browser *liteBrowser
	trunk   *net.UDPConn
	got     chan struct{} // a packet reached the browser
	buf     []byte
	pkt     []byte
	seq     uint16
}

func newCallPeers(b *testing.B) *callPeers {
	p := &callPeers{browser: newLiteBrowser(b), got: make(chan struct{}, 1), buf: make([]byte, 1500)}
	var err error
	if p.trunk, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.trunk.Close() })
	p.browser.onRTP = func([]byte) { p.got <- struct{}{} }
	p.pkt = rtpPacket(0, 0, 0, 0x7777, fill(0xff, 160))
	return p
}

func (p *callPeers) trunkAddr() netip.AddrPort { return p.trunk.LocalAddr().(*net.UDPAddr).AddrPort() }

// op sends a packet each way through the relay (to trunkDst on the trunk
// side) and waits for both.
func (p *callPeers) op(b *testing.B, trunkDst netip.AddrPort) {
	p.seq++
	binary.BigEndian.PutUint16(p.pkt[2:], p.seq)
	if _, err := p.trunk.WriteToUDPAddrPort(p.pkt, trunkDst); err != nil {
		b.Fatal(err)
	}
	p.browser.send(p.pkt)
	if _, _, err := p.trunk.ReadFromUDPAddrPort(p.buf); err != nil {
		b.Fatal(err)
	}
	<-p.got
}

// bareRelay is the UDP+SRTP floor of one call: the loop of the gateway's
// media threads (udpio.Poller.Run), relaying between a browser-facing and
// a trunk-facing socket with SRTP and nothing else.
type bareRelay struct {
	browser, trunk *udpio.Socket
	poller         *udpio.Poller
	in, out        *srtp.Context
	toTrunk        netip.AddrPort
	toBrowser      netip.AddrPort // learnt from the first packet
	done           chan struct{}
}

func startBareRelay(b *testing.B, toTrunk netip.AddrPort, plain bool) *bareRelay {
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	r := &bareRelay{toTrunk: toTrunk, done: make(chan struct{})}
	var err error
	if r.browser, err = udpio.Listen(lo, 0); err == nil {
		if r.trunk, err = udpio.Listen(lo, 0); err == nil {
			r.poller, err = udpio.NewPoller(64)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	if !plain {
		r.in = gcmContext(b, keyA, saltA, srtp.SRTPReplayProtection(srtpReplayWindow))
		r.out = gcmContext(b, keyB, saltB)
	}
	r.poller.Add(r.browser.FD, 1)
	r.poller.Add(r.trunk.FD, 2)
	batch := udpio.NewBatch(32, maxDatagram)
	scratch := make([]byte, maxDatagram+64)
	var hdr rtp.Header
	go func() {
		defer close(r.done)
		r.poller.Run(func(toks []uint64) bool {
			for _, tok := range toks {
				sock := r.browser
				if tok == 2 {
					sock = r.trunk
				}
				for {
					n, _ := sock.Recv(batch)
					for i := range n {
						pkt := batch.Bufs[i][:batch.Lens[i]]
						if tok == 1 {
							r.toBrowser = batch.Addrs[i]
							if r.in != nil {
								var err error
								if pkt, err = r.in.DecryptRTP(pkt, pkt, &hdr); err != nil {
									continue
								}
							}
							r.trunk.SendTo(pkt, r.toTrunk)
							continue
						}
						if !r.toBrowser.IsValid() {
							continue
						}
						if r.out != nil {
							var err error
							if pkt, err = r.out.EncryptRTP(scratch[:0], pkt, &hdr); err != nil {
								continue
							}
						}
						r.browser.SendTo(pkt, r.toBrowser)
					}
					if n < len(batch.Bufs) {
						break
					}
				}
			}
			return true
		})
	}()
	b.Cleanup(func() {
		r.poller.Close()
		<-r.done
		r.browser.Close()
		r.trunk.Close()
	})
	return r
}

// BenchmarkCallRelay relays one packet each way per op for one call
// through real sockets, ping-pong, and counts the whole process's CPU:
// "direct" is the two peers talking to each other without a relay (what
// the peers cost), "floor" the bare UDP+SRTP relay on the gateway's loop,
// "gateway" an Engine and a Session with its browser leg connected
// (ICE-lite, DTLS) and WebRTCPort. A relay's own cost is its cpu-ns/op
// less direct's.
func BenchmarkCallRelay(b *testing.B) {
	direct := func(b *testing.B) {
		p := newCallPeers(b)
		p.browser.gw = p.trunkAddr()
		p.browser.enc = gcmContext(b, keyA, saltA)
		p.browser.plain = true
		p.op(b, p.browser.conn.LocalAddr().(*net.UDPAddr).AddrPort()) // warm up
		m := benchcpu.Start(b, benchcpu.Process)
		for i := 0; i < b.N; i++ {
			p.op(b, p.browser.conn.LocalAddr().(*net.UDPAddr).AddrPort())
		}
		m.Stop()
	}
	floor := func(b *testing.B) {
		p := newCallPeers(b)
		r := startBareRelay(b, p.trunkAddr(), false)
		p.browser.gw = r.browser.Addr
		p.browser.enc, p.browser.dec = gcmContext(b, keyA, saltA), gcmContext(b, keyB, saltB)
		warm(b, p, r.trunk.Addr)
		m := benchcpu.Start(b, benchcpu.Process)
		for i := 0; i < b.N; i++ {
			p.op(b, r.trunk.Addr)
		}
		m.Stop()
	}
	gateway := func(b *testing.B) {
		p := newCallPeers(b)
		port := freeUDPPort(b)
		e := newTestEngine(b, func(o *Options) {
			o.WebRTCPort = port
			o.RTPTimeout = time.Minute
			o.Logger = zap.NewNop()
		})
		s, events := newTestSession(b, e)
		ta := p.trunkAddr()
		if err := s.SetTrunkAnswer([]byte(trunkSDP(ta.Addr().String(), int(ta.Port()), "0", ""))); err != nil {
			b.Fatal(err)
		}
		answer, err := s.AcceptBrowserOffer(p.browser.offer())
		if err != nil {
			b.Fatal(err)
		}
		if err := p.browser.answer(answer); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := p.browser.connect(ctx); err != nil {
			b.Fatal(err)
		}
		events.wait(b, EventBrowserConnected)
		gw := rtpAddr(b, s)
		warm(b, p, gw)
		m := benchcpu.Start(b, benchcpu.Process)
		for i := 0; i < b.N; i++ {
			p.op(b, gw)
		}
		m.Stop()
	}
	rounds(b, []sub{{"canary", benchCanary}, {"direct", direct}, {"floor", floor}, {"gateway", gateway}})
}

// warm runs ops until a packet has made it each way (the first browser
// packet teaches the relay where the browser is).
func warm(b *testing.B, p *callPeers, trunkDst netip.AddrPort) {
	deadline := time.Now().Add(testWait)
	p.trunk.SetReadDeadline(deadline)
	defer p.trunk.SetReadDeadline(time.Time{})
	for {
		p.browser.send(p.pkt)
		if _, _, err := p.trunk.ReadFromUDPAddrPort(p.buf); err != nil {
			b.Fatal(err)
		}
		if _, err := p.trunk.WriteToUDPAddrPort(p.pkt, trunkDst); err != nil {
			b.Fatal(err)
		}
		select {
		case <-p.got:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatal("no packet reached the browser")
		}
	}
}

// benchCanary is a fixed CPU-bound loop on one thread: its wall/cpu tells
// whether the round it belongs to ran on a busy machine.
func benchCanary(b *testing.B) {
	ctx := gcmContext(b, keyB, saltB)
	pkt := rtpPacket(0, 0, 0, 1, fill(0xff, 160))
	scratch := make([]byte, maxDatagram+64)
	var hdr rtp.Header
	m := benchcpu.Start(b, benchcpu.Thread)
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		ctx.EncryptRTP(scratch[:0], pkt, &hdr)
	}
	m.Stop()
}

func freeUDPPort(tb testing.TB) uint16 {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// BenchmarkSetup sets up one call's media per op: "floor" is a bare DTLS
// handshake between two pion/dtls endpoints on loopback with the SRTP keys
// exported (what any DTLS-SRTP endpoint pays, both ends); "session" is
// NewSession, the trunk's SDP, the browser's offer and answer, ICE and
// DTLS with a liteBrowser (whose DTLS client is the same), the first
// packet, and Close. Whole-process CPU: both ends.
func BenchmarkSetup(b *testing.B) {
	clientID, err := newIdentity()
	if err != nil {
		b.Fatal(err)
	}
	serverID, err := newIdentity()
	if err != nil {
		b.Fatal(err)
	}
	floor := func(b *testing.B) {
		m := benchcpu.Start(b, benchcpu.Process)
		for i := 0; i < b.N; i++ {
			bareHandshake(b, clientID, serverID)
		}
		m.Stop()
	}
	session := func(b *testing.B) {
		e := newTestEngine(b, func(o *Options) {
			o.WebRTCPort = freeUDPPort(b)
			o.RTPTimeout = time.Minute
			o.Logger = zap.NewNop()
		})
		trunk := newTestTrunk(b, "127.0.0.1")
		trunkSDP := trunk.sdp("0", "")
		m := benchcpu.Start(b, benchcpu.Process)
		for i := 0; i < b.N; i++ {
			events := make(eventLog, 16)
			s, err := e.NewSession(nil, events.on)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.SetTrunkAnswer(trunkSDP); err != nil {
				b.Fatal(err)
			}
			br := newLiteBrowserWith(b, clientID)
			answer, err := s.AcceptBrowserOffer(br.offer())
			if err != nil {
				b.Fatal(err)
			}
			if err := br.answer(answer); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			if err := br.connect(ctx); err != nil {
				b.Fatal(err)
			}
			cancel()
			events.wait(b, EventBrowserConnected)
			s.Close()
			br.close()
		}
		m.Stop()
	}
	rounds(b, []sub{{"canary", benchCanary}, {"floor", floor}, {"session", session}})
}

// bareHandshake is a DTLS-SRTP handshake between two pion/dtls endpoints
// on loopback UDP sockets, with the SRTP contexts made on both sides.
func bareHandshake(b *testing.B, clientID, serverID *identity) {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	sc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		b.Fatal(err)
	}
	cc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	defer cc.Close()
	verify := func(fp string) func([][]byte, [][]*x509.Certificate) error {
		return func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyFingerprint([]fingerprint{{"sha-256", fp}}, raw)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	// Neither end closes before both have their keys: a close_notify
	// would fail the other's handshake.
	var wg sync.WaitGroup
	var serr error
	serverDone, clientDone := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		defer close(serverDone)
		s, err := dtls.ServerWithOptions(sc, cc.LocalAddr(),
			dtls.WithCertificates(serverID.cert), dtls.WithSRTPProtectionProfiles(srtpProfiles...),
			dtls.WithExtendedMasterSecret(dtls.RequestExtendedMasterSecret), dtls.WithClientAuth(dtls.RequireAnyClientCert),
			dtls.WithInsecureSkipVerify(true), dtls.WithInsecureSkipVerifyHello(true), dtls.WithVerifyPeerCertificate(verify(clientID.fingerprint)))
		if err == nil {
			if err = s.HandshakeContext(ctx); err == nil {
				err = exportSRTP(s, false)
			}
			<-clientDone
			s.Close()
		}
		serr = err
	})
	c, err := dtls.ClientWithOptions(cc, sc.LocalAddr(),
		dtls.WithCertificates(clientID.cert), dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), dtls.WithVerifyPeerCertificate(verify(serverID.fingerprint)))
	if err == nil {
		if err = c.HandshakeContext(ctx); err == nil {
			err = exportSRTP(c, true)
		}
		close(clientDone)
		<-serverDone
		c.Close()
	} else {
		close(clientDone)
	}
	wg.Wait()
	if err != nil || serr != nil {
		b.Fatalf("handshake: client %v, server %v", err, serr)
	}
}

func exportSRTP(c *dtls.Conn, client bool) error {
	state, _ := c.ConnectionState()
	cfg := srtp.Config{Profile: srtp.ProtectionProfileAeadAes128Gcm}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return err
	}
	if _, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile); err != nil {
		return err
	}
	_, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	return err
}
