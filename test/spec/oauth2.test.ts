import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { OAuth2Challenge } from "../../spec/challenge.ts";
import {
  AuthorizationErrorCode,
  AuthorizationRequest,
  TokenErrorResponse,
  TokenRequest,
  TokenResponse,
  buildAuthorizationRequestUrl,
  buildAuthorizationResponseUrl,
  encodeTokenRequest,
  parseAuthorizationCallback,
  parseTokenRequestForm,
} from "../../spec/oauth2.ts";

// DOC-OAUTH: the values of Apple's example exchanges.
const clientId = "03FDDE96-FDAB-45EF-A589-0E29C026E824";
const redirectUrl = "apple-remotemanagement-user-login:/oauth2/redirection";
const state = "340B948D-A84A-45A3-AC45-C93195124B00";
const code = "Dek1jUOEcaIPGhbDrCTm9GDV5qT1sb";
const challenge: OAuth2Challenge = {
  method: "apple-oauth2",
  "authorization-url": "https://mdmserver.example.com/oauth2/authorization",
  "token-url": "https://mdmserver.example.com/oauth2/token",
  "redirect-url": redirectUrl,
  "client-id": clientId,
  scope: "MDM",
};
const { scope: _scope, ...challengeWithoutScope } = challenge;
// Apple's request line, its line breaks removed.
const appleAuthorizationRequest =
  "/oauth2/authorization?response_type=code&client_id=03FDDE96-FDAB-45EF-A589-0E29C026E824" +
  "&redirect_uri=apple-remotemanagement-user-login:/oauth2/redirection&state=340B948D-A84A-45A3-AC45-C93195124B00" +
  "&login_hint=useroauth@example.com";
const appleAuthorizationLocation = "apple-remotemanagement-user-login:/oauth2/redirection?code=Dek1jUOEcaIPGhbDrCTm9GDV5qT1sb&state=340B948D-A84A-45A3-AC45-C93195124B00";
const appleTokenRequestBody =
  "grant_type=authorization_code&code=Dek1jUOEcaIPGhbDrCTm9GDV5qT1sb" +
  "&redirect_uri=apple-remotemanagement-user-login:/oauth2/redirection&client_id=03FDDE96-FDAB-45EF-A589-0E29C026E824";
const appleTokenResponse = `{
    "token_type": "Bearer",
    "scope": "MDM",
    "access_token": "dXNlcm9hdXRo.MjZkNTkzZmMtNzk4MC00OWFkLTllZTAtZTA2NzhmNmVhNzg5",
    "expires_in": 3600,
    "refresh_token": "dXNlcm9hdXRo.NzhiNWU0NWQtMDVlZS00MTAwLThhMjEtZDA5MzI2N2RjNzUx"
}`;

