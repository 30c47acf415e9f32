// The sign-in step against a server whose page we have never seen: forms are filled generically
// (the form with a password field; the user field found by its type, name, id or autocomplete;
// hidden fields and cookies kept; the non-cancel submit button pressed), a page that cannot be
// signed in without a script is handed to a real headless Chromium (playwright-core), and what no
// machine can do — a one-time code, an external identity provider's second factor — ends as
// "needs a person" with the page where it stopped, never as a failure.
import type { Fetch } from "../../generated/client.generated.ts";
import { messageOf } from "../error-text.ts";
import { WebViewCookies } from "../device.ts";
import type { Recorder } from "./recorder.ts";

export type SignInOutcome =
  | { readonly kind: "callback"; readonly url: string }
  | { readonly kind: "http-error"; readonly status: number; readonly url: string }
  | { readonly kind: "needs-person"; readonly why: string; readonly url: string };

export interface SignInOptions {
  readonly recorder: Recorder;
  readonly label: string;
  readonly startUrl: string;
  /** The scheme whose redirect ends the session (apple-remotemanagement-user-login, or an OAuth redirect-url's). */
  readonly callbackScheme: string;
  readonly username: string;
  readonly password: string;
  /** never: forms only; auto: Chromium when a page needs a script; always: Chromium (--browser). */
  readonly browser: "never" | "auto" | "always";
  readonly chromiumPath?: string;
  readonly maxSteps?: number;
}

interface FormField {
  readonly tag: "input" | "button" | "select" | "textarea";
  readonly type: string;
  readonly name: string;
  readonly value: string;
  readonly id: string;
  readonly autocomplete: string;
  readonly checked: boolean;
}

export interface ParsedForm {
  readonly action: string;
  readonly method: "GET" | "POST";
  readonly fields: readonly FormField[];
}

const attr = (tag: string, name: string): string | undefined => {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>"']+))`, "i").exec(tag);
  return m === null ? undefined : decodeEntities(m[1] ?? m[2] ?? m[3] ?? "");
};
const hasAttr = (tag: string, name: string): boolean => new RegExp(`\\s${name}(?:\\s|=|>|/|$)`, "i").test(tag);

const namedEntities: ReadonlyMap<string, string> = new Map([
  ["quot", '"'],
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["apos", "'"],
]);

const fieldTags = ["input", "button", "select", "textarea"] as const;
const fieldTagOf = (name: string): FormField["tag"] => fieldTags.find((t) => t === name.toLowerCase()) ?? "input";

export function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos|#39);/gi, (whole, entity: string) => {
    const e = entity.toLowerCase();
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return namedEntities.get(e) ?? whole;
  });
}

/** Every form of a page, with its inputs, buttons, selects and text areas (markup read tolerantly, not validated). */
export function parseForms(html: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)(?:<\/form>|$)/gi)) {
    const open = ` ${match[1] ?? ""}`;
    const body = match[2] ?? "";
    const fields: FormField[] = [];
    for (const el of body.matchAll(/<(input|button|select|textarea)\b([^>]*)>/gi)) {
      const tag = fieldTagOf(el[1] ?? "input");
      const attrs = ` ${el[2] ?? ""}`;
      const type = (attr(attrs, "type") ?? (tag === "button" ? "submit" : tag === "input" ? "text" : tag)).toLowerCase();
      fields.push({
        tag,
        type,
        name: attr(attrs, "name") ?? "",
        value: attr(attrs, "value") ?? "",
        id: attr(attrs, "id") ?? "",
        autocomplete: (attr(attrs, "autocomplete") ?? "").toLowerCase(),
        checked: hasAttr(attrs, "checked"),
      });
    }
    const method = (attr(open, "method") ?? "get").toUpperCase() === "POST" ? "POST" : "GET";
    forms.push({ action: attr(open, "action") ?? "", method, fields });
  }
  return forms;
}

const userLike = /user|login|email|e-mail|account|ident|upn|name/i;
const codeLike = /otp|one.?time|totp|mfa|2fa|passcode|verification|code/i;
const cancelLike = /cancel|abort|back|deny|decline/i;

export type FormPlan =
  | { readonly kind: "submit"; readonly form: ParsedForm; readonly values: Record<string, string> }
  | { readonly kind: "needs-person"; readonly why: string }
  | { readonly kind: "needs-script" }
  | { readonly kind: "none" };

