//go:build linux

package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Modes of a run: the gateway, or one of the floors.
const (
	ModeGateway   = "gateway"
	ModeFloorUDP  = "floor-udp"
	ModeFloorSRTP = "floor-srtp"
	// ModeFloorGoSRTP is the UDP+SRTP floor relayed the Go way
	// (RunFloorGo): what the runtime adds to the epoll floor.
	ModeFloorGoSRTP = "floor-go-srtp"
)

// RunConfig is one run: one relay, one number of calls.
type RunConfig struct {
	Mode    string
	Calls   int
	Warmup  time.Duration // media before the window opens
	Hold    time.Duration // the measurement window
	Idle    time.Duration // gateway: connected calls without media, measured
	Gateway GatewayOptions
	// Self is the hubload binary, which runs the floor relays.
	Self string
	// Dir receives the run's logs and config.
	Dir string
	// Shards is the number of pacer goroutines. Zero: 2.
	Shards int
	// Settle is how long the gateway rests before its baseline is taken
	// (after the reps sign in, and after setup); the baseline is measured
	// over the same time again. Zero: 2 s.
	Settle time.Duration
	// Progress receives a line per step. Nil: none.
	Progress func(format string, args ...any)
}

// Result is what a run measured. CPU figures are the relay process's own.
type Result struct {
	Mode  string `json:"mode"`
	Calls int    `json:"calls"`

	// The media window.
	Window           time.Duration    `json:"windowNs"`
	Cores            float64          `json:"cores"`           // relay CPU ÷ wall time
	CPUPerCallSecond time.Duration    `json:"cpuPerCallSecNs"` // relay CPU per call per second of media
	StatCores        float64          `json:"statCores"`       // the same from /proc/PID/stat
	PacketsPerSec    float64          `json:"packetsPerSec"`   // relayed, both directions, as received
	CPUPerPacket     time.Duration    `json:"cpuPerPacketNs"`  // relay CPU per packet relayed (received)
	Sent             [2]int64         `json:"sent"`            // by Direction
	Lost             [2]int64         `json:"lost"`            // by Direction
	Bad              int64            `json:"bad"`             // received, not ours
	SendErrors       int64            `json:"sendErrors"`      // generator writes that failed
	Skipped          int64            `json:"skipped"`         // packets the pacer skipped, behind schedule
	DelayP50         [2]time.Duration `json:"delayP50Ns"`
	DelayP99         [2]time.Duration `json:"delayP99Ns"`
	DelayP999        [2]time.Duration `json:"delayP999Ns"`
	DelayMax         [2]time.Duration `json:"delayMaxNs"`
	GeneratorCores   float64          `json:"generatorCores"` // this process over the window
	OtherCores       float64          `json:"otherCores"`     // the rest of the machine over the window

	// Footprint with every call relaying, over the relay with none.
	RSSBase           int64   `json:"rssBase"`
	RSSBusy           int64   `json:"rssBusy"`
	RSSPerCall        float64 `json:"rssPerCall"`
	GoroutinesBase    int     `json:"goroutinesBase"`
	GoroutinesBusy    int     `json:"goroutinesBusy"`
	GoroutinesPerCall float64 `json:"goroutinesPerCall"`

	// Gateway only.
	SetupCPUPerCall  time.Duration `json:"setupCPUPerCallNs"` // dial to media up, per call
	SetupWall        time.Duration `json:"setupWallNs"`
	SetupFailures    int           `json:"setupFailures"`
	IdleCoresPerCall float64       `json:"idleCoresPerCall"` // fraction of a core per connected, silent call
	BaseCores        float64       `json:"baseCores"`        // the relay with reps signed in and no calls
}

var errNoCalls = errors.New("loadgen: no call was set up")

// Run performs one run.
func Run(rc RunConfig) (*Result, error) {
	if rc.Shards == 0 {
		rc.Shards = 2
	}
	if rc.Settle == 0 {
		rc.Settle = 2 * time.Second
	}
	if rc.Progress == nil {
		rc.Progress = func(string, ...any) {}
	}
	if err := os.MkdirAll(rc.Dir, 0o755); err != nil {
		return nil, err
	}
	var cur atomic.Pointer[window]
	cur.Store(new(window))
	win := cur.Load
	ip := netip.MustParseAddr("127.0.0.1")
	u, err := startUAS(ip, win)
	if err != nil {
		return nil, err
	}
	defer u.close()
	res := &Result{Mode: rc.Mode, Calls: rc.Calls}
	switch rc.Mode {
	case ModeGateway:
		err = runGateway(rc, res, u, win)
	case ModeFloorUDP, ModeFloorSRTP, ModeFloorGoSRTP:
		err = runFloor(rc, res, u, win, ip)
	default:
		err = fmt.Errorf("loadgen: unknown mode %q", rc.Mode)
	}
	if err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	_ = os.WriteFile(filepath.Join(rc.Dir, "result.json"), b, 0o644)
	return res, nil
}

