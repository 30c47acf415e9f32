// The check's three outputs: the terminal (one line per rule; a failure with its request, answer
// and what the rule expected), JSON for CI, and one self-contained HTML page — summary, rule table,
// a Mermaid sequence diagram of the real exchange (mermaid's bundle inlined: the page loads
// nothing), every request and answer expandable. Everything from the server is escaped.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { escapeHtml } from "../html.ts";
import type { CheckReport, Exchange, Outcome, RuleResult } from "./model.ts";

const mark: Record<Outcome, string> = { pass: "pass", fail: "FAIL", "not-applicable": "n/a ", "needs-person": "PERSON" };

function exchangeLine(e: Exchange): string {
  const answer = "status" in e.response ? `${e.response.status}` : `failed: ${e.response.error}`;
  return `#${e.id} ${e.request.method} ${e.request.url} → ${answer}`;
}

/** The terminal's lines: server rules (and device rules judged on the server's answers) one per line. */
export function textReport(report: CheckReport, options: { readonly all?: boolean } = {}): string[] {
  const lines: string[] = [];
  const byId = new Map(report.exchanges.map((e) => [e.id, e]));
  lines.push(`adenroll check: ${report.target.user} via ${report.target.discoveryUrl} (${report.target.auth})`);
  lines.push(`  ${report.device}`);
  for (const r of report.results) {
    if (!options.all && r.side === "device" && r.outcome === "not-applicable") continue;
    const first = r.findings[0];
    const note = r.outcome === "pass" ? `${r.findings.length} probe${r.findings.length === 1 ? "" : "s"}` : r.outcome === "fail" ? "" : (first?.text ?? "");
    lines.push(`  ${mark[r.outcome].padEnd(6)} ${r.id.padEnd(12)} ${r.source}${note === "" ? "" : ` — ${note}`}`);
    if (r.outcome === "fail" || r.outcome === "needs-person") {
      for (const f of r.findings.filter((x) => x.outcome === r.outcome)) {
        lines.push(`           ${r.outcome === "fail" ? "✗" : "?"} ${f.text}`);
        if (f.expected !== undefined) lines.push(`             expected: ${f.expected}`);
        for (const id of f.exchanges.slice(0, 3)) {
          const e = byId.get(id);
          if (e !== undefined) lines.push(`             ${exchangeLine(e)}`);
        }
      }
    }
  }
  const device = report.results.filter((r) => r.side === "device" && r.outcome === "not-applicable").length;
  if (!options.all && device > 0) lines.push(`  (${device} device-side rules not listed: they bind the device, not the server; --json and --report list them)`);
  if (report.fuzz !== undefined) {
    const z = report.fuzz;
    lines.push(`  fuzz: seed ${z.seed}, ${z.runsPerStep} runs per step, ${z.requests} requests in ${(z.durationMs / 1000).toFixed(1)} s: ${z.failures.length === 0 ? "no rule broken" : `${z.failures.length} failure(s)`}`);
    for (const failure of z.failures) {
      lines.push(`  FAIL   ${failure.ruleId.padEnd(12)} fuzz ${failure.step}: ${failure.text}`);
      lines.push(`           replay: ${failure.curl.split("\n").join("\n                   ")}`);
      lines.push(`           (fast-check seed ${failure.seed}, path ${failure.path})`);
    }
  }
  const c = report.counts;
  lines.push(`  ${c.pass} passed, ${c.fail} failed, ${c["needs-person"]} need a person, ${c["not-applicable"]} not applicable — ${(report.durationMs / 1000).toFixed(1)} s`);
  return lines;
}

