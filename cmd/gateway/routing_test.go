package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/audio"
)

const routingYAML = `
mode: development
demoTrunk: {enabled: true}
auth:
  users:
    - {username: ana, passwordHash: h, fromNumber: "+14155550100", hubspotOwnerId: "71560293"}
    - {username: ben, passwordHash: h, fromNumber: "+14155550101"}
hubspot: {accessTokenEnv: HUBSPOT_TOKEN}
routing:
  ringTimeout: 15s
  voicemailDir: /tmp/vm
  groups:
    sales: {members: [ana, ben], strategy: hunt, ringTimeout: 10s}
  mailboxes:
    sales: {greeting: greeting.wav, maxLength: 1m}
  dids:
    "+14155550100":
      ownerFirst: true
      ownerRingTimeout: 12s
      earlyMedia: ringback
      schedule:
        timezone: America/New_York
        open: [{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:30"}]
      steps: [{rep: ana, ringTimeout: 8s}, {group: sales}]
      closed: [{voicemail: sales}]
      fallback: {reject: 480, retryAfter: 5m}
`

func TestRoutingConfig(t *testing.T) {
	cfg, err := parseConfig([]byte(routingYAML))
	if err != nil {
		t.Fatal(err)
	}
	var wav bytes.Buffer
	if err := audio.WriteWAV(&wav, make([]int16, 800)); err != nil {
		t.Fatal(err)
	}
	routes, err := buildRoutes(cfg, func(p string) ([]byte, error) {
		if p != "greeting.wav" {
			return nil, errors.New("no such file")
		}
		return wav.Bytes(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 {
		t.Fatalf("routes %+v", routes)
	}
	r := routes[0]
	if r.DID != "+14155550100" || !r.OwnerFirst || r.OwnerRingTimeout != 12*time.Second || len(r.EarlyMedia) != 6*8000 ||
		len(r.Steps) != 2 || r.Steps[0].Reps[0] != "ana" || r.Steps[0].RingTimeout != 8*time.Second ||
		!r.Steps[1].Hunt || r.Steps[1].RingTimeout != 10*time.Second || strings.Join(r.Steps[1].Reps, ",") != "ana,ben" ||
		len(r.Closed) != 1 || r.Closed[0].Voicemail == nil || r.Closed[0].Voicemail.MaxLength != time.Minute ||
		len(r.Closed[0].Voicemail.Greeting) != 800+4800 || r.Fallback.Reject != 480 || r.Fallback.RetryAfter != 5*time.Minute ||
		r.Schedule == nil || r.Schedule.Location.String() != "America/New_York" {
		t.Errorf("route %+v", r)
	}
	monday := time.Date(2026, 11, 30, 10, 0, 0, 0, r.Schedule.Location)
	if !r.Schedule.IsOpen(monday) || r.Schedule.IsOpen(monday.Add(8*time.Hour)) {
		t.Error("schedule")
	}
}

func TestRoutingConfigErrors(t *testing.T) {
	base := "mode: development\ndemoTrunk: {enabled: true}\nauth: {users: [{username: ana, passwordHash: h, fromNumber: '+14155550100'}]}\n"
	cases := map[string][]string{
		"routing: {groups: {g: {members: [zoe], strategy: random}}}":       {`routing.groups.g: "zoe" is not in auth.users`, `strategy "random"`},
		"routing: {dids: {'4155550100': {steps: [{rep: ana, group: g}]}}}": {"not an E.164 number", "exactly one of rep, group, voicemail, reject"},
		"routing: {dids: {'+14155550100': {steps: [{group: nope}, {voicemail: vm}], fallback: {reject: 200}}}}": {
			`group "nope" is not in routing.groups`, `voicemail "vm" is not in routing.mailboxes`, "reject 200"},
		"routing: {mailboxes: {vm: {}}}": {"routing.voicemailDir is required"},
		"routing: {dids: {'+14155550100': {schedule: {timezone: Mars/Base, open: []}, earlyMedia: tone.mp3}}}": {"timezone \"Mars/Base\"", "earlyMedia"},
		"routing: {dids: {'+14155550100': {schedule: {open: [{days: [funday], from: '9:00', to: '25:00'}]}}}}": {`"funday"`},
		"routing: {dids: {'+14155550100': {closed: [{rep: ana}], steps: [{rep: ana, retryAfter: 1s}]}}}":       {"closed: only with a schedule", "retryAfter go with reject"},
	}
	for y, wants := range cases {
		_, err := parseConfig([]byte(base + y + "\n"))
		if err == nil {
			t.Errorf("%s: accepted", y)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", y, err, w)
			}
		}
	}
}

// FuzzParseClock: schedules' HH:MM never give a time of day outside 0–24h.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"09:00", "24:00", "23:59", "9:00", "24:01", "", "12:60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseClock(s)
		if err == nil && (d < 0 || d > 24*time.Hour || d%time.Minute != 0) {
			t.Fatalf("parseClock(%q) = %v", s, d)
		}
	})
}