describe("buildAuthorizationRequestUrl", () => {
  it("OAUTH-1 reproduces Apple's authorization request (a challenge without scope)", () => {
    const url = buildAuthorizationRequestUrl(challengeWithoutScope, { state, loginHint: "useroauth@example.com" });
    expect(url).toBe(`https://mdmserver.example.com${appleAuthorizationRequest}`);
  });

  it("OAUTH-1 adds scope after redirect_uri when the challenge has one", () => {
    const url = new URL(buildAuthorizationRequestUrl(challenge, { state, loginHint: "useroauth@example.com" }));
    expect([...url.searchParams.keys()]).toEqual(["response_type", "client_id", "redirect_uri", "scope", "state", "login_hint"]);
    expect(url.searchParams.get("scope")).toBe("MDM");
    const empty = new URL(buildAuthorizationRequestUrl({ ...challenge, scope: "" }, { state, loginHint: "x@y.example" }));
    expect(empty.searchParams.has("scope")).toBe(false);
  });

  it("OAUTH-1 keeps the authorization-url's own query items and sends no PKCE or secret", () => {
    const url = new URL(
      buildAuthorizationRequestUrl({ ...challenge, "authorization-url": "https://idp.example.com/authorize?tenant=acme&prompt=login" }, { state, loginHint: "a@b.example" }),
    );
    expect([...url.searchParams.entries()]).toEqual([
      ["tenant", "acme"],
      ["prompt", "login"],
      ["response_type", "code"],
      ["client_id", clientId],
      ["redirect_uri", redirectUrl],
      ["scope", "MDM"],
      ["state", state],
      ["login_hint", "a@b.example"],
    ]);
    for (const absent of ["code_challenge", "code_challenge_method", "client_secret"]) expect(url.searchParams.has(absent)).toBe(false);
  });

  it("OAUTH-1 the request an authorization server reads is a valid AuthorizationRequest (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), fc.string({ minLength: 1, maxLength: 30 }), (st, hint, scope) => {
        const url = new URL(buildAuthorizationRequestUrl({ ...challenge, scope }, { state: st, loginHint: hint }));
        const parsed = AuthorizationRequest.safeParse(Object.fromEntries(url.searchParams));
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual({ response_type: "code", client_id: clientId, redirect_uri: redirectUrl, scope, state: st, login_hint: hint });
      }),
      { numRuns: 200 },
    );
  });

  it("OAUTH-1 AuthorizationRequest accepts PKCE and requires response_type=code", () => {
    const base = { response_type: "code", client_id: clientId, redirect_uri: redirectUrl };
    expect(AuthorizationRequest.safeParse(base).success).toBe(true);
    expect(AuthorizationRequest.safeParse({ ...base, code_challenge: "abc", code_challenge_method: "S256" }).success).toBe(true);
    expect(AuthorizationRequest.safeParse({ ...base, response_type: "token" }).success).toBe(false);
    expect(AuthorizationRequest.safeParse({ ...base, redirect_uri: "/oauth2/redirection" }).success).toBe(false);
    expect(AuthorizationRequest.safeParse({ ...base, code_challenge_method: "S512" }).success).toBe(false);
  });
});

