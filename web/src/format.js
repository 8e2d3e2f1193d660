// Small pure helpers for what the rep reads: numbers, durations, call states, end status.
import { Constants } from "@hubspot/calling-extensions-sdk";

const END = Constants.callEndStatus; // INTERNAL_* → "COMPLETED", "BUSY", …

/** formatNumber makes an E.164 number readable; anything else is returned trimmed. */
export function formatNumber(n) {
  const s = String(n || "").trim();
  let m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(s);
  if (m) return `+1 ${m[1]} ${m[2]} ${m[3]}`;
  m = /^\+44(\d{4})(\d{6})$/.exec(s);
  if (m) return `+44 ${m[1]} ${m[2]}`;
  return s;
}

/** formatDuration: 0 → "00:00", 134000 → "02:14", 3723000 → "1:02:03". */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor((ms || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const p = (x) => String(x).padStart(2, "0");
  return h ? `${h}:${p(m)}:${p(s)}` : `${p(m)}:${p(s)}`;
}

/** Status line per live call state (docs/protocol.md "Call states"). */
export const STATE_TEXT = {
  placing: "Dialling…",
  dialling: "Dialling…",
  ringing: "Ringing…",
  early_media: "Ringing…", // the carrier's ringback or announcement is playing
  answered: "Connected",
  ended: "Call ended",
  incoming: "Incoming call",
};

export const LIVE_STATES = ["dialling", "ringing", "early_media", "answered"];

function sipText(call) {
  if (!call.sipCode) return "";
  return call.sipReason ? `${call.sipCode} ${call.sipReason}` : String(call.sipCode);
}

/**
 * endSummary says how a call ended, in words: {text, tone, detail}. tone is one of
 * "ok", "warn", "bad", "muted" (for styling).
 */
export function endSummary(call) {
  const talked =
    call.answeredAt && call.endedAt ? formatDuration(call.endedAt - call.answeredAt) : "";
  const sip = sipText(call);
  switch (call.endStatus) {
    case END.INTERNAL_COMPLETED:
      return { text: talked ? `Completed · ${talked}` : "Completed", tone: "ok", detail: "" };
    case END.INTERNAL_BUSY:
      return { text: "Busy", tone: "warn", detail: sip ? `The line was busy (${sip}).` : "The line was busy." };
    case END.INTERNAL_NO_ANSWER:
      return { text: "No answer", tone: "warn", detail: sip ? `Nobody answered (${sip}).` : "Nobody answered." };
    case END.INTERNAL_CANCELED:
      return { text: "Cancelled", tone: "muted", detail: "" };
    case END.INTERNAL_FAILED:
      return {
        text: sip ? `Call failed: ${sip}` : "Call failed",
        tone: "bad",
        detail: call.message && call.message !== sip ? call.message : "",
      };
    default:
      if (call.answeredAt) return { text: `Ended · ${talked || "00:00"}`, tone: "ok", detail: sip };
      return { text: call.endStatus ? String(call.endStatus) : "Call ended", tone: "muted", detail: sip };
  }
}

const OBJECT_LABEL = {
  CONTACT: "Contact",
  COMPANY: "Company",
  DEAL: "Deal",
  TICKET: "Ticket",
  "0-1": "Contact",
  "0-2": "Company",
  "0-3": "Deal",
  "0-5": "Ticket",
};

/**
 * contextName pulls a person's or company's name out of an onDialNumber payload when
 * HubSpot (or a future SDK) includes one; the documented payload has none, so this often
 * returns "".
 */
export function contextName(ctx) {
  if (!ctx || typeof ctx !== "object") return "";
  const pick = (o) => {
    if (!o || typeof o !== "object") return "";
    for (const k of ["name", "fullName", "displayName", "contactName", "calleeName", "companyName"]) {
      if (typeof o[k] === "string" && o[k].trim()) return o[k].trim();
    }
    const full = [o.firstName, o.lastName].filter((x) => typeof x === "string" && x.trim()).join(" ");
    return full.trim();
  };
  return pick(ctx) || pick(ctx.calleeInfo) || pick(ctx.callee) || pick(ctx.contact);
}

/** contextKind is "Contact", "Company", … for the record HubSpot dialled from, or "". */
export function contextKind(ctx) {
  if (!ctx || typeof ctx !== "object") return "";
  const t =
    (ctx.calleeInfo && ctx.calleeInfo.calleeObjectTypeId) || ctx.objectType || ctx.objectTypeId || "";
  return OBJECT_LABEL[String(t).toUpperCase()] || "";
}

/** initials: "Dana Whitfield" → "DW"; "" → "". */
export function initials(name) {
  const parts = String(name || "")
    .trim()
    .split(/\s+/)
    .filter((p) => /^[\p{L}]/u.test(p));
  if (!parts.length) return "";
  const first = parts[0][0];
  const last = parts.length > 1 ? parts[parts.length - 1][0] : "";
  return (first + last).toUpperCase();
}
