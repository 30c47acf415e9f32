// Deep-frozen values: what a store or cache may hand out again and again, and a step may remember
// (machines/server-step.ts), because nothing can change them. The values are JSON-like (plain
// objects, arrays, primitives): their own enumerable string keys are all they hold, so Object.keys
// is enough (and a tenth of Reflect.ownKeys's cost, on every check-in and refresh).

/** Whether `value` and everything it holds is frozen (so it can never change). */
export function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return typeof value !== "function";
  if (!Object.isFrozen(value)) return false;
  for (const key of Object.keys(value)) if (!isDeepFrozen(Reflect.get(value, key))) return false;
  return true;
}

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze(Reflect.get(value, key));
  }
  return value;
}

/**
 * A deep-frozen copy of a JSON-like value that shares whatever in it is deep-frozen already: nobody
 * can change those, so they need no copy (a step's new context shares most of the old one's parts),
 * and freezes nothing of the caller's.
 */
export function frozenCopy<T>(value: T): T {
  if (typeof value !== "object" || value === null || isDeepFrozen(value)) return value;
  if (Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return deepFreeze(structuredClone(value));
  const copy = { ...value };
  freezeParts(copy);
  return copy;
}

/** Replaces each part of a fresh copy that can change by a frozen copy of it, then freezes the copy. */
function freezeParts(copy: object): void {
  for (const key of Object.keys(copy)) {
    const part: unknown = Reflect.get(copy, key);
    if (typeof part === "object" && part !== null && !isDeepFrozen(part)) Reflect.set(copy, key, frozenPart(part));
  }
  Object.freeze(copy);
}

function frozenPart(part: object): object {
  if (Array.isArray(part)) {
    const copy: unknown[] = part.slice();
    freezeParts(copy);
    return copy;
  }
  if (Object.getPrototypeOf(part) !== Object.prototype) return deepFreeze(structuredClone(part));
  const copy = { ...part };
  freezeParts(copy);
  return copy;
}
