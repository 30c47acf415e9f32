// A device through steps 4–13 over real HTTP, with the generated client: first enroll (401 and the
// challenge), the sign-in page and form, second enroll with the token (the profile). It sends no
// check-in: the test's first MDM request is its own.
import * as client from "../../generated/client.generated.ts";
import { formFields } from "../../runtime/person.ts";
import { parseAuthenticationCallback, parseChallenge } from "../../spec/index.ts";

export interface EnrolledOverHttp {
  readonly token: string;
  /** The enrollment's reference: the last segment of its challenge URL. */
  readonly enrollmentRef: string;
  readonly challengeHeader: string;
}

const send: client.Fetch = (request) => fetch(request);

/** Enrolls against `origin` (the challenge URL's origin, the public base URL, is replaced by it). */
export async function enrollOverHttp(
  origin: string,
  options: { readonly body: Uint8Array; readonly user: { readonly userIdentifier: string; readonly password: string }; readonly version?: "mdm-byod" | "mdm-adde" },
): Promise<EnrolledOverHttp> {
  const enrollUrl = `${origin}/enroll/${options.version ?? "mdm-byod"}`;
  const first = await client.enroll(send, { url: enrollUrl, body: options.body });
  const header = first.headers["www-authenticate"] ?? "";
  const challenge = parseChallenge(header);
  if (first.status !== 401 || !challenge.ok || challenge.value.method !== "apple-as-web") throw new Error(`first enroll: ${first.status} ${header}`);
  const path = new URL(challenge.value.url).pathname;
  const url = `${origin}${path}`;
  const page = await client.webAuthPage(send, { url });
  const csrf = formFields(new TextDecoder().decode(page.body))["csrf"] ?? "";
  const submitted = await client.webAuthSubmit(send, { url, form: { username: options.user.userIdentifier, password: options.user.password, csrf } });
  const callback = parseAuthenticationCallback(submitted.headers["location"] ?? "");
  if (submitted.status !== 308 || !callback.ok) throw new Error(`sign-in: ${submitted.status}`);
  const second = await client.enroll(send, { url: enrollUrl, body: options.body, accessToken: callback.value.accessToken });
  if (second.status !== 200) throw new Error(`second enroll: ${second.status} ${new TextDecoder().decode(second.body)}`);
  return { token: callback.value.accessToken, enrollmentRef: path.split("/").pop() ?? "", challengeHeader: header };
}
