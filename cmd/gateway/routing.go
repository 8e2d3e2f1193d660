package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	_ "time/tzdata" // schedules name IANA zones; containers often lack zoneinfo

	"go.uber.org/zap"

	"github.com/hubline/hubline/cti"
	"github.com/hubline/hubline/internal/audio"
	"github.com/hubline/hubline/sip"
)

// Inbound routing (routing:) and HubSpot API access (hubspot:), mapped into
// cti.Route values. configs/example.yaml documents every field.

// RoutingConfig routes inbound calls by DID.
type RoutingConfig struct {
	// RingTimeout is a step's ring time when it sets none. Default: 20s.
	RingTimeout time.Duration `yaml:"ringTimeout"`
	// VoicemailDir is where voicemail messages are written (WAV, 8 kHz).
	// Required when a mailbox is used.
	VoicemailDir string                   `yaml:"voicemailDir"`
	Groups       map[string]GroupConfig   `yaml:"groups"`
	Mailboxes    map[string]MailboxConfig `yaml:"mailboxes"`
	// DIDs maps E.164 numbers to their routes.
	DIDs map[string]DIDConfig `yaml:"dids"`
}

// GroupConfig is a ring group.
type GroupConfig struct {
	Members     []string      `yaml:"members"`
	Strategy    string        `yaml:"strategy"` // all (default): ring everyone at once | hunt: one after the other
	RingTimeout time.Duration `yaml:"ringTimeout"`
}

// MailboxConfig is a voicemail box.
type MailboxConfig struct {
	Greeting  string        `yaml:"greeting"`  // WAV file played before the beep; empty: a beep only
	MaxLength time.Duration `yaml:"maxLength"` // default 2m
}

// DIDConfig is one number's route.
type DIDConfig struct {
	Steps    []StepConfig    `yaml:"steps"`
	Schedule *ScheduleConfig `yaml:"schedule"`
	Closed   []StepConfig    `yaml:"closed"`
	Fallback *StepConfig     `yaml:"fallback"`
	// OwnerFirst: ring the HubSpot owner of the caller's record first.
	OwnerFirst       bool          `yaml:"ownerFirst"`
	OwnerRingTimeout time.Duration `yaml:"ownerRingTimeout"`
	// EarlyMedia: "" (180 Ringing), "ringback" (183 with a ringback tone) or
	// a WAV file (183 with it, looped: a greeting).
	EarlyMedia string `yaml:"earlyMedia"`
}

// StepConfig is one step: exactly one of rep, group, voicemail, reject.
type StepConfig struct {
	Rep         string        `yaml:"rep"`
	Group       string        `yaml:"group"`
	Voicemail   string        `yaml:"voicemail"`
	Reject      int           `yaml:"reject"`
	Reason      string        `yaml:"reason"`     // reject's phrase
	RetryAfter  time.Duration `yaml:"retryAfter"` // reject's Retry-After
	RingTimeout time.Duration `yaml:"ringTimeout"`
}

// ScheduleConfig is a DID's open hours.
type ScheduleConfig struct {
	Timezone string         `yaml:"timezone"` // IANA name; default UTC
	Open     []WindowConfig `yaml:"open"`
}

// WindowConfig is a weekly window: days (mon … sun) from HH:MM to HH:MM
// (to before from: over midnight).
type WindowConfig struct {
	Days []string `yaml:"days"`
	From string   `yaml:"from"`
	To   string   `yaml:"to"`
}

