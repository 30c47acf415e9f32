// adenroll's runtime: the hand-written I/O around the generated server and client.
export * from "./crypto.ts";
export * from "./directory.ts";
export * from "./memory-store.ts";
export * from "./server-host.ts";
export * from "./device.ts";
export * from "./person.ts";
export * from "./sign-in-page.ts";
export * from "./html.ts";
export * from "./throttle.ts";
export * from "./user-directory.ts";
export * from "./identity-ca.ts";
export * from "./profile-signing.ts";
export * from "./config.ts";
export * from "./app.ts";
export * from "./storage/open-storage.ts";
export * from "./storage/roles.ts";
// The OAuth role for a host without a database (the SQL one comes with openStorage).
export { MemoryOAuthStore } from "./storage/memory-oauth-store.ts";
export * from "./guard.ts";
export * from "./proxy.ts";
