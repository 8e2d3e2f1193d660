package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// TLS trunks. sipgo verifies every TLS connection it opens against one
// process-wide tls.Config, with the destination host as server name; a
// trunk has its own CA bundle and server name (SNI). So the UA opens TLS
// connections itself, with the trunk's settings, and hands them to sipgo
// through a listener sipgo serves (ServeTLS): sipgo then reads from them
// and finds them in its connection pool by remote address, as it does for
// connections it accepted. sipgo's own TLS dialling is given a config that
// refuses every server, so no connection is ever made with other settings.

// errNoTLSDial is the error of any TLS connection sipgo tries to open itself.
var errNoTLSDial = errors.New("sip: TLS connections are opened by the trunk dialer only")

// sipgoTLSConfig is the config sipgo's own TLS dialling uses: it refuses
// every server.
func sipgoTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // VerifyConnection refuses instead
		VerifyConnection:   func(tls.ConnectionState) error { return errNoTLSDial },
	}
}

// handoff is the listener through which the UA hands its TLS connections to
// sipgo. sipgo's accept loop calls Accept, registers the connection in its
// pool, starts reading it, and calls Accept again; that next call tells the
// UA the previous connection is registered.
type handoff struct {
	addr   net.Addr
	conns  chan handed
	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex // guards last
	last chan struct{}
}

type handed struct {
	conn       net.Conn
	registered chan struct{} // closed once sipgo has the connection in its pool
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, conns: make(chan handed), closed: make(chan struct{})}
}

func (h *handoff) Accept() (net.Conn, error) {
	h.mu.Lock()
	if h.last != nil {
		close(h.last)
		h.last = nil
	}
	h.mu.Unlock()
	select {
	case c := <-h.conns:
		h.mu.Lock()
		h.last = c.registered
		h.mu.Unlock()
		return c.conn, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// give hands conn to sipgo and waits until it is in sipgo's pool.
func (h *handoff) give(ctx context.Context, conn net.Conn) error {
	c := handed{conn: conn, registered: make(chan struct{})}
	select {
	case h.conns <- c:
	case <-h.closed:
		return fmt.Errorf("sip: %w", ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.registered:
		return nil
	case <-h.closed:
		return fmt.Errorf("sip: %w", ErrClosed)
	}
}

// tlsConnect makes sure a verified TLS connection to req's destination
// exists before req is sent, opening one with tc's TLS settings if needed,
// and points req at the connection's exact address. Requests for the same
// address wait for one another's dial.
func (u *UA) tlsConnect(ctx context.Context, tc *trunkConf, req *gosip.Request) error {
	if tc == nil || tc.tls == nil {
		return nil // sipgo uses a pooled connection, or fails with errNoTLSDial
	}
	dest := req.Destination()
	host, port, err := net.SplitHostPort(dest)
	if err != nil {
		return fmt.Errorf("sip: TLS destination %q: %w", dest, err)
	}
	ip, err := resolveIP(ctx, host)
	if err != nil {
		return fmt.Errorf("sip: trunk %q: resolve %s: %w: %w", tc.name, host, ErrTransport, err)
	}
	addr := net.JoinHostPort(ip.String(), port)
	req.SetDestination(addr)

	mu := u.tlsLock(addr)
	mu.Lock()
	defer mu.Unlock()
	pool := u.sua.TransportLayer().Pool("tls")
	if c := pool.Get(addr); c != nil {
		c.Ref(-1) // Get took a reference; the transaction takes its own
		return nil
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: tc.tls}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
			return fmt.Errorf("sip: trunk %q: TLS connection to %s (server name %q): %w: %w: %w",
				tc.name, addr, tc.tls.ServerName, ErrTLSCertificate, ErrTransport, err)
		}
		return fmt.Errorf("sip: trunk %q: TLS connection to %s (server name %q): %w: %w",
			tc.name, addr, tc.tls.ServerName, ErrTransport, err)
	}
	if err := u.tlsHandoff.give(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	u.log.Info("TLS connection to trunk", zap.String("trunk", tc.name), zap.String("addr", addr),
		zap.String("serverName", tc.tls.ServerName))
	return nil
}

// tlsLock is the mutex serialising dials to addr.
func (u *UA) tlsLock(addr string) *sync.Mutex {
	u.tlsMu.Lock()
	defer u.tlsMu.Unlock()
	mu := u.tlsDials[addr]
	if mu == nil {
		mu = new(sync.Mutex)
		u.tlsDials[addr] = mu
	}
	return mu
}

// resolveIP is host's address: host itself when it is an IP, else its first
// IPv4 address (or first address).
func resolveIP(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("no address for %s", host)
	}
	return ips[0], nil
}
