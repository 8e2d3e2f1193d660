//go:build unix

package udpio

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestBatchRoundTrip(t *testing.T) {
	a, b := listen(t), listen(t)
	out := NewBatch(8, 1500)
	const total = 20
	got := make(chan string, total)
	done := make(chan error, 1)
	in := NewBatch(4, 1500)
	go func() {
		done <- ReadLoop(b, in, func(n int) bool {
			for i := range n {
				if in.Addrs[i] != addr(a) {
					t.Errorf("from %v, want %v", in.Addrs[i], addr(a))
				}
				got <- string(in.Bufs[i][:in.Lens[i]])
			}
			return true
		})
	}()
	for sent := 0; sent < total; {
		k := min(len(out.Bufs), total-sent)
		for i := range k {
			out.Lens[i] = copy(out.Bufs[i][:cap(out.Bufs[i])], fmt.Sprintf("packet %d", sent+i))
			out.Addrs[i] = addr(b)
		}
		n, err := WriteBatch(a, out, k)
		if err != nil || n != k {
			t.Fatalf("WriteBatch: %d of %d, %v", n, k, err)
		}
		sent += k
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for i := range total {
		select {
		case s := <-got:
			if want := fmt.Sprintf("packet %d", i); s != want {
				t.Fatalf("got %q, want %q", s, want)
			}
		case <-timer.C:
			t.Fatalf("%d of %d datagrams arrived", i, total)
		}
	}
	b.Close()
	if err := <-done; err != nil {
		t.Fatalf("ReadLoop after Close: %v", err)
	}
}

// TestReadLoopWakesForLateDatagrams: a datagram arriving after a short
// batch wakes the reader (the loop does not poll the socket again).
func TestReadLoopWakesForLateDatagrams(t *testing.T) {
	a, b := listen(t), listen(t)
	in := NewBatch(8, 64)
	got := make(chan struct{}, 16)
	go ReadLoop(b, in, func(n int) bool {
		for range n {
			got <- struct{}{}
		}
		return true
	})
	for i := range 10 {
		if _, err := a.WriteToUDPAddrPort([]byte{byte(i)}, addr(b)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("datagram %d not read", i)
		}
	}
}

func TestWriteBatchDoesNotAllocate(t *testing.T) {
	a, b := listen(t), listen(t)
	out := NewBatch(4, 200)
	for i := range out.Bufs {
		out.Lens[i] = 172
		out.Addrs[i] = addr(b)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := WriteBatch(a, out, 4); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteBatch: %v allocs", n)
	}
}

// TestRawSocketDualStack: a raw socket bound to the IPv6 wildcard sends
// to IPv4 peers and reports them as IPv4.
func TestRawSocketDualStack(t *testing.T) {
	s, err := Listen(netip.MustParseAddrPort("[::]:0"), 0)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer s.Close()
	peer := listen(t)
	if err := s.SendTo([]byte("to v4"), addr(peer)); err != nil {
		t.Fatalf("SendTo an IPv4 peer: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "to v4" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("back"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.Addr.Port())); err != nil {
		t.Fatal(err)
	}
	b := NewBatch(4, 64)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := s.Recv(b)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if b.Addrs[0] != addr(peer) || string(b.Bufs[0][:b.Lens[0]]) != "back" {
				t.Fatalf("got %q from %v", b.Bufs[0][:b.Lens[0]], b.Addrs[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing received")
		}
		time.Sleep(time.Millisecond) // polling a non-blocking socket, not synchronisation
	}
}

// TestPollerRun: Run reports readable sockets by token, is woken by the
// Waker, and stops when its handler says so.
func TestPollerRun(t *testing.T) {
	p, err := NewPoller(8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := NewWaker()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.Add(w.FD(), 1)
	p.Add(s.FD, 2)
	peer := listen(t)
	got := make(chan uint64, 16)
	done := make(chan error, 1)
	b := NewBatch(4, 64)
	go func() {
		done <- p.Run(func(toks []uint64) bool {
			for _, tok := range toks {
				switch tok {
				case 1:
					w.Clear()
					got <- tok
					return false
				case 2:
					for n, _ := s.Recv(b); n == len(b.Bufs); n, _ = s.Recv(b) {
					}
					got <- tok
				}
			}
			return true
		})
	}()
	if _, err := peer.WriteToUDPAddrPort([]byte("x"), s.Addr); err != nil {
		t.Fatal(err)
	}
	if tok := <-got; tok != 2 {
		t.Fatalf("token %d, want the socket's", tok)
	}
	w.Wake()
	if tok := <-got; tok != 1 {
		t.Fatalf("token %d, want the waker's", tok)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
