// The pages a person sees in the device's web view during web authentication (steps 6–11): the
// simple sign-in form, which posts back to its own URL, and the page that ends a sign-in with an
// error. Self-contained: inline CSS only, no script, no external asset (the page's CSP allows
// nothing else); light and dark; sized for a phone first. Every reflected value goes through
// escapeHtml.
import { escapeHtml } from "./html.ts";

export interface SignInPageView {
  readonly organizationName: string;
  readonly action: string;
  /** Prefills the user field: the device's `user-identifier`, or what the person typed last. */
  readonly userIdentifier: string | null;
  /** The last attempt failed (SIMPLE-5): the page says so above the fields. */
  readonly failed: boolean;
  /** The anti-CSRF token this page's form carries. */
  readonly csrf: string;
  /** More hidden fields the form posts back (an OAuth 2 authorization request's parameters). */
  readonly hidden?: Readonly<Record<string, string>>;
  /**
   * Sign-in through the organization's OpenID Connect provider: a link (not a form, so that the
   * page's CSP form-action does not stop the redirect to the provider) to the upstream start URL.
   * Without `passwordSignIn` the page offers no password fields, only the provider and Cancel.
   */
  readonly upstream?: { readonly name: string; readonly href: string; readonly passwordSignIn: boolean };
}

export interface ErrorPageView {
  readonly organizationName: string;
  /** A short heading: what happened. */
  readonly title: string;
  /** One or two sentences: what the person can do now. */
  readonly message: string;
}

const styles = `
:root{color-scheme:light dark;--bg:#eef0f4;--card:#fff;--text:#16181d;--muted:#4a5260;--border:#b9bfca;--accent:#0a5fd1;--on-accent:#fff;--ring:#0a5fd1;--err-bg:#fdeceb;--err-text:#8a1b14;--err-line:#e8a7a1}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#1a1d23;--text:#f2f4f7;--muted:#b3bac5;--border:#4b525e;--accent:#5b9bff;--on-accent:#0a1220;--ring:#8fbaff;--err-bg:#3a1614;--err-text:#ffd6d1;--err-line:#86342c}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;min-height:100vh;background:var(--bg);color:var(--text);font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;display:flex;justify-content:center;align-items:flex-start;padding:3rem 1rem}
main{width:100%;max-width:25rem;background:var(--card);border-radius:18px;padding:2.25rem 1.75rem 2rem;box-shadow:0 1px 2px rgba(0,0,0,.06),0 10px 30px rgba(0,0,0,.08)}
.mark{width:56px;height:56px;margin:0 auto 1rem;border-radius:14px;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center;font-size:26px;font-weight:700;line-height:1}
.org{margin:0 0 .25rem;text-align:center;color:var(--muted);font-size:.9375rem;font-weight:600;overflow-wrap:anywhere}
h1{margin:0 0 .5rem;text-align:center;font-size:1.625rem;line-height:1.2;font-weight:700;letter-spacing:-.01em;overflow-wrap:anywhere}
.lead{margin:0 0 1.5rem;text-align:center;color:var(--muted)}
.alert{display:flex;gap:.625rem;align-items:flex-start;margin:0 0 1.25rem;padding:.75rem .875rem;border:1px solid var(--err-line);border-radius:12px;background:var(--err-bg);color:var(--err-text);font-size:.9375rem;line-height:1.4}
.alert::before{content:"!";flex:none;width:1.25rem;height:1.25rem;margin-top:.05rem;border-radius:50%;background:var(--err-text);color:var(--err-bg);font-weight:700;font-size:.8125rem;line-height:1.25rem;text-align:center}
.alert strong{display:block}
label{display:block;margin:1rem 0 .375rem;font-weight:600;font-size:.9375rem}
input[type=text],input[type=password]{display:block;width:100%;margin:0;padding:.75rem .875rem;font:inherit;font-size:17px;color:var(--text);background:var(--card);border:1px solid var(--border);border-radius:12px;appearance:none;-webkit-appearance:none}
input[aria-invalid=true]{border-color:var(--err-text)}
input:focus{outline:3px solid var(--ring);outline-offset:1px;border-color:var(--ring)}
.actions{display:flex;flex-direction:column;gap:.75rem;margin-top:1.75rem}
button{width:100%;margin:0;padding:.8125rem 1rem;font:inherit;font-size:17px;font-weight:600;border-radius:12px;border:1px solid transparent;cursor:pointer;-webkit-tap-highlight-color:transparent}
button:focus-visible{outline:3px solid var(--ring);outline-offset:2px}
.primary{background:var(--accent);color:var(--on-accent)}
a.button{display:block;box-sizing:border-box;width:100%;padding:.8125rem 1rem;font-size:17px;font-weight:600;text-align:center;text-decoration:none;border-radius:12px;border:1px solid transparent}
a.button:focus-visible{outline:3px solid var(--ring);outline-offset:2px}
.or{display:flex;align-items:center;gap:.75rem;margin:1.5rem 0 0;color:var(--muted);font-size:.875rem}
.or::before,.or::after{content:"";flex:1;border-top:1px solid var(--border)}
.secondary{background:transparent;color:var(--accent);border-color:var(--border)}
.note{margin:1.5rem 0 0;text-align:center;color:var(--muted);font-size:.8125rem;line-height:1.45}
.message{margin:0;text-align:center}
@media (max-width:30rem){body{padding:0;background:var(--card)}main{max-width:none;min-height:100vh;border-radius:0;box-shadow:none;padding:2.75rem 1.25rem 2rem}}
`.trim();

