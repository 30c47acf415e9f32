// A typed failure as application/problem+json, shaped like the generated server's: { code, title, detail? }
// with the status spec/errors.ts gives the code.
import { serverErrors, type ServerErrorCode } from "../spec/index.ts";

export function problemResponse(code: ServerErrorCode, detail?: string): Response {
  const { status, title } = serverErrors[code];
  const body = { code, title, ...(detail === undefined ? {} : { detail }) };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/problem+json" } });
}
