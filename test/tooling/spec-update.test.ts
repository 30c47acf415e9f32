// spec:update: the change summary between two releases of Apple's schemas, and the script itself,
// run on temporary copies (the committed spec/apple/ files are never written).
// The releases: test/fixtures/apple-release-older/ (README there: 26.0 files, and the same files
// before 26.0 as derived from Apple's `introduced` facts).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { appleYamlDir, readKeptAppleFiles } from "../../generators/apple-yaml.ts";
import { generateAppleSchemaFiles } from "../../generators/apple-schemas.generator.ts";
import { findTouched, formatSummary, summarizeSchemaChanges, type SchemaChange } from "../../scripts/schema-changes.ts";
import { runSpecUpdate } from "../../scripts/spec-update.ts";
import { rules } from "../../spec/rules.ts";

const root = join(import.meta.dirname, "../..");
const fixture = join(root, "test/fixtures/apple-release-older");
const older = readKeptAppleFiles(join(fixture, "older"));
const newer = readKeptAppleFiles(join(fixture, "newer"));

/** The keys the older fixture lacks: every key Apple marks introduced in 26.0 on each OS that has it. */
const keysNewIn26 = {
  ComAppleExtensiblessoPayload: [
    "PlatformSSO.AccessKeyReaderGroupIdentifier",
    "PlatformSSO.AccessKeyTerminalIdentityUUID",
    "PlatformSSO.AllowAccessKeyExpressMode",
    "PlatformSSO.EnableCreateFirstUserDuringSetup",
    "PlatformSSO.NewUserAuthenticationMethods",
    "PlatformSSO.SynchronizeProfilePicture",
  ],
  ComAppleConfigurationAppManagedDeclaration: ["AppComposedIdentifier", "InstallBehavior.AllowDownloadsOverCellular", "InstallBehavior.Version", "UpdateBehavior", "iOSApp"],
  SoftwareupdateRequiredError: [],
};

const expectedSummary = `Apple schema update: 2 file(s) added, 0 removed, 3 changed.

Payloads and messages added:
  ReturnToServiceCheckIn (ReturnToService, mdm/checkin/returntoservice.yaml)
  PssoRequiredError (com.apple.psso.required, mdm/errors/psso.required.yaml)

ComAppleConfigurationAppManagedDeclaration (com.apple.configuration.app.managed, declarative/declarations/configurations/app.managed.yaml):
  supportedOS macOS introduced: n/a → 26.0
  + AppComposedIdentifier (<string>, optional)
  + InstallBehavior.AllowDownloadsOverCellular (<string>, optional)
  + InstallBehavior.Version (<integer>, optional)
  + UpdateBehavior (<dictionary>, optional)
  + iOSApp (<boolean>, optional)

SoftwareupdateRequiredError (com.apple.softwareupdate.required, mdm/errors/softwareupdate.required.yaml):
  supportedOS visionOS introduced: n/a → 26.0

ComAppleExtensiblessoPayload (com.apple.extensiblesso, mdm/profiles/com.apple.extensiblesso.yaml):
  + PlatformSSO.AccessKeyReaderGroupIdentifier (<data>, optional)
  + PlatformSSO.AccessKeyTerminalIdentityUUID (<string>, optional)
  + PlatformSSO.AllowAccessKeyExpressMode (<boolean>, optional)
  + PlatformSSO.EnableCreateFirstUserDuringSetup (<boolean>, optional)
  + PlatformSSO.NewUserAuthenticationMethods (<array>, optional)
  + PlatformSSO.SynchronizeProfilePicture (<boolean>, optional)

New OS versions in \`introduced\`:
  26.0 (iOS, macOS, visionOS)
`;

function byName(schemas: readonly SchemaChange[]): Record<string, SchemaChange> {
  return Object.fromEntries(schemas.map((s) => [s.name, s]));
}