/** The first letter of the organization's name, as a monogram in place of a logo. */
function monogram(organizationName: string): string {
  const first = Array.from(organizationName.trim())[0] ?? "?";
  return escapeHtml(first.toLocaleUpperCase());
}

function page(title: string, organizationName: string, main: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)} — ${escapeHtml(organizationName)}</title>
<style>
${styles}
</style>
</head>
<body>
<main>
<div class="mark" aria-hidden="true">${monogram(organizationName)}</div>
${main}
</main>
</body>
</html>
`;
}

/**
 * The headers of every page the hand-written endpoints serve (the OAuth 2 authorization page, the
 * upstream sign-in's error pages): HTML, no framing (RFC 9700 §4.16), no caching, no referrer, no
 * script. `formTargets`: where the page's form may end up besides this server (browsers apply
 * form-action to the redirect that answers it).
 */
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(" ");
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
  };
}

export function renderSignInPage(view: SignInPageView): string {
  const org = escapeHtml(view.organizationName);
  if (view.upstream !== undefined) return renderUpstreamSignInPage(view, view.upstream);
  const user = escapeHtml(view.userIdentifier ?? "");
  const failure = view.failed
    ? `<div class="alert" role="alert" id="sign-in-error"><span><strong>The user name or password is wrong.</strong> Check both and try again.</span></div>\n`
    : "";
  const invalid = view.failed ? ` aria-invalid="true" aria-describedby="sign-in-error"` : "";
  // The password field takes the focus once a user name is known (prefilled or after a failure).
  const focusUser = user === "" ? " autofocus" : "";
  const focusPassword = user === "" ? "" : " autofocus";
  return page(
    "Sign in",
    view.organizationName,
    `<h1>${org}</h1>
<p class="lead">Sign in to enroll this device with ${org}.</p>
${failure}<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(view.csrf)}">
${Object.entries(view.hidden ?? {})
  .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">\n`)
  .join("")}<label for="username">User name</label>
<input id="username" name="username" type="text" value="${user}" inputmode="email" autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false" required${focusUser}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${invalid}${focusPassword}>
<div class="actions">
<button type="submit" name="action" value="sign-in" class="primary">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate class="secondary">Cancel</button>
</div>
</form>
<p class="note">Your password goes only to ${org}. Sign in only if you started enrolling this device yourself.</p>`,
  );
}

/** What a person sees when web authentication ends with an error (forged form, throttled, cancelled, unknown link). */
export function renderErrorPage(view: ErrorPageView): string {
  return page(
    view.title,
    view.organizationName,
    `<p class="org">${escapeHtml(view.organizationName)}</p>
<h1>${escapeHtml(view.title)}</h1>
<p class="message">${escapeHtml(view.message)}</p>
<p class="note">You can close this page.</p>`,
  );
}

/** The sign-in page of an organization with an identity provider: its button, then (if allowed) the password form. */
function renderUpstreamSignInPage(view: SignInPageView, upstream: NonNullable<SignInPageView["upstream"]>): string {
  const org = escapeHtml(view.organizationName);
  const provider = escapeHtml(upstream.name);
  const user = escapeHtml(view.userIdentifier ?? "");
  const hidden = `<input type="hidden" name="csrf" value="${escapeHtml(view.csrf)}">
${Object.entries(view.hidden ?? {})
  .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">\n`)
  .join("")}`;
  const failure = view.failed
    ? `<div class="alert" role="alert" id="sign-in-error"><span><strong>The user name or password is wrong.</strong> Check both and try again.</span></div>\n`
    : "";
  const invalid = view.failed ? ` aria-invalid="true" aria-describedby="sign-in-error"` : "";
  const passwordForm = upstream.passwordSignIn
    ? `<p class="or">or use a password</p>
${failure}<form method="post" action="${escapeHtml(view.action)}">
${hidden}<label for="username">User name</label>
<input id="username" name="username" type="text" value="${user}" inputmode="email" autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${invalid}>
<div class="actions">
<button type="submit" name="action" value="sign-in" class="secondary">Sign in with password</button>
<button type="submit" name="action" value="cancel" formnovalidate class="secondary">Cancel</button>
</div>
</form>`
    : `<form method="post" action="${escapeHtml(view.action)}">
${hidden}<div class="actions">
<button type="submit" name="action" value="cancel" formnovalidate class="secondary">Cancel</button>
</div>
</form>`;
  return page(
    "Sign in",
    view.organizationName,
    `<h1>${org}</h1>
<p class="lead">Sign in to enroll this device with ${org}.</p>
<div class="actions">
<a class="button primary" data-upstream href="${escapeHtml(upstream.href)}" autofocus>Continue with ${provider}</a>
</div>
${passwordForm}
<p class="note">You sign in at ${provider}, which tells ${org} who you are. Sign in only if you started enrolling this device yourself.</p>`,
  );
}
