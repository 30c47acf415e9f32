// Server error codes and their HTTP statuses — the one place where a failure becomes a status.
// Stable codes: clients, logs and the compliance suite match on them, never on prose.
import type { RuleId } from "./rules.ts";

export const serverErrors = {
  "not-found": { status: 404, title: "Not found." },
  "request.too-large": { status: 413, title: "The request body is too large." },
  "request.invalid": { status: 400, title: "The request is not valid." },
  "enroll.signature-invalid": { status: 400, title: "The enroll request is not signed by a trusted device identity." },
  "enroll.body-invalid": { status: 400, title: "The enroll request body is not a device-signed CMS message with a plist." },
  "sign-in.failed": { status: 401, title: "The user name or password is wrong." },
  "sign-in.unknown": { status: 404, title: "This sign-in link is not known or has expired." },
  "sign-in.not-expected": { status: 409, title: "This enrollment is not waiting for a sign-in." },
  "sign-in.forged": { status: 403, title: "The sign-in form expired or did not come from this server. Start the enrollment again." },
  "sign-in.throttled": { status: 429, title: "Too many failed sign-in attempts. Start the enrollment again later." },
  "sign-in.cancelled": { status: 403, title: "The sign-in was cancelled." },
  "discovery.unknown": { status: 403, title: "No device management service is known for this account." },
  "device.unrecognized": { status: 403, title: "The device is not enrolled." },
  "profile.misconfigured": { status: 500, title: "The server could not build a valid enrollment profile." },
  "checkin.invalid": { status: 400, title: "The check-in message is not valid." },
  "command.invalid": { status: 400, title: "The command-channel report is not valid." },
  "mdm.signature-invalid": { status: 403, title: "The request is not signed by this enrollment's device identity." },
  "admin.unauthorized": { status: 401, title: "A valid admin token is required." },
  "admin.not-found": { status: 404, title: "No such user or enrollment." },
  "admin.invalid": { status: 400, title: "The administration request is not valid." },
  "admin.conflict": { status: 409, title: "The change conflicts with what is stored." },
  "request.unsupported-media-type": { status: 415, title: "The request's Content-Type is not an MDM check-in or command-channel one." },
  "upstream.unavailable": { status: 502, title: "The upstream MDM could not be reached." },
  "upstream.timeout": { status: 504, title: "The upstream MDM did not answer in time." },
  "internal": { status: 500, title: "Internal error." },
} as const satisfies Record<string, { status: number; title: string }>;

export type ServerErrorCode = keyof typeof serverErrors;

export interface ServerError {
  readonly code: ServerErrorCode;
  readonly ruleId?: RuleId;
  readonly detail?: string;
}

export function statusOf(code: ServerErrorCode): number {
  return serverErrors[code].status;
}
