// The fake CRM behind the host simulator: one portal, its signed-in user, owners,
// contacts and companies with phone numbers, and the onDialNumber payload HubSpot
// builds when the user clicks Call on one of them.
//
// Numbers are fictional (NANP 555-01xx, Ofcom's 020 7946 0xxx drama range) and chosen
// for the built-in demo trunk: …0486 is busy, …0404 does not exist, anything else
// rings, answers and echoes.

/** The HubSpot account and user the simulator plays. Sent in every SYNC. */
export const PORTAL = {
  portalId: 24681357,
  userId: 5820431,
  ownerId: 71560293,
  user: "Alex Rivera",
  email: "alex.rivera@example.com",
};

export const OWNERS = {
  71560293: "Alex Rivera",
  71560311: "Priya Nair",
  71560324: "Marcus Chen",
};

/** HubSpot object type ids, as calleeInfo.calleeObjectTypeId carries them. */
export const OBJECT_TYPE_ID = { CONTACT: "0-1", COMPANY: "0-2" };

/**
 * Records. phones: [{prop, label, value, country}]: prop is the property's internal
 * name, label is what HubSpot shows (and sends as toPhoneNumberSrc), value is the
 * property's value exactly as stored (HubSpot sends it unformatted, as typed).
 */
export const RECORDS = [
  {
    id: 1051, type: "CONTACT", name: "Maria Gonzalez", title: "VP Operations", company: "Northwind Logistics",
    ownerId: 71560293, lifecycle: "Opportunity", email: "maria.gonzalez@northwind.example",
    phones: [
      { prop: "phone", label: "Phone number", value: "+1 (415) 555-0123", country: "US" },
      { prop: "mobilephone", label: "Mobile phone number", value: "+14155550177", country: "US" },
    ],
  },
  {
    id: 1052, type: "CONTACT", name: "James O'Connor", title: "Head of IT", company: "Brightline Health",
    ownerId: 71560311, lifecycle: "Lead", email: "james.oconnor@brightline.example",
    phones: [{ prop: "phone", label: "Phone number", value: "(617) 555-0142", country: "US" }],
  },
  {
    id: 1053, type: "CONTACT", name: "Amelia Hart", title: "Procurement Manager", company: "Harbour & Finch",
    ownerId: 71560293, lifecycle: "Customer", email: "amelia.hart@harbourfinch.example",
    phones: [{ prop: "phone", label: "Phone number", value: "020 7946 0321", country: "GB" }],
  },
  {
    id: 1054, type: "CONTACT", name: "Tom Becker", title: "Owner", company: "Busy Bee Bakery",
    ownerId: 71560324, lifecycle: "Lead", email: "tom@busybee.example",
    phones: [{ prop: "phone", label: "Phone number", value: "415-555-0486", country: "US" }],
    hint: "always busy (486)",
  },
  {
    id: 1055, type: "CONTACT", name: "Dana Scott", title: "Former buyer", company: "Old Mill Supplies",
    ownerId: 71560311, lifecycle: "Other", email: "dana.scott@oldmill.example",
    phones: [{ prop: "phone", label: "Phone number", value: "+1 415 555 0404", country: "US" }],
    hint: "number no longer exists (404)",
  },
  {
    id: 2031, type: "COMPANY", name: "Northwind Logistics", title: "Logistics · San Francisco, CA", company: "",
    ownerId: 71560293, lifecycle: "Opportunity", domain: "northwind.example",
    phones: [{ prop: "phone", label: "Phone number", value: "+1 415 555 0160", country: "US" }],
  },
  {
    id: 2032, type: "COMPANY", name: "Brightline Health", title: "Healthcare · Boston, MA", company: "",
    ownerId: 71560311, lifecycle: "Lead", domain: "brightline.example",
    phones: [{ prop: "phone", label: "Phone number", value: "(617) 555-0190", country: "US" }],
  },
  {
    id: 2033, type: "COMPANY", name: "Harbour & Finch", title: "Wholesale · London, UK", company: "",
    ownerId: 71560293, lifecycle: "Customer", domain: "harbourfinch.example",
    phones: [{ prop: "phone", label: "Phone number", value: "+44 20 7946 0958", country: "GB" }],
  },
];

export function record(id) {
  return RECORDS.find((r) => r.id === Number(id)) || null;
}

/** digits keeps the last 10 digits of a number, for matching across formats. */
export function digits(n) {
  return String(n || "").replace(/\D/g, "").slice(-10);
}

/** recordsWithNumber finds the records that have a phone number (any format). */
export function recordsWithNumber(number) {
  const d = digits(number);
  if (d.length < 7) return [];
  return RECORDS.filter((r) => r.phones.some((p) => digits(p.value) === d));
}

/**
 * dialPayload is the onDialNumber (DIAL_NUMBER) data HubSpot sends when the user clicks
 * Call on a record's phone number: the observed field set, including the phone_number
 * duplicate. objectIdZero reproduces HubSpot sending objectId 0 (issues #207, #216):
 * calleeInfo still names the record.
 */
export function dialPayload(rec, phone, { objectIdZero = false, now = Date.now() } = {}) {
  return {
    phoneNumber: phone.value,
    phone_number: phone.value,
    countryCode: phone.country,
    calleeInfo: { calleeId: rec.id, calleeObjectTypeId: OBJECT_TYPE_ID[rec.type] },
    objectId: objectIdZero ? 0 : rec.id,
    objectType: rec.type,
    ownerId: PORTAL.ownerId,
    portalId: PORTAL.portalId,
    subjectId: rec.id,
    startTimestamp: now,
    toPhoneNumberSrc: phone.label,
  };
}

/**
 * HubSpot's default call outcomes (hs_call_disposition GUIDs of a new portal), to show
 * an engagement's outcome by name as the timeline does.
 */
export const DISPOSITIONS = {
  "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
  "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
  "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message",
  "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
  "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
  "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
};

/** HubSpot's labels for hs_call_status values. */
export const CALL_STATUS = {
  CONNECTING: "Connecting",
  RINGING: "Ringing",
  IN_PROGRESS: "In progress",
  COMPLETED: "Completed",
  BUSY: "Busy",
  NO_ANSWER: "No answer",
  FAILED: "Failed",
  CANCELED: "Canceled",
  QUEUED: "Queued",
  CALLING_CRM_USER: "Calling CRM user",
  MISSED: "Missed",
  REJECTED: "Rejected",
};
