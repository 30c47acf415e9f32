// The administration commands through `main([...])` with a captured Io: on storage directly
// (--data DIR: the embedded database a server would use, refused while one holds it) and through a
// running server's admin API (--server URL over loopback), with their exit codes (0 done, 1 failed,
// 2 bad usage), human lines and --json; and `adenroll serve` with the data folder's admin token.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminTokenHash } from "../../runtime/admin-token.ts";
import { main } from "../../runtime/cli.ts";
import type { AdminCommandContext } from "../../runtime/admin-command.ts";
import { lockDataFolder } from "../../runtime/data-lock.ts";
import { listenNode } from "../../runtime/node.ts";
import { runServe } from "../../runtime/serve.ts";
import { openStorage, type OpenedStorage } from "../../runtime/storage/open-storage.ts";
import { parseConfig } from "../../runtime/config.ts";
import { listenOnLoopback, type LoopbackServer } from "../support/http-server.ts";
import { seededRandom } from "../support/fixtures.ts";
import { createTestDatabase, inCI, probePostgres } from "../storage/storage.suite.ts";
import { adminToken, enrollmentRecord, passwords, putEnrollment, start, testConfig } from "./admin-fixtures.ts";

const root = mkdtempSync(path.join(tmpdir(), "adenroll-admin-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `adenroll …args` in this process; stdin (for --password-stdin) is `input`. */
async function adenroll(args: readonly string[], context: AdminCommandContext & { readonly input?: string } = {}): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const { input, ...rest } = context;
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, { scryptCost: 1_000, env: {}, stdin: async () => input ?? "", ...rest });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const json = (ran: Ran): unknown => JSON.parse(ran.out);
const hashOfAliceToken = "aliceTokenHash-0123456789abcdef";

describe("direct mode: --data DIR", () => {
  const dataDir = path.join(root, "direct");
  const data = ["--data", dataDir];

  beforeAll(async () => {
    // What `adenroll serve --data DIR` leaves behind: DIR/pglite, with an enrollment in it.
    mkdirSync(dataDir, { recursive: true });
    const storage = await openStorage({ dataDir: path.join(dataDir, "pglite") });
    await putEnrollment(storage, enrollmentRecord("e-alice", { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", tokenHash: hashOfAliceToken, tokenExpiresAt: Date.UTC(2030, 0, 1), enrollmentId: "ENR-A" }));
    await storage.close();
  }, 60_000);

  it("users add / list / set-password / remove, audited as admin:cli; the password is never printed", async () => {
    const added = await adenroll(["users", "add", "carol@example.com", "--managed-apple-id", "carol@appleid.example.com", "--password-stdin", "--enrollment-type", "mdm-adde", ...data], { input: passwords.carol });
    expect(added, added.err).toMatchObject({ code: 0 });
    expect(added.out).toBe("added carol@example.com (carol@appleid.example.com; mdm-adde; with a password)");
    const listed = await adenroll(["users", "list", ...data]);
    expect(listed.code).toBe(0);
    expect(listed.out.split("\n")).toEqual(["USER               MANAGED APPLE ID           TYPE      PASSWORD  SOURCE", "carol@example.com  carol@appleid.example.com  mdm-adde  password  admin"]);
    expect(json(await adenroll(["users", "list", "--json", ...data]))).toEqual({
      users: [{ userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true, source: "admin" }],
    });
    expect(await adenroll(["users", "set-password", "carol@example.com", "--password-stdin", ...data], { input: "another long passphrase" })).toMatchObject({ code: 0, out: "password set for carol@example.com" });
    expect(await adenroll(["users", "remove", "carol@example.com", ...data])).toMatchObject({ code: 0, out: "removed carol@example.com" });
    expect(await adenroll(["users", "list", ...data])).toMatchObject({ code: 0, out: "no users" });
    const audit = await adenroll(["audit", "list", "--json", ...data]);
    const entries = (json(audit) as { entries: { actor: string; action: string; subject: string }[] }).entries;
    expect(entries.map((e) => [e.actor, e.action, e.subject])).toEqual([
      ["admin:cli", "user.removed", "carol@example.com"],
      ["admin:cli", "user.password-set", "carol@example.com"],
      ["admin:cli", "user.added", "carol@example.com"],
    ]);
    const human = await adenroll(["audit", "list", "--limit", "1", ...data]);
    expect(human.out.split("\n")).toHaveLength(2);
    expect(human.out).toMatch(/^AT +ACTOR +ACTION +SUBJECT +DETAIL\n\d{4}-\d\d-\d\dT[\d:.]+Z +admin:cli +user\.removed +carol@example\.com +\{"managedAppleId":"carol@appleid\.example\.com"\}$/);
    for (const ran of [added, listed, audit, human]) expect(ran.out + ran.err).not.toContain(passwords.carol);
  });

  it("enrollments list / show (a token hash prefix only) / tokens revoke / unenroll; an unknown one fails with 1", async () => {
    const list = await adenroll(["enrollments", "list", "--user", "alice@example.com", ...data]);
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(/^ID +STATE +USER +TYPE +DEVICE +UPDATED\ne-alice +enrolled +alice@example\.com +mdm-byod +iPhone13,2 19A346 +\d{4}-/);
    const show = await adenroll(["enrollments", "show", "e-alice", ...data]);
    expect(show.out).toContain("token             sha256 aliceTok… (expires 2030-01-01T00:00:00.000Z)");
    expect(show.out + JSON.stringify(json(await adenroll(["enrollments", "show", "e-alice", "--json", ...data])))).not.toContain(hashOfAliceToken);

    const revoke = await adenroll(["tokens", "revoke", "--enrollment", "e-alice", ...data]);
    expect(revoke.code, revoke.err).toBe(0);
    expect(revoke.out.split("\n")).toEqual([
      "revoked the token of e-alice (alice@example.com; enrolled → tokenInvalidated)",
      "1 token(s) revoked: those devices get 401 with their challenge until the person signs in again",
    ]);
    const unenroll = await adenroll(["enrollments", "unenroll", "e-alice", "--json", ...data]);
    expect(json(unenroll)).toEqual({ change: { id: "e-alice", userIdentifier: "alice@example.com", from: "tokenInvalidated", to: "unenrolled", hadToken: false } });
    expect((await adenroll(["enrollments", "list", "--state", "unenrolled", "--json", ...data])).out).toContain('"id": "e-alice"');

    const unknown = await adenroll(["enrollments", "show", "e-nobody", ...data]);
    expect(unknown).toMatchObject({ code: 1, out: "" });
    expect(unknown.err).toBe('adenroll enrollments show: no enrollment "e-nobody" (admin.not-found)');
    expect((await adenroll(["tokens", "revoke", "--user", "nobody@example.com", ...data])).code).toBe(1);
    expect((await adenroll(["users", "remove", "nobody@example.com", ...data])).code).toBe(1);
  });

  it("refuses to open the embedded database while a server holds it (1), or when there is none (1)", async () => {
    const lock = await lockDataFolder(dataDir, "adenroll serve");
    try {
      const held = await adenroll(["users", "list", ...data]);
      expect(held.code).toBe(1);
      expect(held.err).toMatch(/in use by adenroll serve \(pid \d+ on .+\).*use --server URL/);
    } finally {
      await lock.release();
    }
    expect((await adenroll(["users", "list", ...data])).code).toBe(0);
    const none = await adenroll(["users", "list", "--data", path.join(root, "empty")]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no embedded database in .*empty.pglite/);
  });

  it("bad usage exits 2 and changes nothing", async () => {
    const cases: readonly (readonly string[])[] = [
      ["users"],
      ["users", "rename", "x"],
      ["users", "add", "carol@example.com", ...data],
      ["users", "add", "carol@example.com", "--managed-apple-id", "carol@appleid.example.com", "--password-stdin", ...data],
      ["users", "add", "carol@example.com", "--managed-apple-id", "carol@appleid.example.com", "--enrollment-type", "byod", ...data],
      ["users", "add", "carol@example.com", "--managed-apple-id", "not-an-account", ...data],
      ["users", "add", "--managed-apple-id", "carol@appleid.example.com", ...data],
      ["users", "set-password", "carol@example.com", ...data],
      ["users", "list", "--colour", ...data],
      ["enrollments", "show", ...data],
      ["enrollments", "list", "--limit", "0", ...data],
      ["enrollments", "list", "--state", "happy", ...data],
      ["tokens", "revoke", ...data],
      ["tokens", "revoke", "--user", "a@example.com", "--enrollment", "e", ...data],
      ["audit", "list", "--server", "http://127.0.0.1:1", ...data],
      ["audit", "list", "--server", "http://127.0.0.1:1"],
      ["audit", "list", "--database", "mysql://x"],
      ["audit", "list", "--admin-token-file", "x", ...data],
      ["admin-token", "--name", "bad name"],
    ];
    for (const args of cases) {
      const ran = await adenroll(args, { input: "short" });
      expect(ran.code, `${args.join(" ")}\n${ran.err}`).toBe(2);
      expect(ran.err).not.toBe("");
    }
    expect((await adenroll(["users", "list", ...data])).out).toBe("no users");
  });

  it("--help on every command and subcommand", async () => {
    for (const args of [["users"], ["users", "add"], ["users", "list"], ["users", "remove"], ["users", "set-password"], ["enrollments"], ["enrollments", "list"], ["enrollments", "show"], ["enrollments", "unenroll"], ["tokens"], ["tokens", "revoke"], ["audit"], ["audit", "list"], ["admin-token"]]) {
      const ran = await adenroll([...args, "--help"]);
      expect(ran.code, args.join(" ")).toBe(0);
      expect(ran.out).toMatch(/^Usage: adenroll /);
    }
    expect((await adenroll(["--help"])).out).toMatch(/users +add, list, remove users/);
  });
});

const postgres = await probePostgres();

describe.skipIf(!postgres.ok && !inCI)("direct mode: --database postgres://…", () => {
  it("acts on the database as admin:cli; an unreachable one fails with 1", { timeout: 60_000 }, async () => {
    const database = await createTestDatabase();
    try {
      const db = ["--database", database.url];
      const added = await adenroll(["users", "add", "carol@example.com", "--managed-apple-id", "carol@appleid.example.com", ...db]);
      expect(added.code, added.err).toBe(0);
      expect((await adenroll(["users", "list", ...db])).out).toContain("carol@example.com  carol@appleid.example.com  (domain's)  no password  admin");
      expect(json(await adenroll(["audit", "list", "--json", ...db]))).toMatchObject({ entries: [{ actor: "admin:cli", action: "user.added", subject: "carol@example.com" }] });
    } finally {
      await database.drop();
    }
    const unreachable = await adenroll(["users", "list", "--database", "postgres://nobody@127.0.0.1:1/none"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toContain("cannot reach the database");
  });
});

describe("server mode: --server URL", () => {
  let storage: OpenedStorage;
  let loopback: LoopbackServer;
  let server: string;
  const tokenFile = path.join(root, "token");

  beforeAll(async () => {
    storage = await openStorage({ memory: true });
    const started = await start(await testConfig(), storage);
    await putEnrollment(storage, enrollmentRecord("e-alice", { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", tokenHash: hashOfAliceToken, enrollmentId: "ENR-A" }));
    loopback = await listenOnLoopback((request) => started.adenroll.fetch(request));
    server = loopback.origin;
    writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
  }, 60_000);
  afterAll(async () => {
    await loopback.close();
    await storage.close();
  });

  const env = { ADENROLL_ADMIN_TOKEN: adminToken };

  it("every operation through the API, with the token from the environment or a file; audited as admin:ops", async () => {
    const added = await adenroll(["users", "add", "carol@example.com", "--managed-apple-id", "carol@appleid.example.com", "--password-stdin", "--server", server], { env, input: passwords.carol });
    expect(added, added.err).toMatchObject({ code: 0, out: "added carol@example.com (carol@appleid.example.com; the domain's enrollment type; with a password)" });
    expect(json(await adenroll(["users", "list", "--json", "--server", server, "--admin-token-file", tokenFile]))).toEqual({
      users: [
        { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", enrollmentType: null, hasPassword: true, source: "config" },
        { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: null, hasPassword: true, source: "admin" },
      ],
    });
    expect((await adenroll(["users", "set-password", "carol@example.com", "--password-stdin", "--server", server], { env, input: "another long passphrase" })).code).toBe(0);
    expect((await adenroll(["users", "remove", "carol@example.com", "--server", server], { env })).code).toBe(0);

    const listed = await adenroll(["enrollments", "list", "--user", "alice@example.com", "--state", "enrolled", "--limit", "5", "--json", "--server", server], { env });
    expect(json(listed)).toMatchObject({ enrollments: [{ id: "e-alice", token: { hashPrefix: "aliceTok" } }] });
    expect((await adenroll(["enrollments", "show", "e-alice", "--server", server], { env })).out).toContain("enrollment id     ENR-A");
    expect((await adenroll(["tokens", "revoke", "--user", "alice@example.com", "--server", `${server}/`], { env })).out).toContain("revoked the token of e-alice");
    expect((await adenroll(["enrollments", "unenroll", "e-alice", "--server", server], { env })).out).toBe(
      "unenrolled e-alice (tokenInvalidated → unenrolled): its device's next request gets 403 com.apple.unrecognized.device",
    );
    const audit = json(await adenroll(["audit", "list", "--limit", "6", "--json", "--server", server], { env })) as { entries: { actor: string; action: string }[] };
    expect(audit.entries.map((e) => `${e.actor} ${e.action}`)).toEqual([
      "admin:ops enrollment.unenrolled",
      "admin:ops enrollment.token-revoked",
      "admin:ops user.removed",
      "admin:ops user.password-set",
      "admin:ops user.added",
    ]);
  });

  it("failures: a wrong token, not found, a conflict (1); invalid input (2); an unreachable server (1)", async () => {
    const refused = await adenroll(["users", "list", "--server", server], { env: { ADENROLL_ADMIN_TOKEN: "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc" } });
    expect(refused).toMatchObject({ code: 1, err: "adenroll users list: the server refused the admin token (admin.unauthorized)" });
    expect(await adenroll(["enrollments", "show", "e-nobody", "--server", server], { env })).toMatchObject({ code: 1, err: 'adenroll enrollments show: no enrollment "e-nobody" (admin.not-found)' });
    expect((await adenroll(["users", "remove", "alice@example.com", "--server", server], { env })).code).toBe(1);
    const invalid = await adenroll(["users", "add", "dave@unknown.example", "--managed-apple-id", "dave@appleid.example.com", "--server", server], { env });
    expect(invalid.code).toBe(2);
    expect(invalid.err).toContain("admin.invalid");
    const closed = await listenOnLoopback(() => new Response(null));
    await closed.close();
    const unreachable = await adenroll(["users", "list", "--server", closed.origin], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+/);
    const notAdenroll = await listenOnLoopback(() => new Response("<html>hello</html>", { status: 200 }));
    try {
      expect((await adenroll(["users", "list", "--server", notAdenroll.origin], { env })).code).toBe(1);
    } finally {
      await notAdenroll.close();
    }
  });
});

describe("adenroll admin-token", () => {
  it("prints a new ≥128-bit token and its SHA-256 (hex), which the config accepts and the API then honours", async () => {
    const ran = await adenroll(["admin-token", "--name", "alex", "--json"], { random: seededRandom(91) });
    const printed = json(ran) as { name: string; token: string; tokenHash: string };
    expect(printed.name).toBe("alex");
    expect(printed.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(printed.tokenHash).toBe(await adminTokenHash(printed.token));
    const human = await adenroll(["admin-token"]);
    expect(human.out).toMatch(/^token {6}[A-Za-z0-9_-]{43}\ntokenHash  [0-9a-f]{64}\n/);
    expect(human.out).toContain("admin:\n  tokens:\n    - name: admin\n      tokenHash: ");

    const config = await testConfig({ admin: { tokens: [{ name: printed.name, tokenHash: printed.tokenHash.toUpperCase() }] } });
    expect(config.admin.tokens).toEqual([{ name: "alex", tokenHash: printed.tokenHash }]);
    const storage = await openStorage({ memory: true });
    try {
      const s = await start(config, storage);
      const answer = await s.adenroll.fetch(new Request("https://mdm.example.com/admin/v1/users", { headers: { authorization: `Bearer ${printed.token}` } }));
      expect(answer.status).toBe(200);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it("the config refuses a token hash that is not 64 hex characters, without echoing it, and duplicate names", async () => {
    const bad = parseConfig(
      {
        publicBaseUrl: "https://mdm.example.com",
        organizations: [{ name: "X", domains: { "example.com": "mdm-byod" } }],
        profile: { identifierPrefix: "com.example.mdm", topic: "com.apple.mgmt.External.x", identity: { kind: "scep", url: "https://mdm.example.com/scep" } },
        admin: { tokens: [{ name: "a", tokenHash: "the-token-itself-by-mistake" }, { name: "b", tokenHash: "0".repeat(64) }, { name: "b", tokenHash: "1".repeat(64) }] },
      },
      { baseDir: root },
    );
    await expect(bad).rejects.toThrow(/admin\.tokens\[0\]\.tokenHash: expected the token's SHA-256 in hex/);
    await expect(bad).rejects.toThrow(/admin\.tokens\[2\]\.name: duplicate of admin\.tokens\[1\]/);
    await expect(bad).rejects.not.toThrow(/the-token-itself-by-mistake/);
  });
});

describe("adenroll serve and the data folder's admin token", () => {
  it("creates DIR/admin-token (0600) at first start, prints its path (never the token), and holds the embedded database", { timeout: 120_000 }, async () => {
    const dataDir = path.join(root, "served");
    const out: string[] = [];
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const serving = runServe(["--port", "0", "--data", dataDir], listenNode, { out: (l) => out.push(l), err: (l) => out.push(l) }, stopped);
    const deadline = Date.now() + 90_000;
    while (!out.some((l) => l.startsWith("adenroll: admin API at")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    try {
      const line = out.find((l) => l.startsWith("adenroll: admin API at")) ?? "";
      const file = path.join(dataDir, "admin-token");
      expect(line).toMatch(new RegExp(`^adenroll: admin API at (http://127\\.0\\.0\\.1:\\d+)/admin/v1; admin token in ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(created now\\)$`));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, "utf8").trim();
      expect(out.join("\n")).not.toContain(token);
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1] ?? "";

      const listed = await adenroll(["users", "list", "--server", url, "--admin-token-file", file]);
      expect(listed.code, listed.err).toBe(0);
      expect(listed.out).toContain("demo@example.com");
      // The server holds the embedded database: acting on it directly is refused.
      const direct = await adenroll(["users", "list", "--data", dataDir]);
      expect(direct.code).toBe(1);
      expect(direct.err).toContain("in use by adenroll serve");
    } finally {
      stop();
      expect(await serving).toBe(0);
    }
    expect(existsSync(path.join(dataDir, "pglite.lock"))).toBe(false);
    const after = await adenroll(["users", "list", "--data", dataDir]);
    expect(after.code, after.err).toBe(0);
    expect(after.out).toContain("demo@example.com");
  });
});