describe("summarizeSchemaChanges: from the release before 26.0 to 26.0", () => {
  const changes = summarizeSchemaChanges(older, newer);

  it("names the payloads and messages 26.0 added", () => {
    expect(changes.files).toEqual({
      added: ["mdm/checkin/returntoservice.yaml", "mdm/errors/psso.required.yaml"],
      removed: [],
      changed: ["declarative/declarations/configurations/app.managed.yaml", "mdm/errors/softwareupdate.required.yaml", "mdm/profiles/com.apple.extensiblesso.yaml"],
    });
    const added = changes.schemas.filter((s) => s.status === "added");
    expect(added.map((s) => [s.name, s.id, s.kind])).toEqual([
      ["ReturnToServiceCheckIn", "ReturnToService", "check-in"],
      ["PssoRequiredError", "com.apple.psso.required", "error"],
    ]);
    expect(added[0]?.keysAdded.map((k) => k.path)).toEqual(["MessageType", "UDID"]);
    expect(changes.schemas.filter((s) => s.status === "removed")).toEqual([]);
  });

  it("names exactly the keys introduced in 26.0, and nothing removed or changed", () => {
    const changed = byName(changes.schemas.filter((s) => s.status === "changed"));
    expect(Object.keys(changed).sort()).toEqual(Object.keys(keysNewIn26).sort());
    for (const [name, keys] of Object.entries(keysNewIn26)) {
      expect(changed[name]?.keysAdded.map((k) => k.path), name).toEqual(keys);
      expect(changed[name]?.keysRemoved, name).toEqual([]);
      expect(changed[name]?.keysChanged, name).toEqual([]);
    }
    expect(changed["ComAppleExtensiblessoPayload"]?.keysAdded.find((k) => k.path.endsWith("AccessKeyReaderGroupIdentifier"))).toEqual({
      path: "PlatformSSO.AccessKeyReaderGroupIdentifier",
      type: "<data>",
      presence: "optional",
    });
  });

  it("names the OS support 26.0 added, and 26.0 as the new OS version", () => {
    const changed = byName(changes.schemas);
    expect(changed["ComAppleConfigurationAppManagedDeclaration"]?.supportedOS).toEqual([{ os: "macOS", field: "introduced", from: "n/a", to: "26.0" }]);
    expect(changed["SoftwareupdateRequiredError"]?.supportedOS).toEqual([{ os: "visionOS", field: "introduced", from: "n/a", to: "26.0" }]);
    expect(changes.newOSVersions).toEqual([
      { os: "iOS", version: "26.0" },
      { os: "macOS", version: "26.0" },
      { os: "visionOS", version: "26.0" },
    ]);
  });

  it("prints a readable summary", () => {
    expect(formatSummary(changes)).toBe(expectedSummary);
  });

  it("read backwards, the same differences are removals", () => {
    const back = summarizeSchemaChanges(newer, older);
    expect(back.schemas.filter((s) => s.status === "removed").map((s) => s.name)).toEqual(["ReturnToServiceCheckIn", "PssoRequiredError"]);
    const changed = byName(back.schemas.filter((s) => s.status === "changed"));
    for (const [name, keys] of Object.entries(keysNewIn26)) expect(changed[name]?.keysRemoved.map((k) => k.path), name).toEqual(keys);
    expect(back.newOSVersions).toEqual([]);
  });

  it("reports rangelist, presence and type changes, and text-only changes", () => {
    const file = "mdm/errors/well-known.failed.yaml";
    const text = readFileSync(join(root, appleYamlDir, file), "utf8");
    const edited = text
      .replace("  - com.apple.well-known.failed", "  - com.apple.well-known.failed\n  - com.apple.well-known.failed.v2")
      .replace(/(- key: message\n  type: <string>\n  presence:) optional/, "$1 required")
      .replace(/(- key: description\n  type:) <string>/, "$1 <dictionary>");
    const c = summarizeSchemaChanges(new Map([[file, text]]), new Map([[file, edited]]));
    expect(c.schemas[0]?.keysChanged).toEqual([
      { path: "code", changes: [{ what: "rangelist", added: ["com.apple.well-known.failed.v2"], removed: [] }] },
      { path: "description", changes: [{ what: "type", from: "<string>", to: "<dictionary>" }] },
      { path: "message", changes: [{ what: "presence", from: "optional", to: "required" }] },
    ]);
    expect(formatSummary(c)).toContain('  ~ code: rangelist + "com.apple.well-known.failed.v2"\n');
    const reworded = summarizeSchemaChanges(new Map([[file, text]]), new Map([[file, text.replace("logging purposes", "logs")]]));
    expect(reworded.schemas).toEqual([]);
    expect(formatSummary(reworded)).toContain("Changed in text only (descriptions, notes, docs):\n  mdm/errors/well-known.failed.yaml\n");
    expect(formatSummary(summarizeSchemaChanges(newer, newer))).toContain("No change.");
  });
});

