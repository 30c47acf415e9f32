// Check-in protocol messages: https://github.com/apple/device-management/tree/release/mdm/checkin
import { z } from "zod";
import { AuthenticateCheckIn, CheckOutCheckIn, TokenUpdateCheckIn, UserAuthenticateCheckIn } from "./apple/check-in.generated.ts";
import { parsePlist } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";

// Key names, types and presence are Apple's mdm/checkin/*.yaml: the schemas below build on the
// ones generated from the project's copy (spec/apple/check-in.generated.ts) and add the project's
// rules (non-empty identifiers, UDID or EnrollmentID). Objects are loose: devices add keys over
// releases, and a check-in server must not refuse them.

/** Check-in requests: PUT to CheckInURL (or ServerURL) with this Content-Type. */
export const checkInContentType = "application/x-apple-aspen-mdm-checkin";
/** Command-channel requests (PUT to ServerURL). */
export const commandContentType = "application/x-apple-aspen-mdm";
/** The second enroll answer: a Configuration profile (ENROLL2-3). */
export const profileContentType = "application/x-apple-aspen-config";

// A device enrollment identifies itself with UDID; a user enrollment (BYOD) with EnrollmentID,
// plus EnrollmentUserID on the macOS user channel. The YAML marks UDID (and SerialNumber, IMEI,
// MEID) `userenrollment: forbidden`, and EnrollmentID `userenrollment: required`.
//
// Both are bounded: they are what a server looks an enrollment up by and stores (an indexed column
// in SQL storage, where an index entry cannot exceed a few kilobytes); real ones are far shorter.
export const checkInIdentifierMaxLength = 256;
const enrollmentKeys = {
  UDID: z.string().min(1).max(checkInIdentifierMaxLength).optional(),
  EnrollmentID: z.string().min(1).max(checkInIdentifierMaxLength).optional(),
};

function identifiesEnrollment(message: { readonly UDID?: string | undefined; readonly EnrollmentID?: string | undefined }): boolean {
  return message.UDID !== undefined || message.EnrollmentID !== undefined;
}

const identified = {
  message: "needs UDID (device enrollment) or EnrollmentID (user enrollment)",
  path: ["UDID"],
};

// The YAML marks UDID and EnrollmentID both required in TokenUpdate and CheckOut, each only for
// its enrollment type: the generated schemas have them optional (their metadata keeps the
// presence), and the rule "one of the two" is the refinement below.

/** authenticate.yaml: the first message after the profile is installed (step 19). DeviceName, ModelName, Model: macOS only (required there). */
export const Authenticate = AuthenticateCheckIn.extend({
  Topic: z.string().min(1),
  ...enrollmentKeys,
}).refine(identifiesEnrollment, identified);
export type Authenticate = z.infer<typeof Authenticate>;

/** tokenupdate.yaml: the push token, sent once the MDM payload is installed and whenever it changes. */
export const TokenUpdate = TokenUpdateCheckIn.extend({
  Topic: z.string().min(1),
  ...enrollmentKeys,
  /** macOS user channel of a user enrollment. */
  EnrollmentUserID: z.string().min(1).optional(),
  PushMagic: z.string().min(1),
}).refine(identifiesEnrollment, identified);
export type TokenUpdate = z.infer<typeof TokenUpdate>;

/** checkout.yaml: sent (best effort) when the MDM profile is removed and CheckOutWhenRemoved is true. */
export const CheckOut = CheckOutCheckIn.extend({
  Topic: z.string().min(1),
  ...enrollmentKeys,
}).refine(identifiesEnrollment, identified);
export type CheckOut = z.infer<typeof CheckOut>;

/**
 * userauthenticate.yaml: macOS user channel only. The YAML marks the whole message
 * `userenrollment: forbidden` (so in practice it carries UDID), and lists DigestResponse as
 * required although its own notes say only the second request of the handshake carries it: it is
 * optional here. EnrollmentID (not in this YAML) is still accepted, like in the other messages.
 */
export const UserAuthenticate = UserAuthenticateCheckIn.extend({
  ...enrollmentKeys,
  UserID: z.string().min(1),
  DigestResponse: z.string().optional(),
}).refine(identifiesEnrollment, identified);
export type UserAuthenticate = z.infer<typeof UserAuthenticate>;

