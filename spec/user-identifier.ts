// Sign in (step 1): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
import { err, ok, type Result } from "./result.ts";
import type { RuleId } from "./rules.ts";

export interface UserIdentifier {
  readonly identifier: string;
  readonly user: string;
  readonly domain: string;
}

export interface UserIdentifierError {
  readonly code: "identifier.no-user" | "identifier.not-fqdn";
  readonly ruleId: RuleId;
  readonly detail: string;
}

// A DNS name of at least two labels, each 1–63 letters, digits or hyphens, not starting or ending
// with a hyphen; the top label is not all digits (so an IPv4 address is refused).
const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function isFqdn(domain: string): boolean {
  const name = domain.endsWith(".") ? domain.slice(0, -1) : domain;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  const top = labels[labels.length - 1] ?? "";
  return labels.length >= 2 && labels.every((l) => label.test(l)) && !/^\d+$/.test(top);
}

// C0 controls and DEL: never part of an identifier a person types. A server refuses them where an
// identifier arrives (discovery, the sign-in form) before it is looked up or stored: PostgreSQL
// refuses NUL in text outright, which would turn a bad request into a failed query.
const controlCharacter = /[\u0000-\u001f\u007f]/;

export function hasControlCharacter(value: string): boolean {
  return controlCharacter.test(value);
}

/** IDENT-1: split at the last "@"; IDENT-2 and IDENT-3 are the correctable errors. */
export function splitUserIdentifier(identifier: string): Result<UserIdentifier, UserIdentifierError> {
  const at = identifier.lastIndexOf("@");
  const user = at < 0 ? "" : identifier.slice(0, at);
  const domain = at < 0 ? identifier : identifier.slice(at + 1);
  if (user.trim().length === 0) {
    return err({ code: "identifier.no-user", ruleId: "IDENT-2", detail: "the identifier needs the form user@domain" });
  }
  if (!isFqdn(domain)) {
    return err({ code: "identifier.not-fqdn", ruleId: "IDENT-3", detail: `"${domain}" is not a fully qualified domain name` });
  }
  return ok({ identifier, user, domain });
}
