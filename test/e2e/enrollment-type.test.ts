// The kind of enrollment is the server's decision (discovery), not the BaseURL the device picks.
import { describe, expect, it } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { formFields } from "../../runtime/person.ts";
import { parseAuthenticationCallback, parseChallenge } from "../../spec/index.ts";
import { alice, realEnrollBody, testServer } from "../support/fixtures.ts";

describe("enrollment type", () => {
  it("PROFILE-6 a BYOD user whose device posts to the ADDE BaseURL gets no profile (and so no AccessRights)", async () => {
    const server = await testServer();
    const url = "https://mdm.example.com/enroll/mdm-adde";
    const first = await client.enroll(server.fetch, { url, body: realEnrollBody });
    const challenge = parseChallenge(first.headers["www-authenticate"]);
    if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("expected a challenge");
    const page = await client.webAuthPage(server.fetch, { url: challenge.value.url });
    const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
    const signedIn = await client.webAuthSubmit(server.fetch, { url: challenge.value.url, form: { username: alice.userIdentifier, password: alice.password, csrf } });
    const token = parseAuthenticationCallback(signedIn.headers["location"] ?? "");
    if (!token.ok) throw new Error("expected a token");
    const second = await client.enroll(server.fetch, { url, body: realEnrollBody, accessToken: token.value.accessToken });
    expect(second.status).toBe(500);
    expect(JSON.parse(new TextDecoder().decode(second.body))).toMatchObject({ code: "profile.misconfigured", rule: "PROFILE-6" });
  });
});
