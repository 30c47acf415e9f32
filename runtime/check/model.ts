// What `adenroll check` reports: one result per rule of the catalogue (spec/rules.ts), plus a few
// supplementary rules the protocol leaves to general web security (SEC-*), each with its source.
// A result is pass, fail, not applicable (with why), or needs a person (what could not be automated).
import { ruleById, rules } from "../../spec/index.ts";
import { maskText } from "./mask.ts";

export type Outcome = "pass" | "fail" | "not-applicable" | "needs-person";

/** One recorded HTTP exchange (a request the check sent and what came back). */
export interface Exchange {
  readonly id: number;
  /** What the check was doing: the flow step or the probe. */
  readonly label: string;
  readonly request: {
    readonly method: string;
    readonly url: string;
    readonly headers: Readonly<Record<string, string>>;
    /** Shown text (UTF-8, or base64 for binary, shortened), secrets masked. */
    readonly body: string;
    readonly bodyBytes: number;
  };
  readonly response:
    | { readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string; readonly bodyBytes: number }
    | { readonly error: string };
  readonly ms: number;
}

/** One observation about a rule: a probe and what it found. */
export interface Finding {
  readonly outcome: Outcome;
  /** What was tried and what came back, in one sentence. */
  readonly text: string;
  /** For a failure: what the rule expected. */
  readonly expected?: string;
  /** The exchanges that show it. */
  readonly exchanges: readonly number[];
}

export interface CheckRule {
  readonly id: string;
  readonly side: "device" | "server";
  readonly source: string;
  readonly rule: string;
  /** Not from Apple's documentation or PROTOCOL.md: general web security the flow relies on. */
  readonly supplementary?: boolean;
}

export interface RuleResult extends CheckRule {
  readonly outcome: Outcome;
  readonly findings: readonly Finding[];
}

export interface CheckReport {
  readonly tool: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly target: { readonly user: string; readonly discoveryUrl: string; readonly auth: "simple" | "oauth2" };
  /** What the device machine made of the run (enrolled, or cancelled by a rule). */
  readonly device: string;
  readonly results: readonly RuleResult[];
  readonly exchanges: readonly Exchange[];
  readonly counts: Readonly<Record<Outcome, number>>;
  readonly fuzz?: FuzzSummary;
}

export interface FuzzFailure {
  readonly step: string;
  readonly ruleId: string;
  readonly text: string;
  readonly curl: string;
  readonly seed: number;
  readonly path: string;
}

export interface FuzzSummary {
  readonly seed: number;
  readonly runsPerStep: number;
  readonly requests: number;
  readonly durationMs: number;
  readonly steps: readonly { readonly step: string; readonly runs: number; readonly failed: boolean }[];
  readonly failures: readonly FuzzFailure[];
}

/** Rules the protocol documents only indirectly: what every web endpoint of the flow must do. */
export const supplementaryRules: readonly CheckRule[] = [
  {
    id: "SEC-1",
    side: "server",
    supplementary: true,
    source: "OWASP ASVS 4.0 V5.3.3 (output encoding); PROTOCOL.md §8 (the sign-in page reflects user-identifier)",
    rule: "Values the sign-in page reflects from the request (the user-identifier query item) are HTML-escaped: no markup from the URL reaches the page.",
  },
  {
    id: "SEC-2",
    side: "server",
    supplementary: true,
    source: "RFC 9110 §15.5, §15.6; PROTOCOL.md §2 (an invalid request gets a standard error status)",
    rule: "Malformed or hostile requests to any endpoint of the flow are answered with a 4xx status, never a 5xx or a dropped connection.",
  },
];

/** Every rule the report lists: the catalogue's, then the supplementary ones. */
export function allRules(): CheckRule[] {
  const catalogued: CheckRule[] = rules.map((r) => ({ id: r.id, side: r.side, source: r.source, rule: r.rule }));
  return [...catalogued, ...supplementaryRules];
}

export function ruleText(id: string): CheckRule | undefined {
  const r = ruleById.get(id);
  if (r !== undefined) return { id: r.id, side: r.side, source: r.source, rule: r.rule };
  return supplementaryRules.find((s) => s.id === id);
}

/**
 * Device rules whose subject is what the server sends: the check judges the server's answers by
 * them (a profile with AccessRights under BYOD breaks PROFILE-4 whoever notices).
 */
export const deviceRulesJudgedOnServer: ReadonlySet<string> = new Set(["PROFILE-1", "PROFILE-2", "PROFILE-3", "PROFILE-4", "PROFILE-5"]);

