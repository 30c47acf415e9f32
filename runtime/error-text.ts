// What a caught value says, without assuming it is an Error.

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A Node system error's code (ENOENT, EACCES…), when the value has one. */
export function systemErrorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** Why a fetch failed: its cause's system code or message (undici puts the reason in `cause`), else its own message. */
export function fetchFailureOf(error: unknown): string {
  const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined;
  return systemErrorCode(cause) ?? (cause instanceof Error ? cause.message : messageOf(error));
}
