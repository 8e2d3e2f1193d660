package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TLS trunks against a sipgo TLS peer whose certificate comes from a
// throwaway CA made here.

// testCA is a certificate authority for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	Pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, Pool: pool}
}

// serverConfig is a server TLS config with a certificate for dnsName.
func (ca *testCA) serverConfig(t *testing.T, dnsName string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}
}

func tlsPeer(t *testing.T, ca *testCA, script func(*peer, *gosip.Request, gosip.ServerTransaction)) *peer {
	return newPeer(t, "tls", script, func(p *peer) { p.tlsConfig = ca.serverConfig(t, "trunk.test") })
}

func TestTLSTrunk(t *testing.T) {
	ca := newTestCA(t, "hubline test CA")
	p := tlsPeer(t, ca, answer)
	u := newTestUA(t)
	rec := newRecorder()
	tr := Trunk{Name: "tls", Address: p.addr, Transport: "tls", TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "trunk.test"}}
	c := dial(t, u, tr, testInvite(), rec)
	rec.answered(t)
	inv := p.expect(gosip.INVITE)
	port := strconv.Itoa(u.port)
	if via := header(inv, "Via"); !strings.HasPrefix(via, "SIP/2.0/TLS 127.0.0.1:"+port+";") || !strings.Contains(via, ";alias") {
		t.Errorf("Via %q, want TLS with alias", via)
	}
	if ct := header(inv, "Contact"); ct != "<sip:hubline@127.0.0.1:"+port+";transport=tls>" {
		t.Errorf("Contact %q", ct)
	}
	if inv.Transport() != "TLS" {
		t.Errorf("INVITE arrived over %s", inv.Transport())
	}
	if ruri := inv.Recipient.String(); !strings.Contains(ruri, ";transport=tls") {
		t.Errorf("Request-URI %s: a proxy routing on it could forward the call in clear", ruri)
	}
	p.expect(gosip.ACK)
	c.Hangup(context.Background())
	if bye := p.expect(gosip.BYE); bye.Transport() != "TLS" {
		t.Errorf("BYE arrived over %s", bye.Transport())
	}
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}

// A certificate from another CA, or for another name, fails the dial with
// the verification error (ErrTLSCertificate, which cti turns into a
// message that says so); DialTrunks moves on to the next trunk, and the
// trunk's probes report the error.
func TestTLSTrunkVerification(t *testing.T) {
	ca, other := newTestCA(t, "hubline test CA"), newTestCA(t, "someone else")
	p := tlsPeer(t, ca, answer)
	u := newTestUA(t)
	for _, tt := range []struct {
		name string
		conf *tls.Config
		want string
	}{
		{"wrong CA", &tls.Config{RootCAs: other.Pool, ServerName: "trunk.test"}, "certificate signed by unknown authority"},
		{"wrong name", &tls.Config{RootCAs: ca.Pool, ServerName: "other.test"}, "certificate is valid for trunk.test, not other.test"},
		{"system roots", nil, "127.0.0.1"},
	} {
		tr := Trunk{Name: "tls", Address: p.addr, Transport: "tls", TLS: tt.conf}
		_, err := u.Dial(context.Background(), tr, testInvite(), nil)
		if err == nil || !errors.Is(err, ErrTransport) || !errors.Is(err, ErrTLSCertificate) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Dial: %v, want a transport error (ErrTLSCertificate) saying %q", tt.name, err, tt.want)
		}
	}
	if p.has(gosip.INVITE) {
		t.Errorf("an INVITE went over an unverified connection")
	}
	u.Close()

	b := newPeer(t, "udp", answer)
	bad := Trunk{Name: "tls", Address: p.addr, Transport: "tls", TLS: &tls.Config{RootCAs: other.Pool, ServerName: "trunk.test"},
		Keepalive: Keepalive{Interval: time.Hour}}
	u = newTestUAWith(t, Options{Trunks: []Trunk{bad, trunkOf("b", b)}})
	eventually(t, "the probe reports the TLS error", func() bool {
		return strings.Contains(status(u, "tls").ProbeError, "certificate signed by unknown authority")
	})
	u.trunks[0].probed(nil, false) // up again, so that the call tries it
	rec := newRecorder()
	o := dialTrunks(t, u, testInvite(), rec)
	if ev := rec.answered(t); ev.Trunk != "b" {
		t.Errorf("answered by %q, want b", ev.Trunk)
	}
	o.Hangup(context.Background())
	rec.want(t, EventEnded)
	u.Close()
	rec.none(t)
}