/** The check-in messages modelled here; others (GetToken, DeclarativeManagement, …) are OtherCheckIn. */
export const CheckInMessage = z.discriminatedUnion("MessageType", [Authenticate, TokenUpdate, CheckOut, UserAuthenticate]);
export type CheckInMessage = z.infer<typeof CheckInMessage>;

export const knownCheckInMessageTypes = ["Authenticate", "TokenUpdate", "CheckOut", "UserAuthenticate"] as const;
export type KnownCheckInMessageType = (typeof knownCheckInMessageTypes)[number];

function isKnownMessageType(value: string): value is KnownCheckInMessageType {
  return knownCheckInMessageTypes.some((t) => t === value);
}

/** Any other check-in message: a MessageType string and whatever else it carries. */
export const OtherCheckIn = z.looseObject({ MessageType: z.string().min(1) });
export type OtherCheckIn = z.infer<typeof OtherCheckIn>;

/** A parsed check-in: one of the modelled messages, or another MessageType kept as a record. */
export type ParsedCheckIn =
  | { readonly known: true; readonly message: CheckInMessage }
  | { readonly known: false; readonly message: OtherCheckIn };

export interface CheckInParseError {
  readonly code: "checkin.empty" | "checkin.plist-invalid" | "checkin.not-a-message" | "checkin.invalid";
  readonly detail: string;
}

// MessageType alone (other keys stripped, not copied).
const messageTypeOnly = z.object({ MessageType: z.string() });

/** Judges an already decoded check-in dictionary. */
export function readCheckInMessage(value: unknown): Result<ParsedCheckIn, CheckInParseError> {
  // A valid modelled message first, with no copy of the whole record (OtherCheckIn's) on the way:
  // it is a dictionary with a MessageType string and identifiers within the bound, so the checks
  // below would pass and end in this very parse. The cheap look at MessageType first keeps other
  // messages (DeclarativeManagement…) from paying for a failed union parse (a ZodError).
  const kind = messageTypeOnly.safeParse(value);
  const message = kind.success && isKnownMessageType(kind.data.MessageType) ? CheckInMessage.safeParse(value) : undefined;
  if (message?.success === true) return ok({ known: true, message: message.data });
  const base = OtherCheckIn.safeParse(value);
  if (!base.success) return err({ code: "checkin.not-a-message", detail: "a check-in message is a dictionary with a MessageType string" });
  // Any message, modelled or not, may name its enrollment: the bound holds for all of them.
  for (const key of ["UDID", "EnrollmentID"] as const) {
    const id = base.data[key];
    if (typeof id === "string" && id.length > checkInIdentifierMaxLength) {
      return err({ code: "checkin.invalid", detail: `${base.data.MessageType}: ${key} is longer than ${checkInIdentifierMaxLength} characters` });
    }
  }
  if (message === undefined) return ok({ known: false, message: base.data });
  const detail = message.error.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`).join("; ");
  return err({ code: "checkin.invalid", detail: `${base.data.MessageType}: ${detail}` });
}

/** Reads a check-in request body (an XML plist). Unknown MessageTypes are kept as OtherCheckIn. */
export function parseCheckInMessage(body: Uint8Array | string): Result<ParsedCheckIn, CheckInParseError> {
  const empty = typeof body === "string" ? body.trim().length === 0 : body.length === 0;
  if (empty) return err({ code: "checkin.empty", detail: "the check-in request has an empty body" });
  const parsed = parsePlist(body);
  if (!parsed.ok) return err({ code: "checkin.plist-invalid", detail: parsed.error.detail });
  return readCheckInMessage(parsed.value);
}

/** The identifier a check-in names its enrollment by: EnrollmentID under user enrollment, else UDID. */
export function checkInEnrollmentId(parsed: { readonly message: Readonly<Record<string, unknown>> }): string | null {
  const message = parsed.message;
  const id = message["EnrollmentID"] ?? message["UDID"];
  return typeof id === "string" && id.length > 0 ? id : null;
}
