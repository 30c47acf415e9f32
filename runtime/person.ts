// A scripted person for the simulated device: fills the first form of a sign-in page with the
// credentials it was given, or cancels. Real pages of other servers are the compliance suite's job.
import type { Person, PersonAction, WebPage } from "./device.ts";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

const formAction = /<form\b[^>]*\baction\s*=\s*"([^"]*)"/i;

function unescapeAttribute(value: string): string {
  return value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function signInPerson(credentials: Credentials, options: { readonly attempts?: number } = {}): Person & { readonly pagesSeen: WebPage[] } {
  const pagesSeen: WebPage[] = [];
  const attempts = options.attempts ?? 1;
  return {
    pagesSeen,
    onPage(page): PersonAction {
      pagesSeen.push(page);
      const action = formAction.exec(page.html)?.[1];
      if (action === undefined || pagesSeen.length > attempts) return { kind: "cancel" };
      return { kind: "submit", action: unescapeAttribute(action), fields: { username: credentials.username, password: credentials.password } };
    },
  };
}

export const cancellingPerson: Person = { onPage: () => ({ kind: "cancel" }) };
