package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

// The end-to-end tests run the real gateway binary, built once by TestMain,
// as a child process on loopback.

var gatewayBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hubline-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "gateway")
	args := []string{"build", "-o", gatewayBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	if !raceEnabled {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the gateway: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// testUser and testPassword sign in to every test gateway.
const (
	testUser     = "ana"
	testPassword = "correct horse"
	testFrom     = "+14155550100"
	trunkUser    = "hubline"
	trunkPass    = "s3cret-trunk"
)

var testHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// gwConfig is what a test varies in the gateway's configuration.
type gwConfig struct {
	trunk        string // trunk address
	ringTimeout  time.Duration
	rtpTimeout   time.Duration
	trunkPass    string // digest password; empty: no credentials
	demoTrunk    bool
	demoRing     time.Duration // the demo trunk's ringDelay; zero: 3s
	engageWait   time.Duration
	extraOrigins []string
	users        int               // reps: ana (and ana1 … ana<users-1>, all with testPassword)
	dids         []string          // the trunk's DIDs (inbound calls)
	extra        string            // YAML appended to the file (routing:, hubspot: …)
	usersExtra   map[string]string // username → hubspotOwnerId
	maxDuration  time.Duration     // calls.maxDuration; zero: the default
	trunkExtra   string            // YAML lines added to the trunk ("    srtp: optional\n")
	musicOnHold  string            // calls.musicOnHold
	dtmfMode     string            // the trunk's dtmfMode; empty: the default
}

func (c gwConfig) yaml() string {
	if c.ringTimeout == 0 {
		c.ringTimeout = 20 * time.Second
	}
	if c.rtpTimeout == 0 {
		c.rtpTimeout = 10 * time.Second
	}
	if c.engageWait == 0 {
		c.engageWait = 2 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, `mode: development
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: debug
auth:
  allowedOrigins: [%s]
  users:
%scalls:
  defaultRegion: US
  ringTimeout: %s
  reconnectGrace: 5s
  engagementWait: %s
sip:
  listen: 127.0.0.1:0
media:
  bindIP: 127.0.0.1
  rtpPorts: 32000-32999
  webrtcPorts: 33000-33999
  iceNetworks: [127.0.0.0/8]
  rtpTimeout: %s
shutdownTimeout: 10s
`, strings.Join(c.extraOrigins, ", "), c.usersYAML(), c.ringTimeout, c.engageWait, c.rtpTimeout)
	if c.demoTrunk {
		if c.demoRing == 0 {
			c.demoRing = 3 * time.Second
		}
		fmt.Fprintf(&b, "demoTrunk:\n  enabled: true\n  listen: 127.0.0.1:0\n  ringDelay: %s\n", c.demoRing)
	} else {
		fmt.Fprintf(&b, "trunks:\n  - name: test\n    address: %s\n", c.trunk)
		b.WriteString(c.trunkExtra)
		if c.trunkPass != "" {
			fmt.Fprintf(&b, "    username: %s\n    passwordEnv: HUBLINE_TEST_TRUNK_PASSWORD\n", trunkUser)
		}
		if len(c.dids) > 0 {
			fmt.Fprintf(&b, "    dids: [\"%s\"]\n", strings.Join(c.dids, `", "`))
		}
		if c.dtmfMode != "" {
			fmt.Fprintf(&b, "    dtmfMode: %s\n", c.dtmfMode)
		}
	}
	b.WriteString(c.extra)
	if c.maxDuration != 0 {
		s := strings.Replace(b.String(), "calls:\n", "calls:\n  maxDuration: "+c.maxDuration.String()+"\n", 1)
		b.Reset()
		b.WriteString(s)
	}
	if c.musicOnHold != "" {
		return strings.Replace(b.String(), "calls:\n", "calls:\n  musicOnHold: "+c.musicOnHold+"\n", 1)
	}
	return b.String()
}

func (c gwConfig) usersYAML() string {
	var b strings.Builder
	for i := range max(1, c.users) {
		name := testUser
		if i > 0 {
			name = fmt.Sprintf("%s%d", testUser, i)
		}
		owner := ""
		if id := c.usersExtra[name]; id != "" {
			owner = fmt.Sprintf(", hubspotOwnerId: %q", id)
		}
		fmt.Fprintf(&b, "    - {username: %s, displayName: Rep %d, passwordHash: %q, fromNumber: %q%s}\n", name, i, testHash(), testFrom, owner)
	}
	return b.String()
}

// gateway is a running gateway process.
type gateway struct {
	t       *testing.T
	cmd     *exec.Cmd
	HTTP    string // host:port of its HTTP server
	logMu   sync.Mutex
	logs    []map[string]any
	rawLogs bytes.Buffer
	done    chan struct{}
	exitErr error
}

// startGateway runs the gateway binary with cfg and waits until it serves.
func startGateway(t *testing.T, cfg gwConfig) *gateway {
	t.Helper()
	return startGatewayWith(t, cfg.yaml(), "HUBLINE_TEST_TRUNK_PASSWORD="+cfg.trunkPass)
}

// startGatewayWith runs the gateway binary with the configuration text yml
// and waits until it serves, like startGateway, for configurations gwConfig
// does not cover. env adds environment variables.
func startGatewayWith(t *testing.T, yml string, env ...string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, done: make(chan struct{})}
	g.cmd = exec.Command(gatewayBin, "-config", path)
	g.cmd.Env = append(os.Environ(), env...)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout = io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	up := make(chan string, 1)
	go g.readLogs(stderr, up)
	t.Cleanup(func() {
		g.stop()
		if strings.Contains(g.rawLogsText(), "WARNING: DATA RACE") {
			t.Errorf("the gateway process reported a data race")
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.rawLogsText())
		}
	})
	select {
	case addr := <-up:
		g.HTTP = addr
	case <-g.done:
		t.Fatalf("gateway exited before serving: %v\n%s", g.exitErr, g.rawLogsText())
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway not up after 20s\n%s", g.rawLogsText())
	}
	return g
}

