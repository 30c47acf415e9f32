// The transport-neutral answer the device machine's actors hand back: the machine, not the
// transport, decides what an answer means (so every rule about it is a named guard).

export interface HttpAnswer {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export function header(answer: HttpAnswer, name: string): string | null {
  return answer.headers[name.toLowerCase()] ?? null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function bodyText(answer: HttpAnswer): string | null {
  try {
    return utf8.decode(answer.body);
  } catch {
    return null;
  }
}

/** The body as JSON, or undefined when it is not UTF-8 JSON. */
export function bodyJson(answer: HttpAnswer): unknown {
  const text = bodyText(answer);
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value;
  } catch {
    return undefined;
  }
}
