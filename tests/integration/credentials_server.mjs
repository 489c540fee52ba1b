#!/usr/bin/env node
// The AWS credential endpoints, for testing sds's credential sources: EC2 instance metadata
// (IMDSv2 and v1), the ECS/EKS container endpoint and STS (AssumeRoleWithWebIdentity,
// AssumeRole), all on one HTTP server, following AWS's documented protocols. Every credential
// handed out comes from issued_credentials.mjs, so the SigV4 gateway started with the same
// --issuer-secret accepts it (and refuses it once expired) without talking to this server.
// The same server also plays the Microsoft Entra ID token endpoints sds uses for Azure Table
// Storage (client credentials on the v2.0 endpoint, with a secret or a federated assertion;
// managed identity through Azure IMDS and through App Service / Functions), following
// Microsoft's documented protocols. Its bearer tokens are JWTs that Azurite started with
// `--oauth basic` (over HTTPS) accepts, and refuses once expired or for another audience.
//
//   node tests/integration/credentials_server.mjs --port 0 --issuer-secret S \
//        [--static-access-key-id AKIDSDSTEST --static-secret-access-key sds-test-secret]
//        [--lifetime-s 900]            lifetime of issued credentials (fractions allowed; 0 = born expired)
//        [--fault KIND:TARGET]         repeatable and/or comma-separated, see Faults
//        [--imds v2|v1only|v2only]     default v2
//        [--imds-region R]             the region IMDS names (default us-east-1)
//        [--web-identity-token T]      the only WebIdentityToken STS accepts (default: any non-empty)
//        [--role-arn ARN]              the only RoleArn STS accepts (default: any)
//        [--container-token T]         the Authorization the container endpoint requires (default: none)
//        [--entra-client-id ID]        the only client_id the v2.0 token endpoint accepts (default: any)
//        [--entra-client-secret S]     the only client_secret it accepts (default: any non-empty)
//        [--entra-federated-token T]   the only client_assertion it accepts (default: any non-empty)
//        [--entra-audience AUD]        the "aud" of every Entra token (default https://storage.azure.com)
//        [--entra-lifetime-s 3600]     lifetime of Entra tokens, whole seconds; 0 or negative = born
//                                      expired (write --entra-lifetime-s=-60 for a negative value)
//        [--identity-header H]         the only X-IDENTITY-HEADER App Service accepts (default: any
//                                      non-empty)
//
// --port 0 picks a free port. When ready, prints exactly one line on stdout:
//   credentials_server listening on 127.0.0.1:PORT
// Listens on 127.0.0.1 only, keeps connections alive, logs one line per rejected request on
// stderr, exits 0 on SIGTERM/SIGINT.
//
// IMDS (point AWS_EC2_METADATA_SERVICE_ENDPOINT at http://127.0.0.1:PORT):
//   PUT /latest/api/token       needs X-aws-ec2-metadata-token-ttl-seconds: 1..21600 (else 400);
//                               200 text/plain random token, echoing the TTL header. With --imds
//                               v1only: 403 (an endpoint without IMDSv2; clients fall back to v1)
//   GET /latest/meta-data/iam/security-credentials/         "sds-test-role" (also without the '/')
//   GET /latest/meta-data/iam/security-credentials/sds-test-role
//         {"Code":"Success","LastUpdated":ISO,"Type":"AWS-HMAC","AccessKeyId","SecretAccessKey",
//          "Token","Expiration":ISO}   (another role name: 404)
//   GET /latest/meta-data/placement/region                  --imds-region (default "us-east-1")
//   The GETs need X-aws-ec2-metadata-token holding an unexpired token from the PUT (else 401),
//   except with --imds v1only, where any or no token works. v2only is the same as v2.
//   Other methods on these paths: 405; other paths under /latest/: 404.
// Container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/ecs/credentials):
//   GET /ecs/credentials        with --container-token, Authorization must equal it exactly (else
//                               401 {"code":"AccessDenied","message":...}); 200
//                               {"AccessKeyId","SecretAccessKey","Token","Expiration":ISO,"RoleArn"}
// STS (endpoint http://127.0.0.1:PORT/, form-encoded POST body; query parameters also count):
//   Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=..&RoleSessionName=..&WebIdentityToken=..
//       unsigned. Wrong token: 400 InvalidIdentityToken; RoleArn other than --role-arn: 403
//       AccessDenied; 200 <AssumeRoleWithWebIdentityResponse> with Credentials,
//       SubjectFromWebIdentityToken (the token's JWT "sub" if it has one), AssumedRoleUser,
//       Provider, Audience, ResponseMetadata.
//   Action=AssumeRole&Version=2011-06-15&RoleArn=..&RoleSessionName=..
//       SigV4 for service "sts", any region, verified with @smithy/signature-v4 like gateway.mjs,
//       by the static pair or issued credentials (X-Amz-Security-Token required). No
//       Authorization: 403 MissingAuthenticationToken; bad signature, scope or date: 403
//       SignatureDoesNotMatch; unknown key, missing or forged token: 403 InvalidClientTokenId;
//       expired issued token: 400 ExpiredToken; RoleArn other than --role-arn: 403 AccessDenied;
//       200 <AssumeRoleResponse> with Credentials, AssumedRoleUser, ResponseMetadata.
//   Both: missing/invalid RoleArn or RoleSessionName ([\w+=,.@-]{2,64}): 400 ValidationError;
//   Version other than 2011-06-15 or another Action: 400 InvalidAction; DurationSeconds is ignored
//   (the lifetime is --lifetime-s). Errors are STS's XML: <ErrorResponse xmlns=...><Error><Type>
//   Sender</Type><Code>..</Code><Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>.
// Times are ISO 8601 UTC to the second ("2024-02-29T23:59:59Z"); Expiration is rounded down.
//
// Entra ID tokens (all three routes below hand out the same kind): a JWT
//   header  {"alg":"RS256","typ":"JWT","kid":"sds-test"}
//   payload {aud: --entra-audience, iss: "https://sts.windows.net/<tid>/", iat: now, nbf: now - 5,
//            exp: now + --entra-lifetime-s, tid, oid, sub, appid: the client id}  (epoch seconds)
//   and a random base64url "signature" (Azurite's basic OAuth check does not verify it; it checks
//   nbf/iat/exp, that iss starts with https://sts.windows.net/ and that aud is storage's).
//   tid is the tenant of the request (a tenant given as a domain name maps to a fixed GUID made
//   from it; managed identities use ENTRA_TENANT_ID below); oid = sub is a fixed GUID made from
//   the client id, unless IMDS was asked for an object_id / App Service for a principal_id.
// Client credentials, v2.0 endpoint (AZURE_AUTHORITY_HOST=http://127.0.0.1:PORT):
//   POST /{tenant}/oauth2/v2.0/token   tenant: a GUID or a domain name (else 400 invalid_request
//       AADSTS900023); Content-Type application/x-www-form-urlencoded, body: grant_type=
//       client_credentials, client_id, scope=https://storage.azure.com/.default, and either
//       client_secret=.. (counted as entra_client_secret) or client_assertion_type=
//       urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=.. (workload
//       identity: the federated token file's content as is; counted as entra_client_assertion).
//     200 {"token_type":"Bearer","expires_in":N,"ext_expires_in":N,"access_token":JWT} (N numbers,
//       the lifetime). Errors are Entra's JSON {"error","error_description":"AADSTSn: ...\r\nTrace
//       ID: ..\r\nCorrelation ID: ..\r\nTimestamp: ..","error_codes":[n],"timestamp":
//       "2024-02-29 23:59:59Z","trace_id","correlation_id","error_uri"}:
//       another method: 400 invalid_request AADSTS900561; missing grant_type (or a body that is not
//       form-encoded), client_id or scope: 400 invalid_request AADSTS900144; another grant_type:
//       400 unsupported_grant_type AADSTS70003; client_id other than --entra-client-id: 400
//       unauthorized_client AADSTS700016; another scope: 400 invalid_scope AADSTS70011; neither
//       secret nor assertion: 401 invalid_client AADSTS7000218; wrong secret: 401 invalid_client
//       AADSTS7000215; client_assertion without the jwt-bearer client_assertion_type (or the
//       reverse): 401 invalid_client AADSTS7000218; wrong assertion: 400 invalid_client
//       AADSTS700211; both a secret and an assertion: 400 invalid_request AADSTS9002313.
// Managed identity through Azure IMDS (http://127.0.0.1:PORT in place of http://169.254.169.254):
//   GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/
//       resource also without the trailing '/'; optional client_id, object_id, msi_res_id (or
//       mi_res_id) pick a user-assigned identity (client_id becomes appid, object_id oid and sub).
//       Needs the header Metadata: true (else 400 {"error":"invalid_request","error_description":
//       "Required metadata header not specified"}); no api-version: 400 invalid_request; no
//       resource: 400 invalid_request "Required audience parameter not specified"; another
//       resource: 400 invalid_resource AADSTS500011; another method: 405.
//     200 {"access_token","refresh_token":"","expires_in":"N","expires_on":"<epoch s>",
//          "not_before":"<epoch s>","resource":<as asked>,"token_type":"Bearer"}  (all strings)
// App Service / Functions managed identity (IDENTITY_ENDPOINT=http://127.0.0.1:PORT/msi/token):
//   GET /msi/token?api-version=2019-08-01&resource=https://storage.azure.com/   optional client_id,
//       principal_id, mi_res_id. X-IDENTITY-HEADER must equal --identity-header (without it:
//       any non-empty value); else 401. Errors are {"statusCode":N,"message":..,"correlationId":..}:
//       api-version other than 2019-08-01, no resource: 400; another resource: 400; another
//       method: 405.
//     200 {"access_token","expires_on":"<epoch s>","resource":<as asked>,"token_type":"Bearer",
//          "client_id"}
//
// Faults (--fault KIND:TARGET, or the control API): a request of a faulted TARGET gets
//   hang       its body is read, then nothing is ever answered (the connection stays open)
//   500        HTTP 500 with a short body (text for IMDS, JSON for ECS, STS XML InternalFailure)
//   malformed  HTTP 200 with a truncated body: '{"Code":"Success","AccessKeyId": ' for the IMDS
//              credentials, '{"AccessKeyId": ' for ECS, '<AssumeRoleWithWebIdentityResponse><oops'
//              (or <AssumeRoleResponse>) for STS, '{"access_token": ' for Entra; an empty body
//              for the other IMDS routes
//   (the 500 body is JSON {"error":"server_error",...} for the v2.0 and Azure IMDS routes,
//   {"statusCode":500,...} for App Service)
//   echo       HTTP 400 quoting the WHOLE request, as AWS quotes the canonical request in a
//              SignatureDoesNotMatch: "The request was: METHOD TARGET HTTP/1.1; body: BODY;
//              headers: Name: value; ..." (the target with its query, the body as received, every
//              header as received; all on one line, line breaks in it written \r and \n; the body
//              before the headers), in the route's own error format: IMDS text "Bad Request:
//              <echo>\n"; ECS {"code":"InvalidRequest","message":<echo>}; STS's XML, Code
//              InvalidParameterValue, <Message><echo></Message>; the v2.0 token endpoint's Entra
//              error (invalid_request, AADSTS9002313) with the echo on the first line of its
//              error_description; Azure IMDS {"error":"invalid_request","error_description":<echo>};
//              App Service {"statusCode":400,"message":<echo>,"correlationId"}. For checking that
//              a client never shows a secret it sent.
// TARGET: imds (every AWS IMDS route, the token PUT included), imds-creds (only the GET of the
// role's credentials), ecs, sts, entra (all three Entra routes: v2.0 token, Azure IMDS, App
// Service), all. Faults apply before any check; the first listed that matches wins. Requests
// still count in the stats (as faulted; a fault's answer is never counted as rejected).
//
// Control (no authentication; JSON):
//   GET  /__control/stats   {imds_token, imds_roles, imds_credentials, imds_region, ecs,
//                            sts_web_identity, sts_assume_role, sts_other, entra_client_secret,
//                            entra_client_assertion, entra_imds, entra_app_service, other, rejected,
//                            faulted, last_session_name, last_role_arn}: requests per route,
//                            answered or not; rejected = 4xx answers; last_* from the last STS
//                            request carrying them. entra_client_assertion counts v2.0 token
//                            requests with a client_assertion(_type), entra_client_secret the others
//   POST /__control/reset-stats    counters back to 0, last_* to null; answers the stats
//   GET  /__control/config  the settings below, plus static_access_key_id (entra_client_secret
//                            shows as "(set)" or null)
//   POST /__control/config  body with any of {lifetime_s, web_identity_token, role_arn,
//                            container_token, imds, faults: ["hang:imds", ...] or "hang:imds,500:sts",
//                            entra_client_id, entra_client_secret, entra_federated_token,
//                            entra_audience (not null), entra_lifetime_s (whole seconds, may be
//                            <= 0), identity_header, entra_jwt_expired (true: the JWT's exp is a
//                            minute ago while the answer's expires_in/expires_on still promise the
//                            lifetime: a token the client takes as valid and the service refuses)}
//                            (null clears a token/ARN/id/secret/header; [] clears the faults) for
//                            later requests; answers the new settings, or 400 {"message"} if invalid
//   POST /__control/issue   optional body {lifetime_s}: fresh credentials
//                            {AccessKeyId, SecretAccessKey, SessionToken, Expiration (ISO, with ms)}

