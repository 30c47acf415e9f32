// Reading a body with a size limit, for the admin API, the OAuth 2 endpoints and the ABM client: the
// generated server's own reader (refused by its declared Content-Length first, then as it streams,
// so an oversized or endless body never sits in memory whole), its answer in these callers' terms.
import { readBody, type BodySource } from "../generated/server.generated.ts";

export type CappedBody =
  | { readonly ok: true; readonly bytes: Uint8Array | null }
  | { readonly ok: false; readonly reason: "too-large" | "broken" };

/** The body of a request or a response, at most `limit` bytes; null when it is empty. */
export async function readCapped(source: BodySource, limit: number): Promise<CappedBody> {
  const read = await readBody(source, limit);
  if (read.ok) return { ok: true, bytes: read.value.byteLength === 0 ? null : read.value };
  return { ok: false, reason: read.error.code === "request.too-large" ? "too-large" : "broken" };
}
