// 403 error bodies: https://github.com/apple/device-management/tree/release/mdm/errors (well-known.failed.yaml, unrecognized.device.yaml)
import { z } from "zod";
import { UnrecognizedDeviceError, WellKnownFailedError } from "./apple/errors.generated.ts";
import type { RuleId } from "./rules.ts";

// Both YAML files define exactly three keys: code (required, a one-value rangelist), description
// (optional, "only for logging purposes, don't display it to the user") and message (optional,
// "to display to the user"). The body may be JSON or an XML plist; the Content-Type says which.
// The schemas take the generated ones' keys (spec/apple/errors.generated.ts); unlike them, they
// drop keys the YAML does not define.

/** The HTTP status both error bodies travel with. */
export const errorResponseStatus = 403;

export const wellKnownFailedCode = WellKnownFailedError.shape.code.value;
export const unrecognizedDeviceCode = UnrecognizedDeviceError.shape.code.value;

/** DISCOVERY-9 / DISCOVERY-11: the well-known request was refused (iOS 17.5, macOS 14.5, visionOS 1.2). */
export const WellKnownFailed = z.object(WellKnownFailedError.shape);
export type WellKnownFailed = z.infer<typeof WellKnownFailed>;

/** ONGOING-5 / ONGOING-9: the server does not know the device; the device unenrolls (iOS 17, macOS 14). */
export const UnrecognizedDevice = z.object(UnrecognizedDeviceError.shape);
export type UnrecognizedDevice = z.infer<typeof UnrecognizedDevice>;

export const ErrorResponseBody = z.discriminatedUnion("code", [WellKnownFailed, UnrecognizedDevice]);
export type ErrorResponseBody = z.infer<typeof ErrorResponseBody>;

export interface ErrorTexts {
  /** Shown to the person. */
  readonly message?: string;
  /** For logs only; the device never shows it. */
  readonly description?: string;
}

function texts(input: ErrorTexts): { message?: string; description?: string } {
  return {
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(input.message !== undefined ? { message: input.message } : {}),
  };
}

/** DISCOVERY-11: the body of a 403 answer to the well-known request. */
export function buildWellKnownFailed(input: ErrorTexts = {}): WellKnownFailed {
  return { code: wellKnownFailedCode, ...texts(input) };
}

/** ONGOING-9: the body of a 403 answer to a request from a device the server does not know. */
export function buildUnrecognizedDevice(input: ErrorTexts = {}): UnrecognizedDevice {
  return { code: unrecognizedDeviceCode, ...texts(input) };
}

/** The rule a 403 body carries on the device side: DISCOVERY-9 (well-known failed) or ONGOING-5 (unenroll). */
export function deviceRuleForErrorBody(body: ErrorResponseBody): RuleId {
  return body.code === wellKnownFailedCode ? "DISCOVERY-9" : "ONGOING-5";
}

/** Reads a decoded (JSON or plist) 403 body; anything that is not one of the two documented bodies is undefined. */
export function parseErrorResponseBody(body: unknown): ErrorResponseBody | undefined {
  const parsed = ErrorResponseBody.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}
