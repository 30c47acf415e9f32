// The protocol as data: wire schemas, parsers and builders, the operations table, the rules catalogue,
// and Apple's schemas generated from its device-management YAML (spec/apple/) with their validator.
export * from "./result.ts";
export * from "./rules.ts";
export * from "./errors.ts";
export * from "./plist.ts";
export * from "./cms.ts";
export * from "./user-identifier.ts";
export * from "./service-discovery.ts";
export * from "./enroll-request.ts";
export * from "./authorization.ts";
export * from "./challenge.ts";
export * from "./enrollment-sso.ts";
export * from "./web-authentication.ts";
export * from "./oauth2.ts";
export * from "./oauth2-authorization-server.ts";
export * from "./enrollment-profile.ts";
export * from "./check-in.ts";
export * from "./command-channel.ts";
export * from "./error-responses.ts";
export * from "./operations.ts";
export * from "./apple/index.generated.ts";
export * from "./apple-validation.ts";
