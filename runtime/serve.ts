// `adenroll serve`: the enrollment server over HTTP. With --config it serves that configuration;
// without, a working demo: an embedded database in the data folder, the demo domain example.com, one
// demo user whose one-time password is printed, a self-generated CA for device identities, and a
// test CA for simulated devices (trusted, loudly). The HTTP listener is the runtime's own
// (runtime/node.ts: @hono/node-server; runtime/deno.ts: Deno.serve), given as `listen`.
import path from "node:path";
import process from "node:process";
import { createAdenroll, type Logger } from "./app.ts";
import { adminApiPrefix } from "./admin-api.ts";
import { adminTokenFileName, loadOrCreateAdminToken, localAdminName } from "./admin-token.ts";
import { lockDataFolder, type DataLock } from "./data-lock.ts";
import { ConfigError, loadConfigFile, parseConfig, type AdenrollConfig } from "./config.ts";
import { secureRandomBytes } from "./crypto.ts";
import { loadOrCreateSecret, loadOrCreateTestDeviceCa, defaultDataDir, ensureDataDir, testDeviceCaFileName } from "./data-folder.ts";
import { hashPasswordScrypt } from "./directory.ts";
import { loadOrCreateIdentityCa } from "./identity-ca.ts";
import { openStorage, type OpenedStorage } from "./storage/open-storage.ts";
import { messageOf } from "./error-text.ts";
import { upstreamMdm, upstreamUrlProblem } from "./proxy.ts";
import { commandFlags } from "./command-flags.ts";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface Listening {
  /** The port actually bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `fetch` on hostname:port (runtime/node.ts, runtime/deno.ts). */
export type Listen = (fetch: FetchHandler, at: { readonly port: number; readonly hostname: string }) => Promise<Listening>;

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const consoleIo: Io = { out: (line) => console.log(line), err: (line) => console.error(line) };

export const serveUsage = `Usage: adenroll serve [options]

Starts the enrollment server. Without --config: a demo (example.com, one demo user, embedded database).

Options:
  --port N          port to listen on (default 8080; 0 picks a free one)
  --host ADDR       address to listen on (default 127.0.0.1)
  --config FILE     configuration file, YAML or JSON (see examples/)
  --database URL    a postgres:// URL (default: embedded PGlite in the data folder)
  --data DIR        data folder: embedded database, CAs, secrets (default ./.adenroll)
  --public-url URL  where devices reach this server (default: the config's publicBaseUrl; demo: http://HOST:PORT)
  --upstream URL    proxy mode: forward the MDM requests adenroll authorized to this MDM (or upstream: in the config)
  -h, --help        this help`;

/**
 * The demo's stable names. Its MDM URLs name an https host, as PROFILE-8 requires; the demo serves
 * check-ins and commands itself, where a simulated device sends them with --mdm-origin.
 */
export const demo = {
  organization: "Example Corp (demo)",
  domain: "example.com",
  user: "demo@example.com",
  /** The same person in the demo's second organization, which signs in with OAuth 2. */
  oauthOrganization: "Example OAuth (demo)",
  oauthDomain: "oauth.example.com",
  oauthUser: "demo@oauth.example.com",
  mdmHost: "https://mdm.example.com",
  topic: "com.apple.mgmt.External.00000000-0000-4000-8000-00000000adee",
} as const;

/** How often expired codes, families, failures and nonces are dropped (Adenroll.housekeeping). */
const housekeepingIntervalMs = 5 * 60_000;

/**
 * Runs `adenroll serve` until SIGINT or SIGTERM (or `stop`, for tests). Returns the exit code: 0
 * after a clean stop, 1 when the server could not start, 2 for bad flags or a bad configuration.
 */
export async function runServe(argv: readonly string[], listen: Listen, io: Io = consoleIo, stop?: Promise<void>): Promise<number> {
  const parsed = commandFlags("serve", serveUsage, argv, {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    config: { type: "string" },
    database: { type: "string" },
    data: { type: "string", default: defaultDataDir },
    "public-url": { type: "string" },
    upstream: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, io);
  if ("exit" in parsed) return parsed.exit;
  const { values: flags } = parsed;
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`adenroll serve: --port must be a port number (0–65535), got ${JSON.stringify(flags.port)}`);
    return 2;
  }
  const hostname = flags.host;
  const upstreamProblem = flags.upstream === undefined ? null : upstreamUrlProblem(flags.upstream);
  if (upstreamProblem !== null) {
    io.err(`adenroll serve: --upstream: ${upstreamProblem}`);
    return 2;
  }
  const dataDir = path.resolve(flags.data);
  const log: Logger = {
    info: (message) => io.out(`adenroll: ${message}`),
    warn: (message) => io.err(`adenroll: WARNING: ${message}`),
    error: (message) => io.err(`adenroll: ERROR: ${message}`),
  };

  // A configuration file is read (and refused) before anything is opened.
  let fileConfig: AdenrollConfig | undefined;
  if (flags.config !== undefined) {
    try {
      fileConfig = await loadConfigFile(flags.config);
    } catch (error) {
      if (error instanceof ConfigError) {
        io.err(`adenroll: ${error.message}`);
        return 2;
      }
      throw error;
    }
  }
  const database = flags.database ?? fileConfig?.database;
  if (database !== undefined && !/^postgres(ql)?:\/\//i.test(database)) {
    io.err(`adenroll serve: --database must be a postgres:// URL, got ${JSON.stringify(database)}`);
    return 2;
  }

  let handler: FetchHandler = () => new Response("starting", { status: 503 });
  let listening: Listening;
  try {
    listening = await listen((request) => handler(request), { port, hostname });
  } catch (error) {
    io.err(`adenroll: cannot listen on ${hostname}:${port}: ${messageOf(error)}`);
    return 1;
  }
  const loopbackHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname.includes(":") ? `[${hostname}]` : hostname;
  const localUrl = `http://${loopbackHost}:${listening.port}`;

  let storage: OpenedStorage | undefined;
  let lock: DataLock | undefined;
  let housekeeping: () => Promise<void> = async () => undefined;
  try {
    await ensureDataDir(dataDir);
    let demoPassword: string | undefined;
    let config: AdenrollConfig;
    if (fileConfig !== undefined) {
      config = flags["public-url"] === undefined ? fileConfig : { ...fileConfig, publicBaseUrl: flags["public-url"].replace(/\/+$/, "") };
    } else {
      demoPassword = oneTimePassword();
      config = await demoConfig(flags["public-url"] ?? localUrl, demoPassword, dataDir);
    }
    for (const warning of config.warnings) log.warn(warning);

    // The embedded database is this process's alone (admin commands acting on it directly check too).
    if (database === undefined) lock = await lockDataFolder(dataDir, "adenroll serve");
    storage = await openStorage(database === undefined ? { dataDir: path.join(dataDir, "pglite") } : { database });
    // No admin token in the configuration: the data folder's (created now if missing; only its path is printed).
    const adminToken = config.admin.tokens.length === 0 ? await loadOrCreateAdminToken(dataDir) : undefined;
    const identityCa = config.profile.identity.kind === "pkcs12" && config.profile.identity.ca === undefined ? await loadOrCreateIdentityCa(dataDir) : undefined;
    const testCa = config.deviceTrust.allowTestDeviceCa && config.deviceTrust.testDeviceCa === undefined ? await loadOrCreateTestDeviceCa(dataDir) : undefined;
    // Proxy mode: the flag wins over the config's key; failures are logged without any header or token.
    const upstream = flags.upstream ?? config.upstream;
    const mdm = upstream === undefined ? undefined : upstreamMdm({ upstream, reportFailure: (failure) => log.warn(`upstream MDM: ${failure.code}: ${failure.detail}`) });
    const adenroll = await createAdenroll(config, {
      storage,
      log,
      secret: await loadOrCreateSecret(dataDir),
      ...(identityCa === undefined ? {} : { identityCa: identityCa.ca }),
      ...(testCa === undefined ? {} : { testDeviceCa: testCa.ca.certificate }),
      ...(adminToken === undefined ? {} : { adminTokens: [{ name: localAdminName, tokenHash: adminToken.tokenHash }] }),
      ...(mdm === undefined ? {} : { mdm }),
    });
    housekeeping = adenroll.housekeeping;
    handler = async (request) => {
      const started = Date.now();
      const response = await adenroll.app.fetch(request);
      const url = new URL(request.url);
      // The sign-in path carries the enrollment's reference: it is not logged.
      const shown = url.pathname.replace(/^\/authenticate\/[^/]+/, "/authenticate/…");
      io.out(`  ${request.method} ${shown} → ${response.status} (${Date.now() - started} ms)`);
      return response;
    };

    io.out(`adenroll: listening on ${localUrl} (port ${listening.port})`);
    io.out(`adenroll: devices reach this server at ${config.publicBaseUrl}`);
    io.out(`adenroll: data folder ${dataDir}; database: ${storage.backend === "pglite" ? `embedded PGlite in ${path.join(dataDir, "pglite")}` : "PostgreSQL (--database)"}`);
    if (identityCa !== undefined) io.out(`adenroll: device identities (PKCS#12) from the built-in CA ${identityCa.file}${identityCa.created ? " (created now)" : ""}`);
    io.out(
      `adenroll: admin API at ${localUrl}${adminApiPrefix}; ${adminToken === undefined ? `${config.admin.tokens.length} admin token(s) from the configuration` : `admin token in ${adminToken.file}${adminToken.created ? " (created now)" : ""}`}`,
    );
    if (upstream !== undefined) io.out(`adenroll: proxy mode: MDM requests adenroll authorized are forwarded to the upstream MDM ${upstream}`);
    if (testCa !== undefined) log.warn(`trusting the TEST device CA ${testCa.file}${testCa.created ? " (created now)" : ""} — simulated devices only`);
    if (demoPassword !== undefined) printDemo(io, { localUrl, password: demoPassword, dataDir });
    else io.out(`adenroll: config ${config.source ?? "(built in)"}: ${config.organizations.length} organization(s), ${config.users.length} user(s)`);
  } catch (error) {
    io.err(`adenroll: cannot start: ${error instanceof Error ? error.message : String(error)}`);
    await listening.close().catch(() => undefined);
    await storage?.close().catch(() => undefined);
    await lock?.release();
    return 1;
  }

  // Housekeeping: expired OAuth 2 codes and refresh-token families, old sign-in failures and spent
  // anti-CSRF nonces are dropped every few minutes (any instance may do it; deletes are idempotent).
  const prune = async (): Promise<void> => {
    try {
      await housekeeping();
    } catch (error) {
      log.warn(`housekeeping failed (it runs again in ${housekeepingIntervalMs / 60_000} min): ${messageOf(error)}`);
    }
  };
  const housekeepingTimer = setInterval(() => void prune(), housekeepingIntervalMs);
  housekeepingTimer.unref();
  void prune();

  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: string) => () => resolve(signal);
    process.once("SIGINT", onSignal("SIGINT"));
    process.once("SIGTERM", onSignal("SIGTERM"));
    void stop?.then(() => resolve("stop"));
  });
  const why = await stopped;
  io.out(`adenroll: stopping (${why})`);
  clearInterval(housekeepingTimer);
  await listening.close().catch(() => undefined);
  await storage.close();
  await lock?.release();
  return 0;
}

