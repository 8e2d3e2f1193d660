// The WebRTC leg of one call, browser side: microphone → RTCPeerConnection → gateway, and
// the gateway's audio → <audio>. One CallMedia per callId; close() when the call ends.
//
// Negotiation (docs/protocol.md): the browser offers, trickles candidates with `candidate`
// (an empty candidate string marks the end), the gateway answers with all of its
// candidates in the SDP.

/** MicError is a getUserMedia failure in words a rep can act on. */
export class MicError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** getMic asks for the microphone and maps failures to MicError. */
export async function getMic() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new MicError(
      "mic_unavailable",
      "This page can't use the microphone: it must be opened over https.",
    );
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    const name = e && e.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      throw new MicError(
        "mic_denied",
        "Microphone access is blocked. Allow the microphone for this site to make calls.",
      );
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
      throw new MicError("mic_missing", "No microphone found. Connect a microphone to make calls.");
    }
    if (name === "NotReadableError" || name === "TrackStartError") {
      throw new MicError(
        "mic_busy",
        "The microphone is in use by another application. Close it and try again.",
      );
    }
    throw new MicError("mic_failed", `The microphone could not be started (${name || e}).`);
  }
}

export class CallMedia {
  /**
   * @param {object} o
   * @param {string} o.callId
   * @param {RTCIceServer[]} o.iceServers
   * @param {(type: string, fields: object) => void} o.send   to the gateway
   * @param {(stream: MediaStream) => void} o.onRemoteStream
   * @param {(message: string) => void} o.onFailed           ICE/DTLS failure
   */
  constructor({ callId, iceServers, send, onRemoteStream, onFailed }) {
    this.callId = callId;
    this.iceServers = Array.isArray(iceServers) ? iceServers : [];
    this.send = send;
    this.onRemoteStream = onRemoteStream;
    this.onFailed = onFailed;
    this.pc = null;
    this.mic = null;
    this.sender = null;
    this.offered = false;
    this.pending = []; // candidates gathered before the offer went out
    this.muted = false;
    this.closed = false;
  }

  /** start gets the microphone, makes the offer and sends it; throws MicError. */
  async start() {
    const mic = await getMic();
    if (this.closed) {
      mic.getTracks().forEach((t) => t.stop());
      return;
    }
    this.mic = mic;
    const track = mic.getAudioTracks()[0];
    track.enabled = !this.muted;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.sender = pc.addTrack(track, mic);
    pc.onicecandidate = (ev) => this.candidate(ev.candidate);
    pc.ontrack = (ev) => {
      const stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      this.onRemoteStream(stream);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && !this.closed) {
        this.onFailed("The audio connection to the gateway failed.");
      }
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (this.closed) return;
    this.send("offer", { callId: this.callId, sdp: pc.localDescription.sdp });
    this.offered = true;
    for (const c of this.pending.splice(0)) this.send("candidate", c);
  }

  candidate(c) {
    if (this.closed) return;
    const mid = this.sender && this.pc ? this.midOfSender() : "0";
    // Only the three fields the protocol names: unknown fields are rejected.
    const fields = {
      callId: this.callId,
      candidate: c
        ? { candidate: c.candidate, sdpMid: c.sdpMid ?? mid, sdpMLineIndex: c.sdpMLineIndex ?? 0 }
        : { candidate: "", sdpMid: mid, sdpMLineIndex: 0 },
    };
    if (this.offered) this.send("candidate", fields);
    else this.pending.push(fields);
  }

  midOfSender() {
    const t = this.pc.getTransceivers().find((x) => x.sender === this.sender);
    return (t && t.mid) || "0";
  }

  async applyAnswer(sdp) {
    if (!this.pc || this.closed) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.mic) this.mic.getAudioTracks().forEach((t) => (t.enabled = !muted));
  }

  /** dtmf sends RFC 4733 events on the WebRTC leg; nothing is played locally. */
  dtmf(tones) {
    const d = this.sender && this.sender.dtmf;
    if (!d || (d.canInsertDTMF === false)) return false;
    d.insertDTMF(d.toneBuffer + tones, 100, 70);
    return true;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.pc) {
      this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
    this.pc = null;
    this.mic = null;
    this.sender = null;
  }
}
