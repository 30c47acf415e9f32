// What a caught value says, without assuming it is an Error.

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A Node system error's code (ENOENT, EACCES…), when the value has one. */
export function systemErrorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}
