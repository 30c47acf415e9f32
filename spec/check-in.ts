// Check-in protocol messages: https://github.com/apple/device-management/tree/release/mdm/checkin
import { z } from "zod";
import { parsePlist } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";

// Key names and types follow Apple's mdm/checkin/*.yaml. Objects are loose: devices add keys over
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
const enrollmentKeys = {
  UDID: z.string().min(1).optional(),
  EnrollmentID: z.string().min(1).optional(),
};

function identifiesEnrollment(message: { readonly UDID?: string | undefined; readonly EnrollmentID?: string | undefined }): boolean {
  return message.UDID !== undefined || message.EnrollmentID !== undefined;
}

const identified = {
  message: "needs UDID (device enrollment) or EnrollmentID (user enrollment)",
  path: ["UDID"],
};

/** authenticate.yaml: the first message after the profile is installed (step 19). */
export const Authenticate = z
  .looseObject({
    MessageType: z.literal("Authenticate"),
    Topic: z.string().min(1),
    ...enrollmentKeys,
    /** macOS only (required there). */
    DeviceName: z.string().optional(),
    /** macOS only (required there). */
    ModelName: z.string().optional(),
    /** macOS only (required there). */
    Model: z.string().optional(),
    OSVersion: z.string().optional(),
    BuildVersion: z.string().optional(),
    ProductName: z.string().optional(),
    SerialNumber: z.string().optional(),
    IMEI: z.string().optional(),
    MEID: z.string().optional(),
  })
  .refine(identifiesEnrollment, identified);
export type Authenticate = z.infer<typeof Authenticate>;

/** tokenupdate.yaml: the push token, sent once the MDM payload is installed and whenever it changes. */
export const TokenUpdate = z
  .looseObject({
    MessageType: z.literal("TokenUpdate"),
    Topic: z.string().min(1),
    ...enrollmentKeys,
    /** macOS user channel of a user enrollment. */
    EnrollmentUserID: z.string().min(1).optional(),
    Token: z.instanceof(Uint8Array),
    PushMagic: z.string().min(1),
    UnlockToken: z.instanceof(Uint8Array).optional(),
    AwaitingConfiguration: z.boolean().optional(),
    /** macOS user channel only. */
    NotOnConsole: z.boolean().optional(),
    UserShortName: z.string().optional(),
    UserID: z.string().optional(),
    UserLongName: z.string().optional(),
  })
  .refine(identifiesEnrollment, identified);
export type TokenUpdate = z.infer<typeof TokenUpdate>;

/** checkout.yaml: sent (best effort) when the MDM profile is removed and CheckOutWhenRemoved is true. */
export const CheckOut = z
  .looseObject({
    MessageType: z.literal("CheckOut"),
    Topic: z.string().min(1),
    ...enrollmentKeys,
  })
  .refine(identifiesEnrollment, identified);
export type CheckOut = z.infer<typeof CheckOut>;

/**
 * userauthenticate.yaml: macOS user channel only. The YAML marks the whole message
 * `userenrollment: forbidden` (so in practice it carries UDID), and lists DigestResponse as
 * required although its own notes say only the second request of the handshake carries it: it is
 * optional here. EnrollmentID (not in this YAML) is still accepted, like in the other messages.
 */
export const UserAuthenticate = z
  .looseObject({
    MessageType: z.literal("UserAuthenticate"),
    ...enrollmentKeys,
    UserID: z.string().min(1),
    DigestResponse: z.string().optional(),
  })
  .refine(identifiesEnrollment, identified);
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

/** Judges an already decoded check-in dictionary. */
export function readCheckInMessage(value: unknown): Result<ParsedCheckIn, CheckInParseError> {
  const base = OtherCheckIn.safeParse(value);
  if (!base.success) return err({ code: "checkin.not-a-message", detail: "a check-in message is a dictionary with a MessageType string" });
  if (!isKnownMessageType(base.data.MessageType)) return ok({ known: false, message: base.data });
  const message = CheckInMessage.safeParse(value);
  if (!message.success) {
    const detail = message.error.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`).join("; ");
    return err({ code: "checkin.invalid", detail: `${base.data.MessageType}: ${detail}` });
  }
  return ok({ known: true, message: message.data });
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
export function checkInEnrollmentId(parsed: ParsedCheckIn): string | null {
  const message: Record<string, unknown> = parsed.message;
  const id = message["EnrollmentID"] ?? message["UDID"];
  return typeof id === "string" && id.length > 0 ? id : null;
}
