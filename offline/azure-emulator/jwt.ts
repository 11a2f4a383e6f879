/**
 * RS256 JWTs shaped like the access tokens Microsoft Entra ID issues to a VM's
 * managed identity (v1.0 tokens from https://sts.windows.net/<tid>/).
 *
 * Claim set: the Microsoft identity platform "Access token claims reference"
 * (https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference)
 * — aud, iss, iat, nbf, exp, aio, appid, appidacr, idp, idtyp, oid, rh, sub, tid,
 * uti, ver — plus `xms_mirid`, the managed identity's resource id, which Entra adds
 * to managed-identity tokens.
 */
import { createHash, createSign, createVerify, KeyObject, randomBytes } from "node:crypto";

export interface JwtHeader {
  typ: string;
  alg: string;
  x5t?: string;
  kid?: string;
}

export type JwtClaims = Record<string, unknown>;

function b64url(input: Buffer | string): string {
  return Buffer.from(input).toString("base64url");
}

/** Opaque random string like Entra's `aio`/`rh`/`uti` claims. */
export function opaque(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

export function signJwt(claims: JwtClaims, privateKey: KeyObject, kid: string): string {
  const header: JwtHeader = { typ: "JWT", alg: "RS256", x5t: kid, kid };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = createSign("RSA-SHA256").update(signingInput).sign(privateKey);
  return `${signingInput}.${b64url(signature)}`;
}

export interface DecodedJwt {
  header: JwtHeader;
  claims: JwtClaims;
  signingInput: string;
  signature: Buffer;
}

/** Splits and parses a compact JWS; returns null when it is not one. */
export function decodeJwt(token: string): DecodedJwt | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0 || !/^[A-Za-z0-9_-]+$/.test(p))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8")) as JwtHeader;
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as JwtClaims;
    if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null) return null;
    return { header, claims, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], "base64url") };
  } catch {
    return null;
  }
}

/** Verifies an RS256 signature against the given public key. */
export function verifyJwtSignature(decoded: DecodedJwt, publicKey: KeyObject): boolean {
  if (decoded.header.alg !== "RS256") return false;
  return createVerify("RSA-SHA256").update(decoded.signingInput).verify(publicKey, decoded.signature);
}

/** A stable key id derived from the public key, used as `kid`/`x5t`. */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha1").update(der).digest("base64url");
}
