// Short-lived AWS credentials for the integration tests, derived from an issuer secret.
//
// The credential endpoints (credentials_server.mjs) issue them and the SigV4 gateway
// (gateway.mjs --issuer-secret S) accepts them, without sharing any state: everything a verifier
// needs is in the access key id and the session token, checked against the issuer secret.
//
//   accessKeyId      "ASIASDS" + 13 random [A-Z0-9] (20 characters, like AWS's temporary "ASIA" keys)
//   secretAccessKey  the first 40 characters of base64(HMAC-SHA256(issuerSecret, "secret:" + accessKeyId)),
//                    with '+' '/' '=' mapped to 'P' 'S' 'E' (so it needs no escaping anywhere)
//   sessionToken     base64url(JSON {"akid": accessKeyId, "exp": expiry in ms since the epoch}) + "." +
//                    hex(HMAC-SHA256(issuerSecret, `token:${akid}:${exp}`))
//   expiration       a Date, now + lifetimeMs (the token's exp)
//
//   import { issue, isIssued, check } from "./issued_credentials.mjs";
//   const creds = issue("sds-test-issuer", 900_000);
//   check("sds-test-issuer", creds.accessKeyId, creds.sessionToken)   // {ok: true, secretAccessKey}
//
// Only node: built-ins are used, so that any script can import this file.

import crypto from "node:crypto";

export const ACCESS_KEY_PREFIX = "ASIASDS";
const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_LENGTH = 40;
const INVALID_MESSAGE = "The security token included in the request is invalid.";
const EXPIRED_MESSAGE = "The security token included in the request is expired";

/** HMAC-SHA256 of `data` keyed with the issuer secret. */
const hmac = (issuerSecret, data) => crypto.createHmac("sha256", issuerSecret).update(data).digest();

/** The secret access key that belongs to `accessKeyId` under `issuerSecret`. */
function deriveSecret(issuerSecret, accessKeyId) {
    const mapped = hmac(issuerSecret, `secret:${accessKeyId}`).toString("base64")
        .replace(/\+/g, "P").replace(/\//g, "S").replace(/=/g, "E");
    return mapped.slice(0, SECRET_LENGTH);
}

/** The hex MAC that binds an access key id to an expiry (ms since the epoch). */
const tokenMac = (issuerSecret, accessKeyId, exp) => hmac(issuerSecret, `token:${accessKeyId}:${exp}`).toString("hex");

/**
 * Fresh credentials valid for `lifetimeMs` from now:
 * {accessKeyId, secretAccessKey, sessionToken, expiration (Date)}.
 */
export function issue(issuerSecret, lifetimeMs) {
    if (typeof issuerSecret !== "string" || issuerSecret === "") throw new TypeError("issuerSecret must be a non-empty string");
    if (!Number.isFinite(lifetimeMs)) throw new TypeError("lifetimeMs must be a finite number");
    let suffix = "";
    for (let i = 0; i < 13; i++) suffix += KEY_ALPHABET[crypto.randomInt(KEY_ALPHABET.length)];
    const accessKeyId = ACCESS_KEY_PREFIX + suffix;
    const exp = Date.now() + Math.round(lifetimeMs);
    const payload = Buffer.from(JSON.stringify({ akid: accessKeyId, exp })).toString("base64url");
    return {
        accessKeyId,
        secretAccessKey: deriveSecret(issuerSecret, accessKeyId),
        sessionToken: `${payload}.${tokenMac(issuerSecret, accessKeyId, exp)}`,
        expiration: new Date(exp),
    };
}

/** Does this access key id look like one issue() made (prefix check only)? */
export function isIssued(accessKeyId) {
    return typeof accessKeyId === "string" && accessKeyId.startsWith(ACCESS_KEY_PREFIX);
}

/**
 * Verifies an issued access key id and its session token.
 * Returns {ok: true, secretAccessKey} or {ok: false, type, message}, type being
 *   "UnrecognizedClientException"  token missing, malformed, forged, or made for another key id
 *   "ExpiredTokenException"        genuine, but its expiry is not in the future
 * (the names DynamoDB uses; STS says InvalidClientTokenId / ExpiredToken for the same cases).
 */
export function check(issuerSecret, accessKeyId, sessionToken) {
    const invalid = { ok: false, type: "UnrecognizedClientException", message: INVALID_MESSAGE };
    if (!isIssued(accessKeyId) || typeof sessionToken !== "string" || sessionToken === "") return invalid;
    const parts = sessionToken.split(".");
    if (parts.length !== 2 || !/^[0-9a-f]{64}$/.test(parts[1])) return invalid;
    let claims;
    try {
        claims = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    } catch {
        return invalid;
    }
    if (claims?.akid !== accessKeyId || !Number.isSafeInteger(claims.exp)) return invalid;
    // The payload must be exactly what issue() wrote, so that one token has one spelling.
    if (Buffer.from(JSON.stringify({ akid: claims.akid, exp: claims.exp })).toString("base64url") !== parts[0])
        return invalid;
    const expected = Buffer.from(tokenMac(issuerSecret, accessKeyId, claims.exp), "ascii");
    if (!crypto.timingSafeEqual(expected, Buffer.from(parts[1], "ascii"))) return invalid;
    if (claims.exp <= Date.now()) return { ok: false, type: "ExpiredTokenException", message: EXPIRED_MESSAGE };
    return { ok: true, secretAccessKey: deriveSecret(issuerSecret, accessKeyId) };
}
