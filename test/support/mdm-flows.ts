// Over HTTP against a TestServer: a device through steps 4–13 (first enroll, sign-in, second enroll).
import { expect } from "vitest";
import * as client from "../../generated/client.generated.ts";
import { formFields } from "../../runtime/person.ts";
import { parseAuthenticationCallback, parseChallenge, parseEnrollmentProfile, type ConfigurationProfile } from "../../spec/index.ts";
import { alice, type TestServer } from "./fixtures.ts";

export const testOrigin = "https://mdm.example.com";

export interface EnrolledOverHttp {
  readonly token: string;
  /** The WWW-Authenticate challenge of the first enroll: what a refused MDM request carries again. */
  readonly challenge: string | undefined;
  readonly challengeUrl: string;
  readonly profile: ConfigurationProfile;
}

/** Signs `user` in at an apple-as-web URL as the page would (with its anti-CSRF token); the access token. */
export async function signInOverHttp(server: TestServer, url: string, user: { readonly userIdentifier: string; readonly password: string } = alice): Promise<string> {
  const page = await client.webAuthPage(server.fetch, { url });
  const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
  const submitted = await client.webAuthSubmit(server.fetch, { url, form: { username: user.userIdentifier, password: user.password, csrf } });
  const callback = parseAuthenticationCallback(submitted.headers["location"] ?? "");
  if (!callback.ok) throw new Error(`sign-in failed: ${submitted.status}`);
  return callback.value.accessToken;
}

export async function enrollOverHttp(server: TestServer, body: Uint8Array, user: { readonly userIdentifier: string; readonly password: string } = alice, version = "mdm-byod"): Promise<EnrolledOverHttp> {
  const url = `${testOrigin}/enroll/${version}`;
  const first = await client.enroll(server.fetch, { url, body });
  expect(first.status).toBe(401);
  const challenge = parseChallenge(first.headers["www-authenticate"]);
  if (!challenge.ok || challenge.value.method !== "apple-as-web") throw new Error("expected an apple-as-web challenge");
  const token = await signInOverHttp(server, challenge.value.url, user);
  const second = await client.enroll(server.fetch, { url, body, accessToken: token });
  expect(second.status).toBe(200);
  const profile = parseEnrollmentProfile(second.body);
  if (!profile.ok) throw new Error(profile.error.detail);
  return { token, challenge: first.headers["www-authenticate"], challengeUrl: challenge.value.url, profile: profile.value };
}
