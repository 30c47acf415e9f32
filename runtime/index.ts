// adenroll's runtime: the hand-written I/O around the generated server and client.
export * from "./crypto.ts";
export * from "./directory.ts";
export * from "./memory-store.ts";
export * from "./server-host.ts";
export * from "./device.ts";
export * from "./person.ts";
export * from "./sign-in-page.ts";
export * from "./html.ts";
