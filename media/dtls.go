package media

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	dtlsfp "github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/deadline"
)

// The browser leg's DTLS-SRTP (RFC 5763, 5764): the gateway is the DTLS
// server. The handshake runs on a goroutine of its own over the leg's
// datagrams; its keys make the leg's two SRTP contexts. Once the browser's
// first SRTP packet shows that it has finished the handshake too, the
// DTLS connection is dropped without a close_notify: nothing more is
// needed from it but the browser's alert when it closes, which the socket
// reader recognises by its record type. A connected leg then costs no
// goroutine.

// dtlsTimeout bounds a handshake, from the browser's first DTLS packet.
const dtlsTimeout = 30 * time.Second

// srtpProfiles are the SRTP protection profiles the gateway accepts, best
// first: the server picks the first the browser offers too. AES-GCM costs
// a third of AES-CM with HMAC-SHA1 per packet (media benchmarks).
var srtpProfiles = []dtls.SRTPProtectionProfile{
	dtls.SRTP_AEAD_AES_128_GCM,
	dtls.SRTP_AEAD_AES_256_GCM,
	dtls.SRTP_AES128_CM_HMAC_SHA1_80,
}

func srtpProfileOf(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, error) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, nil
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	}
	return 0, fmt.Errorf("media: SRTP profile %#x not supported", uint16(p))
}

// identity is the gateway's DTLS certificate, one per Engine, and its
// SHA-256 fingerprint for the answers.
type identity struct {
	cert        tls.Certificate
	fingerprint string
}

func newIdentity() (*identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "hubline"},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	hexSum := strings.ToUpper(hex.EncodeToString(sum[:]))
	var fp strings.Builder
	for i := 0; i < len(hexSum); i += 2 {
		if i > 0 {
			fp.WriteByte(':')
		}
		fp.WriteString(hexSum[i : i+2])
	}
	return &identity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, fingerprint: fp.String()}, nil
}

// verifyFingerprint checks the browser's certificate against the offer's
// a=fingerprint lines (the binding of DTLS to the signalling).
func verifyFingerprint(fps []fingerprint, rawCerts [][]byte) error {
	if len(rawCerts) == 0 {
		return errors.New("media: the browser sent no DTLS certificate")
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("media: browser certificate: %w", err)
	}
	for _, fp := range fps {
		h, err := dtlsfp.HashFromString(fp.algorithm)
		if err != nil {
			continue
		}
		got, err := dtlsfp.Fingerprint(cert, h)
		if err == nil && strings.EqualFold(got, fp.value) {
			return nil
		}
	}
	return errors.New("media: the browser's DTLS certificate does not match the offer's fingerprint")
}

// dtlsConn is the leg's datagrams as a net.PacketConn for pion/dtls:
// reads come from the socket reader through in, writes go out of the leg's
// socket to its browser, until the leg detaches from DTLS (quiet): then
// writes are dropped, so that closing sends no close_notify.
type dtlsConn struct {
	leg    *webrtcLeg
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	rd     *deadline.Deadline
	mu     sync.Mutex // guards quiet
	quiet  bool
}

func newDTLSConn(leg *webrtcLeg) *dtlsConn {
	return &dtlsConn{leg: leg, in: make(chan []byte, 16), closed: make(chan struct{}), rd: deadline.New()}
}

// push queues a datagram from the browser; it is dropped if the handshake
// is not keeping up.
func (c *dtlsConn) push(p []byte) {
	select {
	case c.in <- append([]byte(nil), p...):
	default:
	}
}

func (c *dtlsConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p), c.leg.remoteAddr(), nil
	case <-c.rd.Done():
		return 0, nil, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *dtlsConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	quiet := c.quiet
	c.mu.Unlock()
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if quiet {
		return len(b), nil
	}
	dst, ok := c.leg.sendAddr()
	if !ok {
		return 0, errors.New("media: no address for the browser yet")
	}
	if err := c.leg.sock.sock.SendTo(b, dst); err != nil {
		return 0, err
	}
	return len(b), nil
}

// silence drops every later write.
func (c *dtlsConn) silence() {
	c.mu.Lock()
	c.quiet = true
	c.mu.Unlock()
}

func (c *dtlsConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *dtlsConn) LocalAddr() net.Addr                { return net.UDPAddrFromAddrPort(c.leg.sock.local) }
func (c *dtlsConn) SetDeadline(t time.Time) error      { c.rd.Set(t); return nil }
func (c *dtlsConn) SetReadDeadline(t time.Time) error  { c.rd.Set(t); return nil }
func (c *dtlsConn) SetWriteDeadline(t time.Time) error { return nil }

// handshake runs the DTLS server handshake, installs the SRTP keys, and
// then waits until the leg detaches from DTLS or the browser closes it.
// It runs on its own goroutine, inside the leg's gate.
func (l *webrtcLeg) handshake() {
	defer l.gate.exit()
	opts := append(l.s.e.dtlsOptions(),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyFingerprint(l.fingerprints, raw)
		}))
	conn, err := dtls.ServerWithOptions(l.dtls, l.remoteAddr(), opts...)
	if err != nil {
		l.failed(fmt.Errorf("media: DTLS: %w", err))
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dtlsTimeout)
	go func() { // the leg closing ends the handshake
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.failed(fmt.Errorf("media: DTLS handshake: %w", err))
		return
	}
	if err := l.installKeys(conn); err != nil {
		l.failed(err)
		return
	}
	l.connectedNow()
	// Until detach closes it: the browser may still need our last flight
	// again, and a close_notify ends the leg.
	buf := make([]byte, 64)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	if !l.detached.Load() {
		l.failed(errBrowserFailed)
	}
}

// installKeys makes the leg's SRTP contexts from the handshake.
func (l *webrtcLeg) installKeys(conn *dtls.Conn) error {
	state, ok := conn.ConnectionState()
	if !ok {
		return errors.New("media: DTLS: no connection state")
	}
	selected, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("media: DTLS: no SRTP profile negotiated")
	}
	profile, err := srtpProfileOf(selected)
	if err != nil {
		return err
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, false); err != nil {
		return fmt.Errorf("media: SRTP keys: %w", err)
	}
	in, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile,
		srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		return fmt.Errorf("media: SRTP: %w", err)
	}
	out, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return fmt.Errorf("media: SRTP: %w", err)
	}
	l.in.ctx, l.out.ctx = in, out
	l.profile = profile
	return nil
}

// srtpReplayWindow is the SRTP replay protection window, in packets.
const srtpReplayWindow = 64

// dtlsOptions are the DTLS server options every leg shares.
func (e *Engine) dtlsOptions() []dtls.ServerOption {
	return []dtls.ServerOption{
		dtls.WithCertificates(e.id.cert),
		dtls.WithSRTPProtectionProfiles(srtpProfiles...),
		dtls.WithExtendedMasterSecret(dtls.RequestExtendedMasterSecret),
		dtls.WithClientAuth(dtls.RequireAnyClientCert),
		dtls.WithInsecureSkipVerify(true), // the fingerprint check is the verification
		// ICE has checked the browser's address with a signed request
		// already: the cookie exchange would only add a round trip.
		dtls.WithInsecureSkipVerifyHello(true),
		dtls.WithLoggerFactory(e.pionLogs),
	}
}
