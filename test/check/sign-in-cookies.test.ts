// adenroll check's own web session (runtime/check/sign-in.ts signInWithForms) keeps cookies as a web
// view does (runtime/device.ts WebViewCookies): a server whose sign-in needs a SameSite=Strict cookie
// back after a cross-site redirect fails here as it would on a device.
import { describe, expect, it } from "vitest";
import { Recorder } from "../../runtime/check/recorder.ts";
import { signInWithForms } from "../../runtime/check/sign-in.ts";
import { twoSiteSignIn, twoSiteStartUrl } from "../support/two-sites.ts";

async function roundTrip(attributes: string): Promise<string> {
  const recorder = new Recorder({ fetch: twoSiteSignIn(attributes) });
  const outcome = await signInWithForms({ recorder, label: "sign-in", startUrl: twoSiteStartUrl, callbackScheme: "apple-remotemanagement-user-login", username: "alice", password: "x", browser: "never" });
  if (outcome.kind !== "callback") throw new Error(`expected the callback, got ${outcome.kind}`);
  // The recorded exchanges show the cookie that was sent, masked or not, only where it was.
  expect(recorder.exchanges.filter((e) => "cookie" in e.request.headers).map((e) => new URL(e.request.url).host)).toEqual(new URL(outcome.url).searchParams.get("ok") === "1" ? ["mdm.example.com"] : []);
  return new URL(outcome.url).searchParams.get("ok") ?? "";
}

describe("adenroll check's web session", () => {
  it("sends a Strict cookie back only on same-site navigations, Lax and None also after the provider's cross-site redirect", async () => {
    expect(await roundTrip("SameSite=Strict")).toBe("0");
    expect(await roundTrip("SameSite=Lax")).toBe("1");
    expect(await roundTrip("SameSite=None")).toBe("1");
  });
});
