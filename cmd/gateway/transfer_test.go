package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/sipptest"
	"github.com/hubline/hubline/internal/softphone"
)

// Blind transfer from the softphone, end to end: the real gateway binary,
// the headless softphone, SIPp as the trunk (the transferee). The
// scenarios check the REFER (Refer-To on the trunk's host, Referred-By the
// rep's caller ID); the tests check what the rep and HubSpot see.

// transferTarget is what the rep types; the gateway sends +15550100123.
const transferTarget = "(555) 010-0123"

// answeredToneCall dials through a SIPp trunk playing scen (which streams
// the 440 Hz tone) and waits until the rep hears it.
func answeredToneCall(t *testing.T, scen string) (*sipptest.Peer, *gateway, *softphone.Phone, string) {
	t.Helper()
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	trunk := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario(scen)), Dir: dir})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, trunkTone, "the trunk's tone before the transfer")
	return trunk, g, p, id
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func transferStates(p *softphone.Phone, id string) string {
	var s []string
	for _, x := range p.Transfers(id) {
		s = append(s, x.State)
	}
	return strings.Join(s, ",")
}

// TestTransferSucceeds: REFER, 202, NOTIFY 100 then 200, the trunk's BYE.
// The rep sees requested → accepted → trying → succeeded and the call
// ends; HubSpot sees callEnded COMPLETED and the transfer in hs_call_body
// (no callTransferred: the SDK keeps it for unanswered inbound calls).
func TestTransferSucceeds(t *testing.T) {
	trunk, _, p, id := answeredToneCall(t, "transfer_ok.xml")
	st, err := p.Transfer(ctxFor(t, 10*time.Second), id, transferTarget)
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if st.State != "requested" || st.To != "+15550100123" {
		t.Errorf("transfer reply %+v, want requested to +15550100123", st)
	}
	if _, err := p.WaitTransfer(ctxFor(t, 10*time.Second), id, "succeeded"); err != nil {
		t.Fatal(err)
	}
	if got := transferStates(p, id); got != "requested,accepted,trying,succeeded" {
		t.Errorf("transfer steps %s, want requested,accepted,trying,succeeded", got)
	}
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "COMPLETED" || !strings.Contains(c.Message, "+15550100123") {
		t.Errorf("ended %s %q, want COMPLETED, transferred to +15550100123", c.EndStatus, c.Message)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), id, "", "Wants a demo"); err != nil {
		t.Fatal(err)
	}
	// callCompleted may still be in flight when the wrap-up returns.
	evs := callEvents(t, p)
	for deadline := time.Now().Add(5 * time.Second); len(evs) < 4 && time.Now().Before(deadline); evs = callEvents(t, p) {
		select {
		case <-p.Events():
		case <-time.After(50 * time.Millisecond):
		}
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
		if e.Name == "callCompleted" {
			props, _ := e.Data["engagementProperties"].(map[string]any)
			if body := props["hs_call_body"]; body != "Wants a demo\n\nTransferred to +15550100123." {
				t.Errorf("hs_call_body %q, want the rep's notes and the transfer", body)
			}
		}
		if e.Name == "callEnded" && e.Data["callEndStatus"] != "COMPLETED" {
			t.Errorf("callEnded.callEndStatus = %v, want COMPLETED", e.Data["callEndStatus"])
		}
	}
	if got, want := strings.Join(names, ","), "outgoingCall,callAnswered,callEnded,callCompleted"; got != want {
		t.Errorf("HubSpot saw %s, want %s", got, want)
	}
}

// TestTransferSucceedsGatewayHangsUp: the trunk reports success but does
// not hang up: the gateway sends BYE on the old dialog (SIPp waits for it).
func TestTransferSucceedsGatewayHangsUp(t *testing.T) {
	trunk, _, p, id := answeredToneCall(t, "transfer_ok_nobye.xml")
	if _, err := p.Transfer(ctxFor(t, 10*time.Second), id, transferTarget); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if _, err := p.WaitTransfer(ctxFor(t, 10*time.Second), id, "succeeded"); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, id, softphone.StateEnded)
	if err := trunk.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// transferFailsCallContinues: the transfer fails with code; the rep is
