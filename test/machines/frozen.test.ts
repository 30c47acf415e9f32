// machines/frozen.ts: what stores and the step share without copying must never change.
import { describe, expect, it } from "vitest";
import { deepFreeze, frozenCopy, isDeepFrozen } from "../../machines/index.ts";

describe("frozenCopy", () => {
  it("copies what can change, shares what cannot, and freezes nothing of the caller's", () => {
    const shared = deepFreeze({ PRODUCT: "iPhone17,2", VERSION: "22C152" });
    const fresh = { kind: "acknowledged" };
    const list = ["a", "b"];
    const value = { id: "E-1", device: shared, reply: fresh, retired: list, nothing: null };
    const copy = frozenCopy(value);
    expect(copy).toEqual(value);
    expect(isDeepFrozen(copy)).toBe(true);
    expect(copy.device).toBe(shared);
    expect(copy.reply).not.toBe(fresh);
    expect(copy.retired).not.toBe(list);
    expect(Array.isArray(copy.retired)).toBe(true);
    // The caller's objects stay theirs to change, and changing them changes no copy.
    expect(Object.isFrozen(value) || Object.isFrozen(fresh) || Object.isFrozen(list)).toBe(false);
    fresh.kind = "changed";
    list.push("c");
    expect(copy.reply.kind).toBe("acknowledged");
    expect(copy.retired).toEqual(["a", "b"]);
  });

  it("hands a deep-frozen value back as it is, and copies one that is frozen only on top", () => {
    const frozen = deepFreeze({ a: { b: 1 } });
    expect(frozenCopy(frozen)).toBe(frozen);
    const inner = { b: 1 };
    const shallow = Object.freeze({ a: inner });
    const copy = frozenCopy(shallow);
    expect(copy).not.toBe(shallow);
    expect(isDeepFrozen(copy)).toBe(true);
    inner.b = 2;
    expect(copy.a.b).toBe(1);
  });

  it("copies values that are not plain objects whole (structuredClone)", () => {
    const when = new Date(0);
    const copy = frozenCopy({ when });
    expect(copy.when).not.toBe(when);
    expect(copy.when.getTime()).toBe(0);
    expect(Object.isFrozen(copy.when)).toBe(true);
  });
});
