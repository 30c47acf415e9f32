// A scripted person for the simulated device: fills the first form of a sign-in page with the
// credentials it was given, or cancels. Real pages of other servers are the compliance suite's job.
import type { Person, PersonAction, WebPage } from "./device.ts";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

const formAction = /<form\b[^>]*\baction\s*=\s*"([^"]*)"/i;
const inputTag = /<input\b[^>]*>/gi;
const attribute = (tag: string, name: string): string | undefined => new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, "i").exec(tag)?.[1];

/** The named inputs of a page's form with their values (hidden fields such as an anti-CSRF token included). */
export function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const tag of html.match(inputTag) ?? []) {
    const name = attribute(tag, "name");
    if (name !== undefined && !(name in fields)) fields[unescapeAttribute(name)] = unescapeAttribute(attribute(tag, "value") ?? "");
  }
  return fields;
}

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
      return {
        kind: "submit",
        action: unescapeAttribute(action),
        fields: { ...formFields(page.html), username: credentials.username, password: credentials.password },
      };
    },
  };
}

/** Closes the web session without submitting anything (ASWebAuthenticationSession's Cancel). */
export const cancellingPerson: Person = { onPage: () => ({ kind: "cancel" }) };

/** Presses the page's own Cancel button, which posts action=cancel. */
export const cancelButtonPerson: Person = {
  onPage(page): PersonAction {
    const action = formAction.exec(page.html)?.[1];
    if (action === undefined) return { kind: "cancel" };
    return { kind: "submit", action: unescapeAttribute(action), fields: { ...formFields(page.html), action: "cancel" } };
  },
};
