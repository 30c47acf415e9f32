// Enroll request (steps 4 and 12): https://developer.apple.com/documentation/devicemanagement/implementing-the-simple-authentication-account-driven-enrollment-flow
import { z } from "zod";
import { attachedContent, parseSignedData, signerKey, type SignedDataInfo } from "./cms.ts";
import { parsePlist } from "./plist.ts";
import { err, ok, type Result } from "./result.ts";

/** The real iOS 15 body is 3.4 KB; the server refuses bodies above this before parsing. */
export const enrollRequestMaxBytes = 64 * 1024;

/**
 * ENROLL-1 / ENROLL-3: the documented keys are required; newer systems may send more (which is
 * UNCONFIRMED), so extra keys are kept. UDID, SERIAL, IMEI, MEID are not part of this flow
 * (PROTOCOL.md §2) but are tolerated like any other extra key.
 */
export const EnrollRequestInfo = z.looseObject({
  LANGUAGE: z.string().min(1),
  PRODUCT: z.string().min(1),
  VERSION: z.string().min(1),
});
export type EnrollRequestInfo = z.infer<typeof EnrollRequestInfo>;

export interface EnrollRequest {
  readonly info: EnrollRequestInfo;
  readonly signedData: SignedDataInfo;
  /** signerKey of the first signer: the same device across its two enroll requests. */
  readonly deviceKey: string;
}

export interface EnrollRequestError {
  readonly code: "enroll.not-cms" | "enroll.no-content" | "enroll.no-signer" | "enroll.plist-invalid" | "enroll.info-invalid";
  readonly detail: string;
}

/**
 * Reads an enroll request body. ENROLL-2: the Content-Type is not an input (iOS 15 sends
 * application/x-www-form-urlencoded); only the bytes decide. Never throws; verifies no signature
 * (the caller does, with the certificates and signed attributes in signedData).
 */
export function parseEnrollRequestBody(body: Uint8Array): Result<EnrollRequest, EnrollRequestError> {
  const cms = parseSignedData(body);
  if (!cms.ok) {
    const code = cms.error.code === "cms.no-signer" ? "enroll.no-signer" : cms.error.code === "cms.no-content" ? "enroll.no-content" : "enroll.not-cms";
    return err({ code, detail: `${cms.error.code}: ${cms.error.detail}` });
  }
  const signer = cms.value.signers[0];
  if (signer === undefined) return err({ code: "enroll.no-signer", detail: "the SignedData has no signer" });
  const content = attachedContent(cms.value);
  if (!content.ok) return err({ code: "enroll.no-content", detail: content.error.detail });
  const parsed = parsePlist(content.value);
  if (!parsed.ok) return err({ code: "enroll.plist-invalid", detail: `${parsed.error.code}: ${parsed.error.detail}` });
  const info = EnrollRequestInfo.safeParse(parsed.value);
  if (!info.success) return err({ code: "enroll.info-invalid", detail: z.prettifyError(info.error) });
  return ok({ info: info.data, signedData: cms.value, deviceKey: signerKey(signer) });
}
