// Package cti is hubline's call control: the call state machine, the registry
// of logged-in reps and their calls, the WebSocket protocol with the softphone
// (docs/protocol.md), and the mapping from SIP dialog states to HubSpot
// Calling Extensions SDK events.
//
// Inbound calls (inbound.go) follow the route of their DID (route.go) to the
// reps who are available (presence.go): each rep rung gets an offer, the
// call as their softphone instances and HubSpot see it.
//
// Every call is owned by one goroutine fed by one event channel: SIP events,
// media events, the rep's actions and timers all arrive there, so a call's
// state is never shared. Reps (Session) own their sockets and an outbox that
// keeps SDK events while no socket is attached.
//
// Imported by cmd only. It imports sip and media, never the other way round.
package cti
