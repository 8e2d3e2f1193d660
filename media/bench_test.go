package media

import (
	"bufio"
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkLoopbackRelay relays one 20 ms packet each way per op through a
// connected session on loopback: trunk socket → gateway → pion browser, and
// pion browser → gateway → trunk socket. allocs/op counts every allocation
// in the process: the gateway, both pion stacks and the two test peers.
func BenchmarkLoopbackRelay(b *testing.B) {
	e := newTestEngine(b, func(o *Options) { o.RTPTimeout = time.Minute; o.Logger = zap.NewNop() })
	s, events := newTestSession(b, e)
	gw := rtpAddr(b, s)
	trunk := newTestTrunk(b, "127.0.0.1")
	if err := s.SetTrunkAnswer(trunk.sdp("8", "")); err != nil {
		b.Fatal(err)
	}
	br := newTestBrowser(b, true)
	connect(b, s, events, br)
	// Warm up until a packet makes it each way.
	trunk.recvWhile(func(i int) { br.send(0, uint16(i), uint32(i)*160, fill(0xff, 160)) }, func([]byte) bool { return true })
	for br.count.Load() == 0 {
		trunk.send(gw, rtpPacket(8, 1, 160, 0x1234, fill(0xd5, 160)))
		select {
		case <-br.tick:
		case <-time.After(20 * time.Millisecond):
		}
	}
	for len(br.tick) > 0 {
		<-br.tick
	}
	trunk.conn.SetReadDeadline(time.Now().Add(time.Minute))

	toGW := rtpPacket(8, 0, 0, 0x1234, fill(0xd5, 160))
	fromBrowser := fill(0xff, 160)
	buf := make([]byte, 1500)
	var seq uint16 = 100
	b.ReportAllocs()
	for b.Loop() {
		seq++
		toGW[1] = 8
		toGW[2], toGW[3] = byte(seq>>8), byte(seq)
		trunk.send(gw, toGW)
		br.send(0, seq, uint32(seq)*160, fromBrowser)
		<-br.tick
		if _, _, err := trunk.conn.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionFootprint connects 50 sessions to 50 pion browsers on
// loopback, relays media both ways on each, and reports the heap and
// goroutines they hold. Goroutines are told apart by pprof labels, which
// every goroutine started on behalf of a side inherits.
func BenchmarkSessionFootprint(b *testing.B) {
	const n = 50
	e := newTestEngine(b, func(o *Options) {
		o.RTPPortMin, o.RTPPortMax = 45000, 45999
		o.RTPTimeout = time.Minute
		o.Logger = zap.NewNop()
	})
	var heapPair, heapGW, gwG, brG float64
	for b.Loop() {
		h0 := liveHeap()
		browsers := make([]*testBrowser, n)
		offers := make([]string, n)
		pprof.Do(context.Background(), pprof.Labels("side", "browser"), func(context.Context) {
			for i := range browsers {
				browsers[i] = newTestBrowser(b, true)
				offers[i] = browsers[i].offer()
			}
		})
		h1 := liveHeap()
		sessions := make([]*Session, n)
		trunks := make([]*testTrunk, n)
		pprof.Do(context.Background(), pprof.Labels("side", "gateway"), func(ctx context.Context) {
			for i := range sessions {
				events := make(eventLog, 16)
				s, err := e.NewSession(nil, events.on)
				if err != nil {
					b.Fatal(err)
				}
				sessions[i] = s
				trunks[i] = newTestTrunk(b, "127.0.0.1")
				if err := s.SetTrunkAnswer(trunks[i].sdp("8", "")); err != nil {
					b.Fatal(err)
				}
				answer, err := s.AcceptBrowserOffer(offers[i])
				if err != nil {
					b.Fatal(err)
				}
				// Do restores the labels of its ctx afterwards: pass ours.
				pprof.Do(ctx, pprof.Labels("side", "browser"), func(context.Context) {
					browsers[i].answer(answer)
				})
				events.wait(b, EventBrowserConnected)
				s.MarkAnswered()
			}
		})
		// Media both ways on every session.
		for i, s := range sessions {
			gw := rtpAddr(b, s)
			trunks[i].recvWhile(func(k int) {
				browsers[i].send(0, uint16(k), uint32(k)*160, fill(0xff, 160))
				trunks[i].send(gw, rtpPacket(8, uint16(k), uint32(k)*160, 0x1234, fill(0xd5, 160)))
			}, func([]byte) bool { return true })
			for browsers[i].count.Load() == 0 {
				trunks[i].send(gw, rtpPacket(8, 1, 160, 0x1234, fill(0xd5, 160)))
				select {
				case <-browsers[i].tick:
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		h2 := liveHeap()
		labels := goroutinesByLabel()
		heapPair = float64(h2-h0) / n
		heapGW = float64(h2-h1) / n
		gwG = float64(labels["gateway"]) / n
		brG = float64(labels["browser"]) / n

		for i := range sessions {
			if err := sessions[i].Close(); err != nil {
				b.Error(err)
			}
			browsers[i].close()
			trunks[i].conn.Close()
		}
	}
	b.ReportMetric(heapPair, "heap-B/pair")
	b.ReportMetric(heapGW, "heap-B/session")
	b.ReportMetric(gwG, "goroutines/session")
	b.ReportMetric(brG, "browser-goroutines/pair")
	b.Logf("%d sessions: live heap %.0f kB per gateway session (upper bound: includes the browsers' growth after connecting), %.0f kB per pair; goroutines %.1f per session (gateway: ours and pion's), %.1f per test browser",
		n, heapGW/1024, heapPair/1024, gwG, brG)
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// goroutinesByLabel counts live goroutines by their "side" pprof label.
func goroutinesByLabel() map[string]int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		panic(err)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pending := 0
	for sc.Scan() {
		line := sc.Text()
		if n, _, ok := strings.Cut(line, " @ "); ok {
			pending, _ = strconv.Atoi(n)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# labels: "); ok && pending > 0 {
			for _, side := range []string{"gateway", "browser"} {
				if strings.Contains(rest, `"side":"`+side+`"`) {
					counts[side] += pending
				}
			}
			pending = 0
		}
	}
	return counts
}
