// Discovery as the device builds it and the server routes it (steps 2–3).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  buildDiscoveryRedirect,
  buildWellKnownUrl,
  followRedirect,
  isJsonMediaType,
  ModelFamily,
  selectServer,
  WellKnownRequest,
  wellKnownPath,
} from "../../spec/index.ts";

describe("service discovery", () => {
  it("DISCOVERY-1 the device GETs https://<domain>/.well-known/com.apple.remotemanagement with user-identifier and model-family", () => {
    const url = new URL(buildWellKnownUrl("example.com", { "user-identifier": "user01@example.com", "model-family": "iPhone" }));
    expect(url.protocol).toBe("https:");
    expect(url.host).toBe("example.com");
    expect(url.pathname).toBe(wellKnownPath);
    expect(url.searchParams.get("user-identifier")).toBe("user01@example.com");
    expect(url.searchParams.get("model-family")).toBe("iPhone");
    expect([...url.searchParams.keys()]).toEqual(["user-identifier", "model-family"]);
  });

  it("DISCOVERY-1 identifiers with reserved characters survive the round trip", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (user) => {
        const id = `${user}@example.com`;
        const url = new URL(buildWellKnownUrl("example.com", { "user-identifier": id, "model-family": "Mac" }));
        expect(url.searchParams.get("user-identifier")).toBe(id);
      }),
    );
  });

  it("DISCOVERY-2 model-family is one of AppleTV, iPad, iPhone, Mac, RealityDevice, Watch", () => {
    expect(ModelFamily.options).toEqual(["AppleTV", "iPad", "iPhone", "Mac", "RealityDevice", "Watch"]);
    expect(WellKnownRequest.safeParse({ "user-identifier": "a@example.com", "model-family": "RealityDevice" }).success).toBe(true);
    expect(WellKnownRequest.safeParse({ "user-identifier": "a@example.com", "model-family": "iphone" }).success).toBe(false);
    expect(WellKnownRequest.safeParse({ "user-identifier": "a@example.com", "model-family": "Android" }).success).toBe(false);
  });

  it("DISCOVERY-8 a redirect is followed to its Location as-is, without re-appending the original query", () => {
    const start = buildWellKnownUrl("example.com", { "user-identifier": "a@example.com", "model-family": "iPhone" });
    expect(followRedirect(start, "https://mdm.example.com/.well-known/com.apple.remotemanagement")).toBe(
      "https://mdm.example.com/.well-known/com.apple.remotemanagement",
    );
    expect(followRedirect(start, "/discover?tenant=1")).toBe("https://example.com/discover?tenant=1");
    expect(followRedirect(start, "http://[bad")).toBeNull();
  });

  it("DISCOVERY-12 a server redirect carries both parameters itself and keeps the target's own query", () => {
    const target = new URL(buildDiscoveryRedirect("https://mdm.example.com/wk?tenant=7", { "user-identifier": "a@example.com", "model-family": "iPad" }));
    expect(target.searchParams.get("tenant")).toBe("7");
    expect(target.searchParams.get("user-identifier")).toBe("a@example.com");
    expect(target.searchParams.get("model-family")).toBe("iPad");
  });

  it("DISCOVERY-4 JSON media types are recognised with parameters, others are not", () => {
    expect(isJsonMediaType("application/json")).toBe(true);
    expect(isJsonMediaType("application/json; charset=utf-8")).toBe(true);
    expect(isJsonMediaType("Application/JSON")).toBe(true);
    expect(isJsonMediaType("application/problem+json")).toBe(true);
    expect(isJsonMediaType("text/json")).toBe(false);
    expect(isJsonMediaType("text/html")).toBe(false);
    expect(isJsonMediaType(null)).toBe(false);
  });

  it("DISCOVERY-7 the first item with a supported Version and an absolute BaseURL is taken", () => {
    const chosen = selectServer(
      { Servers: [{ Version: "mdm-future", BaseURL: "https://a.example.com" }, { Version: "mdm-adde", BaseURL: "relative/path" }, { Version: "mdm-adde", BaseURL: "https://b.example.com/e" }] },
      ["mdm-byod", "mdm-adde"],
    );
    expect(chosen).toEqual({ ok: true, value: { version: "mdm-adde", baseUrl: "https://b.example.com/e" } });
    expect(selectServer({ Servers: [{ Version: "mdm-adde", BaseURL: "https://b.example.com" }] }, ["mdm-byod"])).toMatchObject({ ok: false, error: { ruleId: "DISCOVERY-7" } });
  });
});