/** The demo's configuration: example.com → mdm-byod, one user, PKCS#12 identities, the test device CA trusted. */
/** The demo's configuration; `scryptCost` only for tests that sign in often (the default is the directory's). */
export async function demoConfig(publicBaseUrl: string, password: string, dataDir: string, options: { readonly scryptCost?: number } = {}): Promise<AdenrollConfig> {
  const hash = (): Promise<string> => hashPasswordScrypt(password, secureRandomBytes, options.scryptCost);
  return parseConfig(
    {
      publicBaseUrl,
      organizations: [
        { name: demo.organization, authentication: "simple", domains: { [demo.domain]: "mdm-byod" } },
        // OAuth 2 (apple-oauth2) on the demo's own loopback address: http, which only loopback may use.
        { name: demo.oauthOrganization, slug: "example-oauth", authentication: "oauth2", domains: { [demo.oauthDomain]: "mdm-byod" } },
      ],
      users: [
        { userIdentifier: demo.user, managedAppleId: demo.user, passwordHash: await hash() },
        { userIdentifier: demo.oauthUser, managedAppleId: demo.oauthUser, passwordHash: await hash() },
      ],
      profile: {
        identifierPrefix: "com.example.mdm.demo",
        topic: demo.topic,
        // PROFILE-8: devices accept only https MDM URLs, so the demo's name the https host a real
        // deployment would have; a simulated device sends them to this loopback demo (--mdm-origin).
        serverUrl: `${demo.mdmHost}/mdm/server`,
        checkInUrl: `${demo.mdmHost}/mdm/checkin`,
        serverCapabilities: ["com.apple.mdm.per-user-connections"],
        // Every MDM request carries an Mdm-Signature by the device's PKCS#12 identity (ONGOING-13).
        signMessage: true,
        identity: { kind: "pkcs12" },
      },
      deviceTrust: { allowTestDeviceCa: true },
    },
    { baseDir: dataDir, source: null },
  );
}