/** A device machine's cancel rule → the server rule its answer broke (for the device's verdict). */
export const serverRuleForDeviceCancel: Readonly<Record<string, string>> = {
  "DISCOVERY-3": "DISCOVERY-10",
  "DISCOVERY-4": "DISCOVERY-10",
  "DISCOVERY-5": "DISCOVERY-10",
  "DISCOVERY-6": "DISCOVERY-10",
  "DISCOVERY-7": "DISCOVERY-10",
  "DISCOVERY-9": "DISCOVERY-11",
  "ENROLL-6": "ENROLL-5",
  "ENROLL-7": "ENROLL-5",
  "ENROLL-8": "ENROLL-5",
  "CHALLENGE-1": "CHALLENGE-3",
  "CHALLENGE-4": "CHALLENGE-3",
  "CHALLENGE-5": "CHALLENGE-6",
  "CHALLENGE-7": "CHALLENGE-3",
  "ESSO-1": "ESSO-5",
  "SIMPLE-3": "SIMPLE-4",
  "SIMPLE-6": "SIMPLE-4",
  "OAUTH-2": "OAUTH-6",
  "OAUTH-3": "OAUTH-6",
  "OAUTH-5": "OAUTH-7",
  "ENROLL2-4": "ENROLL2-3",
  "PROFILE-1": "PROFILE-1",
  "PROFILE-2": "PROFILE-2",
  "PROFILE-3": "PROFILE-3",
  "PROFILE-4": "PROFILE-4",
  "PROFILE-5": "PROFILE-5",
};

/** Collects findings per rule while the check runs. */
export class Findings {
  readonly #byRule = new Map<string, Finding[]>();
  /** Why a rule is not applicable when nothing was found for it. */
  readonly #notApplicable = new Map<string, string>();

  add(ruleId: string, finding: Finding): void {
    // What a finding quotes from the exchange is masked like the exchange itself.
    const masked: Finding = { ...finding, text: maskText(finding.text), ...(finding.expected === undefined ? {} : { expected: maskText(finding.expected) }) };
    this.#byRule.set(ruleId, [...(this.#byRule.get(ruleId) ?? []), masked]);
  }

  pass(ruleId: string, text: string, exchanges: readonly number[] = []): void {
    this.add(ruleId, { outcome: "pass", text, exchanges });
  }

  fail(ruleId: string, text: string, expected: string, exchanges: readonly number[] = []): void {
    this.add(ruleId, { outcome: "fail", text, expected, exchanges });
  }

  needsPerson(ruleId: string, text: string, exchanges: readonly number[] = []): void {
    this.add(ruleId, { outcome: "needs-person", text, exchanges });
  }

  /** Marks a rule not applicable (kept only when no probe found anything for it). */
  notApplicable(ruleId: string, why: string): void {
    if (!this.#notApplicable.has(ruleId)) this.#notApplicable.set(ruleId, why);
  }

  /** Either pass or fail on a condition. */
  expect(ruleId: string, ok: boolean, text: string, expected: string, exchanges: readonly number[] = []): boolean {
    if (ok) this.pass(ruleId, text, exchanges);
    else this.fail(ruleId, text, expected, exchanges);
    return ok;
  }

  has(ruleId: string): boolean {
    return (this.#byRule.get(ruleId)?.length ?? 0) > 0;
  }

  failed(ruleId: string): boolean {
    return (this.#byRule.get(ruleId) ?? []).some((f) => f.outcome === "fail");
  }

  results(): RuleResult[] {
    return allRules().map((rule) => {
      const findings = this.#byRule.get(rule.id) ?? [];
      const outcome: Outcome = findings.some((f) => f.outcome === "fail")
        ? "fail"
        : findings.some((f) => f.outcome === "needs-person")
          ? "needs-person"
          : findings.some((f) => f.outcome === "pass")
            ? "pass"
            : "not-applicable";
      const why =
        outcome === "not-applicable"
          ? [{ outcome, text: this.#notApplicable.get(rule.id) ?? (rule.side === "device" ? "a device-side rule: it binds the device, not the server" : "not probed by this run"), exchanges: [] } satisfies Finding]
          : findings;
      return { ...rule, outcome, findings: why };
    });
  }
}

export function countOutcomes(results: readonly RuleResult[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { pass: 0, fail: 0, "not-applicable": 0, "needs-person": 0 };
  for (const r of results) counts[r.outcome]++;
  return counts;
}