describe("findTouched: the rules and tests a change concerns", () => {
  const changes = summarizeSchemaChanges(older, newer);

  it("names rules by file, schema type or distinctive key, and tests by file, type or schema name", () => {
    const fakeRules = [
      { id: "A-1", source: "ADM mdm/errors/psso.required.yaml", rule: "…" },
      { id: "A-2", source: "PROTOCOL.md", rule: "A com.apple.extensiblesso payload carries AllowAccessKeyExpressMode." },
      { id: "A-3", source: "PROTOCOL.md", rule: "Version and Topic are ordinary words; com.apple.mdm is not changed." },
    ];
    const tests = new Map([
      ["test/a.test.ts", 'expect(ReturnToServiceCheckIn.safeParse(x)).toBe(1); // "com.apple.softwareupdate.required"'],
      ["test/b.test.ts", "TokenUpdate and com.apple.mdm only"],
    ]);
    expect(findTouched(changes, fakeRules, tests)).toEqual({
      rules: [
        { id: "A-1", because: ["mdm/errors/psso.required.yaml"] },
        { id: "A-2", because: ["com.apple.extensiblesso", "com.apple.extensiblesso AllowAccessKeyExpressMode"] },
      ],
      tests: [{ file: "test/a.test.ts", because: ["ReturnToServiceCheckIn", "com.apple.softwareupdate.required"] }],
    });
  });
});

describe("npm run spec:update, on a temporary project", () => {
  const tmp = mkdtempSync(join(tmpdir(), "adenroll-spec-update-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** The project's copy with a fixture release laid over it (files only in the other release removed). */
  function tree(dir: string, release: "older" | "newer"): string {
    cpSync(join(root, appleYamlDir), dir, { recursive: true });
    for (const file of newer.keys()) if (!(release === "older" ? older : newer).has(file)) rmSync(join(dir, file), { force: true });
    for (const [file, text] of release === "older" ? older : newer) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    return dir;
  }

  const project = join(tmp, "project");
  tree(join(project, appleYamlDir), "older");
  mkdirSync(join(project, "test/spec"), { recursive: true });
  writeFileSync(join(project, "test/spec/sso.test.ts"), 'it("com.apple.extensiblesso", () => {});\n');
  const from = tree(join(tmp, "apple-device-management"), "newer");
  const olderTree = readKeptAppleFiles(join(project, appleYamlDir));
  const newerTree = readKeptAppleFiles(from);

  it("--dry-run prints the summary, with the rules and tests touched, and writes nothing", () => {
    const committed = readKeptAppleFiles(join(root, appleYamlDir));
    const out = execFileSync(join(root, "node_modules/.bin/tsx"), [join(root, "scripts/spec-update.ts"), "--dry-run", "--from", from, "--project", project], { encoding: "utf8" });
    const changes = summarizeSchemaChanges(olderTree, newerTree);
    const touched = findTouched(changes, rules, new Map([["test/spec/sso.test.ts", 'it("com.apple.extensiblesso", () => {});\n']]));
    expect(touched.tests).toEqual([{ file: "test/spec/sso.test.ts", because: ["com.apple.extensiblesso"] }]);
    expect(out).toBe(`${formatSummary(changes, touched)}\n(dry run: nothing written)\n`);
    expect(out).toContain("  + PlatformSSO.SynchronizeProfilePicture (<boolean>, optional)\n");
    expect(out).toContain("New OS versions in `introduced`:\n  26.0 (");
    expect(readKeptAppleFiles(join(project, appleYamlDir))).toEqual(olderTree);
    expect(readKeptAppleFiles(join(root, appleYamlDir))).toEqual(committed);
  });

  it("replaces the copy, notes the commit and regenerates the schemas, byte-stable", () => {
    const result = runSpecUpdate({ from, project, commit: "0a4527c5ea21825fd23e08273ccdb9e2302458ce" });
    expect(readKeptAppleFiles(join(project, appleYamlDir))).toEqual(newerTree);
    expect(result.deleted).toEqual([]);
    expect(result.written).toContain(`${appleYamlDir}/mdm/checkin/returntoservice.yaml`);
    expect(readFileSync(join(project, appleYamlDir, "SOURCE.md"), "utf8")).toContain("`0a4527c5ea21825fd23e08273ccdb9e2302458ce`");
    const generated = generateAppleSchemaFiles(newerTree);
    for (const [path, text] of generated) expect(readFileSync(join(project, path), "utf8"), path).toBe(text);
    expect(generated.get("spec/apple/profiles.generated.ts")).toContain("SynchronizeProfilePicture: z.boolean().optional(),");
    expect(generated.get("spec/apple/check-in.generated.ts")).toContain("export const ReturnToServiceCheckIn = z.looseObject({");
    // Nothing left to do: the same update again writes only the source note.
    expect(runSpecUpdate({ from, project, commit: "0a4527c5ea21825fd23e08273ccdb9e2302458ce" }).written).toEqual([`${appleYamlDir}/SOURCE.md`]);
  });

  it("refuses a folder that is not Apple's repository, before writing anything", () => {
    mkdirSync(join(tmp, "empty"));
    expect(() => runSpecUpdate({ from: join(tmp, "empty"), project })).toThrow(/has no mdm\/profiles\/TopLevel\.yaml/);
    expect(readKeptAppleFiles(join(project, appleYamlDir))).toEqual(newerTree);
  });
});
