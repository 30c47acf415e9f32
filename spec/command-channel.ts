// The command channel (PUT ServerURL): https://developer.apple.com/documentation/devicemanagement/sending-mdm-commands-to-a-device
// The device reports a Status (Idle when it asks for work, else the result of the command it names
// by CommandUUID); the server answers with the next command, or 200 with an empty body.
// Apple's device-management repository has no YAML for this report, so its keys are Apple's page's.
import { z } from "zod";
import { checkInIdentifierMaxLength } from "./check-in.ts";
import { parsePlist } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";

export const commandStatuses = ["Idle", "Acknowledged", "Error", "CommandFormatError", "NotNow"] as const;
export const CommandStatus = z.enum(commandStatuses);
export type CommandStatus = z.infer<typeof CommandStatus>;

const identifier = z.string().min(1).max(checkInIdentifierMaxLength);

/** What the device sends to ServerURL. Loose: devices add keys (results of queries) over releases. */
export const CommandReport = z
  .looseObject({
    Status: CommandStatus,
    UDID: identifier.optional(),
    EnrollmentID: identifier.optional(),
    /** macOS user channel. */
    UserID: z.string().min(1).optional(),
    EnrollmentUserID: z.string().min(1).optional(),
    CommandUUID: z.string().min(1).max(256).optional(),
    ErrorChain: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .refine((report) => report.UDID !== undefined || report.EnrollmentID !== undefined, {
    message: "needs UDID (device enrollment) or EnrollmentID (user enrollment)",
    path: ["UDID"],
  })
  .refine((report) => report.Status === "Idle" || report.CommandUUID !== undefined, {
    message: "a result names its command by CommandUUID",
    path: ["CommandUUID"],
  });
export type CommandReport = z.infer<typeof CommandReport>;

/** A parsed report, with MessageType standing for Status so that both channels read alike. */
export interface ParsedCommandReport {
  readonly known: true;
  readonly message: CommandReport & { readonly MessageType: CommandStatus };
}

export interface CommandReportError {
  readonly code: "command.empty" | "command.plist-invalid" | "command.invalid";
  readonly detail: string;
}

export function parseCommandReport(body: Uint8Array | string): Result<ParsedCommandReport, CommandReportError> {
  const empty = typeof body === "string" ? body.trim().length === 0 : body.length === 0;
  if (empty) return err({ code: "command.empty", detail: "the command-channel request has an empty body" });
  const parsed = parsePlist(body);
  if (!parsed.ok) return err({ code: "command.plist-invalid", detail: parsed.error.detail });
  const report = CommandReport.safeParse(parsed.value);
  if (!report.success) {
    const detail = report.error.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`).join("; ");
    return err({ code: "command.invalid", detail });
  }
  return ok({ known: true, message: { ...report.data, MessageType: report.data.Status } });
}

/** A command the server sends: its RequestType and keys inside `Command`, named by CommandUUID. */
export const MdmCommand = z.looseObject({
  CommandUUID: z.string().min(1).max(256),
  Command: z.looseObject({ RequestType: z.string().min(1) }),
});
export type MdmCommand = z.infer<typeof MdmCommand>;

/** The header a device adds when the profile's SignMessage is true: base64 of a detached CMS signature of the body. */
export const mdmSignatureHeader = "mdm-signature";

/** Whether a check-in or command report comes from the user channel (macOS): it names the user. */
export function isUserChannel(message: Readonly<Record<string, unknown>>): boolean {
  return typeof message["UserID"] === "string" || typeof message["EnrollmentUserID"] === "string";
}