export function jsonReport(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Text for a Mermaid message label: no characters Mermaid's grammar gives meaning to. */
export function mermaidLabel(value: string, max = 60): string {
  const short = value.length > max ? `${value.slice(0, max - 1)}…` : value;
  return short.replace(/[;#:<>{}"`\n\r]/g, (ch) => `#${ch.codePointAt(0)};`);
}

/** The real exchange as a Mermaid sequence diagram: one participant per origin, probes as notes. */
export function sequenceDiagram(exchanges: readonly Exchange[]): string {
  const origins: string[] = [];
  const alias = (url: string): string => {
    const origin = URL.parse(url)?.origin ?? "unknown";
    let i = origins.indexOf(origin);
    if (i < 0) i = origins.push(origin) - 1;
    return `S${i}`;
  };
  const lines: string[] = [];
  let lastLabel = "";
  for (const e of exchanges) {
    const to = alias(e.request.url);
    if (e.label !== lastLabel) {
      lines.push(`  Note over D,${to}: ${mermaidLabel(e.label, 80)}`);
      lastLabel = e.label;
    }
    const path = URL.parse(e.request.url)?.pathname ?? e.request.url;
    lines.push(`  D->>${to}: ${mermaidLabel(`[${e.id}] ${e.request.method} ${path}`)}`);
    const answer = "status" in e.response ? `${e.response.status}${e.response.headers["content-type"] === undefined ? "" : ` ${e.response.headers["content-type"].split(";")[0] ?? ""}`}` : `failed ${e.response.error}`;
    lines.push(`  ${to}-->>D: ${mermaidLabel(`[${e.id}] ${answer}`)}`);
  }
  const participants = ["  participant D as adenroll check (the device)", ...origins.map((o, i) => `  participant S${i} as ${mermaidLabel(o, 80)}`)];
  return ["sequenceDiagram", ...participants, ...lines].join("\n");
}

/** mermaid's browser bundle, or undefined when the package is not installed (the diagram is then shown as text). */
export async function mermaidBundle(): Promise<string | undefined> {
  try {
    const require = createRequire(import.meta.url);
    const file = require.resolve("mermaid/dist/mermaid.min.js");
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}

const styles = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--text:#16181d;--muted:#555d6b;--line:#d5d9e0;--pass:#137333;--fail:#b3261e;--na:#6b7280;--person:#9a6700}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#1a1d23;--text:#eef0f3;--muted:#aab2bf;--line:#3a404a;--pass:#6ccf8e;--fail:#ff8a80;--na:#9aa3b0;--person:#f0c060}}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Arial,sans-serif}
main{max-width:72rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:.25rem 0}h2{font-size:1.2rem;margin:2rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem;margin:.75rem 0}
.summary{display:flex;gap:1rem;flex-wrap:wrap}.summary div{min-width:8rem}.summary b{display:block;font-size:1.6rem}
.pass{color:var(--pass)}.fail{color:var(--fail)}.not-applicable{color:var(--na)}.needs-person{color:var(--person)}
table{border-collapse:collapse;width:100%;background:var(--card)}th,td{border-bottom:1px solid var(--line);padding:.4rem .5rem;text-align:left;vertical-align:top}
th{font-size:.85rem;color:var(--muted)}td.id{white-space:nowrap;font-weight:600}td.outcome{white-space:nowrap;font-weight:700}
.finding{margin:.15rem 0}.expected{color:var(--muted)}.src{color:var(--muted);font-size:.85rem}
details{border-bottom:1px solid var(--line);padding:.3rem 0}summary{cursor:pointer}
pre{white-space:pre-wrap;word-break:break-all;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);padding:.5rem;border-radius:6px;margin:.25rem 0}
.diagram{overflow-x:auto;background:#fff;border-radius:10px;padding:.5rem}
a{color:inherit}
`.trim();

function ruleRow(r: RuleResult): string {
  const findings = r.findings
    .map((f) => {
      const refs = f.exchanges.length === 0 ? "" : ` <span class="src">(${f.exchanges.map((id) => `<a href="#x${id}">#${id}</a>`).join(" ")})</span>`;
      const expected = f.expected === undefined || f.outcome !== "fail" ? "" : `<div class="expected">expected: ${escapeHtml(f.expected)}</div>`;
      return `<div class="finding"><span class="${f.outcome}">${f.outcome === "pass" ? "✓" : f.outcome === "fail" ? "✗" : f.outcome === "needs-person" ? "?" : "–"}</span> ${escapeHtml(f.text)}${refs}${expected}</div>`;
    })
    .join("");
  return `<tr id="rule-${escapeHtml(r.id)}"><td class="id">${escapeHtml(r.id)}</td><td class="outcome ${r.outcome}">${escapeHtml(r.outcome.replace("-", " "))}</td><td>${escapeHtml(r.rule)}<div class="src">${escapeHtml(r.source)}${r.supplementary === true ? " — supplementary (not in Apple's text)" : ""}</div></td><td>${findings}</td></tr>`;
}

function exchangeBlock(e: Exchange): string {
  const headers = (h: Readonly<Record<string, string>>): string => Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\n");
  const answer = "status" in e.response ? `${e.response.status}` : `failed: ${e.response.error}`;
  const response =
    "status" in e.response
      ? `<pre>${escapeHtml(`HTTP ${e.response.status}\n${headers(e.response.headers)}\n\n${e.response.body}`)}</pre>`
      : `<pre>${escapeHtml(e.response.error)}</pre>`;
  return `<details id="x${e.id}"><summary>#${e.id} ${escapeHtml(e.label)} — ${escapeHtml(e.request.method)} ${escapeHtml(e.request.url)} → <b>${escapeHtml(answer)}</b> <span class="src">${e.ms.toFixed(0)} ms</span></summary>
<pre>${escapeHtml(`${e.request.method} ${e.request.url}\n${headers(e.request.headers)}\n\n${e.request.body}`)}</pre>
${response}</details>`;
}

/** The self-contained HTML report. `mermaid` is the bundle's text (mermaidBundle()); without it the diagram is shown as its source. */
export function htmlReport(report: CheckReport, mermaid: string | undefined): string {
  const c = report.counts;
  const verdict = c.fail > 0 ? `<span class="fail">${c.fail} rule${c.fail === 1 ? "" : "s"} failed</span>` : `<span class="pass">no rule failed</span>`;
  const serverSide = report.results.filter((r) => !(r.side === "device" && r.outcome === "not-applicable"));
  const deviceSide = report.results.filter((r) => r.side === "device" && r.outcome === "not-applicable");
  const fuzz =
    report.fuzz === undefined
      ? ""
      : `<h2>Fuzz</h2><div class="card">seed ${report.fuzz.seed}, ${report.fuzz.runsPerStep} runs per step, ${report.fuzz.requests} requests in ${(report.fuzz.durationMs / 1000).toFixed(1)} s — ${report.fuzz.failures.length === 0 ? '<span class="pass">no rule broken</span>' : `<span class="fail">${report.fuzz.failures.length} failure(s)</span>`}
${report.fuzz.failures.map((f) => `<div class="finding"><span class="fail">✗</span> <b>${escapeHtml(f.ruleId)}</b> ${escapeHtml(f.step)}: ${escapeHtml(f.text)}<pre>${escapeHtml(f.curl)}</pre></div>`).join("\n")}</div>`;
  // The bundle is inlined as a script: "</script" inside it would end the element early.
  const script = mermaid === undefined ? "" : `<script>${mermaid.replace(/<\/script/gi, "<\\/script")}</script>
<script>mermaid.initialize({startOnLoad:false,securityLevel:"strict",theme:"default",sequence:{showSequenceNumbers:false}});mermaid.run({querySelector:".mermaid"}).then(function(){document.body.dataset.diagram="rendered"},function(e){document.body.dataset.diagram="failed";console.error(e)});</script>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adenroll check — ${escapeHtml(report.target.user)}</title>
<style>${styles}</style>
</head>
<body>
<main>
<p class="src">adenroll check · ${escapeHtml(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s</p>
<h1>${escapeHtml(report.target.user)} at ${escapeHtml(report.target.discoveryUrl)}: ${verdict}</h1>
<div class="card summary">
<div><b class="pass">${c.pass}</b>passed</div><div><b class="fail">${c.fail}</b>failed</div><div><b class="needs-person">${c["needs-person"]}</b>need a person</div><div><b class="not-applicable">${c["not-applicable"]}</b>not applicable</div>
<div><b>${report.exchanges.length}</b>requests</div>
</div>
<div class="card">Authentication: ${escapeHtml(report.target.auth)}. The device: ${escapeHtml(report.device)}.</div>
<h2>Rules</h2>
<table><thead><tr><th>rule</th><th>result</th><th>what it says · source</th><th>what the check saw</th></tr></thead><tbody>
${serverSide.map(ruleRow).join("\n")}
</tbody></table>
<details><summary>${deviceSide.length} device-side rules (they bind the device, not the server)</summary><table><tbody>${deviceSide.map(ruleRow).join("\n")}</tbody></table></details>
${fuzz}
<h2>The exchange</h2>
<div class="card diagram"><pre class="mermaid">${escapeHtml(sequenceDiagram(report.exchanges))}</pre></div>
<h2>Requests and answers</h2>
<div class="card">${report.exchanges.map(exchangeBlock).join("\n")}</div>
</main>
${script}
</body>
</html>
`;
}
