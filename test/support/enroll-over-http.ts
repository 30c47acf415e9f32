// A device through steps 4–13 over HTTP with the generated client: first enroll (401 and the
// challenge), the sign-in page and form, second enroll with the token (the profile). It sends no
// check-in: the test's first MDM request is its own. Against a real listener (`origin` only: the
// challenge URL's origin, the public base URL, is replaced by it) or an in-process TestServer.
import * as client from "../../generated/client.generated.ts";
import { formFields } from "../../runtime/person.ts";
import { parseAuthenticationCallback, parseChallenge, parseEnrollmentProfile, type ConfigurationProfile } from "../../spec/index.ts";
import { alice, type TestServer } from "./fixtures.ts";

/** The public base URL of test/support/fixtures.ts testServer(). */
export const testOrigin = "https://mdm.example.com";

export interface EnrolledOverHttp {
  readonly token: string;
  /** The enrollment's reference: the last segment of its challenge URL. */
  readonly enrollmentRef: string;
  /** The WWW-Authenticate challenge of the first enroll: what a refused MDM request carries again. */
  readonly challengeHeader: string;
  /** The sign-in page (on `origin`): where the person signs in again. */
  readonly challengeUrl: string;
  readonly profile: ConfigurationProfile;
}

type User = { readonly userIdentifier: string; readonly password: string };

/** Where the device talks to: a real origin (global fetch), or a TestServer in process. */
export type Target = string | TestServer;

function endpoint(target: Target): { readonly send: client.Fetch; readonly origin: string } {
  return typeof target === "string" ? { send: (request) => fetch(request), origin: target } : { send: target.fetch, origin: testOrigin };
}

/** Signs `user` in at an apple-as-web URL as the page would (with its anti-CSRF token); the access token. */
export async function signInOverHttp(target: Target, url: string, user: User = alice): Promise<string> {
  const { send, origin } = endpoint(target);
  const at = `${origin}${new URL(url).pathname}`;
  const page = await client.webAuthPage(send, { url: at });
  const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
  const submitted = await client.webAuthSubmit(send, { url: at, form: { username: user.userIdentifier, password: user.password, csrf } });
  const callback = parseAuthenticationCallback(submitted.headers["location"] ?? "");
  if (submitted.status !== 308 || !callback.ok) throw new Error(`sign-in: ${submitted.status}`);
  return callback.value.accessToken;
}

export async function enrollOverHttp(
  target: Target,
  options: { readonly body: Uint8Array; readonly user?: User; readonly version?: "mdm-byod" | "mdm-adde" },
): Promise<EnrolledOverHttp> {
  const { send, origin } = endpoint(target);
  const enrollUrl = `${origin}/enroll/${options.version ?? "mdm-byod"}`;
  const first = await client.enroll(send, { url: enrollUrl, body: options.body });
  const header = first.headers["www-authenticate"] ?? "";
  const challenge = parseChallenge(header);
  if (first.status !== 401 || !challenge.ok || challenge.value.method !== "apple-as-web") throw new Error(`first enroll: ${first.status} ${header}`);
  const path = new URL(challenge.value.url).pathname;
  const token = await signInOverHttp(target, challenge.value.url, options.user ?? alice);
  const second = await client.enroll(send, { url: enrollUrl, body: options.body, accessToken: token });
  if (second.status !== 200) throw new Error(`second enroll: ${second.status} ${new TextDecoder().decode(second.body)}`);
  const profile = parseEnrollmentProfile(second.body);
  if (!profile.ok) throw new Error(`the profile: ${profile.error.detail}`);
  return { token, enrollmentRef: path.split("/").pop() ?? "", challengeHeader: header, challengeUrl: `${origin}${path}`, profile: profile.value };
}
