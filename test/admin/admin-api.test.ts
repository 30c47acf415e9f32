// The admin API through the product's app (createAdenroll: app.fetch), over PGlite in memory:
// without a valid admin token every route answers 401 and changes nothing; with one each operation
// works, answers uncacheable JSON, and leaves an audit entry naming admin:<token name>.
import { describe, expect, it } from "vitest";
import { adminTokenHash } from "../../runtime/admin-token.ts";
import { admin, adminTestBed, adminToken, emptyStorage, enrollmentRecord, origin, passwords, putEnrollment, start, testConfig, type Answer } from "./admin-fixtures.ts";

const bed = adminTestBed(async (storage) => {
  await putEnrollment(storage, enrollmentRecord("e-alice", { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", tokenHash: "aliceTokenHash-0123456789", tokenExpiresAt: Date.now() + 3_600_000, enrollmentId: "ENR-A" }));
});
const fetch = bed.fetch;

function expectAdminHeaders(answer: Answer): void {
  expect(answer.headers.get("cache-control")).toBe("no-store");
  expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
}

function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get("content-type")).toBe("application/problem+json");
  expect(answer.body).toMatchObject({ code });
  expectAdminHeaders(answer);
}

/** Users, enrollments and audit as stored: what "nothing changed" compares. */
async function snapshot(): Promise<unknown> {
  return { users: await bed.storage.users.entries(), enrollments: await bed.storage.enrollments.listEnrollments(), audit: await bed.storage.audit.list() };
}

const newUser = { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", password: passwords.carol };

const routes: readonly (readonly [method: string, path: string, body?: unknown])[] = [
  ["POST", "/users", newUser],
  ["DELETE", "/users/alice@example.com"],
  ["PUT", "/users/alice@example.com/password", { password: "a brand new passphrase" }],
  ["POST", "/enrollments/e-alice/unenroll"],
  ["POST", "/tokens/revoke", { enrollment: "e-alice" }],
  ["POST", "/tokens/revoke", { user: "alice@example.com" }],
  ["GET", "/users"],
  ["GET", "/enrollments"],
  ["GET", "/enrollments/e-alice"],
  ["GET", "/audit"],
  ["GET", "/nowhere"],
];

describe("authentication", () => {
  it("401 with a challenge, no-store, and nothing changed: without a token, with a wrong one, a malformed one, another scheme", async () => {
    const before = await snapshot();
    const wrong = [{ token: null }, { token: "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc" }, { authorization: "Bearer" }, { authorization: `Basic ${btoa("ops:x")}` }, { authorization: "Bearer a b" }] as const;
    for (const [method, path, body] of routes) {
      for (const credentials of wrong) {
        const answer = await admin(fetch, method, path, { ...credentials, ...(body === undefined ? {} : { body }) });
        expectProblem(answer, 401, "admin.unauthorized");
        expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="adenroll admin"');
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it("no admin token configured or given: every request is refused", async () => {
    const closed = await start(await testConfig({ admin: { tokens: [] } }), await emptyStorage(bed.storage));
    expectProblem(await admin((r) => closed.adenroll.fetch(r), "GET", "/users"), 401, "admin.unauthorized");
    expectProblem(await admin((r) => closed.adenroll.fetch(r), "POST", "/users", { body: newUser }), 401, "admin.unauthorized");
    expect(await bed.storage.users.get("carol@example.com")).toBeNull();
  });

  it("the data folder's token (adminTokens) is used when the configuration names none, as admin:local", async () => {
    const token = "ZGF0YS1mb2xkZXItdG9rZW4tZm9yLXRlc3Rz";
    const local = await start(await testConfig({ admin: { tokens: [] } }), await emptyStorage(bed.storage), { adminTokens: [{ name: "local", tokenHash: await adminTokenHash(token) }] });
    const f = (r: Request) => local.adenroll.fetch(r);
    expect((await admin(f, "POST", "/users", { body: newUser, token })).status).toBe(201);
    expect((await bed.storage.audit.list())[0]).toMatchObject({ actor: "admin:local", action: "user.added" });
    // The configuration's tokens, when it names some, are the only ones.
    const configured = await start(await testConfig(), bed.storage, { adminTokens: [{ name: "local", tokenHash: await adminTokenHash(token) }] });
    expectProblem(await admin((r) => configured.adenroll.fetch(r), "GET", "/users", { token }), 401, "admin.unauthorized");
  });

  it("the generated server's routes are untouched next to it", async () => {
    const discovery = await fetch(new Request(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=alice@example.com&model-family=iPhone`));
    expect(discovery.status).toBe(200);
    const unknown = await fetch(new Request(`${origin}/nowhere`));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "not-found" });
  });
});

describe("operations", () => {
  it("users: add (201), list, set-password, remove — each audited as admin:ops at the server's clock, never with the password", async () => {
    const added = await admin(fetch, "POST", "/users", { body: { ...newUser, enrollmentType: "mdm-adde" } });
    expect(added.status).toBe(201);
    expect(added.headers.get("content-type")).toBe("application/json");
    expectAdminHeaders(added);
    expect(added.body).toEqual({ user: { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true, source: "admin" } });
    expect(added.text).not.toContain(passwords.carol);

    // Discovery sees her at once (the lookup cache forgot her), with her own enrollment type.
    const discovery = await fetch(new Request(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=carol@example.com&model-family=iPhone`));
    expect(await discovery.json()).toEqual({ Servers: [{ Version: "mdm-adde", BaseURL: `${origin}/enroll/mdm-adde` }] });

    const listed = await admin(fetch, "GET", "/users");
    expect(listed.body).toEqual({
      users: [
        { userIdentifier: "alice@example.com", managedAppleId: "alice@appleid.example.com", enrollmentType: null, hasPassword: true, source: "config" },
        { userIdentifier: "carol@example.com", managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true, source: "admin" },
      ],
    });
    bed.server.clock.now += 5_000;
    expect((await admin(fetch, "PUT", "/users/carol@example.com/password", { body: { password: "a brand new passphrase" } })).status).toBe(200);
    bed.server.clock.now += 5_000;
    expect((await admin(fetch, "DELETE", `/users/${encodeURIComponent("Carol@Example.com")}`)).body).toMatchObject({ user: { userIdentifier: "carol@example.com" } });
    const gone = await fetch(new Request(`${origin}/.well-known/com.apple.remotemanagement?user-identifier=carol@example.com&model-family=iPhone`));
    expect(gone.status).toBe(403);

    const audit = await admin(fetch, "GET", "/audit?limit=10");
    expect(audit.body).toEqual({
      entries: [
        { at: new Date(bed.server.clock.now).toISOString(), actor: "admin:ops", action: "user.removed", subject: "carol@example.com", detail: { managedAppleId: "carol@appleid.example.com" } },
        { at: new Date(bed.server.clock.now - 5_000).toISOString(), actor: "admin:ops", action: "user.password-set", subject: "carol@example.com", detail: {} },
        {
          at: new Date(bed.server.clock.now - 10_000).toISOString(),
          actor: "admin:ops",
          action: "user.added",
          subject: "carol@example.com",
          detail: { managedAppleId: "carol@appleid.example.com", enrollmentType: "mdm-adde", hasPassword: true },
        },
      ],
    });
    expect(audit.text).not.toContain("a brand new passphrase");
    expect(audit.text).not.toContain(passwords.carol);
  });

  it("users: 409 for a duplicate or a configuration's user, 404 for an unknown one, 400 for bad input", async () => {
    expect((await admin(fetch, "POST", "/users", { body: newUser })).status).toBe(201);
    expectProblem(await admin(fetch, "POST", "/users", { body: { ...newUser, userIdentifier: "CAROL@example.com" } }), 409, "admin.conflict");
    expectProblem(await admin(fetch, "DELETE", "/users/alice@example.com"), 409, "admin.conflict");
    expectProblem(await admin(fetch, "PUT", "/users/alice@example.com/password", { body: { password: "a brand new passphrase" } }), 409, "admin.conflict");
    expectProblem(await admin(fetch, "DELETE", "/users/nobody@example.com"), 404, "admin.not-found");
    expectProblem(await admin(fetch, "POST", "/users", { body: { ...newUser, userIdentifier: "dave@example.com", password: "short" } }), 400, "admin.invalid");
    expectProblem(await admin(fetch, "POST", "/users", { body: { ...newUser, userIdentifier: "dave@unknown.example" } }), 400, "admin.invalid");
    expectProblem(await admin(fetch, "PUT", "/users/carol@example.com/password", { body: {} }), 400, "admin.invalid");
    expect(await bed.storage.users.get("dave@example.com")).toBeNull();
  });

  it("enrollments: list with filters, show (token hash cut short), unenroll; 404 for an unknown one", async () => {
    const list = await admin(fetch, "GET", "/enrollments?user=ALICE@example.com&state=enrolled&limit=5");
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ enrollments: [{ id: "e-alice", state: "enrolled", userIdentifier: "alice@example.com", token: { hashPrefix: "aliceTok" } }] });
    expect((await admin(fetch, "GET", "/enrollments?state=unenrolled")).body).toEqual({ enrollments: [] });
    expectProblem(await admin(fetch, "GET", "/enrollments?state=bogus"), 400, "admin.invalid");
    expectProblem(await admin(fetch, "GET", "/enrollments?color=blue"), 400, "admin.invalid");
    const shown = await admin(fetch, "GET", "/enrollments/e-alice");
    expect(shown.body).toMatchObject({ enrollment: { id: "e-alice", enrollmentId: "ENR-A" } });
    expect(shown.text).not.toContain("aliceTokenHash-0123456789");
    expectProblem(await admin(fetch, "GET", "/enrollments/e-nobody"), 404, "admin.not-found");

    const unenrolled = await admin(fetch, "POST", "/enrollments/e-alice/unenroll");
    expect(unenrolled.body).toEqual({ change: { id: "e-alice", userIdentifier: "alice@example.com", from: "enrolled", to: "unenrolled", hadToken: true } });
    expectProblem(await admin(fetch, "POST", "/enrollments/e-nobody/unenroll"), 404, "admin.not-found");
    expect((await bed.storage.audit.list())[0]).toEqual({ at: bed.server.clock.now, actor: "admin:ops", action: "enrollment.unenrolled", subject: "e-alice", detail: { user: "alice@example.com", from: "enrolled", to: "unenrolled", hadToken: true } });
  });

  it("tokens revoke by enrollment and by user; 404 for neither; 400 for both", async () => {
    const one = await admin(fetch, "POST", "/tokens/revoke", { body: { enrollment: "e-alice" } });
    expect(one.body).toEqual({ revoked: [{ id: "e-alice", userIdentifier: "alice@example.com", from: "enrolled", to: "tokenInvalidated", hadToken: true }], skipped: [] });
    const byUser = await admin(fetch, "POST", "/tokens/revoke", { body: { user: "alice@example.com" } });
    expect(byUser.body).toMatchObject({ revoked: [{ id: "e-alice", hadToken: false }] });
    expectProblem(await admin(fetch, "POST", "/tokens/revoke", { body: { user: "nobody@example.com" } }), 404, "admin.not-found");
    expectProblem(await admin(fetch, "POST", "/tokens/revoke", { body: { enrollment: "e-nobody" } }), 404, "admin.not-found");
    expectProblem(await admin(fetch, "POST", "/tokens/revoke", { body: { user: "alice@example.com", enrollment: "e-alice" } }), 400, "admin.invalid");
    expect((await bed.storage.audit.list()).map((e) => [e.actor, e.action, e.subject])).toEqual([
      ["admin:ops", "enrollment.token-revoked", "e-alice"],
      ["admin:ops", "enrollment.token-revoked", "e-alice"],
    ]);
  });
});

describe("requests it refuses", () => {
  it("a body over 16 KiB (413), not JSON or not application/json (400), an unknown route (404) — all no-store", async () => {
    const big = await fetch(
      new Request(`${origin}/admin/v1/users`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ ...newUser, padding: "x".repeat(17 * 1024) }),
      }),
    );
    expect(big.status).toBe(413);
    expect(big.headers.get("cache-control")).toBe("no-store");
    expect(await big.json()).toMatchObject({ code: "request.too-large" });
    const notJson = await fetch(new Request(`${origin}/admin/v1/users`, { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: "{not json" }));
    expect(notJson.status).toBe(400);
    const form = await fetch(new Request(`${origin}/admin/v1/users`, { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/x-www-form-urlencoded" }, body: "userIdentifier=x" }));
    expect(form.status).toBe(400);
    expectProblem(await admin(fetch, "GET", "/nowhere"), 404, "not-found");
    expectProblem(await admin(fetch, "PATCH", "/users"), 404, "not-found");
    expect(await bed.storage.users.get("carol@example.com")).toBeNull();
  });
});
