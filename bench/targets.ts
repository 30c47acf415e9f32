// What bench/run.ts measures: the same two requests against every server it starts.
export const targets = {
  /** Discovery for a known user (DISCOVERY-10): a JSON document naming the enroll URL. */
  discovery: { method: "GET", path: "/.well-known/com.apple.remotemanagement?user-identifier=alice%40example.com&model-family=iPhone" },
  /** The first enroll (no token) with the real iOS 15 body: CMS verify + 401 challenge. */
  enroll: { method: "POST", path: "/enroll/mdm-byod" },
} as const;
export type TargetName = keyof typeof targets;

export const enrollBodyUrl = new URL("../test/fixtures/enroll-body.ios15-iphone12-1.der", import.meta.url);