func runFloor(rc RunConfig, res *Result, u *uas, win func() *window, ip netip.Addr) error {
	mode := FloorUDP
	args := []string{"relay"}
	switch rc.Mode {
	case ModeFloorSRTP:
		mode = FloorSRTP
	case ModeFloorGoSRTP:
		mode = FloorSRTP
		args = append(args, "-go")
	}
	var addrs FloorAddrs
	relay, err := startChild(rc.Self, append(args, "-mode", mode, "-calls", fmt.Sprint(rc.Calls), "-trunk", u.rtpAddr().String()),
		nil, filepath.Join(rc.Dir, "relay.log"), true, func(line []byte) bool {
			return json.Unmarshal(line, &addrs) == nil && addrs.Browser.IsValid()
		}, 30*time.Second)
	if err != nil {
		return err
	}
	defer relay.stop()
	base, err := SampleProc(relay.pid())
	if err != nil {
		return err
	}
	calls := make([]*call, rc.Calls)
	var readers sync.WaitGroup
	var browsers []*floorBrowser
	defer func() {
		for _, b := range browsers {
			b.conn.Close()
		}
		readers.Wait()
	}()
	for i := range calls {
		b, err := newFloorBrowser(uint32(i), ip, addrs.Browser, mode == FloorSRTP)
		if err != nil {
			return err
		}
		browsers = append(browsers, b)
		readers.Add(1)
		go b.read(win, &readers)
		c := newCall(uint32(i))
		c.browser, c.trunk = b, addrs.Trunk[i]
		calls[i] = c
	}
	res.RSSBase = base.RSS
	rc.Progress("%s: %d calls: relay pid %d ready", rc.Mode, rc.Calls, relay.pid())
	return measureMedia(rc, res, u, win, calls, relay.pid(), func() (int, error) { return 0, nil })
}

func runGateway(rc RunConfig, res *Result, u *uas, win func() *window) error {
	g, err := startGateway(rc.Gateway, rc.Calls, u.sipAddr(), rc.Dir)
	if err != nil {
		return err
	}
	defer g.stop()
	pid := g.pid()
	rc.Progress("gateway: pid %d on %s; signing in %d reps", pid, g.http, rc.Calls)

	reps := make([]*rep, rc.Calls)
	for i := range reps {
		reps[i] = &rep{c: newCall(uint32(i)), win: win, connected: make(chan struct{})}
	}
	defer func() {
		for _, r := range reps {
			if r.phone != nil {
				r.phone.Close()
			}
		}
	}()
	if errs := parallel(len(reps), 64, func(i int) error {
		ctx, cancel := waitCtx(60 * time.Second)
		defer cancel()
		return reps[i].login(ctx, g, i)
	}); len(errs) > 0 {
		return fmt.Errorf("loadgen: %d reps could not sign in, first: %w", len(errs), errs[0])
	}

	// The gateway with every rep signed in and no call: the baseline.
	time.Sleep(rc.Settle)
	b0, err := SampleProc(pid)
	if err != nil {
		return err
	}
	time.Sleep(rc.Settle)
	b1, _ := SampleProc(pid)
	h0, err := g.healthz()
	if err != nil {
		return err
	}
	res.BaseCores = Delta(b0, b1).Cores()
	res.RSSBase, res.GoroutinesBase = b1.RSS, h0.Goroutines

	// Setup: dial every call, wait for answer and media.
	rc.Progress("gateway: setting up %d calls", rc.Calls)
	s0, _ := SampleProc(pid)
	var okCalls []*call
	var okMu sync.Mutex
	errs := parallel(len(reps), 32, func(i int) error {
		ctx, cancel := waitCtx(90 * time.Second)
		defer cancel()
		if err := reps[i].dial(ctx, u); err != nil {
			return fmt.Errorf("rep%d: %w", i, err)
		}
		okMu.Lock()
		okCalls = append(okCalls, reps[i].c)
		okMu.Unlock()
		return nil
	})
	s1, _ := SampleProc(pid)
	res.SetupFailures = len(errs)
	for i, err := range errs {
		if i < 5 {
			rc.Progress("gateway: setup failure: %v", err)
		}
	}
	if len(okCalls) == 0 {
		return errNoCalls
	}
	sd := Delta(s0, s1)
	res.SetupWall = sd.Wall
	res.SetupCPUPerCall = time.Duration((float64(sd.CPU) - res.BaseCores*float64(sd.Wall)) / float64(len(okCalls)))
	rc.Progress("gateway: %d calls up in %v, %v CPU each (%d failed)", len(okCalls), sd.Wall.Round(time.Millisecond),
		res.SetupCPUPerCall.Round(time.Microsecond), res.SetupFailures)

	// Idle: connected calls, no media.
	time.Sleep(rc.Settle)
	i0, _ := SampleProc(pid)
	time.Sleep(rc.Idle)
	i1, _ := SampleProc(pid)
	res.IdleCoresPerCall = (Delta(i0, i1).Cores() - res.BaseCores) / float64(len(okCalls))
	rc.Progress("gateway: idle %.4f%% of a core per call", 100*res.IdleCoresPerCall)

	err = measureMedia(rc, res, u, win, okCalls, pid, func() (int, error) {
		h, err := g.healthz()
		return h.Goroutines, err
	})
	if err != nil {
		return err
	}

	rc.Progress("gateway: hanging up")
	if errs := parallel(len(reps), 64, func(i int) error {
		ctx, cancel := waitCtx(60 * time.Second)
		defer cancel()
		return reps[i].hangup(ctx)
	}); len(errs) > 0 {
		rc.Progress("gateway: %d hang-ups failed, first: %v", len(errs), errs[0])
	}
	return nil
}