import http from "node:http";
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { SignatureV4, getCanonicalHeaders } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { issue, isIssued, check as checkIssued } from "./issued_credentials.mjs";

const ROLE_NAME = "sds-test-role";
const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const DEFAULT_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE_NAME}`;
const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";
const STS_VERSION = "2011-06-15";
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_BODY_BYTES = 1024 * 1024;
const IMDS_MODES = new Set(["v2", "v1only", "v2only"]);
const FAULT_KINDS = new Set(["hang", "500", "malformed", "echo"]);
const FAULT_TARGETS = new Set(["imds", "imds-creds", "ecs", "sts", "entra", "all"]);
const CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials";
const STORAGE_RESOURCE = "https://storage.azure.com";
const STORAGE_SCOPE = `${STORAGE_RESOURCE}/.default`;
const ENTRA_TENANT_ID = "5d5e7e57-0000-4000-8000-00000000a2e1";       // the managed identities' tenant
const ENTRA_MI_CLIENT_ID = "5d5e7e57-0000-4000-8000-00000000c11d";    // the system-assigned identity
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

// ---------------------------------------------------------------------------------------------
// Configuration

function usage(message) {
    console.error(`credentials_server: ${message}`);
    console.error("usage: credentials_server.mjs --port P --issuer-secret S [--static-access-key-id ID " +
                  "--static-secret-access-key SECRET] [--lifetime-s 900] [--fault KIND:TARGET]... " +
                  "[--imds v2|v1only|v2only] [--web-identity-token T] [--role-arn ARN] [--container-token T] " +
                  "[--entra-client-id ID] [--entra-client-secret S] [--entra-federated-token T] " +
                  "[--entra-audience AUD] [--entra-lifetime-s 3600] [--identity-header H]");
    process.exit(2);
}

/** "hang:imds,500:sts" or ["hang:imds", ...] -> [{kind, target}]; throws on anything else. */
function parseFaults(spec) {
    const items = (Array.isArray(spec) ? spec : [spec]).flatMap((s) => {
        if (typeof s !== "string") throw new Error(`fault must be a string, got ${JSON.stringify(s)}`);
        return s.split(",").map((x) => x.trim()).filter(Boolean);
    });
    return items.map((item) => {
        const [kind, target, extra] = item.split(":");
        if (extra !== undefined || !FAULT_KINDS.has(kind) || !FAULT_TARGETS.has(target))
            throw new Error(`bad fault '${item}' (KIND:TARGET, KIND hang|500|malformed|echo, ` +
                            "TARGET imds|imds-creds|ecs|sts|entra|all)");
        return { kind, target };
    });
}

/** Seconds (a finite number >= 0) or throws. */
function parseLifetime(value) {
    const n = typeof value === "number" ? value : Number(value);
    if (value === "" || value === null || !Number.isFinite(n) || n < 0) throw new Error(`bad lifetime ${JSON.stringify(value)}`);
    return n;
}

/** Whole seconds (any sign) or throws. */
function parseEntraLifetime(value) {
    const n = typeof value === "number" ? value : Number(value);
    if (value === "" || value === null || typeof value === "boolean" || !Number.isSafeInteger(n))
        throw new Error(`bad Entra lifetime ${JSON.stringify(value)} (whole seconds)`);
    return n;
}

/** A non-empty string or throws. */
function nonEmpty(key, value) {
    if (typeof value !== "string" || value === "") throw new Error(`${key} must be a non-empty string`);
    return value;
}

function readConfig() {
    let values;
    try {
        ({ values } = parseArgs({
            options: {
                port: { type: "string" },
                "issuer-secret": { type: "string" },
                "static-access-key-id": { type: "string" },
                "static-secret-access-key": { type: "string" },
                "lifetime-s": { type: "string", default: "900" },
                fault: { type: "string", multiple: true, default: [] },
                imds: { type: "string", default: "v2" },
                "imds-region": { type: "string", default: REGION },
                "web-identity-token": { type: "string" },
                "role-arn": { type: "string" },
                "container-token": { type: "string" },
                "entra-client-id": { type: "string" },
                "entra-client-secret": { type: "string" },
                "entra-federated-token": { type: "string" },
                "entra-audience": { type: "string", default: STORAGE_RESOURCE },
                "entra-lifetime-s": { type: "string", default: "3600" },
                "identity-header": { type: "string" },
            },
            strict: true,
        }));
    } catch (e) {
        usage(e.message);
    }
    if (values.port === undefined) usage("--port is required");
    if (!values["issuer-secret"]) usage("--issuer-secret is required (and must not be empty)");
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${values.port}`);
    if ((values["static-access-key-id"] === undefined) !== (values["static-secret-access-key"] === undefined))
        usage("--static-access-key-id and --static-secret-access-key go together");
    if (!IMDS_MODES.has(values.imds)) usage(`bad --imds ${values.imds}`);
    const settings = { imds: values.imds, webIdentityToken: values["web-identity-token"] ?? null,
                       roleArn: values["role-arn"] ?? null, containerToken: values["container-token"] ?? null,
                       entraClientId: values["entra-client-id"] ?? null, entraClientSecret: values["entra-client-secret"] ?? null,
                       entraFederatedToken: values["entra-federated-token"] ?? null,
                       identityHeader: values["identity-header"] ?? null };
    try {
        settings.lifetimeS = parseLifetime(values["lifetime-s"]);
        settings.faults = parseFaults(values.fault);
        settings.entraAudience = nonEmpty("--entra-audience", values["entra-audience"]);
        settings.entraLifetimeS = parseEntraLifetime(values["entra-lifetime-s"]);
        for (const key of ["entra-client-id", "entra-client-secret", "entra-federated-token", "identity-header"])
            if (values[key] !== undefined) nonEmpty(`--${key}`, values[key]);
    } catch (e) {
        usage(e.message);
    }
    if (!/^[a-z0-9-]+$/.test(values["imds-region"])) usage(`bad --imds-region ${values["imds-region"]}`);
    return {
        port,
        imdsRegion: values["imds-region"],
        issuerSecret: values["issuer-secret"],
        staticAccessKeyId: values["static-access-key-id"] ?? null,
        staticSecretAccessKey: values["static-secret-access-key"] ?? null,
        settings,                  // what POST /__control/config may change
    };
}

