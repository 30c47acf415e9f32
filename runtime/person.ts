// A scripted person for the simulated device: fills the first form of a sign-in page with the
// credentials it was given, or cancels. `upstreamPerson` also goes through an identity provider's
// pages (login and consent forms, found by their inputs, not by one provider's markup).
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

/** One form of a page: where it goes, its inputs (type, name, value) and its named submit buttons. */
export interface PageForm {
  readonly action: string;
  readonly method: string;
  readonly inputs: readonly { readonly type: string; readonly name: string; readonly value: string; readonly id: string | undefined }[];
  readonly buttons: readonly { readonly name: string | undefined; readonly value: string; readonly text: string }[];
}

/** The forms of a page, in order. */
export function pageForms(html: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const open = `<form ${match[1] ?? ""}>`;
    const body = match[2] ?? "";
    const inputs = (body.match(inputTag) ?? []).flatMap((tag) => {
      const name = attribute(tag, "name");
      if (name === undefined) return [];
      const id = attribute(tag, "id");
      return [{ type: (attribute(tag, "type") ?? "text").toLowerCase(), name: unescapeAttribute(name), value: unescapeAttribute(attribute(tag, "value") ?? ""), id: id === undefined ? undefined : unescapeAttribute(id) }];
    });
    const buttons = [...body.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].flatMap((b) => {
      const tag = `<button ${b[1] ?? ""}>`;
      if ((attribute(tag, "type") ?? "submit").toLowerCase() !== "submit") return [];
      const name = attribute(tag, "name");
      return [{ name: name === undefined ? undefined : unescapeAttribute(name), value: unescapeAttribute(attribute(tag, "value") ?? ""), text: (b[2] ?? "").replace(/<[^>]*>/g, "").trim() }];
    });
    forms.push({ action: unescapeAttribute(attribute(open, "action") ?? ""), method: (attribute(open, "method") ?? "get").toLowerCase(), inputs, buttons });
  }
  return forms;
}

/** The labels of a page by the id of the input they name (<label for="…">). */
function labelsOf(html: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const m of html.matchAll(/<label\b([^>]*)>([\s\S]*?)<\/label>/gi)) {
    const target = attribute(`<label ${m[1] ?? ""}>`, "for");
    if (target !== undefined) labels.set(unescapeAttribute(target), (m[2] ?? "").replace(/<[^>]*>/g, "").trim());
  }
  return labels;
}

const textTypes = new Set(["text", "email", "tel", ""]);
const userWords = /user|login|e-?mail|account|identifier|name/i;
const refusalWords = /cancel|abort|deny|decline|reject|no\b/i;

/**
 * A person who signs in through the organization's identity provider: on our sign-in page they
 * choose "Continue with …" (the link marked data-upstream); on a page with a password field they
 * type their user name (into the text field whose name or label speaks of a user, login or e-mail,
 * else the first) and password; on a page with a form and no field to fill (consent) they press
 * its first button that is not a refusal. `attempts`: password forms submitted before giving up.
 */
export function upstreamPerson(credentials: Credentials, options: { readonly attempts?: number; readonly maxPages?: number } = {}): Person & { readonly pagesSeen: WebPage[] } {
  const pagesSeen: WebPage[] = [];
  const attempts = options.attempts ?? 1;
  let passwordsSubmitted = 0;
  return {
    pagesSeen,
    onPage(page): PersonAction {
      pagesSeen.push(page);
      if (pagesSeen.length > (options.maxPages ?? 12)) return { kind: "cancel" };
      const link = /<a\b[^>]*\bdata-upstream\b[^>]*>/i.exec(page.html)?.[0];
      const href = link === undefined ? undefined : attribute(link, "href");
      if (href !== undefined) return { kind: "follow", url: unescapeAttribute(href) };
      const forms = pageForms(page.html).filter((f) => f.method === "post");
      const login = forms.find((f) => f.inputs.some((i) => i.type === "password"));
      if (login !== undefined) {
        if (passwordsSubmitted >= attempts) return { kind: "cancel" };
        passwordsSubmitted++;
        const labels = labelsOf(page.html);
        const texts = login.inputs.filter((i) => textTypes.has(i.type));
        const userField = texts.find((i) => userWords.test(i.name) || userWords.test(labels.get(i.id ?? "") ?? "")) ?? texts[0];
        const fields: Record<string, string> = {};
        for (const input of login.inputs) {
          if (input.type === "password") fields[input.name] = credentials.password;
          else if (input === userField) fields[input.name] = credentials.username;
          else if (input.type !== "checkbox" && input.type !== "radio" && !(input.name in fields)) fields[input.name] = input.value;
        }
        return { kind: "submit", action: login.action === "" ? page.url : login.action, fields: withButton(fields, login) };
      }
      const consent = forms.find((f) => !f.inputs.some((i) => textTypes.has(i.type)) && !f.buttons.every((b) => refusalWords.test(`${b.value} ${b.text}`)));
      if (consent === undefined) return { kind: "cancel" };
      const fields: Record<string, string> = {};
      for (const input of consent.inputs) if (input.type === "hidden" && !(input.name in fields)) fields[input.name] = input.value;
      return { kind: "submit", action: consent.action === "" ? page.url : consent.action, fields: withButton(fields, consent) };
    },
  };
}

/** The fields plus the first submit button that is not a refusal, when it has a name (as a browser posts it). */
function withButton(fields: Record<string, string>, form: PageForm): Record<string, string> {
  const button = form.buttons.find((b) => !refusalWords.test(`${b.value} ${b.text}`));
  return button?.name === undefined ? fields : { ...fields, [button.name]: button.value };
}