/** A one-time password: 15 characters from an unambiguous alphabet, in groups of five (about 75 bits). */
export function oneTimePassword(): string {
  const alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
  const bytes = secureRandomBytes(15);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
  return `${chars.slice(0, 5)}-${chars.slice(5, 10)}-${chars.slice(10, 15)}`;
}

function printDemo(io: Io, demoRun: { readonly localUrl: string; readonly password: string; readonly dataDir: string }): void {
  const dataFlag = path.resolve(defaultDataDir) === demoRun.dataDir ? "" : ` --data ${JSON.stringify(demoRun.dataDir)}`;
  const lines = [
    "",
    `  adenroll demo — ${demo.organization}`,
    `    demo domain   ${demo.domain} (mdm-byod: user enrollment)`,
    `    demo user     ${demo.user}   (and ${demo.oauthUser}: its organization signs in with OAuth 2)`,
    `    password      ${demoRun.password}   (one-time: a new one at every start, stored only as a scrypt hash)`,
    `    device trust  Apple Root CA, and the TEST device CA ${path.join(demoRun.dataDir, testDeviceCaFileName)}`,
    "",
    "  Try:",
    `    curl -i '${demoRun.localUrl}/.well-known/com.apple.remotemanagement?user-identifier=${demo.user}&model-family=iPhone'`,
    "",
    "  Enroll a simulated iPhone, in a second terminal (the password is read from stdin), and keep it",
    "  running: signed check-ins, then command polls; Ctrl-C checks it out:",
    `    echo '${demoRun.password}' | npx adenroll device --user ${demo.user} --password-stdin --discovery-url ${demoRun.localUrl}${dataFlag} --stay --mdm-origin ${demoRun.localUrl}`,
    "",
    `  The profile's MDM URLs name ${demo.mdmHost} (devices accept only https ones); --mdm-origin sends the`,
    "  device's check-ins and command polls to this demo instead. Queue a command for it, in a third terminal:",
    `    npx adenroll enrollments list --server ${demoRun.localUrl} --admin-token-file ${JSON.stringify(path.join(demoRun.dataDir, adminTokenFileName))}`,
    `    npx adenroll commands enqueue ENROLLMENT --request-type DeviceInformation --server ${demoRun.localUrl} --admin-token-file ${JSON.stringify(path.join(demoRun.dataDir, adminTokenFileName))}`,
    "",
    "  Stop with Ctrl-C.",
    "",
  ];
  for (const line of lines) io.out(line);
}
