// A sign-in across two sites, for the cookie rules of the simulated web views: our server
// (mdm.example.com) sets a cookie with the given attributes and sends the person to an identity
// provider (idp.example.org), whose login form posts and redirects back to our callback, which says
// whether the cookie came back: a redirect to the callback scheme with ok=1 or ok=0.
import type { Fetch } from "../../generated/client.generated.ts";

export const twoSiteStartUrl = "https://mdm.example.com/start";

export function twoSiteSignIn(cookieAttributes: string): Fetch {
  const redirect = (location: string, cookie?: string) => new Response(null, { status: 302, headers: { location, ...(cookie === undefined ? {} : { "set-cookie": cookie }) } });
  return async (request) => {
    const url = new URL(request.url);
    if (url.host === "mdm.example.com" && url.pathname === "/start") return redirect("https://idp.example.org/login", `pending=1; Path=/; Secure; ${cookieAttributes}`);
    if (url.host === "idp.example.org" && request.method === "GET") {
      const form = '<form method="post" action="/login"><input name="username"><input type="password" name="password"><button type="submit">Sign in</button></form>';
      return new Response(form, { status: 200, headers: { "content-type": "text/html" } });
    }
    if (url.host === "idp.example.org" && request.method === "POST") return redirect("https://mdm.example.com/callback");
    if (url.host === "mdm.example.com" && url.pathname === "/callback") {
      const ok = (request.headers.get("cookie") ?? "").includes("pending=1") ? 1 : 0;
      return redirect(`apple-remotemanagement-user-login://authentication-results?ok=${ok}`);
    }
    return new Response(null, { status: 404 });
  };
}