// HubSpotConfig is HubSpot's API, for owner-aware routing.
type HubSpotConfig struct {
	APIURL         string `yaml:"apiURL"`         // default https://api.hubapi.com
	AccessTokenEnv string `yaml:"accessTokenEnv"` // environment variable holding a private app's token
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$`)

func parseClock(s string) (time.Duration, error) {
	if !clockRE.MatchString(s) {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// validateRouting checks routing: and hubspot: without reading files.
func (c *Config) validateRouting(bad func(string, ...any)) {
	r := &c.Routing
	users := map[string]bool{}
	for _, u := range c.Auth.Users {
		users[u.Username] = true
	}
	for name, g := range r.Groups {
		if len(g.Members) == 0 {
			bad("routing.groups.%s: members is empty", name)
		}
		for _, m := range g.Members {
			if !users[m] {
				bad("routing.groups.%s: %q is not in auth.users", name, m)
			}
		}
		if g.Strategy != "" && g.Strategy != "all" && g.Strategy != "hunt" {
			bad("routing.groups.%s.strategy %q: want all or hunt", name, g.Strategy)
		}
	}
	for name, mb := range r.Mailboxes {
		if r.VoicemailDir == "" {
			bad("routing.mailboxes.%s: routing.voicemailDir is required to keep messages", name)
		}
		if mb.MaxLength < 0 {
			bad("routing.mailboxes.%s.maxLength is negative", name)
		}
	}
	for _, did := range sortedKeys(r.DIDs) {
		d := r.DIDs[did]
		where := "routing.dids[" + did + "]"
		if n, err := sip.NormalizeNumber(did, ""); err != nil || n != did {
			bad("%s: not an E.164 number (+ and digits)", where)
		}
		if d.Schedule != nil {
			if _, err := scheduleOf(d.Schedule); err != nil {
				bad("%s.schedule: %v", where, err)
			}
		}
		steps := func(name string, list []StepConfig) {
			for i, s := range list {
				c.checkStep(fmt.Sprintf("%s.%s[%d]", where, name, i), s, users, bad)
			}
		}
		steps("steps", d.Steps)
		steps("closed", d.Closed)
		if d.Fallback != nil {
			c.checkStep(where+".fallback", *d.Fallback, users, bad)
		}
		if d.Schedule == nil && len(d.Closed) > 0 {
			bad("%s.closed: only with a schedule", where)
		}
		if d.EarlyMedia != "" && d.EarlyMedia != "ringback" && !strings.HasSuffix(strings.ToLower(d.EarlyMedia), ".wav") {
			bad("%s.earlyMedia %q: want ringback or a .wav file", where, d.EarlyMedia)
		}
	}
	if h := c.HubSpot.APIURL; h != "" && !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, "http://") {
		bad("hubspot.apiURL %q: want an http(s) URL", h)
	}
}

func (c *Config) checkStep(where string, s StepConfig, users map[string]bool, bad func(string, ...any)) {
	n := 0
	for _, set := range []bool{s.Rep != "", s.Group != "", s.Voicemail != "", s.Reject != 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		bad("%s: give exactly one of rep, group, voicemail, reject", where)
		return
	}
	switch {
	case s.Rep != "" && !users[s.Rep]:
		bad("%s.rep %q is not in auth.users", where, s.Rep)
	case s.Group != "":
		if _, ok := c.Routing.Groups[s.Group]; !ok {
			bad("%s.group %q is not in routing.groups", where, s.Group)
		}
	case s.Voicemail != "":
		if _, ok := c.Routing.Mailboxes[s.Voicemail]; !ok {
			bad("%s.voicemail %q is not in routing.mailboxes", where, s.Voicemail)
		}
	case s.Reject != 0 && (s.Reject < 400 || s.Reject > 699):
		bad("%s.reject %d: want a 4xx, 5xx or 6xx code", where, s.Reject)
	}
	if (s.Reason != "" || s.RetryAfter != 0) && s.Reject == 0 {
		bad("%s: reason and retryAfter go with reject", where)
	}
}

func scheduleOf(sc *ScheduleConfig) (*cti.Schedule, error) {
	loc := time.UTC
	if sc.Timezone != "" {
		l, err := time.LoadLocation(sc.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %v", sc.Timezone, err)
		}
		loc = l
	}
	s := &cti.Schedule{Location: loc}
	if len(sc.Open) == 0 {
		return nil, errors.New("open: at least one window")
	}
	for i, w := range sc.Open {
		var win cti.Window
		for _, d := range w.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				return nil, fmt.Errorf("open[%d].days: %q is not one of sun mon tue wed thu fri sat", i, d)
			}
			win.Days = append(win.Days, wd)
		}
		if len(win.Days) == 0 {
			return nil, fmt.Errorf("open[%d].days is empty", i)
		}
		var err error
		if win.From, err = parseClock(w.From); err != nil {
			return nil, fmt.Errorf("open[%d].from %v", i, err)
		}
		if win.To, err = parseClock(w.To); err != nil {
			return nil, fmt.Errorf("open[%d].to %v", i, err)
		}
		if win.From == win.To {
			return nil, fmt.Errorf("open[%d]: from and to are the same", i)
		}
		s.Open = append(s.Open, win)
	}
	return s, nil
}

// buildRoutes maps routing: into cti.Routes, reading the WAV files with
// readFile.
func buildRoutes(c *Config, readFile func(string) ([]byte, error)) ([]cti.Route, error) {
	r := &c.Routing
	wavs := map[string][]byte{}
	wav := func(path string) ([]byte, error) {
		if pcm, ok := wavs[path]; ok {
			return pcm, nil
		}
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		pcm, err := audio.ReadWAV(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ulaw := audio.PCMU.Encode(nil, pcm)
		wavs[path] = ulaw
		return ulaw, nil
	}
	mailboxes := map[string]*cti.Voicemail{}
	for name, mb := range r.Mailboxes {
		vm := &cti.Voicemail{Name: name, MaxLength: mb.MaxLength}
		if mb.Greeting != "" {
			pcm, err := wav(mb.Greeting)
			if err != nil {
				return nil, fmt.Errorf("routing.mailboxes.%s.greeting: %w", name, err)
			}
			vm.Greeting = slices.Clone(pcm)
		}
		vm.Greeting = audio.PCMU.Encode(vm.Greeting, beep())
		mailboxes[name] = vm
	}
	step := func(s StepConfig) cti.Step {
		switch {
		case s.Rep != "":
			return cti.Step{Name: "rep " + s.Rep, Reps: []string{s.Rep}, RingTimeout: s.RingTimeout}
		case s.Group != "":
			g := r.Groups[s.Group]
			rt := s.RingTimeout
			if rt == 0 {
				rt = g.RingTimeout
			}
			return cti.Step{Name: "group " + s.Group, Reps: g.Members, Hunt: g.Strategy == "hunt", RingTimeout: rt}
		case s.Voicemail != "":
			return cti.Step{Name: "voicemail " + s.Voicemail, Voicemail: mailboxes[s.Voicemail]}
		}
		return cti.Step{Reject: s.Reject, RejectReason: s.Reason, RetryAfter: s.RetryAfter}
	}
	var out []cti.Route
	for _, did := range sortedKeys(r.DIDs) {
		d := r.DIDs[did]
		rt := cti.Route{DID: did, OwnerFirst: d.OwnerFirst, OwnerRingTimeout: d.OwnerRingTimeout}
		for _, s := range d.Steps {
			rt.Steps = append(rt.Steps, step(s))
		}
		for _, s := range d.Closed {
			rt.Closed = append(rt.Closed, step(s))
		}
		if d.Fallback != nil {
			rt.Fallback = step(*d.Fallback)
		}
		if d.Schedule != nil {
			s, err := scheduleOf(d.Schedule)
			if err != nil {
				return nil, err
			}
			rt.Schedule = s
		}
		switch d.EarlyMedia {
		case "":
		case "ringback":
			rt.EarlyMedia = audio.PCMU.Encode(nil, ringback())
		default:
			pcm, err := wav(d.EarlyMedia)
			if err != nil {
				return nil, fmt.Errorf("routing.dids[%s].earlyMedia: %w", did, err)
			}
			rt.EarlyMedia = pcm
		}
		out = append(out, rt)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ringback is one cadence of the North American ringback tone: 440 + 480 Hz
// for 2 s, then 4 s of silence (ATIS-0300011).
func ringback() []int16 {
	pcm := make([]int16, 6*audio.SampleRate)
	for i := range 2 * audio.SampleRate {
		t := float64(i) / audio.SampleRate
		pcm[i] = int16(4000 * (math.Sin(2*math.Pi*440*t) + math.Sin(2*math.Pi*480*t)))
	}
	return pcm
}

// beep is the tone after a voicemail greeting: 1 kHz for 400 ms after
// 200 ms of silence.
func beep() []int16 {
	pcm := make([]int16, audio.SampleRate*6/10)
	for i := audio.SampleRate / 5; i < len(pcm); i++ {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/audio.SampleRate))
	}
	return pcm
}

// voicemailWriter writes each message as <dir>/<time>-<mailbox>-<from>.wav.
func voicemailWriter(dir string, log *zap.Logger) func(cti.VoicemailMessage) {
	var seq atomic.Int64
	safe := regexp.MustCompile(`[^0-9A-Za-z+_-]`)
	return func(m cti.VoicemailMessage) {
		name := fmt.Sprintf("%s-%s-%s-%d.wav", m.ReceivedAt.UTC().Format("20060102T150405Z"),
			safe.ReplaceAllString(m.Mailbox, "_"), safe.ReplaceAllString(m.From, "_"), seq.Add(1))
		path := filepath.Join(dir, name)
		var b bytes.Buffer
		err := audio.WriteWAV(&b, audio.PCMU.Decode(nil, m.Audio))
		if err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o640)
		}
		if err != nil {
			log.Error("voicemail not written", zap.String("path", path), zap.Error(err))
			return
		}
		log.Info("voicemail written", zap.String("path", path), zap.String("mailbox", m.Mailbox),
			zap.String("from", m.From), zap.String("sipCallId", m.SIPCallID),
			zap.Duration("length", time.Duration(len(m.Audio))*time.Second/audio.SampleRate))
	}
}