func (g *gateway) readLogs(r io.Reader, up chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		g.logMu.Lock()
		g.rawLogs.Write(line)
		g.rawLogs.WriteByte('\n')
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			g.logs = append(g.logs, m)
		}
		g.logMu.Unlock()
		if m != nil && m["msg"] == "hubline is up" {
			if a, ok := m["http"].(string); ok {
				up <- a
			}
		}
	}
	g.exitErr = g.cmd.Wait()
	close(g.done)
}

func (g *gateway) rawLogsText() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.rawLogs.String()
}

// logsWith returns the log entries whose message is msg.
func (g *gateway) logsWith(msg string) []map[string]any {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	var out []map[string]any
	for _, m := range g.logs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// terminate sends SIGTERM and waits for a clean exit.
func (g *gateway) terminate(d time.Duration) error {
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-g.done:
		return g.exitErr
	case <-time.After(d):
		return fmt.Errorf("gateway still running %s after SIGTERM", d)
	}
}

// stop ends the process by PID, whatever state it is in: SIGTERM first (so
// that the race detector reports), SIGKILL if it lingers.
func (g *gateway) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = syscall.Kill(g.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
	}
}

func (g *gateway) wsURL() string { return "ws://" + g.HTTP + "/ws" }

// sipAddr is the address the gateway's SIP user agent listens on.
func (g *gateway) sipAddr() string {
	g.t.Helper()
	for _, m := range g.logsWith("sip user agent listening") {
		if a, ok := m["addr"].(string); ok {
			return a
		}
	}
	g.t.Fatal("the gateway logged no SIP address")
	return ""
}

func (g *gateway) origin() string { return "http://" + g.HTTP }

// udpSink is a "trunk" that answers nothing and records every datagram: it
// proves that no INVITE left the gateway.
type udpSink struct {
	pc          net.PacketConn
	mu          sync.Mutex
	got         [][]byte
	firstInvite chan struct{} // closed when the first INVITE arrives
	done        chan struct{}
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{pc: pc, firstInvite: make(chan struct{}), done: make(chan struct{})}
	var invited sync.Once
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, append([]byte(nil), buf[:n]...))
			s.mu.Unlock()
			if bytes.HasPrefix(buf[:n], []byte("INVITE ")) {
				invited.Do(func() { close(s.firstInvite) })
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-s.done })
	return s
}

func (s *udpSink) addr() string { return s.pc.LocalAddr().String() }

func (s *udpSink) invites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.got {
		if bytes.HasPrefix(p, []byte("INVITE ")) {
			n++
		}
	}
	return n
}

// rawClient is a bare WebSocket client, for frames no softphone would send.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func rawSocket(t *testing.T, g *gateway) *rawClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(g.wsURL(), http.Header{"Origin": {g.origin()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &rawClient{t: t, ws: ws}
}

func (c *rawClient) send(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads messages until one of type typ arrives.
func (c *rawClient) expect(typ string) map[string]any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("gateway sent %q: %v", b, err)
		}
		if m["type"] == typ {
			return m
		}
	}
}

// busyTrunk answers every INVITE at once with 486 Busy Here and records
// when each arrived, by Call-ID: it measures how long a dial takes to reach
// the wire.
type busyTrunk struct {
	pc      net.PacketConn
	mu      sync.Mutex
	arrived map[string]time.Time
	invites chan string // Call-IDs, as INVITEs arrive
	done    chan struct{}
}

func newBusyTrunk(t *testing.T) *busyTrunk {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &busyTrunk{pc: pc, arrived: map[string]time.Time{}, invites: make(chan string, 1024), done: make(chan struct{})}
	go b.serve()
	t.Cleanup(func() { pc.Close(); <-b.done })
	return b
}

func (b *busyTrunk) serve() {
	defer close(b.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := b.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		at := time.Now()
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "INVITE ") {
			continue // ACK, and retransmissions' absorption is not needed here
		}
		var resp strings.Builder
		resp.WriteString("SIP/2.0 486 Busy Here\r\n")
		callID := ""
		for _, line := range strings.Split(msg, "\r\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "v", "from", "f", "call-id", "i", "cseq":
				resp.WriteString(line + "\r\n")
				if n := strings.ToLower(strings.TrimSpace(name)); n == "call-id" || n == "i" {
					callID = strings.TrimSpace(value)
				}
			case "to", "t":
				resp.WriteString(line + ";tag=busy\r\n")
			}
		}
		resp.WriteString("Content-Length: 0\r\n\r\n")
		b.mu.Lock()
		_, seen := b.arrived[callID]
		if !seen {
			b.arrived[callID] = at
		}
		b.mu.Unlock()
		_, _ = b.pc.WriteTo([]byte(resp.String()), from)
		if !seen {
			b.invites <- callID
		}
	}
}

func (b *busyTrunk) addr() string { return b.pc.LocalAddr().String() }

func (b *busyTrunk) arrival(callID string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.arrived[callID]
	return at, ok
}