// told, the call stays answered and the trunk's audio still arrives.
func transferFailsCallContinues(t *testing.T, scen string, code int, steps string) {
	trunk, _, p, id := answeredToneCall(t, scen)
	if _, err := p.Transfer(ctxFor(t, 10*time.Second), id, transferTarget); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	st, err := p.WaitTransfer(ctxFor(t, 10*time.Second), id, "failed")
	if err != nil {
		t.Fatal(err)
	}
	if st.SIPCode != code || !strings.HasPrefix(st.Message, "Transfer failed: ") {
		t.Errorf("failed step %+v, want code %d and \"Transfer failed: …\"", st, code)
	}
	if got := transferStates(p, id); got != steps {
		t.Errorf("transfer steps %s, want %s", got, steps)
	}
	if c, _ := p.Call(id); c.State != softphone.StateAnswered {
		t.Fatalf("call %s after the failed transfer, want still answered", c.State)
	}
	expectTone(t, p, trunkTone, "the trunk's tone after the failed transfer")
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, e := range callEvents(t, p) {
		if e.Name == "callTransferred" {
			t.Errorf("HubSpot was told callTransferred for a failed transfer")
		}
	}
}

// TestTransferRefused603KeepsCall: livekit/sip #234, REFER answered 603.
func TestTransferRefused603KeepsCall(t *testing.T) {
	transferFailsCallContinues(t, "transfer_refused.xml", 603, "requested,failed")
}

// TestTransferTargetBusyKeepsCall: 202, then NOTIFY 486.
func TestTransferTargetBusyKeepsCall(t *testing.T) {
	transferFailsCallContinues(t, "transfer_busy.xml", 486, "requested,accepted,trying,failed")
}

// TestTransferInvalidNumber: nothing is sent to the trunk (SIPp would fail
// on an unexpected REFER: its scenario expects our BYE next).
func TestTransferInvalidNumber(t *testing.T) {
	trunk, _, p, id := answeredToneCall(t, "answer_tone.xml")
	_, err := p.Transfer(ctxFor(t, 10*time.Second), id, "call me maybe")
	if !softphone.IsCode(err, "invalid_number") {
		t.Fatalf("transfer to garbage: %v, want invalid_number", err)
	}
	if _, err := p.Transfer(ctxFor(t, 10*time.Second), "no-such-call", transferTarget); !softphone.IsCode(err, "no_such_call") {
		t.Errorf("transfer of an unknown call: %v, want no_such_call", err)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTrunkReferAccepted: a trunk with acceptRefer transfers the rep's
// call. The trunk (SIPp A, trunk "test", maxCalls 1) sends REFER; the
// gateway answers 202 and NOTIFY 100, places the new INVITE with
// Referred-By (the configured trunks in order: "test" is full, so it goes
// to trunk "target", SIPp B), NOTIFYs 200 once B answers and ends the old
// dialog with BYE. The rep hears B's tone instead of A's and the widget
// shows the new number.
func TestTrunkReferAccepted(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	writeUlawWAV(t, filepath.Join(dirA, "tone.wav"), trunkTone, 3*time.Second)
	const targetTone = 600.0
	writeUlawWAV(t, filepath.Join(dirB, "tone.wav"), targetTone, 3*time.Second)
	a := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("refer_in_accept.xml")), Dir: dirA})
	b := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("transfer_target.xml")), Dir: dirB})
	g := startGateway(t, gwConfig{trunk: a.Addr,
		extra: "    maxCalls: 1\n    acceptRefer: true\n  - name: target\n    address: " + b.Addr + "\n"})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, trunkTone, "the first party's tone")
	st, err := p.WaitTransfer(ctxFor(t, 15*time.Second), id, "succeeded")
	if err != nil {
		t.Fatal(err)
	}
	if st.To != "+15550100123" {
		t.Errorf("transferred to %s, want +15550100123", st.To)
	}
	if got := transferStates(p, id); got != "requested,ringing,succeeded" {
		t.Errorf("transfer steps %s, want requested,ringing,succeeded", got)
	}
	if err := a.Wait(10 * time.Second); err != nil {
		t.Fatalf("referrer: %v", err)
	}
	c, _ := p.Call(id)
	if c.State != softphone.StateAnswered || c.ToNumber != "+15550100123" {
		t.Errorf("call %s to %s after the transfer, want answered to +15550100123", c.State, c.ToNumber)
	}
	// A's stream may linger in the jitter buffer for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, level := heardTone(t, p, time.Second)
		if f == targetTone && level > 0.5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the transfer the rep hears %.0f Hz (%.2f), want the new party's %.0f Hz", f, level, targetTone)
		}
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(10 * time.Second); err != nil {
		t.Fatalf("target: %v", err)
	}
}

// TestTrunkReferForbiddenByDefault: without acceptRefer the trunk's REFER
// gets 403 (SIPp checks it) and the call goes on.
func TestTrunkReferForbiddenByDefault(t *testing.T) {
	trunk := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("refer_forbidden.xml")), RTPEcho: true})
	g := startGateway(t, gwConfig{trunk: trunk.Addr})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "COMPLETED" {
		t.Errorf("endStatus %s, want COMPLETED", c.EndStatus)
	}
	if n := len(p.Transfers(id)); n != 0 {
		t.Errorf("the rep was told of %d transfer steps for a refused REFER", n)
	}
}

