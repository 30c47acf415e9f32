// Test-only access to Apple's schemas (https://github.com/apple/device-management, format:
// docs/schema.md), from the project's own copy in spec/apple/yaml/ (see its SOURCE.md).
// loadAppleSchema reads a YAML file as it is, for tests that compare the hand-written spec with
// Apple's text; the validators are a thin layer over spec/apple-validation.ts (the generated
// schemas and their metadata), returning each problem as one readable line.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { appleYamlDir, parseAppleSchema, type AppleSchema } from "../../generators/apple-yaml.ts";
import {
  appleSchemaForFile,
  checkCheckInMessage,
  checkConfigurationProfile,
  checkPayloadForTarget,
  formatProblem,
  keysWithUserEnrollmentMode as metaKeysWithUserEnrollmentMode,
  validateAgainst,
  type AppleOS,
  type UsageMode,
  type ValidationContext,
} from "../../spec/apple-validation.ts";

export { appleOSes, appleTypes, type AppleKey, type AppleSchema, type AppleType, type OSSupport, type SupportedOS } from "../../generators/apple-yaml.ts";
export type { AppleOS, UsageMode, ValidationContext };

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const appleSchemaRoot = path.join(repoRoot, appleYamlDir);

const cache = new Map<string, AppleSchema>();

/** Loads and checks one YAML file of the project's copy (cached). */
export function loadAppleSchema(file: string): AppleSchema {
  const cached = cache.get(file);
  if (cached) return cached;
  const schema = parseAppleSchema(file, readFileSync(path.join(appleSchemaRoot, file), "utf8"));
  cache.set(file, schema);
  return schema;
}

function schemasIn(dir: string): AppleSchema[] {
  return readdirSync(path.join(appleSchemaRoot, dir))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => loadAppleSchema(`${dir}/${f}`));
}

/** The profile payload schema whose `payloadtype` is the given PayloadType. */
export function schemaForPayloadType(payloadType: string): AppleSchema | undefined {
  return schemasIn("mdm/profiles").find((s) => s.payloadtype === payloadType);
}

/** The check-in schema whose `requesttype` is the given MessageType. */
export function schemaForMessageType(messageType: string): AppleSchema | undefined {
  return schemasIn("mdm/checkin").find((s) => s.requesttype === messageType);
}

function entryFor(file: string) {
  const entry = appleSchemaForFile(file);
  if (entry === undefined) throw new Error(`${file}: no generated schema (is it kept in spec/apple/yaml? run npm run gen)`);
  return entry;
}

/**
 * Validates a dictionary against the generated schema of a YAML file. A profile payload's schema
 * already holds CommonPayloadKeys.yaml's keys, so ["mdm/profiles/com.apple.mdm.yaml",
 * "mdm/profiles/CommonPayloadKeys.yaml"] and "mdm/profiles/com.apple.mdm.yaml" are the same
 * check. Empty result = valid.
 */
export function validateAgainstAppleSchema(value: unknown, files: string | readonly string[], ctx?: ValidationContext): string[] {
  const [main] = typeof files === "string" ? [files] : files;
  if (main === undefined) throw new Error("no schema file given");
  return validateAgainst(value, entryFor(main), ctx).map(formatProblem);
}

/** One payload of a profile: its own YAML (by PayloadType) plus CommonPayloadKeys.yaml. */
export function validateProfilePayload(payload: unknown, ctx?: ValidationContext): string[] {
  return checkPayloadForTarget(payload, ctx).map(formatProblem);
}

/** A whole profile: TopLevel.yaml, then every payload of PayloadContent. */
export function validateConfigurationProfile(profile: unknown, ctx?: ValidationContext): string[] {
  return checkConfigurationProfile(profile, ctx).map(formatProblem);
}

/** A check-in message, by its MessageType (mdm/checkin/*.yaml). */
export function validateCheckInMessage(message: unknown, ctx?: ValidationContext): string[] {
  return checkCheckInMessage(message, ctx).map(formatProblem);
}

/**
 * Key paths (dotted; "[]" for array items) whose effective `userenrollment.mode` is `mode` on
 * `os` (or on any OS). Keys inherit the payload's mode, so a payload forbidden under user
 * enrollment yields all its keys.
 */
export function keysWithUserEnrollmentMode(file: string, mode: UsageMode, os?: AppleOS): string[] {
  return metaKeysWithUserEnrollmentMode(entryFor(file).meta, mode, os);
}

/** The `userenrollment: mode: forbidden` facts of one schema file. */
export function userEnrollmentForbiddenKeys(file: string, os?: AppleOS): string[] {
  return keysWithUserEnrollmentMode(file, "forbidden", os);
}
