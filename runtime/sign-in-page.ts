// The simple sign-in page of web authentication (steps 6–10): a form that posts back to its own URL.
import { escapeHtml } from "./html.ts";

export interface SignInPageView {
  readonly organizationName: string;
  readonly action: string;
  readonly userIdentifier: string | null;
  readonly failed: boolean;
  /** The anti-CSRF token this page's form carries. */
  readonly csrf: string;
}

export function renderSignInPage(view: SignInPageView): string {
  const org = escapeHtml(view.organizationName);
  const user = escapeHtml(view.userIdentifier ?? "");
  const failure = view.failed ? `<p class="error" role="alert">The user name or password is wrong. Try again.</p>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — ${org}</title>
<style>
body{font-family:-apple-system,system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;font-size:1rem;padding:.5rem;box-sizing:border-box}
button{margin-top:1.5rem;font-size:1rem;padding:.6rem 1.2rem}.error{color:#b00020}
</style>
</head>
<body>
<h1>${org}</h1>
<p>Sign in to enroll this device.</p>
${failure}<form method="post" action="${escapeHtml(view.action)}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" value="${user}" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="csrf" value="${escapeHtml(view.csrf)}">
<button type="submit" name="action" value="sign-in">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate class="secondary">Cancel</button>
</form>
</body>
</html>
`;
}
