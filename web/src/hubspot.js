// The HubSpot side of the softphone: the Calling Extensions SDK handshake, HubSpot's
// events (forwarded to the gateway by main.js) and the SDK calls the gateway asks for.
//
// Outside an iframe (window.parent === window) there is no HubSpot: no SDK is created,
// calls are only recorded in `events`, and the page works as a standalone softphone.
import CallingExtensions from "@hubspot/calling-extensions-sdk";

/** HubSpot → app events the gateway accepts as `sdk.name` (docs/protocol.md). */
export const FORWARDED = [
  "onReady",
  "onDialNumber",
  "onCreateEngagementSucceeded",
  "onCreateEngagementFailed",
  "onEngagementCreated",
  "onUpdateEngagementSucceeded",
  "onUpdateEngagementFailed",
  "onEndCall",
  "onVisibilityChanged",
  "onCallerIdMatchSucceeded",
  "onCallerIdMatchFailed",
  "onNavigateToRecordFailed",
  "onInitiateCallIdSucceeded",
  "onInitiateCallIdFailed",
  "onFinalizeEngagementSucceeded",
  "onFinalizeEngagementFailed",
  "onSetWidgetUrlFailed",
  "onFailed",
];

// CallingExtensions methods that are plumbing, not app → HubSpot messages.
const NOT_CALLS = new Set(["constructor", "sendMessage", "onMessageHandler", "logDebugMessage"]);
const CALLS = new Set(
  Object.getOwnPropertyNames(CallingExtensions.prototype).filter((n) => !NOT_CALLS.has(n)),
);

const QUEUE_MAX = 100;

export class HubSpot {
  /**
   * @param {object} o
   * @param {Array<{name: string, data: any, at: number}>} o.events  log of calls made
   * @param {(name: string, data: any) => void} o.onEvent           HubSpot → app events
   */
  constructor({ events, onEvent }) {
    this.events = events;
    this.onEvent = onEvent;
    this.standalone = window.parent === window;
    this.ready = false; // SYNC handshake done (onReady seen)
    this.initialized = false; // `initialized` sent: later calls go out at once
    this.queue = [];
    this.cti = null;
    if (this.standalone) return;
    const eventHandlers = {
      // SDK events hubline does not forward (onSetCallState, onPublishToChannel…).
      defaultEventHandler: (data, raw) => console.debug("hubline: HubSpot event not forwarded", raw),
    };
    for (const name of FORWARDED) {
      eventHandlers[name] = (data) => {
        if (name === "onReady") this.ready = true;
        this.onEvent(name, data);
      };
    }
    this.cti = new CallingExtensions({ debugMode: false, eventHandlers });
  }

  /**
   * call makes an SDK call towards HubSpot: cti[name](data). Until `initialized` has gone
   * out, other calls wait (the SDK would drop them before the handshake, and HubSpot
   * expects INITIALIZED first); `initialized` itself flushes the queue.
   */
  call(name, data) {
    if (!CALLS.has(name)) {
      console.warn(`hubline: no CallingExtensions method "${name}"; not sent to HubSpot`);
      return;
    }
    if (this.standalone || name === "initialized" || this.initialized) {
      this.dispatch(name, data);
      if (name === "initialized" && !this.initialized) {
        this.initialized = true;
        for (const [n, d] of this.queue.splice(0)) this.dispatch(n, d);
      }
      return;
    }
    if (this.queue.length >= QUEUE_MAX) this.queue.shift();
    this.queue.push([name, data]);
  }

  dispatch(name, data) {
    this.events.push({ name, data, at: Date.now() });
    if (!this.cti) return;
    try {
      if (data === undefined) this.cti[name]();
      else this.cti[name](data);
    } catch (e) {
      console.error(`hubline: CallingExtensions.${name} failed`, e);
    }
  }
}
