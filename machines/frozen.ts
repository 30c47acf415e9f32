// Deep-frozen values: what a store or cache may hand out again and again, and a step may remember
// (machines/server-step.ts), because nothing can change them.

/** Whether `value` and everything it holds is frozen (so it can never change). */
export function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return typeof value !== "function";
  if (!Object.isFrozen(value)) return false;
  for (const key of Reflect.ownKeys(value)) if (!isDeepFrozen(Reflect.get(value, key))) return false;
  return true;
}

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze(Reflect.get(value, key));
  }
  return value;
}

/**
 * A deep-frozen copy of a JSON-like value that shares whatever in it is deep-frozen already: nobody
 * can change those, so they need no copy (a step's new context shares most of the old one's parts).
 * Anything but plain objects and arrays is copied whole by structuredClone.
 */
export function frozenCopy<T>(value: T): T {
  if (typeof value !== "object" || value === null || isDeepFrozen(value)) return value;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== Array.prototype) return deepFreeze(structuredClone(value));
  const copy = Array.isArray(value) ? Object.assign([], value) : { ...value };
  for (const key of Object.keys(copy)) {
    const child: unknown = Reflect.get(copy, key);
    if (typeof child === "object" && child !== null) Reflect.set(copy, key, frozenCopy(child));
  }
  return Object.freeze(copy);
}