const config = readConfig();
const settings = config.settings;

/** The settings as the control API shows them (never the secrets). */
function settingsView() {
    return {
        lifetime_s: settings.lifetimeS,
        web_identity_token: settings.webIdentityToken,
        role_arn: settings.roleArn,
        container_token: settings.containerToken,
        imds: settings.imds,
        faults: settings.faults.map((f) => `${f.kind}:${f.target}`),
        entra_client_id: settings.entraClientId,
        entra_client_secret: settings.entraClientSecret === null ? null : "(set)",
        entra_federated_token: settings.entraFederatedToken,
        entra_audience: settings.entraAudience,
        entra_lifetime_s: settings.entraLifetimeS,
        identity_header: settings.identityHeader,
        entra_jwt_expired: settings.entraJwtExpired === true,
        static_access_key_id: config.staticAccessKeyId,
    };
}

/** Applies a POST /__control/config body; throws (changing nothing) if any field is invalid. */
function updateSettings(body) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("body must be a JSON object");
    const next = { ...settings };
    const optionalString = (key, value) => {
        if (value !== null && typeof value !== "string") throw new Error(`${key} must be a string or null`);
        return value;
    };
    const optionalNonEmpty = (key, value) => (value === null ? null : nonEmpty(key, value));
    for (const [key, value] of Object.entries(body)) {
        switch (key) {
            case "lifetime_s": next.lifetimeS = parseLifetime(value); break;
            case "web_identity_token": next.webIdentityToken = optionalString(key, value); break;
            case "role_arn": next.roleArn = optionalString(key, value); break;
            case "container_token": next.containerToken = optionalString(key, value); break;
            case "imds":
                if (!IMDS_MODES.has(value)) throw new Error(`imds must be v2, v1only or v2only, got ${JSON.stringify(value)}`);
                next.imds = value;
                break;
            case "faults": next.faults = parseFaults(value); break;
            case "entra_client_id": next.entraClientId = optionalNonEmpty(key, value); break;
            case "entra_client_secret": next.entraClientSecret = optionalNonEmpty(key, value); break;
            case "entra_federated_token": next.entraFederatedToken = optionalNonEmpty(key, value); break;
            case "entra_audience": next.entraAudience = nonEmpty(key, value); break;
            case "entra_lifetime_s": next.entraLifetimeS = parseEntraLifetime(value); break;
            case "identity_header": next.identityHeader = optionalNonEmpty(key, value); break;
            case "entra_jwt_expired":
                if (typeof value !== "boolean") throw new Error("entra_jwt_expired must be true or false");
                next.entraJwtExpired = value;
                break;
            default: throw new Error(`unknown setting '${key}'`);
        }
    }
    Object.assign(settings, next);
}

