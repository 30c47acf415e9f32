// The built-in MDM: what answers a check-in or command-channel request once the generated guard
// (authorizeMdmRequest) has let it through — so every request here carries a valid token (or, on a
// Mac's device channel, a valid signature) of `request.enrollment`, which names the device.
//
//   check-in   Authenticate, TokenUpdate → the device facts are recorded (no UnlockToken: see
//              runtime/storage/roles.ts); CheckOut → recorded; any other MessageType → 200, empty.
//   commands   Idle → the enrollment's oldest queued (or not-now) command, marked sent;
//              Acknowledged / Error / CommandFormatError → recorded on that CommandUUID when it is
//              this enrollment's (otherwise ignored, and logged), then the next command;
//              NotNow → recorded, 200 empty (the device asks again when it can).
// A command goes out as the XML plist it was queued as: {CommandUUID, Command: {RequestType, …}}.
import type { AuthorizedMdmRequest } from "../generated/server.generated.ts";
import { Authenticate, CommandReport, TokenUpdate, isUserChannel, type CommandStatus } from "../spec/index.ts";
import type { AuditEvent } from "./server-host.ts";
import type { MdmAnswerStatus, MdmDeviceFacts, MdmStore } from "./storage/roles.ts";

export interface BuiltInMdmOptions {
  readonly store: MdmStore;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** CheckOuts, command answers and ignored answers. */
  readonly audit?: (event: AuditEvent) => void | Promise<void>;
  /** One line per request that was not what it should be (never a token). */
  readonly log?: (message: string) => void;
}

/** The media type of a command the server sends (Apple: an XML plist). */
export const commandResponseContentType = "application/xml";

const answerStatus: Readonly<Record<Exclude<CommandStatus, "Idle">, MdmAnswerStatus>> = {
  Acknowledged: "acknowledged",
  Error: "error",
  CommandFormatError: "command-format-error",
  NotNow: "not-now",
};

export function builtInMdm(options: BuiltInMdmOptions): (request: AuthorizedMdmRequest) => Promise<Response> {
  const { store, now } = options;
  // An audit log that fails does not fail the device's request (its answer is already recorded).
  const audit = async (event: AuditEvent): Promise<void> => {
    try {
      await options.audit?.(event);
    } catch (error) {
      options.log?.(`could not append ${event.action} to the audit log: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const empty = (): Response => new Response(null, { status: 200 });

  async function checkIn(request: AuthorizedMdmRequest): Promise<Response> {
    const ref = request.enrollment.id;
    const at = now();
    switch (request.messageType) {
      case "Authenticate": {
        const message = Authenticate.safeParse(request.message);
        if (message.success) await store.recordAuthenticate(factsOf(ref, message.data), at);
        return empty();
      }
      case "TokenUpdate": {
        const message = TokenUpdate.safeParse(request.message);
        // A Mac's user channel has its own push token: the device's must not be overwritten by it.
        if (message.success && !isUserChannel(request.message)) {
          await store.recordTokenUpdate({ ...factsOf(ref, message.data), pushMagic: message.data.PushMagic, pushToken: base64(message.data.Token) }, at);
        }
        return empty();
      }
      case "CheckOut": {
        await store.recordCheckOut(ref, at);
        await audit({ actor: deviceActor(request), action: "mdm.checked-out", subject: ref, detail: {} });
        return empty();
      }
      // This MDM keeps no per-user state on a Mac's user channel: 410 is how a server says so.
      case "UserAuthenticate":
        return new Response(null, { status: 410 });
      default:
        return empty();
    }
  }

  async function command(request: AuthorizedMdmRequest): Promise<Response> {
    const ref = request.enrollment.id;
    const report = CommandReport.safeParse(request.message);
    // The guard parsed it already; user channels (macOS) have no queue of their own here.
    if (!report.success || isUserChannel(request.message)) return empty();
    const { Status, CommandUUID } = report.data;
    if (Status !== "Idle" && CommandUUID !== undefined) {
      const status = answerStatus[Status];
      const recorded = await store.recordAnswer(ref, CommandUUID, status, new TextDecoder().decode(request.body), now());
      if (recorded) {
        await audit({ actor: deviceActor(request), action: "mdm.command-answered", subject: ref, detail: { commandUuid: CommandUUID, status } });
      } else {
        // Another enrollment's command, or none: nothing is recorded.
        options.log?.(`ignored the ${Status} report on command ${JSON.stringify(CommandUUID)}: no command of this enrollment has that CommandUUID`);
        await audit({ actor: deviceActor(request), action: "mdm.answer-ignored", subject: ref, detail: { commandUuid: CommandUUID, status } });
      }
      if (Status === "NotNow") return empty();
    }
    const next = await store.nextCommand(ref, now());
    if (next === null) return empty();
    return new Response(next.command, { status: 200, headers: { "content-type": commandResponseContentType } });
  }

  return (request) => (request.channel === "checkin" ? checkIn(request) : command(request));
}

/** EnrollmentID under user enrollment (the YAML forbids UDID there), else UDID. */
function factsOf(enrollmentRef: string, message: { readonly Topic: string; readonly UDID?: string | undefined; readonly EnrollmentID?: string | undefined }): MdmDeviceFacts {
  return message.EnrollmentID !== undefined
    ? { enrollmentRef, deviceId: message.EnrollmentID, idKind: "EnrollmentID", topic: message.Topic }
    : { enrollmentRef, deviceId: message.UDID ?? "", idKind: "UDID", topic: message.Topic };
}

/** Who acted, for the audit log: the device of the enrollment. */
function deviceActor(request: AuthorizedMdmRequest): string {
  return `device:${request.enrollment.enrollmentId ?? request.enrollment.id}`;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