// measureMedia runs the media window over calls and fills res.
func measureMedia(rc RunConfig, res *Result, u *uas, win func() *window, calls []*call, pid int, goroutines func() (int, error)) error {
	rc.Progress("%s: %d calls: media for %v + %v", rc.Mode, len(calls), rc.Warmup, rc.Hold)
	p := startPacer(calls, u, win, rc.Shards)
	time.Sleep(rc.Warmup)
	w := win()
	g0, _ := SampleProc(os.Getpid())
	busy0 := machineBusy()
	m0, err := SampleProc(pid)
	if err != nil {
		p.halt()
		return err
	}
	w.from.Store(now())
	time.Sleep(rc.Hold)
	w.to.Store(now())
	m1, err := SampleProc(pid)
	g1, _ := SampleProc(os.Getpid())
	busy1 := machineBusy()
	busyG, gerr := goroutines()
	p.halt()
	if err != nil {
		return err
	}
	if gerr != nil {
		return gerr
	}
	time.Sleep(time.Second) // what is in flight arrives

	d := Delta(m0, m1)
	n := float64(len(calls))
	res.Calls = len(calls)
	res.Window = d.Wall
	res.Cores = d.Cores()
	res.StatCores = float64(d.StatCPU) / float64(d.Wall)
	res.CPUPerCallSecond = time.Duration(res.Cores / n * float64(time.Second))
	res.GeneratorCores = Delta(g0, g1).Cores()
	res.OtherCores = max(0, float64(busy1-busy0)/float64(d.Wall)-res.Cores-res.GeneratorCores)
	var recv int64
	for dir := range numDirections {
		res.Sent[dir] = w.sent[dir].Load()
		r := w.recv[dir].Load()
		recv += r
		res.Lost[dir] = res.Sent[dir] - r
		h := &w.delay[dir]
		res.DelayP50[dir] = h.quantile(0.50)
		res.DelayP99[dir] = h.quantile(0.99)
		res.DelayP999[dir] = h.quantile(0.999)
		res.DelayMax[dir] = time.Duration(h.max.Load())
	}
	res.Bad = w.bad.Load()
	res.SendErrors = p.errs.Load()
	res.Skipped = p.skip.Load()
	res.PacketsPerSec = float64(recv) / d.Wall.Seconds()
	if recv > 0 {
		res.CPUPerPacket = d.CPU / time.Duration(recv)
	}
	res.RSSBusy = m1.RSS
	res.RSSPerCall = float64(m1.RSS-res.RSSBase) / n
	res.GoroutinesBusy = busyG
	if busyG > 0 {
		res.GoroutinesPerCall = float64(busyG-res.GoroutinesBase) / n
	}
	rc.Progress("%s: %d calls: %.3f cores (%v per call-second), %.0f pkt/s, lost %v of %v, delay p50 %v p99 %v p99.9 %v (→trunk) / p50 %v p99 %v p99.9 %v (→browser), RSS +%.0f KB/call, generator %.2f cores",
		rc.Mode, len(calls), res.Cores, res.CPUPerCallSecond, res.PacketsPerSec, res.Lost, res.Sent,
		res.DelayP50[0], res.DelayP99[0], res.DelayP999[0], res.DelayP50[1], res.DelayP99[1], res.DelayP999[1],
		res.RSSPerCall/1024, res.GeneratorCores)
	return nil
}