// TestInboundTransferSucceeds: the rep answers an inbound call and
// transfers it; SIPp (the calling trunk) checks the REFER in its dialog,
// accepts it, NOTIFYs 100 and 200 and hangs up. The rep's call ends
// COMPLETED, HubSpot gets no callTransferred (the call was answered).
func TestInboundTransferSucceeds(t *testing.T) {
	g := inboundGateway(t)
	p := availableRep(t, g, testUser)
	trunk := callGateway(t, g, "inbound_transfer.xml", map[string]string{"did": repDID}, sipptest.Options{RTPEcho: true})
	c := waitIncoming(t, p)
	c, err := p.Accept(ctxFor(t, 10*time.Second), c.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMedia(ctxFor(t, 10*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectTone(t, p, repTone, "the rep's tone echoed by the caller's side")
	if _, err := p.Transfer(ctxFor(t, 10*time.Second), c.CallID, transferTarget); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if _, err := p.WaitTransfer(ctxFor(t, 10*time.Second), c.CallID, "succeeded"); err != nil {
		t.Fatal(err)
	}
	if got := transferStates(p, c.CallID); got != "requested,accepted,trying,succeeded" {
		t.Errorf("transfer steps %s, want requested,accepted,trying,succeeded", got)
	}
	ended := waitState(t, p, c.CallID, softphone.StateEnded)
	if ended.EndStatus != "COMPLETED" || !strings.Contains(ended.Message, "+15550100123") {
		t.Errorf("ended %s %q, want COMPLETED, transferred", ended.EndStatus, ended.Message)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WrapUp(ctxFor(t, 10*time.Second), c.CallID, "", ""); err != nil {
		t.Fatal(err)
	}
	evs := inboundEvents(t, p, c.CallID, []string{"incomingCall", "callAnswered", "callEnded", "callCompleted"}, "COMPLETED")
	props, _ := evs[3].Data["engagementProperties"].(map[string]any)
	if props["hs_call_body"] != "Transferred to +15550100123." {
		t.Errorf("hs_call_body %q, want the transfer", props["hs_call_body"])
	}
}

// TestTransferByeWithoutNotify: the trunk answers 202 and hangs up without
// any NOTIFY: the transfer went through (COMPLETED, the rep is told).
func TestTransferByeWithoutNotify(t *testing.T) {
	trunk, _, p, id := answeredToneCall(t, "transfer_bye_no_notify.xml")
	if _, err := p.Transfer(ctxFor(t, 10*time.Second), id, transferTarget); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if _, err := p.WaitTransfer(ctxFor(t, 10*time.Second), id, "succeeded"); err != nil {
		t.Fatal(err)
	}
	c := waitState(t, p, id, softphone.StateEnded)
	if c.EndStatus != "COMPLETED" || !strings.Contains(c.Message, "transferred") {
		t.Errorf("ended %s %q, want COMPLETED, transferred", c.EndStatus, c.Message)
	}
	if err := trunk.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTrunkReferRepHangsUpWhileTargetRings: the rep hangs up while the new
// call of a carrier's transfer rings: the old dialog gets BYE and the new
// call CANCEL (SIPp B checks it), so nothing stays up on the trunk.
func TestTrunkReferRepHangsUpWhileTargetRings(t *testing.T) {
	dir := t.TempDir()
	writeUlawWAV(t, filepath.Join(dir, "tone.wav"), trunkTone, 3*time.Second)
	a := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("refer_in_rep_hangs_up.xml")), Dir: dir})
	b := sipptest.Start(t, sipptest.Options{Scenario: mustAbs(t, scenario("transfer_target_rings.xml"))})
	g := startGateway(t, gwConfig{trunk: a.Addr,
		extra: "    maxCalls: 1\n    acceptRefer: true\n  - name: target\n    address: " + b.Addr + "\n"})
	p := newPhone(t, g, nil)
	id := dialContact(t, p, callee)
	waitState(t, p, id, softphone.StateAnswered)
	if _, err := p.WaitTransfer(ctxFor(t, 15*time.Second), id, "ringing"); err != nil {
		t.Fatal(err)
	}
	if err := p.Hangup(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(10 * time.Second); err != nil {
		t.Fatalf("target: %v", err)
	}
	if err := a.Wait(10 * time.Second); err != nil {
		t.Fatalf("referrer: %v", err)
	}
}