/** How a person would fill this page: the form to submit and its values, or why a machine cannot. */
export function planForm(html: string, credentials: { readonly username: string; readonly password: string }): FormPlan {
  const forms = parseForms(html);
  const named = (f: FormField): string => `${f.name} ${f.id} ${f.autocomplete}`;
  const textual = (f: FormField): boolean => f.tag === "input" && ["text", "email", "tel", "number", ""].includes(f.type);
  const withPassword = forms.find((f) => f.fields.some((x) => x.tag === "input" && x.type === "password" && x.name !== ""));
  const userOnly = forms.find((f) => f.fields.some((x) => textual(x) && x.name !== "" && (x.type === "email" || userLike.test(named(x)))) && !f.fields.some((x) => x.type === "password"));
  const codeForm = forms.find((f) => f.fields.some((x) => textual(x) && codeLike.test(named(x))));
  const form = withPassword ?? (codeForm === undefined ? userOnly : undefined);
  if (form === undefined) {
    if (codeForm !== undefined) return { kind: "needs-person", why: "the page asks for a one-time code (a second factor)" };
    if (/<script\b/i.test(html)) return { kind: "needs-script" };
    return forms.length === 0 ? { kind: "none" } : { kind: "needs-person", why: "the page's form asks for something other than a user name and a password" };
  }
  const values: Record<string, string> = {};
  let userField: FormField | undefined =
    form.fields.find((x) => textual(x) && x.name !== "" && (x.type === "email" || x.autocomplete === "username")) ??
    form.fields.find((x) => textual(x) && x.name !== "" && userLike.test(named(x))) ??
    form.fields.find((x) => textual(x) && x.name !== "");
  for (const f of form.fields) {
    if (f.name === "") continue;
    if (f.tag === "input" && f.type === "password") values[f.name] = credentials.password;
    else if (f === userField) values[f.name] = credentials.username;
    else if (f.tag === "input" && (f.type === "checkbox" || f.type === "radio")) {
      if (f.checked && !(f.name in values)) values[f.name] = f.value === "" ? "on" : f.value;
    } else if (f.tag === "input" && !["submit", "button", "image", "reset", "file"].includes(f.type)) {
      if (!(f.name in values)) values[f.name] = f.value;
    }
  }
  userField = undefined;
  // The first submit control that is not a Cancel: a browser sends its name=value.
  const submit = form.fields.find((f) => (f.tag === "button" || (f.tag === "input" && (f.type === "submit" || f.type === "image"))) && f.type === "submit" && !cancelLike.test(`${f.name} ${f.value} ${f.id}`));
  if (submit !== undefined && submit.name !== "") values[submit.name] = submit.value;
  return { kind: "submit", form, values };
}

function isCallback(location: string, scheme: string): boolean {
  return location.toLowerCase().startsWith(`${scheme.toLowerCase()}:`);
}

/** A web authentication session over plain HTTP (forms, redirects, cookies), the person played by planForm. */
export async function signInWithForms(options: SignInOptions): Promise<SignInOutcome | { readonly kind: "needs-script"; readonly url: string }> {
  const recorded: Fetch = options.recorder.as(options.label);
  // A web view's cookies (Domain, Path, Secure, expiry, SameSite across the person's navigations).
  const cookies = new WebViewCookies();
  const send: Fetch = async (request) => {
    const response = await recorded(cookies.attach(request));
    cookies.keep(request.url, response);
    return response;
  };
  let url = options.startUrl;
  let response = await send(new Request(url, { redirect: "manual" }));
  let submitted = 0;
  for (let step = 0; step < (options.maxSteps ?? 12); step++) {
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      if (location === null) return { kind: "http-error", status: response.status, url };
      if (isCallback(location, options.callbackScheme)) return { kind: "callback", url: location };
      url = new URL(location, url).toString();
      response = await send(new Request(url, { redirect: "manual" }));
      continue;
    }
    const html = await response.text();
    if (response.status !== 200 && response.status !== 401) return { kind: "http-error", status: response.status, url };
    // The same credentials twice: the first attempt was refused; a person would not loop.
    if (submitted >= 2) return { kind: "needs-person", why: "the sign-in page came back after the credentials were submitted twice", url };
    const plan = planForm(html, options);
    if (plan.kind === "needs-script") return { kind: "needs-script", url };
    if (plan.kind === "none") return { kind: "needs-person", why: "the page has no form to fill", url };
    if (plan.kind === "needs-person") return { kind: "needs-person", why: plan.why, url };
    submitted++;
    cookies.navigateFrom(url);
    const target = new URL(plan.form.action === "" ? url : plan.form.action, url);
    const body = new URLSearchParams(plan.values);
    if (plan.form.method === "GET") {
      target.search = body.toString();
      url = target.toString();
      response = await send(new Request(url, { redirect: "manual" }));
    } else {
      url = target.toString();
      response = await send(new Request(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: body.toString(), redirect: "manual" }));
    }
  }
  return { kind: "needs-person", why: "the sign-in went through too many pages", url };
}

export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

export function defaultChromiumPath(): string {
  return process.env["ADENROLL_CHROMIUM"] ?? "/usr/bin/chromium";
}

