package media

// The stream to the trunk. Three sources send the trunk audio: the
// browser's packets relayed by the loop, the RFC 4733 generator (ticks on
// the loop), and the player (music on hold, greetings, ringback: its own
// goroutine, each packet sent on the loop through exec). Each has its own
// SSRC, sequence numbers and timestamps; the trunk must hear one stream.
// Receivers that track the timestamp across an SSRC change (baresip 1.0
// "rtp timestamp wraps backwards -- discard") or keep one jitter buffer per
// call drop every packet after the switch when the new source's numbers
// are random: after a hold with music on hold the carrier heard nothing of
// the rep again (one-way audio after resume, jambonz sbc-outbound #123).
// And the generator's event packets, numbered from the browser's stream
// before the splicer, jumped by the pause when sent after a hold
// (TestSessionDTMFAfterPause). So every packet to the trunk goes through the session's one splicer, on
// the loop: one SSRC (the first source's), the sequence number going on by
// one at each switch and the timestamp by the wall-clock gap, the marker
// set on the first packet of each stretch.

// newTrunkSplicer is the splicer of a session's stream to the trunk.
func newTrunkSplicer() splicer {
	return splicer{rebaseAfter: int64(trunkRebaseAfter), pinSSRC: true}
}
