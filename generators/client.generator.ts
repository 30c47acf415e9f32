// Emits generated/client.generated.ts: one typed function per operation of spec/operations.ts, with
// `fetch` injected, returning the transport-neutral HttpAnswer the device machine reads.
import { operations, type OperationSpec } from "../spec/operations.ts";
import { format, header, specName } from "./common.ts";

export const clientFile = "generated/client.generated.ts";

function clientFunction(op: OperationSpec, valueNames: Set<string>, typeNames: Set<string>): string {
  const { request } = op;
  const inputFields: string[] = [];
  const lines: string[] = [];
  if (request.clientQuery !== undefined) {
    const name = specName(request.clientQuery, `${op.id} client query`);
    typeNames.add(name);
    inputFields.push("readonly origin: string", `readonly query: ${name}`);
    lines.push(
      `const url = new URL(${JSON.stringify(op.path)}, input.origin);`,
      `for (const [key, value] of Object.entries(input.query)) url.searchParams.set(key, value);`,
    );
  } else {
    inputFields.push("readonly url: string");
    lines.push(`const url = new URL(input.url);`);
  }
  lines.push(`const headers = new Headers();`);
  let body = "null";
  if (request.body !== undefined) {
    inputFields.push("readonly body: Uint8Array");
    lines.push(`headers.set("content-type", ${JSON.stringify(request.body.contentType)});`);
    // A copy: fetch wants an ArrayBuffer-backed view.
    body = "input.body.slice()";
  } else if (request.form !== undefined) {
    const name = specName(request.form, `${op.id} form`);
    typeNames.add(name);
    inputFields.push(`readonly form: ${name}`);
    lines.push(`headers.set("content-type", "application/x-www-form-urlencoded");`);
    body = "formBody(input.form)";
  }
  if (request.bearer === true) {
    valueNames.add("formatAuthorization");
    inputFields.push("readonly accessToken?: string | null");
    lines.push(`if (input.accessToken) headers.set("authorization", formatAuthorization(input.accessToken));`);
  }
  if (op.handling.kind === "mdm") {
    // ONGOING-12/13: the device's detached CMS signature of the body, when its profile sets SignMessage.
    valueNames.add("mdmSignatureHeader");
    inputFields.push("readonly signature?: string | null");
    lines.push(`if (input.signature) headers.set(mdmSignatureHeader, input.signature);`);
  }
  lines.push(
    `const response = await fetch(new Request(url, { method: ${JSON.stringify(op.method)}, headers, body: ${body}, redirect: ${JSON.stringify(request.redirect)} }));`,
    `return toAnswer(response);`,
  );
  return [
    `/** ${op.summary} (steps ${op.steps}; ${op.source}). */`,
    `export async function ${op.id}(fetch: Fetch, input: { ${inputFields.join("; ")} }): Promise<HttpAnswer> {`,
    ...lines.map((line) => `  ${line}`),
    `}`,
  ].join("\n");
}

export function generateClient(): string {
  const valueNames = new Set<string>();
  const typeNames = new Set<string>();
  const functions = operations.map((op) => clientFunction(op, valueNames, typeNames));
  const values = [...valueNames].sort();
  const types = [...typeNames].sort();
  const text = `${header("generators/client.generator.ts")}${values.length > 0 ? `import { ${values.join(", ")} } from "../spec/index.ts";\n` : ""}import type { ${types.join(", ")} } from "../spec/index.ts";
import type { HttpAnswer } from "../machines/index.ts";

/** Any fetch: the platform's, or an in-process one such as a Hono app's \`request\`. */
export type Fetch = (request: Request) => Response | Promise<Response>;

/** The answer with lower-case header names and the whole body. */
export async function toAnswer(response: Response): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key.toLowerCase()] = value;
  });
  return { status: response.status, headers, body: new Uint8Array(await response.arrayBuffer()) };
}

function formBody(form: object): string {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) if (typeof value === "string") body.set(key, value);
  return body.toString();
}

${functions.join("\n\n")}
`;
  return format(clientFile, text);
}