/**
 * The same session in a real headless Chromium: every request is intercepted (and recorded), so
 * the redirect to the callback scheme is caught before the browser tries to open it.
 */
export async function signInWithBrowser(options: SignInOptions): Promise<SignInOutcome> {
  let playwright: typeof import("playwright-core");
  try {
    playwright = await import("playwright-core");
  } catch (error) {
    return { kind: "needs-person", why: `the page needs a browser, and playwright-core cannot be loaded (${messageOf(error)})`, url: options.startUrl };
  }
  let browser: import("playwright-core").Browser;
  try {
    browser = await playwright.chromium.launch({ executablePath: options.chromiumPath ?? defaultChromiumPath(), args: chromiumFlags });
  } catch (error) {
    return { kind: "needs-person", why: `the page needs a browser, and Chromium did not start (${messageOf(error).split("\n")[0] ?? ""})`, url: options.startUrl };
  }
  let callback: ((url: string) => void) | undefined;
  const reached = new Promise<string>((resolve) => (callback = resolve));
  let lastError: SignInOutcome | undefined;
  try {
    const context = await browser.newContext();
    await context.route("**/*", async (route) => {
      const request = route.request();
      const started = performance.now();
      const shown = { method: request.method(), url: request.url(), headers: request.headers(), body: request.postData() === null ? "" : "(form)", bodyBytes: request.postDataBuffer()?.length ?? 0 };
      try {
        const response = await route.fetch({ maxRedirects: 0 });
        const headers = response.headers();
        const body = await response.body();
        options.recorder.record(`${options.label} (Chromium)`, shown, { status: response.status(), headers: { ...headers, ...(headers["location"] === undefined ? {} : { location: "(redirect)" }) }, body: `(${body.length} bytes, rendered by Chromium)`, bodyBytes: body.length }, performance.now() - started);
        const location = headers["location"];
        if (location !== undefined && isCallback(location, options.callbackScheme)) {
          callback?.(location);
          await route.abort();
          return;
        }
        if (request.isNavigationRequest() && response.status() >= 400) lastError = { kind: "http-error", status: response.status(), url: request.url() };
        await route.fulfill({ response });
      } catch (error) {
        options.recorder.record(`${options.label} (Chromium)`, shown, { error: messageOf(error) }, performance.now() - started);
        await route.abort().catch(() => undefined);
      }
    });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const signIn = (async (): Promise<SignInOutcome> => {
      await page.goto(options.startUrl, { waitUntil: "load" }).catch(() => undefined);
      for (let attempt = 0; attempt < 3; attempt++) {
        if (lastError !== undefined) return lastError;
        const password = page.locator("input[type=password]:visible").first();
        const user = page.locator("input[type=email]:visible, input[autocomplete=username]:visible, input[name*=user i]:visible, input[name*=login i]:visible, input[name*=email i]:visible, input[type=text]:visible").first();
        if ((await password.count()) === 0 && (await user.count()) === 0) {
          return { kind: "needs-person", why: "the page shown in Chromium has no user or password field (a second factor or an external identity provider?)", url: page.url() };
        }
        if ((await user.count()) > 0 && (await user.inputValue()) === "") await user.fill(options.username);
        if ((await password.count()) > 0) await password.fill(options.password);
        const submit = page.locator("button[type=submit]:visible, input[type=submit]:visible, button:not([type]):visible").filter({ hasNotText: /cancel/i }).first();
        if ((await submit.count()) > 0) await submit.click({ noWaitAfter: true });
        else await (await password.count() > 0 ? password : user).press("Enter");
        const next = await Promise.race([reached.then(() => "done" as const), page.waitForLoadState("load").then(() => new Promise((r) => setTimeout(r, 300))).then(() => "page" as const)]);
        if (next === "done") break;
      }
      return lastError ?? { kind: "needs-person", why: "the sign-in did not finish in Chromium after three attempts", url: page.url() };
    })();
    const outcome = await Promise.race([reached.then((url): SignInOutcome => ({ kind: "callback", url })), signIn]);
    return outcome;
  } catch (error) {
    return { kind: "needs-person", why: `Chromium could not finish the sign-in (${messageOf(error).split("\n")[0] ?? ""})`, url: options.startUrl };
  } finally {
    await browser.close().catch(() => undefined);
  }
}

/** Forms first; Chromium when a page needs a script (or always with --browser). */
export async function signIn(options: SignInOptions): Promise<SignInOutcome> {
  if (options.browser === "always") return signInWithBrowser(options);
  const outcome = await signInWithForms(options);
  if (outcome.kind !== "needs-script") return outcome;
  if (options.browser === "never") return { kind: "needs-person", why: "the sign-in page needs a script to work (run with --browser or a Chromium at ADENROLL_CHROMIUM)", url: outcome.url };
  return signInWithBrowser({ ...options, startUrl: outcome.url });
}