// ---------------------------------------------------------------------------------------------
// State

const ROUTES = ["imds_token", "imds_roles", "imds_credentials", "imds_region", "ecs", "sts_web_identity",
                "sts_assume_role", "sts_other", "entra_client_secret", "entra_client_assertion", "entra_imds",
                "entra_app_service", "other"];
let stats;
function resetStats() {
    stats = Object.fromEntries(ROUTES.map((r) => [r, 0]));
    Object.assign(stats, { rejected: 0, faulted: 0, last_session_name: null, last_role_arn: null });
}
resetStats();

const imdsTokens = new Map();      // token -> expiry (ms since the epoch)
const hanging = new Set();         // responses a hang fault holds

// ---------------------------------------------------------------------------------------------
// Answers

/** ISO 8601 UTC to the second, as AWS writes times: "2024-02-29T23:59:59Z". */
const isoSeconds = (date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

const xmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                                    '"': "&quot;", "'": "&apos;" })[c]);

/** Sends a complete answer with a Content-Length. */
function send(res, status, contentType, body, headers = {}) {
    const data = Buffer.from(body);
    res.writeHead(status, { ...headers, "Content-Type": contentType, "Content-Length": String(data.length) });
    res.end(data);
}
const sendJson = (res, status, value, headers) => send(res, status, "application/json", JSON.stringify(value), headers);

/** Counts and logs a rejection (a 4xx answer), then sends it. */
function reject(res, route, status, contentType, body, why) {
    stats.rejected++;
    console.error(`credentials_server: rejected ${route} (${status}): ${why}`);
    send(res, status, contentType, body);
}

/** Fresh credentials for the configured lifetime (or `lifetimeS`). */
const freshCredentials = (lifetimeS = settings.lifetimeS) => issue(config.issuerSecret, lifetimeS * 1000);

// ---------------------------------------------------------------------------------------------
// Faults

/** The first configured fault that hits a request of these targets, or undefined. */
function faultFor(targets) {
    return settings.faults.find((f) => f.target === "all" || targets.includes(f.target));
}

/**
 * The whole request on one line, as the echo fault quotes it: "The request was: METHOD TARGET
 * HTTP/1.1; body: BODY; headers: Name: value; Name: value; ...". The body comes before the
 * headers (a client that shows only the start of a long message still shows it); line breaks in
 * it are written as \r and \n (a client that shows only a message's first line shows it all).
 */
function requestEcho(req, body) {
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const text = `The request was: ${req.method} ${req.url} HTTP/${req.httpVersion}; body: ${body.toString("utf8")}; ` +
                 `headers: ${headers.join("; ")}`;
    return text.replace(/\r/g, "\\r").replace(/\n/g, "\\n");
}

/**
 * Plays `fault` on `res` (the request `req` with its `body`); `shape` gives the route's 500,
 * malformed and echo answers.
 */
function playFault(req, body, res, fault, shape) {
    stats.faulted++;
    if (fault.kind === "hang") {
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
        return;
    }
    if (fault.kind === "500") return send(res, 500, shape.contentType, shape.error);
    if (fault.kind === "echo") return send(res, 400, shape.contentType, shape.echo(requestEcho(req, body)));
    send(res, 200, shape.contentType, shape.malformed);
}

const IMDS_FAULT = { contentType: "text/plain", error: "Internal Server Error\n", malformed: "",
                     echo: (text) => `Bad Request: ${text}\n` };
const IMDS_CREDS_FAULT = { ...IMDS_FAULT, malformed: '{"Code":"Success","AccessKeyId": ' };
const ECS_FAULT = { contentType: "application/json",
                    error: '{"code":"InternalServerError","message":"credentials_server: injected fault"}',
                    malformed: '{"AccessKeyId": ',
                    echo: (text) => JSON.stringify({ code: "InvalidRequest", message: text }) };
const ENTRA_FAULT = { contentType: "application/json; charset=utf-8",
                      error: '{"error":"server_error","error_description":"credentials_server: injected fault"}',
                      malformed: '{"access_token": ',
                      echo: (text) => JSON.stringify(entraErrorBody("invalid_request", 9002313,
                                                                    `Invalid request. Request is malformed or invalid. ${text}`)) };
const AZURE_IMDS_FAULT = { ...ENTRA_FAULT,
                           echo: (text) => JSON.stringify({ error: "invalid_request", error_description: text }) };
const APP_SERVICE_FAULT = { contentType: "application/json; charset=utf-8",
                            error: '{"statusCode":500,"message":"credentials_server: injected fault"}',
                            malformed: '{"access_token": ',
                            echo: (text) => JSON.stringify({ statusCode: 400, message: text, correlationId: crypto.randomUUID() }) };
const stsFault = (action) => ({
    contentType: "text/xml",
    error: stsErrorXml("Receiver", "InternalFailure", "credentials_server: injected fault"),
    malformed: `<${action === "AssumeRole" ? "AssumeRoleResponse" : "AssumeRoleWithWebIdentityResponse"}><oops`,
    echo: (text) => stsErrorXml("Sender", "InvalidParameterValue", text),
});

// ---------------------------------------------------------------------------------------------
// IMDS

/** Is the request's X-aws-ec2-metadata-token one we issued and still valid? */
function validImdsToken(token) {
    const expiry = token === undefined ? undefined : imdsTokens.get(token);
    return expiry !== undefined && expiry > Date.now();
}

