// Package softphone is a headless hubline softphone: it speaks the
// softphone ↔ gateway WebSocket protocol (docs/protocol.md, version 1) and
// WebRTC audio (pion, G.711 and RFC 4733 telephone-event), playing the part
// of the browser softphone — and, with Options.SimulateHubSpot, of HubSpot
// around it.
//
// It owns the client side of the protocol and nothing of the gateway: it
// imports only internal/audio and third-party modules, never cti, sip or
// media, so it can test them from the outside. cmd/softphone (trunk smoke
// tests) and the end-to-end tests import it.
//
// A Phone is one socket. Dial connects, Login signs in, Dial or
// DialFromHubSpot places a call, WaitState follows it, Hangup and WrapUp
// end it, Close tears everything down:
//
//	p, err := softphone.Dial(ctx, softphone.Options{URL: "ws://127.0.0.1:8080/ws", Record: true})
//	...
//	defer p.Close()
//	if _, err := p.Login(ctx, "demo", "demo"); err != nil { ... }
//	id, err := p.Dial(ctx, "+14155550199")
//	call, err := p.WaitState(ctx, id, softphone.StateAnswered) // *CallEndedError if it ended first
//
// Every gateway "error" that answers a request is returned, as an *Error,
// by the method that sent the request; all gateway messages, and the
// phone's MediaEvents, are also delivered in order on Events. The methods
// of a Phone are safe for concurrent use.
package softphone