describe("buildAuthorizationResponseUrl", () => {
  it("OAUTH-6 reproduces Apple's authorization response Location", () => {
    expect(buildAuthorizationResponseUrl(redirectUrl, { code, state })).toBe(appleAuthorizationLocation);
  });

  it("OAUTH-6 keeps redirect-url's query; state only when given", () => {
    expect(buildAuthorizationResponseUrl(`${redirectUrl}?tenant=acme`, { code: "c+1", state: "s&2" })).toBe(`${redirectUrl}?tenant=acme&code=c%2B1&state=s%262`);
    expect(buildAuthorizationResponseUrl(redirectUrl, { code: "c" })).toBe(`${redirectUrl}?code=c`);
  });

  it("OAUTH-6 what the server sends is what the device reads (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), (c, s) => {
        expect(parseAuthorizationCallback(buildAuthorizationResponseUrl(redirectUrl, { code: c, state: s }), s)).toEqual({ ok: true, value: { code: c } });
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseAuthorizationCallback", () => {
  const failure = (url: string, expected = state) => {
    const result = parseAuthorizationCallback(url, expected);
    return result.ok ? undefined : [result.error.code, result.error.ruleId];
  };

  it("OAUTH-2 reads Apple's authorization response", () => {
    expect(parseAuthorizationCallback(appleAuthorizationLocation, state)).toEqual({ ok: true, value: { code } });
  });

  it("OAUTH-2 compares state exactly", () => {
    expect(failure(appleAuthorizationLocation, state.toLowerCase())).toEqual(["oauth2.state-mismatch", "OAUTH-2"]);
    expect(failure(appleAuthorizationLocation, `${state} `)).toEqual(["oauth2.state-mismatch", "OAUTH-2"]);
    expect(failure(`${redirectUrl}?code=${code}`)).toEqual(["oauth2.state-mismatch", "OAUTH-2"]);
    expect(failure(`${redirectUrl}?code=${code}&state=other&state=${state}`)).toEqual(["oauth2.state-mismatch", "OAUTH-2"]);
  });

  it("OAUTH-2 rejects a callback without code", () => {
    expect(failure(`${redirectUrl}?state=${state}`)).toEqual(["oauth2.no-code", "OAUTH-2"]);
    expect(failure(`${redirectUrl}?code=&state=${state}`)).toEqual(["oauth2.no-code", "OAUTH-2"]);
  });

  it("OAUTH-2 rejects a URL that is not on the callback scheme", () => {
    expect(failure(`https://mdmserver.example.com/oauth2/redirection?code=${code}&state=${state}`)).toEqual(["oauth2.scheme", "OAUTH-2"]);
    expect(failure("not a url")).toEqual(["oauth2.scheme", "OAUTH-2"]);
  });

  it("OAUTH-3 reports an error callback with its OAuth error code", () => {
    const result = parseAuthorizationCallback(`${redirectUrl}?error=access_denied&error_description=The%20user%20said%20no&state=${state}`, state);
    expect(result).toEqual({
      ok: false,
      error: { code: "oauth2.callback-error", ruleId: "OAUTH-3", detail: "authorization failed: access_denied: The user said no", error: "access_denied" },
    });
    expect(AuthorizationErrorCode.safeParse("access_denied").success).toBe(true);
    expect(AuthorizationErrorCode.options).toEqual([
      "invalid_request",
      "unauthorized_client",
      "access_denied",
      "unsupported_response_type",
      "invalid_scope",
      "server_error",
      "temporarily_unavailable",
    ]);
  });
});

describe("token request", () => {
  it("OAUTH-4 reproduces Apple's token request body", () => {
    const request: TokenRequest = { grant_type: "authorization_code", code, redirect_uri: redirectUrl, client_id: clientId };
    expect(encodeTokenRequest(request)).toBe(appleTokenRequestBody);
    expect(parseTokenRequestForm(appleTokenRequestBody)).toEqual({ ok: true, value: request });
  });

  it("OAUTH-4 puts grant_type first and the other keys in a fixed order, whatever the object's order", () => {
    const request: TokenRequest = { code_verifier: "v", client_id: "c", redirect_uri: "r:/x", code: "k", grant_type: "authorization_code" };
    expect(encodeTokenRequest(request)).toBe("grant_type=authorization_code&code=k&redirect_uri=r:/x&client_id=c&code_verifier=v");
  });

  it("ONGOING-6 encodes a refresh as grant_type=refresh_token&refresh_token&client_id", () => {
    const request: TokenRequest = { grant_type: "refresh_token", refresh_token: "dXNlcm9hdXRo.NzhiNWU0NWQ+/=", client_id: clientId };
    const body = encodeTokenRequest(request);
    expect(body).toBe(`grant_type=refresh_token&refresh_token=dXNlcm9hdXRo.NzhiNWU0NWQ%2B/%3D&client_id=${clientId}`);
    expect(Object.fromEntries(new URLSearchParams(body))).toEqual(request);
    expect(parseTokenRequestForm(body)).toEqual({ ok: true, value: request });
    expect(encodeTokenRequest({ grant_type: "refresh_token", refresh_token: "r", scope: "MDM" })).toBe("grant_type=refresh_token&refresh_token=r&scope=MDM");
  });

  it("ONGOING-6 rejects a refresh without refresh_token", () => {
    const result = parseTokenRequestForm(`grant_type=refresh_token&client_id=${clientId}`);
    expect(result.ok ? undefined : [result.error.code, result.error.ruleId, result.error.error]).toEqual(["oauth2.invalid-request", "ONGOING-6", "invalid_request"]);
  });

  it("OAUTH-4 encodeTokenRequest and parseTokenRequestForm are inverse (fast-check)", () => {
    const value = fc.string({ unit: "binary", minLength: 1, maxLength: 30 });
    const request = fc.oneof(
      fc.record({ grant_type: fc.constant("authorization_code" as const), code: value, redirect_uri: value, client_id: value, code_verifier: value }, { requiredKeys: ["grant_type", "code", "redirect_uri", "client_id"] }),
      fc.record({ grant_type: fc.constant("refresh_token" as const), refresh_token: value, client_id: value, scope: value }, { requiredKeys: ["grant_type", "refresh_token"] }),
    );
    fc.assert(
      fc.property(request, (req) => {
        const body = encodeTokenRequest(req);
        expect(body.startsWith(`grant_type=${req.grant_type}&`)).toBe(true);
        expect(parseTokenRequestForm(body)).toEqual({ ok: true, value: req });
      }),
      { numRuns: 300 },
    );
  });

  it("OAUTH-4 parseTokenRequestForm answers RFC 6749 errors", () => {
    const error = (body: string) => {
      const result = parseTokenRequestForm(body);
      return result.ok ? undefined : [result.error.code, result.error.ruleId, result.error.error];
    };
    expect(error("grant_type=password&username=a&password=b")).toEqual(["oauth2.unsupported-grant-type", "OAUTH-4", "unsupported_grant_type"]);
    expect(error("code=x")).toEqual(["oauth2.invalid-request", "OAUTH-4", "invalid_request"]);
    expect(error(`${appleTokenRequestBody}&code=again`)).toEqual(["oauth2.invalid-request", "OAUTH-4", "invalid_request"]);
    expect(error(`grant_type=authorization_code&code=&redirect_uri=${redirectUrl}&client_id=${clientId}`)).toEqual(["oauth2.invalid-request", "OAUTH-4", "invalid_request"]);
    // A parameter without a value counts as omitted (RFC 6749 §3.1), so it is not a repetition.
    expect(parseTokenRequestForm(`${appleTokenRequestBody}&code_verifier=&code_verifier=`).ok).toBe(true);
  });
});

describe("token response", () => {
  it("OAUTH-7 accepts Apple's token response", () => {
    const parsed = TokenResponse.safeParse(JSON.parse(appleTokenResponse));
    expect(parsed.success).toBe(true);
    expect(parsed.data).toEqual({
      token_type: "Bearer",
      scope: "MDM",
      access_token: "dXNlcm9hdXRo.MjZkNTkzZmMtNzk4MC00OWFkLTllZTAtZTA2NzhmNmVhNzg5",
      expires_in: 3600,
      refresh_token: "dXNlcm9hdXRo.NzhiNWU0NWQtMDVlZS00MTAwLThhMjEtZDA5MzI2N2RjNzUx",
    });
  });

  it("OAUTH-7 needs only token_type Bearer (any case) and access_token; keeps unknown members", () => {
    for (const tokenType of ["Bearer", "bearer", "BEARER"]) {
      expect(TokenResponse.safeParse({ token_type: tokenType, access_token: "t" }).success, tokenType).toBe(true);
    }
    expect(TokenResponse.safeParse({ token_type: "Bearer", access_token: "t", id_token: "x" }).data).toEqual({ token_type: "Bearer", access_token: "t", id_token: "x" });
  });

  it("OAUTH-7 rejects other token types, a missing or empty access_token and a malformed expires_in", () => {
    const bad: unknown[] = [
      { token_type: "mac", access_token: "t" },
      { token_type: "Bearer " , access_token: "t" },
      { access_token: "t" },
      { token_type: "Bearer" },
      { token_type: "Bearer", access_token: "" },
      { token_type: "Bearer", access_token: "t", expires_in: "3600" },
      { token_type: "Bearer", access_token: "t", expires_in: 0 },
      { token_type: "Bearer", access_token: "t", expires_in: 1.5 },
      { token_type: "Bearer", access_token: "t", refresh_token: "" },
      { token_type: "Bearer", access_token: "t", scope: 1 },
      [],
      null,
    ];
    for (const value of bad) expect(TokenResponse.safeParse(value).success, JSON.stringify(value)).toBe(false);
  });

  it("TokenErrorResponse carries an RFC 6749 §5.2 error code", () => {
    expect(TokenErrorResponse.safeParse({ error: "invalid_grant", error_description: "expired" }).success).toBe(true);
    expect(TokenErrorResponse.safeParse({ error: "access_denied" }).success).toBe(false);
    expect(TokenErrorResponse.safeParse({}).success).toBe(false);
  });
});