function handleImds(req, res, pathname, body) {
    let route;
    let shape = IMDS_FAULT;
    const targets = ["imds"];
    if (pathname === "/latest/api/token") route = "imds_token";
    else if (pathname === CREDENTIALS_PATH || pathname === `${CREDENTIALS_PATH}/`) route = "imds_roles";
    else if (pathname.startsWith(`${CREDENTIALS_PATH}/`)) {
        route = "imds_credentials";
        shape = IMDS_CREDS_FAULT;
        targets.push("imds-creds");
    } else if (pathname === "/latest/meta-data/placement/region") route = "imds_region";
    else route = "other";
    stats[route]++;
    const fault = faultFor(targets);
    if (fault) return playFault(req, body, res, fault, shape);
    const text = (status, body, headers) => send(res, status, "text/plain", body, headers);
    if (route === "other") return reject(res, "imds", 404, "text/plain", "Not Found\n", `no such path ${pathname}`);

    if (route === "imds_token") {
        if (req.method !== "PUT") return reject(res, route, 405, "text/plain", "Method Not Allowed\n", `method ${req.method}`);
        if (settings.imds === "v1only")
            return reject(res, route, 403, "text/plain", "Forbidden\n", "IMDSv2 is off (--imds v1only)");
        const ttlHeader = req.headers["x-aws-ec2-metadata-token-ttl-seconds"];
        const ttl = Number(ttlHeader);
        if (!/^\d+$/.test(ttlHeader ?? "") || ttl < 1 || ttl > 21600)
            return reject(res, route, 400, "text/plain", "Bad Request\n",
                          `X-aws-ec2-metadata-token-ttl-seconds is ${JSON.stringify(ttlHeader)}, not 1..21600`);
        const now = Date.now();
        for (const [token, expiry] of imdsTokens) if (expiry <= now) imdsTokens.delete(token);
        const token = crypto.randomBytes(42).toString("base64");
        imdsTokens.set(token, now + ttl * 1000);
        return text(200, token, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
    }

    if (req.method !== "GET") return reject(res, route, 405, "text/plain", "Method Not Allowed\n", `method ${req.method}`);
    if (settings.imds !== "v1only" && !validImdsToken(req.headers["x-aws-ec2-metadata-token"])) {
        const why = req.headers["x-aws-ec2-metadata-token"] === undefined ? "no X-aws-ec2-metadata-token"
                                                                           : "unknown or expired X-aws-ec2-metadata-token";
        return reject(res, route, 401, "text/plain", "Unauthorized\n", why);
    }
    if (route === "imds_roles") return text(200, ROLE_NAME);
    if (route === "imds_region") return text(200, config.imdsRegion);
    const role = pathname.slice(CREDENTIALS_PATH.length + 1);
    if (role !== ROLE_NAME) return reject(res, route, 404, "text/plain", "Not Found\n", `no role '${role}'`);
    const creds = freshCredentials();
    sendJson(res, 200, {
        Code: "Success",
        LastUpdated: isoSeconds(new Date()),
        Type: "AWS-HMAC",
        AccessKeyId: creds.accessKeyId,
        SecretAccessKey: creds.secretAccessKey,
        Token: creds.sessionToken,
        Expiration: isoSeconds(creds.expiration),
    });
}

// ---------------------------------------------------------------------------------------------
// Container endpoint

function handleEcs(req, res, body) {
    stats.ecs++;
    const fault = faultFor(["ecs"]);
    if (fault) return playFault(req, body, res, fault, ECS_FAULT);
    if (req.method !== "GET")
        return reject(res, "ecs", 405, "application/json",
                      JSON.stringify({ code: "MethodNotAllowed", message: `method ${req.method} not allowed` }),
                      `method ${req.method}`);
    if (settings.containerToken !== null && req.headers.authorization !== settings.containerToken) {
        const why = req.headers.authorization === undefined ? "no Authorization header" : "wrong Authorization header";
        return reject(res, "ecs", 401, "application/json",
                      JSON.stringify({ code: "AccessDenied", message: `Unauthorized: ${why}` }), why);
    }
    const creds = freshCredentials();
    sendJson(res, 200, {
        AccessKeyId: creds.accessKeyId,
        SecretAccessKey: creds.secretAccessKey,
        Token: creds.sessionToken,
        Expiration: isoSeconds(creds.expiration),
        RoleArn: settings.roleArn ?? DEFAULT_ROLE_ARN,
    });
}

// ---------------------------------------------------------------------------------------------
// STS

class StsError extends Error {
    constructor(status, code, message, type = "Sender") {
        super(message);
        Object.assign(this, { status, code, type });
    }
}

const stsRequestId = () => crypto.randomUUID();

function stsErrorXml(type, code, message) {
    return `<ErrorResponse xmlns="${STS_XMLNS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(code)}</Code>\n` +
           `    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${stsRequestId()}</RequestId>\n</ErrorResponse>\n`;
}

/** The <Credentials> element of an STS answer. */
function credentialsXml(creds) {
    return `    <Credentials>\n      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>\n` +
           `      <SecretAccessKey>${creds.secretAccessKey}</SecretAccessKey>\n` +
           `      <SessionToken>${creds.sessionToken}</SessionToken>\n` +
           `      <Expiration>${isoSeconds(creds.expiration)}</Expiration>\n    </Credentials>\n`;
}

/** The <AssumedRoleUser> element for a role ARN and session name. */
function assumedRoleUserXml(roleArn, sessionName) {
    const roleName = roleArn.split("/").pop();
    return `    <AssumedRoleUser>\n      <Arn>${xmlEscape(`arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${sessionName}`)}</Arn>\n` +
           `      <AssumedRoleId>AROASDSTESTROLE000001:${xmlEscape(sessionName)}</AssumedRoleId>\n    </AssumedRoleUser>\n`;
}

/** The "sub" claim of a JWT, or a fixed subject for tokens that are not JWTs. */
function subjectOf(token) {
    try {
        const sub = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")).sub;
        if (typeof sub === "string" && sub) return sub;
    } catch {}
    return "sds-test-subject";
}

/** Throws a 400 ValidationError unless RoleArn and RoleSessionName are present and well-formed. */
function validateRoleParams(params) {
    const roleArn = params.get("RoleArn");
    const sessionName = params.get("RoleSessionName");
    const problems = [];
    if (roleArn === null) problems.push("Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    else if (!/^arn:[^:]+:iam::\d{12}:role\/.+$/.test(roleArn) || roleArn.length > 2048)
        problems.push(`Value '${roleArn}' at 'roleArn' failed to satisfy constraint: Member must be a role ARN`);
    if (sessionName === null)
        problems.push("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
    else if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
        problems.push(`Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: ` +
                      "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length 2..64");
    if (problems.length)
        throw new StsError(400, "ValidationError", `${problems.length} validation error(s) detected: ${problems.join("; ")}`);
    if (settings.roleArn !== null && roleArn !== settings.roleArn)
        throw new StsError(403, "AccessDenied", `Not authorized to perform sts:${params.get("Action")} on ${roleArn}`);
    return { roleArn, sessionName };
}

function assumeRoleWithWebIdentity(params) {
    const token = params.get("WebIdentityToken");
    if (token === null || token === "")
        throw new StsError(400, "ValidationError", "1 validation error detected: Value null at 'webIdentityToken' " +
                                                   "failed to satisfy constraint: Member must not be null");
    if (settings.webIdentityToken !== null && token !== settings.webIdentityToken)
        throw new StsError(400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS. " +
                                                        "Get a new identity token from the identity provider and then retry the request.");
    const { roleArn, sessionName } = validateRoleParams(params);
    const creds = freshCredentials();
    return `<AssumeRoleWithWebIdentityResponse xmlns="${STS_XMLNS}">\n  <AssumeRoleWithWebIdentityResult>\n` +
           credentialsXml(creds) +
           `    <SubjectFromWebIdentityToken>${xmlEscape(subjectOf(token))}</SubjectFromWebIdentityToken>\n` +
           assumedRoleUserXml(roleArn, sessionName) +
           "    <Provider>sds-test-oidc-provider</Provider>\n    <Audience>sts.amazonaws.com</Audience>\n" +
           `  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>${stsRequestId()}</RequestId>\n` +
           "  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n";
}

async function assumeRole(req, body, params) {
    await verifySignature(req, body);
    const { roleArn, sessionName } = validateRoleParams(params);
    const creds = freshCredentials();
    return `<AssumeRoleResponse xmlns="${STS_XMLNS}">\n  <AssumeRoleResult>\n` +
           credentialsXml(creds) + assumedRoleUserXml(roleArn, sessionName) +
           `  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>${stsRequestId()}</RequestId>\n` +
           "  </ResponseMetadata>\n</AssumeRoleResponse>\n";
}

async function handleSts(req, res, url, body) {
    const params = new URLSearchParams(url.search);
    if (req.method === "POST")
        for (const [k, v] of new URLSearchParams(body.toString("utf8"))) params.append(k, v);
    const action = params.get("Action");
    const route = action === "AssumeRoleWithWebIdentity" ? "sts_web_identity"
                : action === "AssumeRole" ? "sts_assume_role" : "sts_other";
    stats[route]++;
    if (params.get("RoleSessionName") !== null) stats.last_session_name = params.get("RoleSessionName");
    if (params.get("RoleArn") !== null) stats.last_role_arn = params.get("RoleArn");
    const fault = faultFor(["sts"]);
    if (fault) return playFault(req, body, res, fault, stsFault(action));
    try {
        if (req.method !== "POST" && req.method !== "GET")
            throw new StsError(405, "InvalidAction", `method ${req.method} is not supported`);
        if (route === "sts_other")
            throw new StsError(400, "InvalidAction", `Could not find operation ${action} for version ${params.get("Version")}`);
        if (params.get("Version") !== STS_VERSION)
            throw new StsError(400, "InvalidAction", `Could not find operation ${action} for version ${params.get("Version")}`);
        const xml = route === "sts_web_identity" ? assumeRoleWithWebIdentity(params) : await assumeRole(req, body, params);
        send(res, 200, "text/xml", xml, { "x-amzn-RequestId": stsRequestId() });
    } catch (err) {
        if (!(err instanceof StsError)) throw err;
        reject(res, route, err.status, "text/xml", stsErrorXml(err.type, err.code, err.message),
               `${err.code}: ${err.message.split("\n")[0]}`);
    }
}

// ---------------------------------------------------------------------------------------------
// Entra ID: client credentials (v2.0), Azure IMDS and App Service managed identity

/** A stable GUID made from `seed` (name-based, version 5 layout). */
function guidFrom(seed) {
    const h = crypto.createHash("sha256").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${(8 + (parseInt(h[16], 16) & 3)).toString(16)}` +
           `${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A bearer token for Azurite's basic OAuth check: {token, iat, nbf, exp, lifetime}. */
function entraToken({ tenantId, clientId, objectId = guidFrom(`oid:${clientId}`) }) {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = settings.entraLifetimeS;
    const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const claims = { aud: settings.entraAudience, iss: `https://sts.windows.net/${tenantId}/`, iat: now, nbf: now - 5,
                     exp: settings.entraJwtExpired ? now - 60 : now + lifetime, tid: tenantId, oid: objectId,
                     sub: objectId, appid: clientId };
    const token = `${part({ alg: "RS256", typ: "JWT", kid: "sds-test" })}.${part(claims)}.` +
                  crypto.randomBytes(256).toString("base64url");
    // What the answer promises (expires_on): the lifetime, even when the JWT itself is expired.
    return { token, iat: claims.iat, nbf: claims.nbf, exp: now + lifetime, lifetime };
}

/** Entra's timestamp format: "2024-02-29 23:59:59Z". */
const entraTimestamp = () => isoSeconds(new Date()).replace("T", " ");

/** Entra's JSON error {error, error_description, error_codes, timestamp, ...}. */
function entraErrorBody(error, code, message) {
    const traceId = crypto.randomUUID();
    const correlationId = crypto.randomUUID();
    const timestamp = entraTimestamp();
    return {
        error,
        error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}` +
                           `\r\nTimestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    };
}

/** Sends Entra's JSON error (a rejection). */
function entraError(res, route, status, error, code, message) {
    reject(res, route, status, "application/json; charset=utf-8", JSON.stringify(entraErrorBody(error, code, message)),
           `${error} AADSTS${code}: ${message}`);
}

/** The "iss" claim of a JWT, or null. */
function issuerOf(token) {
    try {
        const iss = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")).iss;
        return typeof iss === "string" ? iss : null;
    } catch {
        return null;
    }
}

const isStorageResource = (resource) => resource === STORAGE_RESOURCE || resource === `${STORAGE_RESOURCE}/`;
const NO_STORE = { "Cache-Control": "no-store, no-cache", Pragma: "no-cache" };

/** POST /{tenant}/oauth2/v2.0/token: client credentials with a secret or a federated assertion. */
function handleEntraToken(req, res, tenant, body) {
    const formEncoded = /^application\/x-www-form-urlencoded\b/i.test(req.headers["content-type"] ?? "");
    const params = new URLSearchParams(formEncoded ? body.toString("utf8") : "");
    const usesAssertion = params.has("client_assertion") || params.has("client_assertion_type");
    const route = usesAssertion ? "entra_client_assertion" : "entra_client_secret";
    stats[route]++;
    const fault = faultFor(["entra"]);
    if (fault) return playFault(req, body, res, fault, ENTRA_FAULT);
    const fail = (status, error, code, message) => entraError(res, route, status, error, code, message);
    const missing = (name) => fail(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`);

    if (req.method !== "POST")
        return fail(400, "invalid_request", 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`);
    if (!GUID.test(tenant) && !DOMAIN.test(tenant))
        return fail(400, "invalid_request", 900023,
                    `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`);
    const grantType = params.get("grant_type");
    if (!grantType) return missing("grant_type");
    if (grantType !== "client_credentials")
        return fail(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`);
    const clientId = params.get("client_id");
    if (!clientId) return missing("client_id");
    if (settings.entraClientId !== null && clientId !== settings.entraClientId)
        return fail(400, "unauthorized_client", 700016,
                    `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen ` +
                    "if the application has not been installed by the administrator of the tenant or consented to by any " +
                    "user in the tenant. You may have sent your authentication request to the wrong tenant.");
    const scope = params.get("scope");
    if (!scope) return missing("scope");
    if (scope !== STORAGE_SCOPE)
        return fail(400, "invalid_scope", 70011,
                    `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
    const secret = params.get("client_secret");
    if (usesAssertion && secret !== null)
        return fail(400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.");
    const noCredential = () => fail(401, "invalid_client", 7000218,
                                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (usesAssertion) {
        const assertion = params.get("client_assertion");
        if (params.get("client_assertion_type") !== JWT_BEARER || !assertion) return noCredential();
        if (settings.entraFederatedToken !== null && assertion !== settings.entraFederatedToken)
            return fail(400, "invalid_client", 700211,
                        `No matching federated identity record found for presented assertion issuer '${issuerOf(assertion) ?? "(none)"}'. ` +
                        "Please check your federated identity credential Subject, Audience and Issuer against the presented " +
                        "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation");
    } else {
        if (!secret) return noCredential();
        if (settings.entraClientSecret !== null && secret !== settings.entraClientSecret)
            return fail(401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret " +
                        `value, not the client secret ID, for a secret added to app '${clientId}'.`);
    }
    const tenantId = GUID.test(tenant) ? tenant.toLowerCase() : guidFrom(`tenant:${tenant.toLowerCase()}`);
    const t = entraToken({ tenantId, clientId });
    sendJson(res, 200, { token_type: "Bearer", expires_in: t.lifetime, ext_expires_in: t.lifetime, access_token: t.token },
             NO_STORE);
}

/** The identity a managed-identity request asks for: {clientId, objectId?}. */
function managedIdentity(query, objectIdParam, resourceIdParams) {
    const resourceId = resourceIdParams.map((p) => query.get(p)).find((v) => v);
    const clientId = query.get("client_id") || (resourceId ? guidFrom(`mi:${resourceId}`) : ENTRA_MI_CLIENT_ID);
    const objectId = query.get(objectIdParam) || undefined;
    return { tenantId: ENTRA_TENANT_ID, clientId, ...(objectId ? { objectId } : {}) };
}

/** GET /metadata/identity/oauth2/token: managed identity through Azure IMDS. */
function handleAzureImds(req, res, url, body) {
    const route = "entra_imds";
    stats[route]++;
    const fault = faultFor(["entra"]);
    if (fault) return playFault(req, body, res, fault, AZURE_IMDS_FAULT);
    const fail = (status, error, description) =>
        reject(res, route, status, "application/json; charset=utf-8", JSON.stringify({ error, error_description: description }),
               `${error}: ${description}`);
    if (req.method !== "GET") return fail(405, "invalid_request", `Method ${req.method} is not allowed`);
    if ((req.headers.metadata ?? "").toLowerCase() !== "true")
        return fail(400, "invalid_request", "Required metadata header not specified");
    const query = url.searchParams;
    const apiVersion = query.get("api-version");
    if (!apiVersion) return fail(400, "invalid_request", "Required query variable 'api-version' is missing");
    if (!/^\d{4}-\d{2}-\d{2}$/.test(apiVersion) || apiVersion < "2018-02-01")
        return fail(400, "invalid_request", `Invalid api-version '${apiVersion}'`);
    const resource = query.get("resource");
    if (!resource) return fail(400, "invalid_request", "Required audience parameter not specified");
    if (!isStorageResource(resource))
        return fail(400, "invalid_resource", `AADSTS500011: The resource principal named ${resource} was not found in the ` +
                                             `tenant named ${ENTRA_TENANT_ID}.`);
    const t = entraToken(managedIdentity(query, "object_id", ["msi_res_id", "mi_res_id"]));
    sendJson(res, 200, { access_token: t.token, refresh_token: "", expires_in: String(t.lifetime), expires_on: String(t.exp),
                         not_before: String(t.nbf), resource, token_type: "Bearer" });
}

/** GET /msi/token: App Service / Functions managed identity (api-version 2019-08-01). */
function handleAppService(req, res, url, body) {
    const route = "entra_app_service";
    stats[route]++;
    const fault = faultFor(["entra"]);
    if (fault) return playFault(req, body, res, fault, APP_SERVICE_FAULT);
    const fail = (status, message) =>
        reject(res, route, status, "application/json; charset=utf-8",
               JSON.stringify({ statusCode: status, message, correlationId: crypto.randomUUID() }), message);
    if (req.method !== "GET") return fail(405, `Method ${req.method} is not allowed`);
    const header = req.headers["x-identity-header"];
    if (!header || (settings.identityHeader !== null && header !== settings.identityHeader))
        return fail(401, header ? "Unauthorized: X-IDENTITY-HEADER does not match" : "Unauthorized: no X-IDENTITY-HEADER");
    const query = url.searchParams;
    const apiVersion = query.get("api-version");
    if (apiVersion !== "2019-08-01") return fail(400, `Unsupported api-version '${apiVersion ?? ""}' (2019-08-01 expected)`);
    const resource = query.get("resource");
    if (!resource) return fail(400, "Required query parameter 'resource' is missing");
    if (!isStorageResource(resource))
        return fail(400, `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ` +
                         `${ENTRA_TENANT_ID}.`);
    const identity = managedIdentity(query, "principal_id", ["mi_res_id"]);
    const t = entraToken(identity);
    sendJson(res, 200, { access_token: t.token, expires_on: String(t.exp), resource, token_type: "Bearer",
                         client_id: identity.clientId });
}

// ---------------------------------------------------------------------------------------------
// SigV4 verification (AssumeRole), as in gateway.mjs but for service "sts" in any region

/** Received headers as {lower-case name: value}; repeated headers joined with "," (SigV4). */
function receivedHeaders(rawHeaders) {
    const headers = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i].toLowerCase();
        headers[name] = name in headers ? `${headers[name]},${rawHeaders[i + 1]}` : rawHeaders[i + 1];
    }
    return headers;
}

/** "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." -> its parts. */
function parseAuthorization(value) {
    const incomplete = (m) => new StsError(400, "IncompleteSignature", m);
    const match = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(value.trim());
    if (!match) throw incomplete(`Authorization header is malformed or not AWS4-HMAC-SHA256: ${value}`);
    const params = {};
    for (const part of match[1].split(",")) {
        const eq = part.indexOf("=");
        if (eq < 0) throw incomplete(`'${part.trim()}' not a valid key=value pair (missing equal-sign) in Authorization header`);
        params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    for (const p of ["Credential", "Signature", "SignedHeaders"])
        if (!params[p]) throw incomplete(`Authorization header requires '${p}' parameter. Authorization=${value}`);
    const scope = params.Credential.split("/");
    if (scope.length !== 5) throw incomplete(`Credential must have exactly 5 slash-delimited elements, got '${params.Credential}'`);
    if (!/^[0-9a-f]{64}$/.test(params.Signature)) throw incomplete(`Signature must be 64 lower-case hex digits`);
    const signedHeaders = params.SignedHeaders.split(";");
    const canonicalList = [...new Set(signedHeaders.map((h) => h.toLowerCase()))].sort();
    if (signedHeaders.join(";") !== canonicalList.join(";") || signedHeaders.includes(""))
        throw incomplete(`SignedHeaders must be lower-case, sorted, unique and non-empty, got '${params.SignedHeaders}'`);
    const [accessKeyId, date, region, service, terminator] = scope;
    return { accessKeyId, date, region, service, terminator, signedHeaders, signature: params.Signature };
}

/** X-Amz-Date "YYYYMMDDTHHMMSSZ" -> Date, or null. */
function parseAmzDate(value) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
    if (!m) return null;
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    return date.toISOString().replace(/[-:]|\.\d{3}/g, "") === value ? date : null;
}

/** Query string -> {name: value | [values]} of decoded strings, as HttpRequest.query wants. */
function parseQuery(search) {
    const query = {};
    for (const part of search.split("&")) {
        if (!part) continue;
        const eq = part.indexOf("=");
        const decode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
        const name = decode(eq < 0 ? part : part.slice(0, eq));
        const value = eq < 0 ? "" : decode(part.slice(eq + 1));
        if (!(name in query)) query[name] = value;
        else query[name] = [].concat(query[name], value);
    }
    return query;
}

/** The secret for a signing key id (static pair or issued with a valid token); throws StsError. */
function secretFor(accessKeyId, sessionToken) {
    if (config.staticAccessKeyId !== null && accessKeyId === config.staticAccessKeyId) return config.staticSecretAccessKey;
    if (isIssued(accessKeyId)) {
        const verdict = checkIssued(config.issuerSecret, accessKeyId, sessionToken);
        if (verdict.ok) return verdict.secretAccessKey;
        if (verdict.type === "ExpiredTokenException") throw new StsError(400, "ExpiredToken", verdict.message);
    }
    throw new StsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
}

/** Throws an StsError unless the request carries a valid SigV4 signature for service "sts". */
async function verifySignature(req, body) {
    const mismatch = (m) => new StsError(403, "SignatureDoesNotMatch", m);
    const headers = receivedHeaders(req.rawHeaders);
    if (headers.authorization === undefined)
        throw new StsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token");
    const auth = parseAuthorization(headers.authorization);
    const dateHeader = headers["x-amz-date"];
    const signingDate = parseAmzDate(dateHeader);
    if (!signingDate) throw new StsError(400, "IncompleteSignature", `X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ: '${dateHeader}'`);
    if (Math.abs(signingDate.getTime() - Date.now()) > MAX_SKEW_MS)
        throw mismatch(`Signature expired or not yet current: ${dateHeader} is more than 15 min. from now`);
    for (const required of ["host", "x-amz-date"])
        if (!auth.signedHeaders.includes(required)) throw mismatch(`'${required}' must be a 'SignedHeader' in the AWS Authorization.`);
    if (auth.service !== "sts") throw mismatch("Credential should be scoped to correct service: 'sts'.");
    if (auth.terminator !== "aws4_request") throw mismatch("Credential should be scoped with a valid terminator: 'aws4_request'.");
    if (auth.date !== dateHeader.slice(0, 8)) throw mismatch("Date in Credential scope does not match YYYYMMDD from X-Amz-Date.");
    const secretAccessKey = secretFor(auth.accessKeyId, headers["x-amz-security-token"]);

    const contentSha = headers["x-amz-content-sha256"];
    if (contentSha !== undefined && contentSha !== crypto.createHash("sha256").update(body).digest("hex"))
        throw mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.");
    const signed = {};
    for (const name of auth.signedHeaders) {
        if (headers[name] === undefined) throw mismatch(`Header '${name}' is listed in SignedHeaders but missing from the request.`);
        signed[name] = headers[name];
    }
    const request = new HttpRequest({
        method: req.method,
        protocol: "http:",
        hostname: headers.host ?? "",
        path: req.url.split("?")[0],
        query: parseQuery(new URL(req.url, "http://sts.invalid").search.slice(1)),
        headers: signed,
        body: new Uint8Array(body.buffer, body.byteOffset, body.length),
    });
    const signer = new SignatureV4({
        service: "sts", region: auth.region, credentials: { accessKeyId: auth.accessKeyId, secretAccessKey },
        sha256: Hash.bind(null, "sha256"), applyChecksum: false,
    });
    const options = { signingDate, signableHeaders: new Set(auth.signedHeaders) };
    const result = await signer.sign(request, options);
    const expected = /Signature=([0-9a-f]{64})/.exec(result.headers.authorization)[1];
    const expectedList = /SignedHeaders=([^,]*)/.exec(result.headers.authorization)[1];
    if (expectedList === auth.signedHeaders.join(";") &&
        crypto.timingSafeEqual(Buffer.from(expected, "ascii"), Buffer.from(auth.signature, "ascii")))
        return;
    const payloadHash = crypto.createHash("sha256").update(body).digest("hex");
    const canonical = signer.createCanonicalRequest(request, getCanonicalHeaders(request, undefined, options.signableHeaders),
                                                    payloadHash);
    throw mismatch("The request signature we calculated does not match the signature you provided. Check your AWS " +
                   "Secret Access Key and signing method. Consult the service documentation for details." +
                   `\n\nThe Canonical String for this request should have been\n'${canonical}'\n`);
}

// ---------------------------------------------------------------------------------------------
// Control

function handleControl(req, res, pathname, body) {
    const parseBody = () => (body.length === 0 ? {} : JSON.parse(body.toString("utf8")));
    if (pathname === "/__control/stats" && req.method === "GET") return sendJson(res, 200, stats);
    if (pathname === "/__control/reset-stats" && req.method === "POST") {
        resetStats();
        return sendJson(res, 200, stats);
    }
    if (pathname === "/__control/config" && req.method === "GET") return sendJson(res, 200, settingsView());
    if (pathname === "/__control/config" && req.method === "POST") {
        try {
            updateSettings(parseBody());
        } catch (e) {
            return sendJson(res, 400, { message: e.message });
        }
        return sendJson(res, 200, settingsView());
    }
    if (pathname === "/__control/issue" && req.method === "POST") {
        let creds;
        try {
            const { lifetime_s: lifetime } = parseBody();
            creds = freshCredentials(lifetime === undefined ? settings.lifetimeS : parseLifetime(lifetime));
        } catch (e) {
            return sendJson(res, 400, { message: e.message });
        }
        return sendJson(res, 200, { AccessKeyId: creds.accessKeyId, SecretAccessKey: creds.secretAccessKey,
                                    SessionToken: creds.sessionToken, Expiration: creds.expiration.toISOString() });
    }
    sendJson(res, 404, { message: `no control route ${req.method} ${pathname}` });
}

// ---------------------------------------------------------------------------------------------
// Server

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on("data", (chunk) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
                reject(new Error("request body too large"));
                req.destroy();
                return;
            }
            chunks.push(chunk);
        });
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

async function handle(req, res) {
    let body;
    try {
        body = await readBody(req);
    } catch {
        return;                        // client went away or sent too much; nothing to answer
    }
    const url = new URL(req.url, "http://credentials.invalid");
    const pathname = url.pathname;
    if (pathname.startsWith("/__control/")) return handleControl(req, res, pathname, body);
    if (pathname.startsWith("/latest/")) return handleImds(req, res, pathname, body);
    if (pathname === "/ecs/credentials") return handleEcs(req, res, body);
    if (pathname === "/metadata/identity/oauth2/token") return handleAzureImds(req, res, url, body);
    if (pathname === "/msi/token") return handleAppService(req, res, url, body);
    const entraTenant = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(pathname);
    if (entraTenant) {
        let tenant;
        try { tenant = decodeURIComponent(entraTenant[1]); } catch { tenant = entraTenant[1]; }
        return handleEntraToken(req, res, tenant, body);
    }
    if (pathname === "/") return handleSts(req, res, url, body);
    stats.other++;
    reject(res, "other", 404, "text/plain", "Not Found\n", `no such path ${pathname}`);
}

const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
        console.error(`credentials_server: internal error: ${err.stack ?? err}`);
        if (!res.headersSent) send(res, 500, "text/plain", `credentials_server internal error: ${err.message}\n`);
        else res.destroy();
    });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.requestTimeout = 0;             // a hang fault holds a request for as long as the client waits

server.on("error", (err) => {
    console.error(`credentials_server: cannot listen on 127.0.0.1:${config.port}: ${err.message}`);
    process.exit(1);
});
server.listen(config.port, "127.0.0.1", () => {
    console.log(`credentials_server listening on 127.0.0.1:${server.address().port}`);
});

function shutdown(signal) {
    console.error(`credentials_server: ${signal}, shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections();      // idle, busy and hanging ones alike: all answers are immediate
    setTimeout(() => process.exit(0), 1000).unref();
}
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
