package media

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/deadline"
)

// liteBrowser is the leanest WebRTC peer the gateway accepts: one UDP
// socket, one STUN check with USE-CANDIDATE, a pion/dtls client, and SRTP
// contexts used directly. The benchmarks drive the gateway with it so that
// what they measure is the gateway, not pion's PeerConnection.
type liteBrowser struct {
	t     testing.TB
	conn  *net.UDPConn
	id    *identity
	ufrag string
	pwd   string

	gw      netip.AddrPort // the answer's candidate
	gwUfrag string
	gwPwd   string
	gwFP    []fingerprint

	dtlsIn chan []byte
	stunIn chan []byte
	onRTP  func(pkt []byte) // SRTP from the gateway, decrypted; on the reader goroutine
	plain  bool             // RTP comes unprotected (a peer, not the gateway)
	done   chan struct{}
	wg     sync.WaitGroup

	enc, dec *srtp.Context
	encBuf   []byte
	decBuf   []byte
	decHdr   rtp.Header
}

func newLiteBrowser(t testing.TB) *liteBrowser {
	t.Helper()
	id, err := newIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return newLiteBrowserWith(t, id)
}

// newLiteBrowserWith makes a liteBrowser with the DTLS identity id.
func newLiteBrowserWith(t testing.TB, id *identity) *liteBrowser {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := &liteBrowser{
		t: t, conn: conn, id: id, ufrag: randomICE(8), pwd: randomICE(24),
		dtlsIn: make(chan []byte, 16), stunIn: make(chan []byte, 4), done: make(chan struct{}),
		encBuf: make([]byte, 1600), decBuf: make([]byte, 1600),
	}
	b.wg.Add(1)
	go b.read()
	t.Cleanup(b.close)
	return b
}

func (b *liteBrowser) close() {
	select {
	case <-b.done:
		return
	default:
	}
	close(b.done)
	b.conn.Close()
	b.wg.Wait()
}

// offer is a browser-like offer: one audio section, PCMU and
// telephone-event, BUNDLE and rtcp-mux.
func (b *liteBrowser) offer() string {
	return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:" + b.ufrag + "\r\na=ice-pwd:" + b.pwd + "\r\n" +
		"a=fingerprint:sha-256 " + b.id.fingerprint + "\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
}

var (
	candidateRE = regexp.MustCompile(`a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host`)
	ufragRE     = regexp.MustCompile(`a=ice-ufrag:(\S+)`)
	pwdRE       = regexp.MustCompile(`a=ice-pwd:(\S+)`)
	fpRE        = regexp.MustCompile(`a=fingerprint:(\S+) (\S+)`)
)

// answer takes the gateway's answer.
func (b *liteBrowser) answer(sdp string) error {
	c, u, p, f := candidateRE.FindStringSubmatch(sdp), ufragRE.FindStringSubmatch(sdp), pwdRE.FindStringSubmatch(sdp), fpRE.FindStringSubmatch(sdp)
	if c == nil || u == nil || p == nil || f == nil {
		return fmt.Errorf("answer lacks candidate, ICE credentials or fingerprint:\n%s", sdp)
	}
	port, _ := strconv.Atoi(c[2])
	b.gw = netip.AddrPortFrom(netip.MustParseAddr(c[1]), uint16(port))
	b.gwUfrag, b.gwPwd = u[1], p[1]
	b.gwFP = []fingerprint{{f[1], f[2]}}
	return nil
}

// connect does ICE (one nominating check) and the DTLS handshake, and
// makes the SRTP contexts.
func (b *liteBrowser) connect(ctx context.Context) error {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(b.gwUfrag+":"+b.ufrag),
		stun.RawAttribute{Type: stun.AttrUseCandidate},
		stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0x00, 0x1e, 0xff}},
		stun.RawAttribute{Type: stun.AttrICEControlling, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		stun.NewShortTermIntegrity(b.gwPwd), stun.Fingerprint)
	if err != nil {
		return err
	}
	for checked := false; !checked; {
		if _, err := b.conn.WriteToUDPAddrPort(req.Raw, b.gw); err != nil {
			return err
		}
		select {
		case raw := <-b.stunIn:
			m := &stun.Message{Raw: raw}
			if m.Decode() == nil && m.Type == stun.BindingSuccess && m.TransactionID == req.TransactionID {
				if err := stun.NewShortTermIntegrity(b.gwPwd).Check(m); err != nil {
					return fmt.Errorf("STUN response: %w", err)
				}
				checked = true
			}
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	pc := &litePacketConn{b: b, rd: deadline.New()}
	dc, err := dtls.ClientWithOptions(pc, net.UDPAddrFromAddrPort(b.gw),
		dtls.WithCertificates(b.id.cert),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyFingerprint(b.gwFP, raw)
		}))
	if err != nil {
		return err
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		return err
	}
	state, _ := dc.ConnectionState()
	cfg := srtp.Config{Profile: srtp.ProtectionProfileAeadAes128Gcm}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		return err
	}
	if b.enc, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile); err != nil {
		return err
	}
	if b.dec, err = srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile); err != nil {
		return err
	}
	// The connection is done with: like the gateway, drop it quietly.
	pc.quiet.Store(true)
	return dc.Close()
}

// send protects and sends one RTP packet.
func (b *liteBrowser) send(pkt []byte) {
	enc, err := b.enc.EncryptRTP(b.encBuf[:0], pkt, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.conn.WriteToUDPAddrPort(enc, b.gw); err != nil {
		b.t.Fatal(err)
	}
}

// read demultiplexes the socket until close.
func (b *liteBrowser) read() {
	defer b.wg.Done()
	buf := make([]byte, 1600)
	for {
		n, _, err := b.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p := buf[:n]
		switch {
		case n == 0:
		case p[0] <= 3:
			select {
			case b.stunIn <- append([]byte(nil), p...):
			default:
			}
		case p[0] >= 20 && p[0] <= 63:
			select {
			case b.dtlsIn <- append([]byte(nil), p...):
			default:
			}
		case p[0] >= 128 && p[0] <= 191 && b.onRTP != nil && b.plain:
			b.onRTP(p)
		case p[0] >= 128 && p[0] <= 191 && b.onRTP != nil && b.dec != nil:
			if dec, err := b.dec.DecryptRTP(b.decBuf[:0], p, &b.decHdr); err == nil {
				b.onRTP(dec)
			}
		}
	}
}

// litePacketConn gives pion/dtls the browser's DTLS datagrams.
type litePacketConn struct {
	b     *liteBrowser
	quiet atomic.Bool // set once the handshake is over, before Close
	rd    *deadline.Deadline
}

func (c *litePacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case d := <-c.b.dtlsIn:
		return copy(p, d), net.UDPAddrFromAddrPort(c.b.gw), nil
	case <-c.rd.Done():
		return 0, nil, errTimeout{}
	case <-c.b.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *litePacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	if c.quiet.Load() {
		return len(p), nil
	}
	return c.b.conn.WriteToUDPAddrPort(p, c.b.gw)
}

func (c *litePacketConn) Close() error                       { return nil }
func (c *litePacketConn) LocalAddr() net.Addr                { return c.b.conn.LocalAddr() }
func (c *litePacketConn) SetDeadline(t time.Time) error      { c.rd.Set(t); return nil }
func (c *litePacketConn) SetReadDeadline(t time.Time) error  { c.rd.Set(t); return nil }
func (c *litePacketConn) SetWriteDeadline(t time.Time) error { return nil }

type errTimeout struct{}

func (errTimeout) Error() string   { return "timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
