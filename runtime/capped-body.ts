// Reading a body with a size limit: refused by its declared Content-Length first, then as it
// streams, so an oversized or endless body never sits in memory whole. One reader for the admin API,
// the OAuth 2 endpoints and the ABM client (the generated server has its own, in generated/).

export type CappedBody =
  | { readonly ok: true; readonly bytes: Uint8Array | null }
  | { readonly ok: false; readonly reason: "too-large" | "broken" };

/** The bytes of `body` (null when there is none), at most `limit` of them. */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number, declaredLength?: string | null): Promise<CappedBody> {
  if (Number(declaredLength ?? "0") > limit) return { ok: false, reason: "too-large" };
  if (body === null) return { ok: true, bytes: null };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      return { ok: false, reason: "broken" };
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return { ok: false, reason: "too-large" };
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, bytes };
}

/**
 * A request's body, at most `limit` bytes. With a declared Content-Length within the limit it is read
 * whole (arrayBuffer: the Node adapter's direct path, no web stream); otherwise as it streams.
 */
export async function readCappedRequest(request: Request, limit: number): Promise<CappedBody> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) <= limit) {
    if (Number(declared) === 0) return { ok: true, bytes: null };
    try {
      const bytes = new Uint8Array(await request.arrayBuffer());
      return bytes.byteLength > limit ? { ok: false, reason: "too-large" } : { ok: true, bytes };
    } catch {
      return { ok: false, reason: "broken" };
    }
  }
  return readCapped(request.body, limit, declared);
}
