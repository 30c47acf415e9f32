// `adenroll abm set-discovery-url URL | get | clear`: the organization's service-discovery URL at
// Apple Business / School Manager (runtime/abm.ts), where devices are sent when the domain's own
// well-known request fails. Exit codes: 0 done, 1 Apple refused or could not be reached, 2 bad
// usage (a flag, the URL, an unreadable token or key). Lines by default; --json for scripts.
import { parseArgs } from "node:util";
import { abmDefaultBaseUrl, discoveryUrlProblem } from "../spec/abm.ts";
import { abmClient, AbmError, loadAbmServerToken, type AbmClient } from "./abm.ts";
import type { AdminCommandContext } from "./admin-command.ts";
import { messageOf } from "./error-text.ts";
import { consoleIo, type Io } from "./serve.ts";

export const abmUsage = `Usage: adenroll abm <set-discovery-url URL | get | clear> --token FILE [--key FILE] [options]

The service-discovery URL Apple Business Manager (or Apple School Manager) sends devices to when
the domain of the account a person types does not answer discovery itself (iOS 18.2, macOS 15.2,
visionOS 2.2 and later). Register this server's https://HOST/.well-known/com.apple.remotemanagement.

  set-discovery-url URL    register URL (https) for the organization of the server token
  get                      show the registered URL ("none registered" when there is none)
  clear                    remove the registration

Options:
  --token FILE             the server token from Apple Business Manager (the MDM server's page): the
                           .p7m as downloaded, or its decrypted JSON
  --key FILE               the MDM server's private key (PEM): the key of the certificate uploaded
                           to Apple Business Manager, to decrypt a .p7m token
  --api URL                Apple's device-assignment API (default ${abmDefaultBaseUrl})
  --protocol-version N     the X-Server-Protocol-Version header (default 7)
  --json                   JSON for scripts instead of lines
  -h, --help               this help`;

const operations = ["set-discovery-url", "get", "clear"] as const;
type Operation = (typeof operations)[number];

function isOperation(value: string): value is Operation {
  return operations.some((o) => o === value);
}

class UsageError extends Error {}

export async function runAbmCommand(argv: readonly string[], io: Io = consoleIo, context: AdminCommandContext = {}): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    if (sub === undefined) {
      io.err(abmUsage);
      return 2;
    }
    io.out(abmUsage);
    return 0;
  }
  if (!isOperation(sub)) {
    io.err(`adenroll abm: unknown subcommand ${JSON.stringify(sub)} (one of ${operations.join(", ")})\n\n${abmUsage}`);
    return 2;
  }
  const name = `abm ${sub}`;
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: {
        token: { type: "string" },
        key: { type: "string" },
        api: { type: "string" },
        "protocol-version": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    io.err(`adenroll ${name}: ${messageOf(error)}\n\n${abmUsage}`);
    return 2;
  }
  const flags = parsed.values;
  if (flags.help === true) {
    io.out(abmUsage);
    return 0;
  }
  const json = flags.json === true;
  try {
    const expected = sub === "set-discovery-url" ? 1 : 0;
    if (parsed.positionals.length !== expected) {
      throw new UsageError(`expected ${expected === 1 ? "the URL" : "no arguments"}, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}`);
    }
    const url = parsed.positionals[0] ?? "";
    if (sub === "set-discovery-url") {
      const problem = discoveryUrlProblem(url);
      if (problem !== undefined) throw new UsageError(`the service-discovery URL must be an absolute https URL (no user name, password or #fragment), got ${JSON.stringify(url)}`);
    }
    if (flags.token === undefined) throw new UsageError("--token FILE is required (the server token from Apple Business Manager)");
    const baseUrl = apiUrl(flags.api);
    const version = flags["protocol-version"];
    if (version !== undefined && !/^[1-9][0-9]{0,2}$/.test(version)) throw new UsageError(`--protocol-version is a number, got ${JSON.stringify(version)}`);
    let token;
    try {
      token = await loadAbmServerToken(flags.token, flags.key);
    } catch (error) {
      if (error instanceof AbmError) throw new UsageError(`${error.message} (${error.code})`);
      throw error;
    }
    const client: AbmClient = abmClient({
      token,
      baseUrl,
      ...(version === undefined ? {} : { protocolVersion: version }),
      ...(context.fetch === undefined ? {} : { fetch: context.fetch }),
      ...(context.now === undefined ? {} : { now: context.now }),
      ...(context.random === undefined ? {} : { random: context.random }),
    });
    switch (sub) {
      case "set-discovery-url":
        await client.setDiscoveryUrl(url);
        if (json) io.out(JSON.stringify({ registered: true, mdmServiceDiscoveryUrl: url }, null, 2));
        else io.out(`registered ${shown(url)}: Apple Business Manager sends devices there when their account's domain does not answer discovery`);
        return 0;
      case "get": {
        const registration = await client.getDiscoveryUrl();
        if (json) io.out(JSON.stringify({ mdmServiceDiscoveryUrl: registration?.url ?? null, lastUpdated: registration?.lastUpdated ?? null }, null, 2));
        else if (registration === null) io.out("none registered");
        else io.out(`${shown(registration.url)}${registration.lastUpdated === undefined ? "" : `  (last updated ${shown(registration.lastUpdated)})`}`);
        return 0;
      }
      case "clear":
        await client.clearDiscoveryUrl();
        if (json) io.out(JSON.stringify({ cleared: true }, null, 2));
        else io.out("cleared: no service-discovery URL is registered now");
        return 0;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`adenroll ${name}: ${error.message}`);
      return 2;
    }
    if (error instanceof AbmError) {
      io.err(`adenroll ${name}: ${error.message} (${error.code})`);
      return 1;
    }
    io.err(`adenroll ${name}: ${messageOf(error)}`);
    return 1;
  }
}

/** --api: https, or http on loopback only (the session token would cross the network in clear). */
function apiUrl(value: string | undefined): string {
  if (value === undefined) return abmDefaultBaseUrl;
  const url = URL.parse(value);
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:") || url.search !== "" || url.hash !== "") {
    throw new UsageError(`--api must be an http(s) URL without query or fragment, got ${JSON.stringify(value)}`);
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol === "http:" && !loopback) throw new UsageError(`--api must be https (plain http only on loopback), got ${JSON.stringify(value)}`);
  return value;
}

/** A value from Apple as a terminal shows it: control characters escaped. */
function shown(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
