//go:build linux

package loadgen

import (
	"bytes"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	pkt := make([]byte, rtpHdrLen+payloadLen)
	pkt[0] = 0x80
	silence(pkt[rtpHdrLen:])
	stamp(pkt[rtpHdrLen:], 42, 123456789)
	call, at, ok := readStamp(pkt)
	if !ok || call != 42 || at != 123456789 {
		t.Fatalf("read back %d %d %v", call, at, ok)
	}
	// With a CSRC and an extension before the payload.
	ext := append([]byte{0x91, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 0xbe, 0xde, 0, 1, 5, 6, 7, 8}, pkt[rtpHdrLen:]...)
	if call, _, ok := readStamp(ext); !ok || call != 42 {
		t.Fatal("stamp after CSRC and extension not found")
	}
	pkt[rtpHdrLen+12] ^= 1
	if _, _, ok := readStamp(pkt); ok {
		t.Fatal("a packet without the magic word read as ours")
	}
	if _, _, ok := readStamp(pkt[:20]); ok {
		t.Fatal("a short packet read as ours")
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	h.add(time.Second) // overflow
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Microsecond, 0.99: 990 * time.Microsecond} {
		if got := h.quantile(q); got < want || got > want+2*time.Microsecond {
			t.Errorf("q%.2f = %v, want %v", q, got, want)
		}
	}
	if got := h.quantile(1); got != time.Second {
		t.Errorf("max %v", got)
	}
	if h.late.Load() != 1 {
		t.Errorf("late %d", h.late.Load())
	}
}

func TestWindow(t *testing.T) {
	var w window
	pkt := make([]byte, rtpHdrLen+payloadLen)
	pkt[0] = 0x80
	w.onSend(BrowserToTrunk, 5) // before the window opens
	w.from.Store(10)
	w.to.Store(20)
	for _, at := range []int64{9, 10, 19, 20} {
		w.onSend(BrowserToTrunk, at)
		stamp(pkt[rtpHdrLen:], 1, at)
		w.onRecv(BrowserToTrunk, pkt, at+1000)
	}
	if s, r := w.sent[BrowserToTrunk].Load(), w.recv[BrowserToTrunk].Load(); s != 2 || r != 2 {
		t.Fatalf("sent %d received %d, want 2 and 2", s, r)
	}
	w.onRecv(TrunkToBrowser, []byte{1, 2, 3}, 0)
	if w.bad.Load() != 1 {
		t.Fatal("garbage not counted")
	}
}

func TestSIPParsing(t *testing.T) {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 0\r\n"
	invite := "INVITE sip:+14155551000@127.0.0.1:5070 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n" +
		"From: <sip:+14155550100@hubline>;tag=abc\r\nTo: <sip:+14155551000@127.0.0.1>\r\ni: call-1\r\nCSeq: 1 INVITE\r\n" +
		"Content-Type: application/sdp\r\nl: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp + "trailing garbage"
	m, err := parseSIP([]byte(invite))
	if err != nil {
		t.Fatal(err)
	}
	if m.method != "INVITE" || m.callID != "call-1" {
		t.Fatalf("parsed %+v", m)
	}
	gw, err := offerAddr(m.body)
	if err != nil || gw != netip.MustParseAddrPort("127.0.0.1:20000") {
		t.Fatalf("offer address %v, %v (body %q)", gw, err, m.body)
	}
	resp := string(m.response(200, "OK", "xyz", "<sip:hubload@127.0.0.1:1>", []byte("v=0\r\n")))
	for _, want := range []string{
		"SIP/2.0 200 OK\r\n",
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n",
		"To: <sip:+14155551000@127.0.0.1>;tag=xyz\r\n",
		"Call-ID: call-1\r\n", "CSeq: 1 INVITE\r\n", "Contact: <sip:hubload@127.0.0.1:1>\r\n",
		"Content-Length: 5\r\n\r\nv=0\r\n",
	} {
		if !strings.Contains(resp, want) {
			t.Errorf("response lacks %q:\n%s", want, resp)
		}
	}
	if _, err := parseSIP([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
}

// TestTable: the table from canned benchmark output and a canned sweep.
func TestTable(t *testing.T) {
	f, err := os.Open("testdata/micro.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bench, err := ParseBench(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(bench) != 16 || bench[5].Name != "BenchmarkPerPacket/trunk-to-browser" || bench[5].Round != 1 {
		t.Fatalf("parsed %d runs; sixth %+v", len(bench), bench[5])
	}
	res := func(mode string, cpu time.Duration) *Result {
		return &Result{Mode: mode, Calls: 100, CPUPerCallSecond: cpu, Sent: [2]int64{1000, 1000},
			RSSPerCall: 100 << 10, GoroutinesPerCall: 3, SetupCPUPerCall: time.Millisecond,
			DelayP99: [2]time.Duration{time.Millisecond, time.Millisecond}, DelayP999: [2]time.Duration{2 * time.Millisecond, 2 * time.Millisecond}}
	}
	runs := []SweepRun{
		{Order: "A1", Result: res(ModeFloorUDP, 900*time.Microsecond)},
		{Order: "A1", Result: res(ModeFloorSRTP, 1000*time.Microsecond)},
		{Order: "B", Result: res(ModeGateway, 1300*time.Microsecond)},
		{Order: "A2", Result: res(ModeFloorSRTP, 1000*time.Microsecond)},
		{Order: "A2", Result: res(ModeFloorUDP, 1100*time.Microsecond)},
	}
	var b bytes.Buffer
	WriteTable(&b, Table(bench, runs, 1000))
	out := b.String()
	for _, want := range []string{
		// Round 2 of encrypt ran contended (wall/cpu 1.5): dropped.
		"per-packet handler trunk→browser (no sockets), CPU per packet (1 rounds, 1 dropped) | 140 ns (SRTP encrypt, AES-128-GCM) | 161 ns, 0 allocs | 1.15× |",
		"per-packet handler browser→trunk (no sockets), CPU per packet (2 rounds, 0 dropped) | 145 ns",
		// (45-30)/(44-30), median of 1.07 and 1.0
		"one call's relay through real sockets, CPU per packet each way (2 rounds, 0 dropped) | 13.5 µs (bare UDP+SRTP relay) | 14.0 µs | 1.04× |",
		"gateway CPU per call-second at 100 calls (vs the epoll UDP floor; drift between its A-B-A runs 20.0%) | 1000 µs | 1300 µs | 1.30 |",
		"| goroutines per call (gateway: media, cti, sip) at 100 calls | 0 | 3.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	if err := WriteChart(dir+"/cost.svg", runs, "test"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSummary(dir+"/summary.csv", runs); err != nil {
		t.Fatal(err)
	}
	if err := writeRunsCSV(dir+"/results.csv", runs); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(dir + "/cost.svg")
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("hubline gateway")) {
		t.Fatalf("chart:\n%s", svg)
	}
}
