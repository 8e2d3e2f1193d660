package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
)

// TestBrowserInboundRemoteAndWindow: in Chromium, HubSpot's calling remote
// and calling window run the softphone for one rep (usesCallingWindow). The
// rep signs in once and sets availability in the remote; SIPp calls; both
// ring, only the window talks to HubSpot; the remote opens the caller's
// record; answering in the window brings the audio there (SIPp echoes the
// browser's tone); the remote mirrors the call to its end.
func TestBrowserInboundRemoteAndWindow(t *testing.T) {
	requireBrowser(t)
	g := startGateway(t, gwConfig{trunk: "127.0.0.1:5999", users: 2, dids: []string{repDID}, extra: inboundRouting})
	var trunk *sipptest.Peer
	var rang time.Time
	r := runBrowser(t, browserRun{scenario: "inbound", g: g, needs: map[string]func(){
		"ring": func() {
			rang = time.Now()
			trunk = callGateway(t, g, "inbound_echo.xml", map[string]string{"did": repDID, "talk": "8000"},
				sipptest.Options{RTPEcho: true, Timeout: 60 * time.Second})
		},
	}})
	for _, p := range r.Problems {
		t.Errorf("host simulator flagged: %s (%s)", p.Text, p.Type)
	}
	if trunk == nil {
		t.Fatal("the scenario never asked for the call")
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := okToInvite(trunk.Messages()); n != 1 {
		t.Errorf("SIPp got %d answers, want 1", n)
	}

	// Each instance ran its own handshake, saying where it runs.
	var syncs []struct {
		Instance, IframeLocation string
		UsesCallingWindow        bool
	}
	r.extra(t, "syncs", &syncs)
	seen := map[string]bool{}
	for _, s := range syncs {
		if s.Instance != s.IframeLocation || !s.UsesCallingWindow {
			t.Errorf("SYNC %+v", s)
		}
		seen[s.Instance] = true
	}
	if !seen["remote"] || !seen["window"] || seen["widget"] {
		t.Errorf("instances that synced: %v", seen)
	}

	// Only the window talks to HubSpot about calls and presence.
	var window, remote []string
	for _, m := range r.msgs("in", "") {
		if m.Type == "SYNC_ACK" {
			continue
		}
		switch m.Instance {
		case "window":
			window = append(window, m.Type)
		case "remote":
			remote = append(remote, m.Type)
		}
	}
	if got, want := strings.Join(window, ","), "INITIALIZED,LOGGED_IN,USER_AVAILABLE,INCOMING_CALL,NAVIGATE_TO_RECORD,CALL_ANSWERED,CALL_ENDED,CALL_COMPLETED"; got != want {
		t.Errorf("window → HubSpot: %s\nwant %s", got, want)
	}
	// The remote says it is ready and, once it joined the session, logged
	// in; nothing about calls or presence (it mirrors the window).
	if got := strings.Join(remote, ","); got != "INITIALIZED,LOGGED_IN" {
		t.Errorf("remote → HubSpot: %s, want INITIALIZED,LOGGED_IN", got)
	}
	in := r.first(t, "in", "INCOMING_CALL")
	id, _ := in.Data["externalCallId"].(string)
	if !uuidRE.MatchString(id) || in.Data["fromNumber"] != callerNum || in.Data["toNumber"] != repDID || in.Data["createEngagement"] != true ||
		num(in.Data["callStartTime"]) == 0 {
		t.Errorf("INCOMING_CALL = %v", in.Data)
	}
	nav := r.first(t, "in", "NAVIGATE_TO_RECORD").Data
	if oc, _ := nav["objectCoordinates"].(map[string]any); num(oc["objectId"]) != 1051 || oc["objectTypeId"] != "0-1" {
		t.Errorf("NAVIGATE_TO_RECORD = %v", nav)
	}
	engagement := num(r.first(t, "out", "CREATE_ENGAGEMENT_SUCCEEDED").Data["engagementId"])
	ended := r.first(t, "in", "CALL_ENDED").Data
	if ended["externalCallId"] != id || ended["callEndStatus"] != "COMPLETED" || num(ended["engagementId"]) != engagement {
		t.Errorf("CALL_ENDED = %v", ended)
	}
	done := r.first(t, "in", "CALL_COMPLETED").Data
	props, _ := done["engagementProperties"].(map[string]any)
	if props["hs_call_direction"] != "INBOUND" || props["hs_call_status"] != "COMPLETED" ||
		!strings.HasPrefix(props["hs_call_body"].(string), "Inbound from Maria") {
		t.Errorf("CALL_COMPLETED = %v", done)
	}

	// The calling window holds the media; the remote mirrors the call.
	type facts struct {
		State, Instance, Where, Name string
		RemoteAudio                  bool
		Call                         struct{ Owner, CallID, State string }
	}
	var ringing, answered struct{ Window, Remote facts }
	r.extra(t, "ringing", &ringing)
	r.extra(t, "answered", &answered)
	if ringing.Window.Name != "Maria Gonzalez" || ringing.Remote.Name != "Maria Gonzalez" || ringing.Remote.Call.CallID != id {
		t.Errorf("ringing: %+v", ringing)
	}
	w, rm := answered.Window, answered.Remote
	if w.Call.Owner != w.Instance || rm.Call.Owner != w.Instance || rm.Instance == w.Instance {
		t.Errorf("answered: window %+v, remote %+v: want the window to own the call", w, rm)
	}
	if !w.RemoteAudio || rm.RemoteAudio || !strings.Contains(rm.Where, "calling window") || rm.State != "answered" {
		t.Errorf("answered: window %+v, remote %+v: want the audio in the window only", w, rm)
	}
	if a := r.Audio["echo"]; a.Hits < a.Need {
		t.Errorf("echo in the window: %d of %d samples above %.1f (max %.2f): %v", a.Hits, a.Need, a.Min, a.Max, a.Samples)
	}

	// INVITE → INCOMING_CALL in Chromium, on one clock: the gateway's log
	// (ms) and the host simulator's (Date.now()).
	for _, m := range g.logsWith("inbound INVITE") {
		ts, _ := m["ts"].(string)
		if inv, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err == nil {
			t.Logf("INVITE received → INCOMING_CALL posted by the calling window: %v (SIPp started %v before the INVITE)",
				time.UnixMilli(in.At).Sub(inv), inv.Sub(rang).Round(time.Millisecond))
		}
	}
}
