#!/usr/bin/env node
// Self-test of the credential endpoints (credentials_server.mjs), the issued credentials they
// hand out (issued_credentials.mjs) and the gateway's --issuer-secret (gateway.mjs).
//
// Starts credentials_server.mjs as child processes and checks, with plain node:http requests
// and AWS's own @smithy/signature-v4:
//   - issued_credentials.mjs: shapes, check() of genuine, forged, foreign, mismatched and
//     expired tokens
//   - IMDS v2: the token PUT and its TTL header limits, 401 without / with a wrong / with an
//     expired token, the role list, the credentials JSON, the region; v1only (PUT 403, tokenless
//     GETs work) and v2only through the control API and on the command line
//   - the container endpoint with and without its Authorization token
//   - STS AssumeRoleWithWebIdentity (XML shapes, wrong token, wrong role, missing parameters,
//     bad Version / Action, the token changed through control) and AssumeRole signed with the
//     static pair and with issued credentials (any region), refused when the body is altered
//     after signing, unsigned, for another service, with an unknown key, without / with a
//     forged / with an expired session token
//   - Entra ID: client credentials on /{tenant}/oauth2/v2.0/token with a secret and with a
//     federated assertion (JSON shape, the JWT decoded: header, aud, iss, tid, appid, oid/sub,
//     iat/nbf/exp; GUID and domain tenants), every documented error (Entra's JSON, AADSTS code,
//     status), Azure IMDS and App Service managed identity (string-valued JSON, identity
//     parameters, header and parameter errors), entra_* settings through control (secret,
//     federated token, client id, identity header, audience, lifetime 0 and negative) and on
//     the command line, the entra_* stats counters
//   - the control API (stats counters, last_session_name / last_role_arn, config and its
//     validation, issue, lifetime_s)
//   - faults: hang (no answer within 500 ms), 500 and malformed for each target (entra too),
//     from the command line (repeated and comma-separated --fault) and the control API; echo
//     on every route (400 in the route's error format, quoting the request line with its query,
//     the body as sent before every header, on one line)
//   - gateway.mjs --issuer-secret in front of a tiny upstream of this process that answers 200
//     {}: issued credentials + token accepted, forged / missing token UnrecognizedClientException,
//     expired ExpiredTokenException, the static pair still accepted; a gateway without
//     --issuer-secret refuses issued credentials
//   - one stdout line, SIGTERM exits 0, bad arguments exit 2
//
//   node tests/integration/credentials_server_selftest.mjs
//
// Uses only 127.0.0.1 and ports the system picks. Prints one line per check and finally
// "N passed, M failed (T s)"; exits 1 if anything failed.

import http from "node:http";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { issue, isIssued, check as checkIssued } from "./issued_credentials.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const serverScript = path.join(here, "credentials_server.mjs");
const gatewayScript = path.join(here, "gateway.mjs");
const started = Date.now();

const ISSUER = "selftest-issuer-secret";
const STATIC = { accessKeyId: "AKIDSDSTEST", secretAccessKey: "sds-test-secret" };
const WEB_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZHMtc2VsZnRlc3Qtc3ViIn0.sig";   // JWT-like, sub "sds-selftest-sub"
const ROLE_ARN = "arn:aws:iam::123456789012:role/sds-selftest-role";
const CONTAINER_TOKEN = "Bearer sds-container-token";
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const ENTRA_CLIENT_ID = "11111111-2222-4333-8444-555555555555";
const ENTRA_SECRET = "sds-entra-secret";
// A projected service account token (JWT-like, iss https://oidc.sds.test), passed as is.
const FEDERATED_TOKEN = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL29pZGMuc2RzLnRlc3QiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2RzIn0.sig";
const IDENTITY_HEADER = "sds-identity-header";
const STORAGE = "https://storage.azure.com";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// ---------------------------------------------------------------------------------------------
// Results

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
    if (ok) {
        passed++;
        console.log(`ok   ${name}`);
    } else {
        failed++;
        console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`);
    }
    return ok;
}
const show = (v) => JSON.stringify(v)?.slice(0, 400);

// ---------------------------------------------------------------------------------------------
// Child processes (only those spawned here, stopped by their exact PIDs)

const children = [];

/** Spawns `node script args`; resolves the entry once a stdout line matches `pattern`. */
async function startChild(name, script, args, pattern) {
    const child = spawn(process.execPath, [script, ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    const entry = { name, child, stdout: "", stderr: "", exit: null };
    children.push(entry);
    child.stdout.on("data", (c) => { entry.stdout += c; });
    child.stderr.on("data", (c) => { entry.stderr = (entry.stderr + c).slice(-20000); });
    entry.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(entry.exit = { code, signal })));
    const deadline = Date.now() + 10_000;
    while (!entry.stdout.includes("\n")) {
        if (entry.exit) throw new Error(`${name} exited during start-up: ${entry.stderr}`);
        if (Date.now() > deadline) throw new Error(`${name} printed no line within 10 s: ${entry.stderr}`);
        await sleep(20);
    }
    const m = pattern.exec(entry.stdout.split("\n")[0]);
    if (!m) throw new Error(`${name}: unexpected first line ${show(entry.stdout)}`);
    entry.port = Number(m[1]);
    return entry;
}

const startServer = (name, extra = []) =>
    startChild(name, serverScript, ["--port", "0", "--issuer-secret", ISSUER, "--static-access-key-id", STATIC.accessKeyId,
                                    "--static-secret-access-key", STATIC.secretAccessKey, ...extra],
               /^credentials_server listening on 127\.0\.0\.1:(\d+)$/);

async function stopChild(entry) {
    if (entry.exit) return entry.exit;
    process.kill(entry.child.pid, "SIGTERM");
    const timer = setTimeout(() => { try { process.kill(entry.child.pid, "SIGKILL"); } catch {} }, 5000);
    const exit = await entry.exited;
    clearTimeout(timer);
    return exit;
}

/** Runs `node script args` to its end; resolves {code, stderr}. */
function runToEnd(script, args) {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [script, ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (c) => { stderr += c; });
        child.once("exit", (code) => resolve({ code, stderr }));
    });
}

// ---------------------------------------------------------------------------------------------
// The fake upstream behind the gateway: answers 200 {} to everything

const upstream = { server: null, port: 0, count: 0 };

async function startUpstream() {
    upstream.server = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
            upstream.count++;
            res.writeHead(200, { "Content-Type": "application/x-amz-json-1.0", "Content-Length": "2" });
            res.end("{}");
        });
    });
    upstream.server.keepAliveTimeout = 60_000;
    await new Promise((resolve, reject) => {
        upstream.server.once("error", reject);
        upstream.server.listen(0, "127.0.0.1", resolve);
    });
    upstream.port = upstream.server.address().port;
}

// ---------------------------------------------------------------------------------------------
// Requests

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/**
 * One request to 127.0.0.1:port. Resolves {status, headers, text, json, reused} or, when no
 * answer came within timeoutMs, {timeout: true} (the connection is then dropped).
 */
function request(port, { method = "GET", path: reqPath = "/", headers = {}, body = "", timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
        const data = Buffer.from(body);
        const req = http.request({
            host: "127.0.0.1", port, method, path: reqPath,
            agent: timeoutMs < 5000 ? false : agent,       // a connection that may hang is never pooled
            headers: { ...headers, ...(data.length || method === "POST" || method === "PUT" ? { "content-length": String(data.length) } : {}) },
        }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
                clearTimeout(timer);
                const text = Buffer.concat(chunks).toString("utf8");
                let json;
                try { json = JSON.parse(text); } catch {}
                resolve({ status: res.statusCode, headers: res.headers, text, json, reused: req.reusedSocket });
            });
        });
        const timer = setTimeout(() => { resolve({ timeout: true }); req.destroy(); }, timeoutMs);
        req.on("error", (err) => { clearTimeout(timer); reject(err); });
        req.end(data);
    });
}
const describe = (r) => (r.timeout ? "no answer" : `HTTP ${r.status} ${r.text.slice(0, 300)}`);

const control = (server, method, route, body) =>
    request(server.port, { method, path: `/__control/${route}`, body: body === undefined ? "" : JSON.stringify(body),
                           headers: body === undefined ? {} : { "content-type": "application/json" } });
const stats = async (server) => (await control(server, "GET", "stats")).json;

async function imdsToken(server, ttl = "60") {
    return request(server.port, { method: "PUT", path: "/latest/api/token",
                                  headers: ttl === null ? {} : { "X-aws-ec2-metadata-token-ttl-seconds": ttl } });
}
const imdsGet = (server, what, token, timeoutMs) =>
    request(server.port, { path: `/latest/meta-data/${what}`, timeoutMs,
                           headers: token === undefined ? {} : { "X-aws-ec2-metadata-token": token } });

const form = (params) => new URLSearchParams(params).toString();
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };

function webIdentity(server, overrides = {}, timeoutMs) {
    const params = { Action: "AssumeRoleWithWebIdentity", Version: "2011-06-15", RoleArn: ROLE_ARN,
                     RoleSessionName: "sds-web-session", WebIdentityToken: WEB_TOKEN, ...overrides };
    for (const [k, v] of Object.entries(params)) if (v === undefined) delete params[k];
    return request(server.port, { method: "POST", path: "/", headers: FORM_TYPE, body: form(params), timeoutMs });
}

/** A SigV4-signed (service sts) AssumeRole request: {method, path, headers, body}. */
async function signedAssumeRole(server, credentials, { region = "us-east-1", service = "sts", applyChecksum = false,
                                                       sessionName = "sds-assume-session", roleArn = ROLE_ARN } = {}) {
    const signer = new SignatureV4({ service, region, credentials, applyChecksum, sha256: Hash.bind(null, "sha256") });
    const signed = await signer.sign(new HttpRequest({
        method: "POST", protocol: "http:", hostname: "127.0.0.1", port: server.port, path: "/",
        headers: { host: `127.0.0.1:${server.port}`, ...FORM_TYPE },
        body: form({ Action: "AssumeRole", Version: "2011-06-15", RoleArn: roleArn, RoleSessionName: sessionName,
                     DurationSeconds: "3600" }),
    }));
    return { method: "POST", path: "/", headers: signed.headers, body: signed.body };
}

/** The text of <name> in xml (first occurrence), or null. */
const xmlText = (xml, name) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1] ?? null;

// ---------------------------------------------------------------------------------------------
// Shape checks

/** Problems with issued credentials {accessKeyId, secretAccessKey, token, expiration (ISO)}. */
function credentialProblems(c, { lifetimeS = 900, isoPattern = ISO_SECONDS } = {}) {
    const problems = [];
    if (!/^ASIASDS[A-Z0-9]{13}$/.test(c.accessKeyId ?? "")) problems.push(`AccessKeyId ${c.accessKeyId}`);
    if (!/^[A-Za-z0-9]{40}$/.test(c.secretAccessKey ?? "")) problems.push(`SecretAccessKey ${c.secretAccessKey}`);
    const verdict = checkIssued(ISSUER, c.accessKeyId, c.token);
    if (!verdict.ok || verdict.secretAccessKey !== c.secretAccessKey) problems.push(`check() ${show(verdict)}`);
    if (!isoPattern.test(c.expiration ?? "")) problems.push(`Expiration ${c.expiration}`);
    const left = Date.parse(c.expiration) - Date.now();
    if (!(left > lifetimeS * 1000 - 5000 && left <= lifetimeS * 1000)) problems.push(`Expiration ${c.expiration} is ${left} ms away`);
    return problems;
}

/** Problems with an STS XML error answer. */
function stsErrorProblems(r, status, code) {
    const problems = [];
    if (r.timeout) return ["no answer"];
    if (r.status !== status) problems.push(`status ${r.status}`);
    if (!/^text\/xml/.test(r.headers["content-type"] ?? "")) problems.push(`content-type ${r.headers["content-type"]}`);
    const shape = /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\s*<Error>\s*<Type>Sender<\/Type>\s*<Code>([^<]+)<\/Code>\s*<Message>[^<]+<\/Message>\s*<\/Error>\s*<RequestId>[0-9a-f-]{36}<\/RequestId>\s*<\/ErrorResponse>\s*$/
        .exec(r.text);
    if (!shape) problems.push("not the ErrorResponse shape");
    else if (shape[1] !== code) problems.push(`Code ${shape[1]}`);
    return problems;
}
const expectStsError = (name, r, status, code) => {
    const problems = stsErrorProblems(r, status, code);
    return check(name, problems.length === 0, `${problems.join(", ")}; ${describe(r)}`);
};

/** Problems with an STS success answer of `action`; on success, also returns the credentials. */
function stsSuccess(r, action) {
    const problems = [];
    if (r.timeout) return { problems: ["no answer"] };
    if (r.status !== 200) problems.push(`status ${r.status}`);
    if (!/^text\/xml/.test(r.headers["content-type"] ?? "")) problems.push(`content-type ${r.headers["content-type"]}`);
    const root = `${action}Response`;
    const result = `${action}Result`;
    const outer = new RegExp(`^<${root} xmlns="https://sts\\.amazonaws\\.com/doc/2011-06-15/">\\s*<${result}>[\\s\\S]*` +
                             `</${result}>\\s*<ResponseMetadata>\\s*<RequestId>[0-9a-f-]{36}</RequestId>\\s*` +
                             `</ResponseMetadata>\\s*</${root}>\\s*$`);
    if (!outer.test(r.text)) problems.push(`not the ${root} shape`);
    const credentialsBlock = /<Credentials>\s*<AccessKeyId>[^<]+<\/AccessKeyId>\s*<SecretAccessKey>[^<]+<\/SecretAccessKey>\s*<SessionToken>[^<]+<\/SessionToken>\s*<Expiration>[^<]+<\/Expiration>\s*<\/Credentials>/;
    if (!credentialsBlock.test(r.text)) problems.push("no Credentials block");
    if (!/<AssumedRoleUser>\s*<Arn>arn:aws:sts::\d{12}:assumed-role\/[^<]+<\/Arn>\s*<AssumedRoleId>[^<]+<\/AssumedRoleId>\s*<\/AssumedRoleUser>/.test(r.text))
        problems.push("no AssumedRoleUser block");
    const creds = { accessKeyId: xmlText(r.text, "AccessKeyId"), secretAccessKey: xmlText(r.text, "SecretAccessKey"),
                    token: xmlText(r.text, "SessionToken"), expiration: xmlText(r.text, "Expiration") };
    problems.push(...credentialProblems(creds));
    return { problems, creds };
}

// ---------------------------------------------------------------------------------------------
// Checks

function issuedCredentialsUnit() {
    const c = issue(ISSUER, 60_000);
    const verdict = checkIssued(ISSUER, c.accessKeyId, c.sessionToken);
    check("issue(): ASIASDS + 13, 40-character secret, Date expiration, token payload.mac",
          /^ASIASDS[A-Z0-9]{13}$/.test(c.accessKeyId) && /^[A-Za-z0-9]{40}$/.test(c.secretAccessKey) &&
          c.expiration instanceof Date && Math.abs(c.expiration - Date.now() - 60_000) < 1000 &&
          /^[A-Za-z0-9_-]+\.[0-9a-f]{64}$/.test(c.sessionToken) && isIssued(c.accessKeyId) && !isIssued("AKIDSDSTEST"),
          show(c));
    check("check(): genuine token ok, same secret", verdict.ok && verdict.secretAccessKey === c.secretAccessKey, show(verdict));
    const other = issue(ISSUER, 60_000);
    const [payload, mac] = c.sessionToken.split(".");
    const flipped = `${payload}.${mac.slice(0, -1)}${mac.endsWith("0") ? "1" : "0"}`;
    const later = Buffer.from(JSON.stringify({ akid: c.accessKeyId, exp: c.expiration.getTime() + 1 })).toString("base64url");
    const cases = {
        "missing token": checkIssued(ISSUER, c.accessKeyId, undefined),
        "flipped MAC": checkIssued(ISSUER, c.accessKeyId, flipped),
        "exp moved, MAC kept": checkIssued(ISSUER, c.accessKeyId, `${later}.${mac}`),
        "another key's token": checkIssued(ISSUER, c.accessKeyId, other.sessionToken),
        "another issuer secret": checkIssued("other-issuer", c.accessKeyId, c.sessionToken),
        "garbage": checkIssued(ISSUER, c.accessKeyId, "not a token"),
        "static key id": checkIssued(ISSUER, "AKIDSDSTEST", c.sessionToken),
    };
    const bad = Object.entries(cases).filter(([, v]) => v.ok || v.type !== "UnrecognizedClientException");
    check("check(): missing, forged, foreign and mismatched tokens are UnrecognizedClientException", bad.length === 0, show(bad));
    const expired = issue(ISSUER, -1);
    const e = checkIssued(ISSUER, expired.accessKeyId, expired.sessionToken);
    check("check(): expired token is ExpiredTokenException with AWS's message",
          !e.ok && e.type === "ExpiredTokenException" && e.message === "The security token included in the request is expired",
          show(e));
    const forgedExpired = checkIssued("other-issuer", expired.accessKeyId, expired.sessionToken);
    check("check(): a forged expired token is UnrecognizedClientException", forgedExpired.type === "UnrecognizedClientException",
          show(forgedExpired));
}

async function imds(server) {
    for (const [ttl, label] of [[null, "missing"], ["0", "0"], ["21601", "21601"], ["abc", "abc"]]) {
        const r = await imdsToken(server, ttl);
        check(`IMDS token PUT with TTL ${label}: 400`, r.status === 400, describe(r));
    }
    const getToken = await request(server.port, { path: "/latest/api/token" });
    check("IMDS token GET (not PUT): 405", getToken.status === 405, describe(getToken));
    const t = await imdsToken(server, "21600");
    check("IMDS token PUT: 200 text/plain token, TTL header echoed",
          t.status === 200 && /^text\/plain/.test(t.headers["content-type"]) && t.text.length >= 40 &&
          t.headers["x-aws-ec2-metadata-token-ttl-seconds"] === "21600", describe(t));
    const token = t.text;
    const t2 = await imdsToken(server, "1");
    check("IMDS tokens are random", t2.status === 200 && t2.text !== token, describe(t2));

    for (const [label, tok] of [["without a token", undefined], ["with a wrong token", "AQAE-wrong"]]) {
        const roles = await imdsGet(server, "iam/security-credentials/", tok);
        const creds = await imdsGet(server, "iam/security-credentials/sds-test-role", tok);
        const region = await imdsGet(server, "placement/region", tok);
        check(`IMDS v2 GETs ${label}: 401`, roles.status === 401 && creds.status === 401 && region.status === 401,
              `${describe(roles)} / ${describe(creds)} / ${describe(region)}`);
    }
    const roles = await imdsGet(server, "iam/security-credentials/", token);
    const rolesNoSlash = await imdsGet(server, "iam/security-credentials", token);
    check("IMDS role list: sds-test-role (with and without the trailing '/')",
          roles.status === 200 && roles.text === "sds-test-role" && rolesNoSlash.text === "sds-test-role", describe(roles));
    const creds = await imdsGet(server, "iam/security-credentials/sds-test-role", token);
    const j = creds.json ?? {};
    const problems = credentialProblems({ accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, token: j.Token,
                                          expiration: j.Expiration });
    check("IMDS credentials: Code Success, Type AWS-HMAC, LastUpdated, issued keys, Expiration now + 900 s",
          creds.status === 200 && /^application\/json/.test(creds.headers["content-type"]) && j.Code === "Success" &&
          j.Type === "AWS-HMAC" && ISO_SECONDS.test(j.LastUpdated) && Math.abs(Date.parse(j.LastUpdated) - Date.now()) < 5000 &&
          show(Object.keys(j)) === show(["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"]) &&
          problems.length === 0, `${problems.join(", ")}; ${describe(creds)}`);
    const again = await imdsGet(server, "iam/security-credentials/sds-test-role", token);
    check("IMDS credentials are fresh on each GET", again.json?.AccessKeyId && again.json.AccessKeyId !== j.AccessKeyId,
          describe(again));
    const otherRole = await imdsGet(server, "iam/security-credentials/another-role", token);
    check("IMDS credentials of another role: 404", otherRole.status === 404, describe(otherRole));
    const region = await imdsGet(server, "placement/region", token);
    check("IMDS region: us-east-1", region.status === 200 && region.text === "us-east-1", describe(region));
    const unknown = await imdsGet(server, "ami-id", token);
    check("IMDS unknown path: 404", unknown.status === 404, describe(unknown));
    await sleep(1100);
    const expired = await imdsGet(server, "placement/region", t2.text);
    check("IMDS token with TTL 1 is refused (401) after 1.1 s", expired.status === 401, describe(expired));

    // v1only: the PUT is refused, GETs need no token (and ignore one).
    const v1 = await control(server, "POST", "config", { imds: "v1only" });
    const put = await imdsToken(server, "60");
    const bare = await imdsGet(server, "iam/security-credentials/sds-test-role");
    const withJunk = await imdsGet(server, "iam/security-credentials/", "junk-token");
    check("IMDS v1only: token PUT 403, tokenless GETs work, any token is ignored",
          v1.json?.imds === "v1only" && put.status === 403 && bare.status === 200 && bare.json?.Code === "Success" &&
          withJunk.status === 200 && withJunk.text === "sds-test-role", `${describe(put)} / ${describe(bare)}`);
    await control(server, "POST", "config", { imds: "v2only" });
    const v2onlyBare = await imdsGet(server, "placement/region");
    const v2onlyToken = await imdsToken(server, "60");
    const v2onlyGet = await imdsGet(server, "placement/region", v2onlyToken.text);
    check("IMDS v2only: tokenless 401, with a token 200",
          v2onlyBare.status === 401 && v2onlyToken.status === 200 && v2onlyGet.text === "us-east-1", describe(v2onlyBare));
    await control(server, "POST", "config", { imds: "v2" });
}

async function ecs(server) {
    const path_ = "/ecs/credentials";
    const none = await request(server.port, { path: path_ });
    const wrong = await request(server.port, { path: path_, headers: { authorization: `${CONTAINER_TOKEN}x` } });
    check("ECS without / with a wrong Authorization: 401 with a JSON message",
          none.status === 401 && wrong.status === 401 && typeof none.json?.message === "string" &&
          typeof wrong.json?.message === "string", `${describe(none)} / ${describe(wrong)}`);
    const ok = await request(server.port, { path: path_, headers: { authorization: CONTAINER_TOKEN } });
    const j = ok.json ?? {};
    const problems = credentialProblems({ accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, token: j.Token,
                                          expiration: j.Expiration });
    check("ECS with the token: AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn",
          ok.status === 200 && j.RoleArn === ROLE_ARN && problems.length === 0 &&
          show(Object.keys(j).sort()) === show(["AccessKeyId", "Expiration", "RoleArn", "SecretAccessKey", "Token"]),
          `${problems.join(", ")}; ${describe(ok)}`);
    await control(server, "POST", "config", { container_token: null });
    const open = await request(server.port, { path: path_ });
    check("ECS with container_token cleared: no Authorization needed", open.status === 200 && isIssued(open.json?.AccessKeyId),
          describe(open));
    await control(server, "POST", "config", { container_token: CONTAINER_TOKEN });
}

async function stsWebIdentity(server) {
    const ok = await webIdentity(server);
    const { problems, creds } = stsSuccess(ok, "AssumeRoleWithWebIdentity");
    check("AssumeRoleWithWebIdentity: documented XML, issued credentials", problems.length === 0,
          `${problems.join(", ")}; ${describe(ok)}`);
    check("AssumeRoleWithWebIdentity: SubjectFromWebIdentityToken is the JWT's sub, Arn names role and session",
          xmlText(ok.text, "SubjectFromWebIdentityToken") === "sds-selftest-sub" &&
          xmlText(ok.text, "Arn") === "arn:aws:sts::123456789012:assumed-role/sds-selftest-role/sds-web-session" &&
          /^\S+:sds-web-session$/.test(xmlText(ok.text, "AssumedRoleId") ?? ""), describe(ok));
    const s = await stats(server);
    check("stats: last_session_name and last_role_arn", s.last_session_name === "sds-web-session" && s.last_role_arn === ROLE_ARN,
          show(s));
    expectStsError("AssumeRoleWithWebIdentity with a wrong token: 400 InvalidIdentityToken",
                   await webIdentity(server, { WebIdentityToken: "wrong" }), 400, "InvalidIdentityToken");
    expectStsError("AssumeRoleWithWebIdentity with another RoleArn: 403 AccessDenied",
                   await webIdentity(server, { RoleArn: "arn:aws:iam::123456789012:role/other" }), 403, "AccessDenied");
    expectStsError("AssumeRoleWithWebIdentity without RoleSessionName: 400 ValidationError",
                   await webIdentity(server, { RoleSessionName: undefined }), 400, "ValidationError");
    expectStsError("AssumeRoleWithWebIdentity with a bad RoleSessionName: 400 ValidationError",
                   await webIdentity(server, { RoleSessionName: "a b" }), 400, "ValidationError");
    expectStsError("AssumeRoleWithWebIdentity without WebIdentityToken: 400 ValidationError",
                   await webIdentity(server, { WebIdentityToken: undefined }), 400, "ValidationError");
    expectStsError("STS with another Version: 400 InvalidAction", await webIdentity(server, { Version: "2099-01-01" }),
                   400, "InvalidAction");
    expectStsError("STS with an unknown Action: 400 InvalidAction", await webIdentity(server, { Action: "GetCallerIdentity" }),
                   400, "InvalidAction");
    // The token changed through control.
    const cfg = await control(server, "POST", "config", { web_identity_token: "rotated-token" });
    const oldToken = await webIdentity(server);
    const newToken = await webIdentity(server, { WebIdentityToken: "rotated-token" });
    check("web_identity_token changed through control: old refused, new accepted",
          cfg.json?.web_identity_token === "rotated-token" && oldToken.status === 400 && newToken.status === 200 &&
          xmlText(newToken.text, "SubjectFromWebIdentityToken") === "sds-test-subject", `${describe(oldToken)} / ${describe(newToken)}`);
    await control(server, "POST", "config", { web_identity_token: WEB_TOKEN });
    return creds;
}

async function stsAssumeRole(server) {
    const send = (r) => request(server.port, r);
    const viaStatic = await send(await signedAssumeRole(server, STATIC, { applyChecksum: true }));
    const a = stsSuccess(viaStatic, "AssumeRole");
    check("AssumeRole signed with the static pair (x-amz-content-sha256 signed too): documented XML",
          a.problems.length === 0 && xmlText(viaStatic.text, "Arn")?.endsWith("/sds-selftest-role/sds-assume-session"),
          `${a.problems.join(", ")}; ${describe(viaStatic)}`);
    const issued = (await control(server, "POST", "issue")).json;
    const issuedCreds = { accessKeyId: issued.AccessKeyId, secretAccessKey: issued.SecretAccessKey, sessionToken: issued.SessionToken };
    const viaIssued = await send(await signedAssumeRole(server, issuedCreds, { region: "eu-west-1", sessionName: "chained" }));
    const b = stsSuccess(viaIssued, "AssumeRole");
    check("AssumeRole signed with issued credentials + token, scope region eu-west-1: accepted",
          b.problems.length === 0, `${b.problems.join(", ")}; ${describe(viaIssued)}`);
    const s = await stats(server);
    check("stats: sts_assume_role counted, last_session_name updated", s.sts_assume_role === 2 && s.last_session_name === "chained",
          show(s));

    const altered = await signedAssumeRole(server, STATIC);
    altered.body = altered.body.replace("sds-assume-session", "sds-assume-sessioN");
    expectStsError("AssumeRole with the body altered after signing: 403 SignatureDoesNotMatch", await send(altered),
                   403, "SignatureDoesNotMatch");
    expectStsError("AssumeRole signed with a wrong secret: 403 SignatureDoesNotMatch",
                   await send(await signedAssumeRole(server, { ...STATIC, secretAccessKey: "wrong" })), 403, "SignatureDoesNotMatch");
    expectStsError("AssumeRole signed for service dynamodb: 403 SignatureDoesNotMatch",
                   await send(await signedAssumeRole(server, STATIC, { service: "dynamodb" })), 403, "SignatureDoesNotMatch");
    const unsigned = await signedAssumeRole(server, STATIC);
    delete unsigned.headers.authorization;
    expectStsError("AssumeRole unsigned: 403 MissingAuthenticationToken", await send(unsigned), 403, "MissingAuthenticationToken");
    expectStsError("AssumeRole with an unknown key: 403 InvalidClientTokenId",
                   await send(await signedAssumeRole(server, { accessKeyId: "AKIDUNKNOWN", secretAccessKey: "x" })),
                   403, "InvalidClientTokenId");
    const { sessionToken: _, ...withoutToken } = issuedCreds;
    expectStsError("AssumeRole with issued credentials but no token: 403 InvalidClientTokenId",
                   await send(await signedAssumeRole(server, withoutToken)), 403, "InvalidClientTokenId");
    const forged = issue("another-issuer", 60_000);
    expectStsError("AssumeRole with credentials of another issuer: 403 InvalidClientTokenId",
                   await send(await signedAssumeRole(server, forged)), 403, "InvalidClientTokenId");
    const short = (await control(server, "POST", "issue", { lifetime_s: 0.001 })).json;
    await sleep(5);
    expectStsError("AssumeRole with expired issued credentials: 400 ExpiredToken",
                   await send(await signedAssumeRole(server, { accessKeyId: short.AccessKeyId, secretAccessKey: short.SecretAccessKey,
                                                               sessionToken: short.SessionToken })), 400, "ExpiredToken");
    expectStsError("AssumeRole for another RoleArn: 403 AccessDenied",
                   await send(await signedAssumeRole(server, STATIC, { roleArn: "arn:aws:iam::123456789012:role/other" })),
                   403, "AccessDenied");
}

// ---------------------------------------------------------------------------------------------
// Entra ID

/** A v2.0 client-credentials request; `params` override the defaults (undefined drops one). */
function entraToken(server, params = {}, { tenant = TENANT, method = "POST", contentType = FORM_TYPE["content-type"],
                                           timeoutMs } = {}) {
    const all = { grant_type: "client_credentials", client_id: ENTRA_CLIENT_ID, client_secret: ENTRA_SECRET,
                  scope: `${STORAGE}/.default`, ...params };
    for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
    return request(server.port, { method, path: `/${encodeURIComponent(tenant)}/oauth2/v2.0/token`, timeoutMs,
                                  headers: { "content-type": contentType },
                                  body: method === "GET" ? "" : contentType.includes("json") ? JSON.stringify(all) : form(all) });
}
const assertionParams = (assertion = FEDERATED_TOKEN) =>
    ({ client_secret: undefined, client_assertion_type: JWT_BEARER, client_assertion: assertion });

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();
function azureImds(server, params = {}, headers = { Metadata: "true" }, { method = "GET", timeoutMs } = {}) {
    const q = query({ "api-version": "2018-02-01", resource: `${STORAGE}/`, ...params });
    return request(server.port, { method, path: `/metadata/identity/oauth2/token?${q}`, headers, timeoutMs });
}
function appService(server, params = {}, headers = { "X-IDENTITY-HEADER": IDENTITY_HEADER }, { method = "GET", timeoutMs } = {}) {
    const q = query({ "api-version": "2019-08-01", resource: `${STORAGE}/`, ...params });
    return request(server.port, { method, path: `/msi/token?${q}`, headers, timeoutMs });
}

/** {header, payload, signature} of a JWT, or null. */
function decodeJwt(token) {
    try {
        const [h, p, sig, extra] = token.split(".");
        if (extra !== undefined || !sig) return null;
        return { header: JSON.parse(Buffer.from(h, "base64url")), payload: JSON.parse(Buffer.from(p, "base64url")), signature: sig };
    } catch {
        return null;
    }
}

/** Problems with an Entra token for Azurite's basic check: shape, claims and times. */
function jwtProblems(token, { aud = STORAGE, tid = TENANT, appid = ENTRA_CLIENT_ID, oid, lifetime = 3600 } = {}) {
    const jwt = decodeJwt(token ?? "");
    if (!jwt) return [`not a JWT: ${show(token)}`];
    const { header, payload: c, signature } = jwt;
    const problems = [];
    if (show(header) !== show({ alg: "RS256", typ: "JWT", kid: "sds-test" })) problems.push(`header ${show(header)}`);
    if (show(Object.keys(c)) !== show(["aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "appid"])) problems.push(`claims ${show(Object.keys(c))}`);
    if (c.aud !== aud) problems.push(`aud ${c.aud}`);
    if (!c.iss?.startsWith("https://sts.windows.net/") || c.iss !== `https://sts.windows.net/${c.tid}/`) problems.push(`iss ${c.iss}`);
    if (tid !== null && c.tid !== tid) problems.push(`tid ${c.tid}`);
    if (!GUID.test(c.tid ?? "")) problems.push(`tid ${c.tid} not a GUID`);
    if (c.appid !== appid) problems.push(`appid ${c.appid}`);
    if (!GUID.test(c.oid ?? "") && oid === undefined) problems.push(`oid ${c.oid}`);
    if (oid !== undefined && c.oid !== oid) problems.push(`oid ${c.oid}`);
    if (c.sub !== c.oid) problems.push(`sub ${c.sub}`);
    const now = Date.now() / 1000;
    if (!Number.isInteger(c.iat) || Math.abs(c.iat - now) > 5) problems.push(`iat ${c.iat} vs now ${now}`);
    if (c.nbf !== c.iat - 5) problems.push(`nbf ${c.nbf}`);
    if (c.exp !== c.iat + lifetime) problems.push(`exp ${c.exp} (iat ${c.iat}, lifetime ${lifetime})`);
    if (!/^[A-Za-z0-9_-]{300,}$/.test(signature)) problems.push(`signature ${signature.slice(0, 20)}`);
    return problems;
}

/** Problems with a v2.0 token answer (and its JWT). */
function entraSuccessProblems(r, jwtOptions = {}) {
    if (r.timeout) return ["no answer"];
    const j = r.json ?? {};
    const lifetime = jwtOptions.lifetime ?? 3600;
    const problems = [];
    if (r.status !== 200) problems.push(`status ${r.status}`);
    if (!/^application\/json/.test(r.headers["content-type"] ?? "")) problems.push(`content-type ${r.headers["content-type"]}`);
    if (show(Object.keys(j)) !== show(["token_type", "expires_in", "ext_expires_in", "access_token"])) problems.push(`keys ${show(Object.keys(j))}`);
    if (j.token_type !== "Bearer" || j.expires_in !== lifetime || j.ext_expires_in !== lifetime)
        problems.push(`token_type/expires_in ${j.token_type} ${j.expires_in} ${j.ext_expires_in}`);
    if (!/no-store/.test(r.headers["cache-control"] ?? "")) problems.push(`cache-control ${r.headers["cache-control"]}`);
    problems.push(...jwtProblems(j.access_token, jwtOptions));
    return problems;
}

/** Problems with an Entra JSON error answer. */
function entraErrorProblems(r, status, error, code) {
    if (r.timeout) return ["no answer"];
    const j = r.json ?? {};
    const problems = [];
    if (r.status !== status) problems.push(`status ${r.status}`);
    if (!/^application\/json/.test(r.headers["content-type"] ?? "")) problems.push(`content-type ${r.headers["content-type"]}`);
    if (j.error !== error) problems.push(`error ${j.error}`);
    if (show(j.error_codes) !== show([code])) problems.push(`error_codes ${show(j.error_codes)}`);
    const described = new RegExp(`^AADSTS${code}: [^\\r\\n]+\\r\\nTrace ID: ${j.trace_id}\\r\\nCorrelation ID: ${j.correlation_id}` +
                                 `\\r\\nTimestamp: ${j.timestamp}$`);
    if (!described.test(j.error_description ?? "")) problems.push(`error_description ${show(j.error_description)}`);
    if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/.test(j.timestamp ?? "")) problems.push(`timestamp ${j.timestamp}`);
    if (!GUID.test(j.trace_id ?? "") || !GUID.test(j.correlation_id ?? "")) problems.push("trace_id/correlation_id");
    if (j.error_uri !== `https://login.microsoftonline.com/error?code=${code}`) problems.push(`error_uri ${j.error_uri}`);
    return problems;
}
const expectEntraError = (name, r, status, error, code) => {
    const problems = entraErrorProblems(r, status, error, code);
    return check(name, problems.length === 0, `${problems.join(", ")}; ${describe(r)}`);
};

async function entraClientCredentials(server) {
    const before = await stats(server);
    const ok = await entraToken(server);
    const p = entraSuccessProblems(ok);
    check("Entra v2.0 client secret: 200 {token_type, expires_in, ext_expires_in, access_token}, no-store", p.length === 0,
          `${p.join(", ")}; ${describe(ok)}`);
    const again = await entraToken(server);
    const a = decodeJwt(ok.json?.access_token ?? "");
    const b = decodeJwt(again.json?.access_token ?? "");
    check("Entra tokens are fresh each time; oid/sub stable for a client id",
          again.json?.access_token !== ok.json?.access_token && a?.payload.oid === b?.payload.oid, describe(again));
    const domain = await entraToken(server, {}, { tenant: "contoso.onmicrosoft.com" });
    const domain2 = await entraToken(server, {}, { tenant: "CONTOSO.onmicrosoft.com" });
    const dTid = decodeJwt(domain.json?.access_token ?? "")?.payload.tid;
    const dp = entraSuccessProblems(domain, { tid: null });
    check("Entra v2.0 with a domain tenant: tid (and iss) a stable GUID made from the name",
          dp.length === 0 && dTid !== TENANT && decodeJwt(domain2.json?.access_token ?? "")?.payload.tid === dTid,
          `${dp.join(", ")}; ${describe(domain)}`);

    expectEntraError("Entra v2.0 wrong client_secret: 401 invalid_client AADSTS7000215",
                     await entraToken(server, { client_secret: "wrong" }), 401, "invalid_client", 7000215);
    const wrongSecret = await entraToken(server, { client_secret: "wrong" });
    check("Entra AADSTS7000215 message is Entra's", /^AADSTS7000215: Invalid client secret provided\. /.test(wrongSecret.json?.error_description ?? ""),
          describe(wrongSecret));
    expectEntraError("Entra v2.0 without a secret or assertion: 401 invalid_client AADSTS7000218",
                     await entraToken(server, { client_secret: undefined }), 401, "invalid_client", 7000218);
    expectEntraError("Entra v2.0 with an empty client_secret: 401 invalid_client AADSTS7000218",
                     await entraToken(server, { client_secret: "" }), 401, "invalid_client", 7000218);
    expectEntraError("Entra v2.0 other client_id: 400 unauthorized_client AADSTS700016",
                     await entraToken(server, { client_id: "99999999-2222-4333-8444-555555555555" }), 400, "unauthorized_client", 700016);
    expectEntraError("Entra v2.0 without client_id: 400 invalid_request AADSTS900144",
                     await entraToken(server, { client_id: undefined }), 400, "invalid_request", 900144);
    expectEntraError("Entra v2.0 another scope: 400 invalid_scope AADSTS70011",
                     await entraToken(server, { scope: "https://vault.azure.net/.default" }), 400, "invalid_scope", 70011);
    expectEntraError("Entra v2.0 resource-style scope without /.default: 400 invalid_scope AADSTS70011",
                     await entraToken(server, { scope: STORAGE }), 400, "invalid_scope", 70011);
    expectEntraError("Entra v2.0 without scope: 400 invalid_request AADSTS900144",
                     await entraToken(server, { scope: undefined }), 400, "invalid_request", 900144);
    expectEntraError("Entra v2.0 grant_type password: 400 unsupported_grant_type AADSTS70003",
                     await entraToken(server, { grant_type: "password" }), 400, "unsupported_grant_type", 70003);
    expectEntraError("Entra v2.0 without grant_type: 400 invalid_request AADSTS900144",
                     await entraToken(server, { grant_type: undefined }), 400, "invalid_request", 900144);
    expectEntraError("Entra v2.0 with a JSON body (not form-encoded): 400 invalid_request AADSTS900144",
                     await entraToken(server, {}, { contentType: "application/json" }), 400, "invalid_request", 900144);
    for (const tenant of ["not a tenant!", "common", "under_score.example"])
        expectEntraError(`Entra v2.0 tenant '${tenant}': 400 invalid_request AADSTS900023`,
                         await entraToken(server, {}, { tenant }), 400, "invalid_request", 900023);
    expectEntraError("Entra v2.0 GET: 400 invalid_request AADSTS900561",
                     await entraToken(server, {}, { method: "GET" }), 400, "invalid_request", 900561);
    expectEntraError("Entra v2.0 with both a secret and an assertion: 400 invalid_request AADSTS9002313",
                     await entraToken(server, { ...assertionParams(), client_secret: ENTRA_SECRET }), 400, "invalid_request", 9002313);

    // Federated assertion (workload identity).
    const fed = await entraToken(server, assertionParams());
    const fp = entraSuccessProblems(fed);
    check("Entra v2.0 client assertion (the federated token as is): 200, same token shape", fp.length === 0,
          `${fp.join(", ")}; ${describe(fed)}`);
    const wrongFed = await entraToken(server, assertionParams(`${FEDERATED_TOKEN}x`));
    expectEntraError("Entra v2.0 wrong assertion: 400 invalid_client AADSTS700211", wrongFed, 400, "invalid_client", 700211);
    check("Entra AADSTS700211 names the assertion's issuer",
          /^AADSTS700211: No matching federated identity record found for presented assertion issuer 'https:\/\/oidc\.sds\.test'/
              .test(wrongFed.json?.error_description ?? ""), describe(wrongFed));
    expectEntraError("Entra v2.0 assertion with another client_assertion_type: 401 invalid_client AADSTS7000218",
                     await entraToken(server, { ...assertionParams(), client_assertion_type: "urn:ietf:params:oauth:grant-type:jwt-bearer" }),
                     401, "invalid_client", 7000218);
    expectEntraError("Entra v2.0 client_assertion_type without client_assertion: 401 invalid_client AADSTS7000218",
                     await entraToken(server, { ...assertionParams(), client_assertion: undefined }), 401, "invalid_client", 7000218);

    // Settings through control.
    const set = await control(server, "POST", "config", { entra_client_secret: "rotated-secret", entra_federated_token: "rotated.fed.token" });
    const oldSecret = await entraToken(server);
    const newSecret = await entraToken(server, { client_secret: "rotated-secret" });
    const oldFed = await entraToken(server, assertionParams());
    const newFed = await entraToken(server, assertionParams("rotated.fed.token"));
    check("entra_client_secret / entra_federated_token through control: old refused, new accepted",
          set.json?.entra_client_secret === "(set)" && set.json?.entra_federated_token === "rotated.fed.token" &&
          oldSecret.status === 401 && newSecret.status === 200 && oldFed.status === 400 && newFed.status === 200,
          `${describe(set)} / ${describe(oldSecret)} / ${describe(newSecret)} / ${describe(oldFed)} / ${describe(newFed)}`);
    await control(server, "POST", "config", { entra_client_secret: null, entra_federated_token: null, entra_client_id: null });
    const anyClient = "abcdefab-0000-4000-8000-000000000001";
    const anySecret = await entraToken(server, { client_id: anyClient, client_secret: "whatever" });
    const anyFed = await entraToken(server, { client_id: anyClient, ...assertionParams("any-token") });
    check("entra_client_secret / entra_federated_token / entra_client_id null: any client, non-empty secret or assertion",
          entraSuccessProblems(anySecret, { appid: anyClient }).length === 0 && anyFed.status === 200 &&
          decodeJwt(anyFed.json?.access_token ?? "")?.payload.appid === anyClient,
          `${describe(anySecret)} / ${describe(anyFed)}`);
    await control(server, "POST", "config", { entra_client_secret: ENTRA_SECRET, entra_federated_token: FEDERATED_TOKEN,
                                              entra_client_id: ENTRA_CLIENT_ID });
    const after = await stats(server);
    check("stats: entra_client_secret and entra_client_assertion count every v2.0 request, answered or not",
          after.entra_client_secret - before.entra_client_secret === 23 &&
          after.entra_client_assertion - before.entra_client_assertion === 8, show(after));
}

async function entraManagedIdentity(server) {
    const before = await stats(server);
    // Azure IMDS.
    const imdsProblems = (r, resource, jwtOptions) => {
        if (r.timeout) return ["no answer"];
        const j = r.json ?? {};
        const problems = [];
        if (r.status !== 200) problems.push(`status ${r.status}`);
        if (show(Object.keys(j)) !== show(["access_token", "refresh_token", "expires_in", "expires_on", "not_before", "resource", "token_type"]))
            problems.push(`keys ${show(Object.keys(j))}`);
        if (!Object.values(j).every((v) => typeof v === "string")) problems.push("values not all strings");
        const c = decodeJwt(j.access_token ?? "")?.payload ?? {};
        if (j.refresh_token !== "" || j.token_type !== "Bearer" || j.resource !== resource) problems.push("refresh_token/token_type/resource");
        if (j.expires_in !== String(jwtOptions.lifetime ?? 3600) || j.expires_on !== String(c.exp) || j.not_before !== String(c.nbf))
            problems.push(`expires_in/expires_on/not_before ${j.expires_in} ${j.expires_on} ${j.not_before} vs exp ${c.exp}`);
        problems.push(...jwtProblems(j.access_token, jwtOptions));
        return problems;
    };
    const sys = { tid: null, appid: decodeJwt((await azureImds(server)).json?.access_token ?? "")?.payload.appid };
    const withSlash = await azureImds(server);
    const p1 = imdsProblems(withSlash, `${STORAGE}/`, sys);
    check("Azure IMDS: 200, string values, resource echoed, expires_on = exp, not_before = nbf, token shape",
          p1.length === 0 && GUID.test(sys.appid ?? ""), `${p1.join(", ")}; ${describe(withSlash)}`);
    const noSlash = await azureImds(server, { resource: STORAGE });
    const p2 = imdsProblems(noSlash, STORAGE, sys);
    check("Azure IMDS: resource without the trailing '/'", p2.length === 0, `${p2.join(", ")}; ${describe(noSlash)}`);
    const uaClient = "22222222-3333-4444-8555-666666666666";
    const byClient = await azureImds(server, { client_id: uaClient });
    const byObject = await azureImds(server, { object_id: "33333333-4444-4555-8666-777777777777" });
    const byResId = await azureImds(server, { msi_res_id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z" });
    const claims = (r) => decodeJwt(r.json?.access_token ?? "")?.payload ?? {};
    check("Azure IMDS user-assigned: client_id becomes appid, object_id oid/sub, msi_res_id another appid",
          claims(byClient).appid === uaClient && claims(byObject).oid === "33333333-4444-4555-8666-777777777777" &&
          claims(byObject).sub === claims(byObject).oid && GUID.test(claims(byResId).appid ?? "") &&
          claims(byResId).appid !== sys.appid, `${show(claims(byClient))} / ${show(claims(byObject))} / ${show(claims(byResId))}`);
    const noHeader = await azureImds(server, {}, {});
    const falseHeader = await azureImds(server, {}, { Metadata: "false" });
    check("Azure IMDS without Metadata: true: 400 {error: invalid_request, error_description: Required metadata header not specified}",
          noHeader.status === 400 && show(noHeader.json) === show({ error: "invalid_request", error_description: "Required metadata header not specified" }) &&
          falseHeader.status === 400, `${describe(noHeader)} / ${describe(falseHeader)}`);
    const noResource = await azureImds(server, { resource: undefined });
    check("Azure IMDS without resource: 400 invalid_request, Required audience parameter not specified",
          noResource.status === 400 && noResource.json?.error === "invalid_request" &&
          noResource.json?.error_description === "Required audience parameter not specified", describe(noResource));
    const otherResource = await azureImds(server, { resource: "https://vault.azure.net" });
    check("Azure IMDS another resource: 400 invalid_resource AADSTS500011",
          otherResource.status === 400 && otherResource.json?.error === "invalid_resource" &&
          /^AADSTS500011: /.test(otherResource.json?.error_description ?? ""), describe(otherResource));
    const noVersion = await azureImds(server, { "api-version": undefined });
    const oldVersion = await azureImds(server, { "api-version": "2017-09-01" });
    check("Azure IMDS without / with a too old api-version: 400 invalid_request",
          noVersion.status === 400 && noVersion.json?.error === "invalid_request" && oldVersion.status === 400, `${describe(noVersion)} / ${describe(oldVersion)}`);
    const post = await azureImds(server, {}, { Metadata: "true" }, { method: "POST" });
    check("Azure IMDS POST: 405", post.status === 405, describe(post));

    // App Service.
    const svc = await appService(server);
    const j = svc.json ?? {};
    const sp = jwtProblems(j.access_token, { tid: null, appid: j.client_id });
    check("App Service: 200 {access_token, expires_on (string epoch = exp), resource, token_type, client_id}, token shape",
          svc.status === 200 && show(Object.keys(j)) === show(["access_token", "expires_on", "resource", "token_type", "client_id"]) &&
          j.expires_on === String(claims(svc).exp) && j.resource === `${STORAGE}/` && j.token_type === "Bearer" &&
          j.client_id === sys.appid && sp.length === 0, `${sp.join(", ")}; ${describe(svc)}`);
    const svcUser = await appService(server, { client_id: uaClient, resource: STORAGE });
    check("App Service client_id (user-assigned) and resource without '/'",
          svcUser.status === 200 && svcUser.json?.client_id === uaClient && claims(svcUser).appid === uaClient &&
          svcUser.json?.resource === STORAGE, describe(svcUser));
    const svcNone = await appService(server, {}, {});
    const svcWrong = await appService(server, {}, { "X-IDENTITY-HEADER": "wrong" });
    check("App Service without / with a wrong X-IDENTITY-HEADER: 401 {statusCode, message, correlationId}",
          svcNone.status === 401 && svcWrong.status === 401 && svcNone.json?.statusCode === 401 &&
          typeof svcWrong.json?.message === "string" && GUID.test(svcWrong.json?.correlationId ?? ""),
          `${describe(svcNone)} / ${describe(svcWrong)}`);
    const svcVersion = await appService(server, { "api-version": "2017-09-01" });
    const svcNoResource = await appService(server, { resource: undefined });
    const svcOther = await appService(server, { resource: "https://vault.azure.net" });
    check("App Service other api-version, no resource, another resource: 400",
          svcVersion.status === 400 && svcNoResource.status === 400 && svcOther.status === 400 &&
          svcOther.json?.statusCode === 400, `${describe(svcVersion)} / ${describe(svcNoResource)} / ${describe(svcOther)}`);
    const hdr = await control(server, "POST", "config", { identity_header: null });
    const anyHeader = await appService(server, {}, { "X-IDENTITY-HEADER": "anything" });
    const stillNone = await appService(server, {}, {});
    check("identity_header null: any non-empty X-IDENTITY-HEADER, none still 401",
          hdr.json?.identity_header === null && anyHeader.status === 200 && stillNone.status === 401,
          `${describe(anyHeader)} / ${describe(stillNone)}`);
    await control(server, "POST", "config", { identity_header: IDENTITY_HEADER });
    const after = await stats(server);
    check("stats: entra_imds and entra_app_service count every request, answered or not",
          after.entra_imds - before.entra_imds === 13 && after.entra_app_service - before.entra_app_service === 9, show(after));
}

async function entraSettings(server) {
    const cfg = (await control(server, "GET", "config")).json;
    check("GET config: entra settings, the client secret only as (set)",
          cfg.entra_client_id === ENTRA_CLIENT_ID && cfg.entra_client_secret === "(set)" && cfg.entra_federated_token === FEDERATED_TOKEN &&
          cfg.entra_audience === STORAGE && cfg.entra_lifetime_s === 3600 && cfg.identity_header === IDENTITY_HEADER &&
          !JSON.stringify(cfg).includes(ENTRA_SECRET), show(cfg));
    const bad = [{ entra_lifetime_s: 1.5 }, { entra_lifetime_s: "abc" }, { entra_lifetime_s: true }, { entra_audience: "" },
                 { entra_audience: null }, { entra_client_id: 5 }, { entra_client_secret: "" }, { identity_header: 7 },
                 { faults: ["hang:entra-imds"] }];
    const answers = await Promise.all(bad.map((b) => control(server, "POST", "config", b)));
    const unchanged = (await control(server, "GET", "config")).json;
    check("POST config refuses invalid entra settings (400) and changes nothing",
          answers.every((r) => r.status === 400 && typeof r.json?.message === "string") && show(unchanged) === show(cfg),
          show(answers.map((r) => r.status)));

    const zero = await control(server, "POST", "config", { entra_lifetime_s: 0 });
    const born = await entraToken(server);
    const bornImds = await azureImds(server);
    check("entra_lifetime_s 0: exp = iat, expires_in 0 (already expired for Azurite)",
          zero.json?.entra_lifetime_s === 0 && entraSuccessProblems(born, { lifetime: 0 }).length === 0 &&
          bornImds.json?.expires_in === "0", `${entraSuccessProblems(born, { lifetime: 0 }).join(", ")}; ${describe(born)}`);
    await control(server, "POST", "config", { entra_lifetime_s: -60 });
    const past = await entraToken(server);
    const pastSvc = await appService(server);
    const pc = decodeJwt(pastSvc.json?.access_token ?? "")?.payload ?? {};
    check("entra_lifetime_s -60: exp a minute in the past (v2.0 and App Service)",
          entraSuccessProblems(past, { lifetime: -60 }).length === 0 && pc.exp === pc.iat - 60 && Number(pastSvc.json?.expires_on) === pc.exp,
          `${entraSuccessProblems(past, { lifetime: -60 }).join(", ")}; ${describe(pastSvc)}`);
    await control(server, "POST", "config", { entra_lifetime_s: 3600, entra_audience: "https://vault.azure.net" });
    const wrongAud = await entraToken(server);
    const wrongAudImds = await azureImds(server);
    check("entra_audience through control: the token's aud (the scope asked for stays storage's)",
          entraSuccessProblems(wrongAud, { aud: "https://vault.azure.net" }).length === 0 &&
          decodeJwt(wrongAudImds.json?.access_token ?? "")?.payload.aud === "https://vault.azure.net", describe(wrongAud));
    await control(server, "POST", "config", { entra_audience: STORAGE });
}

async function entraFaults(server) {
    const HANG_MS = 500;
    const before = await stats(server);
    await control(server, "POST", "config", { faults: ["hang:entra"] });
    const hangs = {
        "v2.0 secret": await entraToken(server, {}, { timeoutMs: HANG_MS }),
        "v2.0 assertion": await entraToken(server, assertionParams(), { timeoutMs: HANG_MS }),
        "Azure IMDS": await azureImds(server, {}, { Metadata: "true" }, { timeoutMs: HANG_MS }),
        "App Service": await appService(server, {}, { "X-IDENTITY-HEADER": IDENTITY_HEADER }, { timeoutMs: HANG_MS }),
    };
    const awsImds = await imdsToken(server, "60");
    const answered = Object.entries(hangs).filter(([, r]) => !r.timeout).map(([k, r]) => `${k}: ${describe(r)}`);
    check("hang:entra: no answer within 500 ms on the v2.0, Azure IMDS and App Service routes; AWS IMDS still answers",
          answered.length === 0 && awsImds.status === 200, `${answered.join("; ")} ${describe(awsImds)}`);

    await control(server, "POST", "config", { faults: "500:entra" });
    const fives = { v2: await entraToken(server), imds: await azureImds(server), svc: await appService(server) };
    check("500:entra: HTTP 500 JSON, {error: server_error} (v2.0, Azure IMDS), {statusCode: 500} (App Service)",
          fives.v2.status === 500 && fives.v2.json?.error === "server_error" && fives.imds.status === 500 &&
          fives.imds.json?.error === "server_error" && fives.svc.status === 500 && fives.svc.json?.statusCode === 500,
          Object.values(fives).map(describe).join(" / "));
    await control(server, "POST", "config", { faults: "malformed:entra" });
    const bad = [await entraToken(server, { client_secret: "even-a-wrong-one" }), await azureImds(server, {}, {}), await appService(server, {}, {})];
    check("malformed:entra: 200 with '{\"access_token\": ' on every route, before any check",
          bad.every((r) => r.status === 200 && r.text === '{"access_token": '), bad.map(describe).join(" / "));
    await control(server, "POST", "config", { faults: "500:all" });
    const all = await azureImds(server);
    check("500:all covers Entra too", all.status === 500, describe(all));
    await control(server, "POST", "config", { faults: [] });
    const back = await entraToken(server);
    const after = await stats(server);
    check("Entra faults off again; faulted requests counted per route",
          back.status === 200 && after.faulted - before.faulted === 11 && after.entra_client_secret - before.entra_client_secret === 4 &&
          after.entra_client_assertion - before.entra_client_assertion === 1 && after.entra_imds - before.entra_imds === 4 &&
          after.entra_app_service - before.entra_app_service === 3, show(after));
}

/** The text of an XML element with its entities resolved. */
const xmlUnescape = (t) => (t ?? "").replace(/&(lt|gt|quot|apos|amp);/g,
                                                (_, e) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e]);

/** echo: every route answers 400 quoting the whole request, in its own error format. */
async function echoFaults(server) {
    const token = (await imdsToken(server, "600")).text;
    const before = await stats(server);
    // What every echo must hold: the request line with its query, the body before the headers, all on one line.
    const echoProblems = (text, requestLine, body, headers) => {
        const problems = [];
        if (typeof text !== "string") return [`no echo: ${show(text)}`];
        if (!text.startsWith(`The request was: ${requestLine} HTTP/1.1; body: ${body}; headers: `)) problems.push("request line or body");
        for (const h of headers) if (!text.includes(h)) problems.push(`no '${h}'`);
        if (/[\r\n]/.test(text)) problems.push("a line break");
        return problems;
    };
    const expectEcho = (name, r, status, text, ...rest) => {
        const problems = r.timeout ? ["no answer"] : r.status !== status ? [`status ${r.status}`] : echoProblems(text, ...rest);
        return check(name, problems.length === 0, `${problems.join(", ")}; ${describe(r)}`);
    };

    await control(server, "POST", "config", { faults: ["echo:imds"] });
    const put = await imdsToken(server, "60");
    expectEcho("echo:imds: the token PUT answers 400 text 'Bad Request: <the request>'", put, 400,
               /^text\/plain/.test(put.headers?.["content-type"]) && put.text.endsWith("\n") ? put.text.replace(/^Bad Request: /, "").slice(0, -1) : null,
               "PUT /latest/api/token", "", ["X-aws-ec2-metadata-token-ttl-seconds: 60", `Host: 127.0.0.1:${server.port}`]);
    await control(server, "POST", "config", { faults: ["echo:imds-creds"] });
    const roles = await imdsGet(server, "iam/security-credentials/", token);
    const creds = await imdsGet(server, "iam/security-credentials/sds-test-role?x=1", token);
    expectEcho("echo:imds-creds: the role list answers, the credentials GET echoes its session token header", creds, 400,
               roles.status === 200 ? creds.text?.replace(/^Bad Request: /, "").trimEnd() : null,
               "GET /latest/meta-data/iam/security-credentials/sds-test-role?x=1", "", [`X-aws-ec2-metadata-token: ${token}`]);

    await control(server, "POST", "config", { faults: ["echo:ecs"] });
    const ecsR = await request(server.port, { path: "/ecs/credentials?a=b%20c", headers: { authorization: CONTAINER_TOKEN },
                                              body: "line one\r\nline two" });
    expectEcho("echo:ecs: 400 {code: InvalidRequest, message: <the request>}, the body's line breaks written \\r\\n", ecsR, 400,
               ecsR.json?.code === "InvalidRequest" ? ecsR.json.message : null, "GET /ecs/credentials?a=b%20c",
               "line one\\r\\nline two", [`authorization: ${CONTAINER_TOKEN}`]);

    await control(server, "POST", "config", { faults: ["echo:sts"] });
    const web = await webIdentity(server, { WebIdentityToken: "web+token/with=signs" });
    const webBody = form({ Action: "AssumeRoleWithWebIdentity", Version: "2011-06-15", RoleArn: ROLE_ARN,
                           RoleSessionName: "sds-web-session", WebIdentityToken: "web+token/with=signs" });
    if (expectStsError("echo:sts: AssumeRoleWithWebIdentity answers 400 InvalidParameterValue XML", web, 400, "InvalidParameterValue"))
        expectEcho("echo:sts: its Message quotes the request, the token as sent in the body", web, 400,
                   xmlUnescape(xmlText(web.text, "Message")), "POST /", webBody, ["content-type: application/x-www-form-urlencoded"]);
    const issued = issue(ISSUER, 60_000);
    const signed = await signedAssumeRole(server, { accessKeyId: issued.accessKeyId, secretAccessKey: issued.secretAccessKey,
                                                    sessionToken: issued.sessionToken });
    const assume = await request(server.port, signed);
    expectEcho("echo:sts: a signed AssumeRole's Message quotes its Authorization and X-Amz-Security-Token", assume, 400,
               xmlUnescape(xmlText(assume.text, "Message")), "POST /", signed.body,
               [`authorization: ${signed.headers.authorization}`, `x-amz-security-token: ${issued.sessionToken}`]);

    await control(server, "POST", "config", { faults: ["echo:entra"] });
    const secret = await entraToken(server, { client_secret: "a secret/with+signs" });
    const firstLine = (r) => r.json?.error_description?.split("\r\n")[0]
        .replace(/^AADSTS9002313: Invalid request\. Request is malformed or invalid\. /, "");
    if (expectEntraError("echo:entra: the v2.0 endpoint answers 400 invalid_request AADSTS9002313", secret, 400, "invalid_request", 9002313))
        expectEcho("echo:entra: the first line of its error_description quotes the request, the secret as sent", secret, 400,
                   firstLine(secret), `POST /${TENANT}/oauth2/v2.0/token`,
                   form({ grant_type: "client_credentials", client_id: ENTRA_CLIENT_ID, client_secret: "a secret/with+signs",
                          scope: `${STORAGE}/.default` }), []);
    const assertion = await entraToken(server, assertionParams());
    expectEcho("echo:entra: a federated assertion is quoted too", assertion, 400, firstLine(assertion),
               `POST /${TENANT}/oauth2/v2.0/token`, form({ grant_type: "client_credentials", client_id: ENTRA_CLIENT_ID,
                                                          scope: `${STORAGE}/.default`, client_assertion_type: JWT_BEARER,
                                                          client_assertion: FEDERATED_TOKEN }), []);
    const mi = await azureImds(server);
    expectEcho("echo:entra: Azure IMDS answers 400 {error: invalid_request, error_description: <the request>}", mi, 400,
               mi.json?.error === "invalid_request" ? mi.json.error_description : null,
               `GET /metadata/identity/oauth2/token?${query({ "api-version": "2018-02-01", resource: `${STORAGE}/` })}`, "",
               ["Metadata: true"]);
    const svc = await appService(server);
    expectEcho("echo:entra: App Service answers 400 {statusCode: 400, message: <the request>, correlationId}", svc, 400,
               svc.json?.statusCode === 400 && GUID.test(svc.json?.correlationId ?? "") ? svc.json.message : null,
               `GET /msi/token?${query({ "api-version": "2019-08-01", resource: `${STORAGE}/` })}`, "",
               [`X-IDENTITY-HEADER: ${IDENTITY_HEADER}`]);

    await control(server, "POST", "config", { faults: "echo:all" });
    const everywhere = [await imdsToken(server, "60"), await request(server.port, { path: "/ecs/credentials" }),
                        await webIdentity(server), await appService(server)];
    check("echo:all: every route echoes", everywhere.every((r) => r.status === 400 && r.text.includes("The request was: ")),
          everywhere.map(describe).join(" / "));
    await control(server, "POST", "config", { faults: [] });
    const after = await stats(server);
    check("echo faults are counted as faulted, not as rejected", after.faulted - before.faulted === 13 &&
          after.rejected === before.rejected, show(after));
}

async function controlApi(server) {
    const cfg = (await control(server, "GET", "config")).json;
    check("GET config: settings without secrets",
          cfg && cfg.lifetime_s === 900 && cfg.imds === "v2" && cfg.role_arn === ROLE_ARN && cfg.static_access_key_id === "AKIDSDSTEST" &&
          show(cfg.faults) === "[]" && !JSON.stringify(cfg).includes(ISSUER) && !JSON.stringify(cfg).includes(STATIC.secretAccessKey),
          show(cfg));
    const bad = [{ imds: "v3" }, { lifetime_s: -1 }, { faults: ["hang:moon"] }, { faults: ["boom:imds"] }, { nonsense: 1 },
                 { role_arn: 5 }];
    const answers = await Promise.all(bad.map((b) => control(server, "POST", "config", b)));
    const unchanged = (await control(server, "GET", "config")).json;
    check("POST config refuses invalid settings (400) and changes nothing",
          answers.every((r) => r.status === 400 && typeof r.json?.message === "string") && show(unchanged) === show(cfg),
          show(answers.map((r) => r.status)));
    const issued = await control(server, "POST", "issue");
    const j = issued.json ?? {};
    const problems = credentialProblems({ accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, token: j.SessionToken,
                                          expiration: j.Expiration }, { isoPattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/ });
    check("POST issue: AccessKeyId, SecretAccessKey, SessionToken, Expiration", issued.status === 200 && problems.length === 0,
          `${problems.join(", ")}; ${describe(issued)}`);
    const longer = (await control(server, "POST", "issue", { lifetime_s: 3600 })).json;
    check("POST issue with lifetime_s", Math.abs(Date.parse(longer.Expiration) - Date.now() - 3_600_000) < 5000, show(longer));
    const set = await control(server, "POST", "config", { lifetime_s: 120 });
    const ecsCreds = await request(server.port, { path: "/ecs/credentials", headers: { authorization: CONTAINER_TOKEN } });
    const left = Date.parse(ecsCreds.json?.Expiration) - Date.now();
    check("lifetime_s through config applies to later credentials", set.json?.lifetime_s === 120 && left > 115_000 && left <= 120_000,
          `${left} ms; ${describe(ecsCreds)}`);
    await control(server, "POST", "config", { lifetime_s: 900 });
    const unknown = await control(server, "GET", "nothing");
    check("unknown control route: 404", unknown.status === 404, describe(unknown));
}

async function statsCounters(server) {
    const s = await stats(server);
    const keys = ["imds_token", "imds_roles", "imds_credentials", "ecs", "sts_web_identity", "sts_assume_role", "rejected",
                  "last_session_name", "last_role_arn"];
    check("stats has every documented counter, and they moved",
          keys.every((k) => k in s) && s.imds_token >= 8 && s.imds_roles >= 4 && s.imds_credentials >= 5 && s.ecs >= 4 &&
          s.sts_web_identity >= 9 && s.sts_assume_role >= 11 && s.rejected >= 20, show(s));
    const reset = await control(server, "POST", "reset-stats");
    check("POST reset-stats zeroes the counters", reset.json?.imds_token === 0 && reset.json?.rejected === 0 &&
          reset.json?.last_session_name === null, show(reset.json));
}

/** The fault a target shows under `kind`, checked for every route it covers. */
async function faults(server) {
    const token = (await imdsToken(server, "600")).text;
    const auth = { authorization: CONTAINER_TOKEN };
    const HANG_MS = 500;

    // hang:imds-creds: the token PUT and role list still work, the credentials GET never answers.
    await control(server, "POST", "config", { faults: ["hang:imds-creds"] });
    const before = await stats(server);
    const putOk = await imdsToken(server, "60");
    const listOk = await imdsGet(server, "iam/security-credentials/", token);
    const hung = await imdsGet(server, "iam/security-credentials/sds-test-role", token, HANG_MS);
    const after = await stats(server);
    check("hang:imds-creds: PUT and role list answer, credentials GET has no answer within 500 ms, still counted",
          putOk.status === 200 && listOk.status === 200 && hung.timeout && after.imds_credentials === before.imds_credentials + 1,
          `${describe(hung)} ${show(after)}`);

    // hang on each target.
    await control(server, "POST", "config", { faults: "hang:imds,hang:ecs,hang:sts" });
    const hangs = {
        "IMDS token PUT": await request(server.port, { method: "PUT", path: "/latest/api/token", timeoutMs: HANG_MS,
                                                       headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" } }),
        "IMDS region": await imdsGet(server, "placement/region", token, HANG_MS),
        "ECS": await request(server.port, { path: "/ecs/credentials", headers: auth, timeoutMs: HANG_MS }),
        "STS": await webIdentity(server, {}, HANG_MS),
    };
    const answered = Object.entries(hangs).filter(([, r]) => !r.timeout).map(([k, r]) => `${k}: ${describe(r)}`);
    const live = await control(server, "GET", "stats");
    check("hang:imds,hang:ecs,hang:sts: no answer within 500 ms on any route; control still answers",
          answered.length === 0 && live.status === 200, answered.join("; "));

    // 500 everywhere.
    await control(server, "POST", "config", { faults: ["500:all"] });
    const fives = {
        "IMDS token PUT": await imdsToken(server, "60"),
        "IMDS credentials": await imdsGet(server, "iam/security-credentials/sds-test-role", token),
        "ECS": await request(server.port, { path: "/ecs/credentials", headers: auth }),
        "STS": await webIdentity(server),
    };
    const not500 = Object.entries(fives).filter(([, r]) => r.status !== 500 || r.text.length === 0 || r.text.length > 400);
    check("500:all: HTTP 500 with a short body on every route", not500.length === 0,
          not500.map(([k, r]) => `${k}: ${describe(r)}`).join("; "));
    check("500 bodies: ECS JSON, STS InternalFailure XML",
          fives.ECS.json?.code === "InternalServerError" && /<Code>InternalFailure<\/Code>/.test(fives.STS.text) &&
          /^text\/xml/.test(fives.STS.headers["content-type"]), `${describe(fives.ECS)} / ${describe(fives.STS)}`);

    // malformed.
    await control(server, "POST", "config", { faults: ["malformed:imds-creds", "malformed:ecs", "malformed:sts"] });
    const mCreds = await imdsGet(server, "iam/security-credentials/sds-test-role", token);
    const mEcs = await request(server.port, { path: "/ecs/credentials", headers: auth });
    const mSts = await webIdentity(server);
    const mAssume = await request(server.port, await signedAssumeRole(server, STATIC));
    const mRegion = await imdsGet(server, "placement/region", token);
    const parses = (t) => { try { JSON.parse(t); return true; } catch { return false; } };
    check("malformed: 200 with truncated JSON (IMDS credentials, ECS) and XML (STS)",
          mCreds.status === 200 && !parses(mCreds.text) && mCreds.text.startsWith('{"Code":"Success"') &&
          mEcs.status === 200 && mEcs.text === '{"AccessKeyId": ' &&
          mSts.status === 200 && mSts.text === "<AssumeRoleWithWebIdentityResponse><oops" &&
          mAssume.status === 200 && mAssume.text === "<AssumeRoleResponse><oops",
          `${describe(mCreds)} / ${describe(mEcs)} / ${describe(mSts)} / ${describe(mAssume)}`);
    check("malformed:imds-creds leaves the other IMDS routes alone", mRegion.status === 200 && mRegion.text === "us-east-1",
          describe(mRegion));
    await control(server, "POST", "config", { faults: ["malformed:imds"] });
    const mPut = await imdsToken(server, "60");
    check("malformed:imds: the token PUT answers 200 with an empty body", mPut.status === 200 && mPut.text === "", describe(mPut));

    // Off again.
    const off = await control(server, "POST", "config", { faults: [] });
    const back = await imdsGet(server, "iam/security-credentials/sds-test-role", token);
    check("faults [] switches them off", show(off.json?.faults) === "[]" && back.status === 200 && back.json?.Code === "Success",
          describe(back));
    const s = await stats(server);
    check("stats.faulted counts every injected fault (14 since reset-stats)", s.faulted === 14, show(s));
}

async function commandLine() {
    const server = await startServer("server with command-line faults",
                                     ["--fault", "hang:sts", "--fault", "500:imds-creds,malformed:ecs", "--imds", "v1only",
                                      "--lifetime-s", "60", "--role-arn", ROLE_ARN, "--entra-lifetime-s=-30",
                                      "--entra-audience", "https://devstoreaccount1.table.core.windows.net",
                                      "--imds-region", "eu-west-3"]);
    const cfg = (await control(server, "GET", "config")).json;
    check("--fault repeated and comma-separated, --imds, --lifetime-s reach the config",
          show(cfg.faults) === show(["hang:sts", "500:imds-creds", "malformed:ecs"]) && cfg.imds === "v1only" &&
          cfg.lifetime_s === 60 && cfg.web_identity_token === null && cfg.container_token === null, show(cfg));
    const put = await imdsToken(server, "60");
    const roles = await imdsGet(server, "iam/security-credentials/");
    const creds = await imdsGet(server, "iam/security-credentials/sds-test-role");
    const ecsR = await request(server.port, { path: "/ecs/credentials" });
    const sts = await webIdentity(server, { WebIdentityToken: "anything" }, 500);
    check("command-line faults: PUT 403 (v1only), tokenless role list 200, credentials 500, ECS malformed, STS hangs",
          put.status === 403 && roles.status === 200 && creds.status === 500 && ecsR.status === 200 &&
          ecsR.text === '{"AccessKeyId": ' && sts.timeout,
          `${describe(put)} / ${describe(roles)} / ${describe(creds)} / ${describe(ecsR)} / ${describe(sts)}`);
    await control(server, "POST", "config", { faults: [] });
    const regionR = await imdsGet(server, "placement/region");
    check("--imds-region names the region", regionR.status === 200 && regionR.text === "eu-west-3", describe(regionR));
    const any = await webIdentity(server, { WebIdentityToken: "anything-at-all" });
    const lifetime = Date.parse(xmlText(any.text, "Expiration")) - Date.now();
    check("without --web-identity-token any token is accepted; --lifetime-s 60 applies",
          any.status === 200 && lifetime > 55_000 && lifetime <= 60_000, `${lifetime} ms; ${describe(any)}`);

    const entraCfg = (await control(server, "GET", "config")).json;
    const mi = await azureImds(server);
    const miClaims = decodeJwt(mi.json?.access_token ?? "")?.payload ?? {};
    const svcAny = await appService(server, {}, { "X-IDENTITY-HEADER": "any" });
    const v2Any = await entraToken(server, { client_id: "abcdefab-0000-4000-8000-000000000002", client_secret: "any" });
    check("--entra-lifetime-s=-30 and --entra-audience on the command line; without the entra secrets any value works",
          entraCfg.entra_lifetime_s === -30 && entraCfg.entra_audience === "https://devstoreaccount1.table.core.windows.net" &&
          entraCfg.entra_client_id === null && entraCfg.entra_client_secret === null && entraCfg.identity_header === null &&
          miClaims.aud === "https://devstoreaccount1.table.core.windows.net" && miClaims.exp === miClaims.iat - 30 &&
          mi.json?.expires_in === "-30" && svcAny.status === 200 && v2Any.status === 200,
          `${show(entraCfg)} ${describe(mi)} / ${describe(svcAny)} / ${describe(v2Any)}`);

    const bad = await Promise.all([
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--entra-lifetime-s", "1.5"]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--entra-client-secret="]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--entra-audience="]),
        runToEnd(serverScript, ["--port", "0"]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--fault", "hang:moon"]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--imds", "v3"]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--static-access-key-id", "A"]),
        runToEnd(serverScript, ["--port", "0", "--issuer-secret", "s", "--lifetime-s", "-5"]),
    ]);
    check("bad arguments exit 2 with a usage line", bad.every((r) => r.code === 2 && /usage: credentials_server\.mjs/.test(r.stderr)),
          show(bad));
    return server;
}

/** A signed DynamoDB request for the gateway. */
async function dynamodbRequest(gw, credentials) {
    const signer = new SignatureV4({ service: "dynamodb", region: "us-east-1", credentials, applyChecksum: false,
                                     sha256: Hash.bind(null, "sha256") });
    const signed = await signer.sign(new HttpRequest({
        method: "POST", protocol: "http:", hostname: "127.0.0.1", port: gw.port, path: "/",
        headers: { host: `127.0.0.1:${gw.port}`, "content-type": "application/x-amz-json-1.0",
                   "x-amz-target": "DynamoDB_20120810.ListTables" },
        body: "{}",
    }));
    return { method: "POST", path: "/", headers: signed.headers, body: signed.body };
}

async function gateway(server) {
    await startUpstream();
    const common = ["--port", "0", "--upstream", `http://127.0.0.1:${upstream.port}`, "--access-key-id", STATIC.accessKeyId,
                    "--secret-access-key", STATIC.secretAccessKey, "--region", "us-east-1"];
    const pattern = /^gateway listening on http:\/\/127\.0\.0\.1:(\d+)$/;
    const gw = await startChild("gateway --issuer-secret", gatewayScript, [...common, "--issuer-secret", ISSUER], pattern);
    const plain = await startChild("gateway without --issuer-secret", gatewayScript, common, pattern);
    const send = (target, r) => request(target.port, r);
    const rejected = (r, type) => r.status === 403 && r.json?.__type === `com.amazon.coral.service#${type}`;

    const fromServer = (await control(server, "POST", "issue")).json;
    const issued = { accessKeyId: fromServer.AccessKeyId, secretAccessKey: fromServer.SecretAccessKey,
                     sessionToken: fromServer.SessionToken };
    const before = upstream.count;
    const ok = await send(gw, await dynamodbRequest(gw, issued));
    check("gateway: issued credentials + token (from POST /__control/issue) accepted and forwarded",
          ok.status === 200 && ok.text === "{}" && upstream.count === before + 1, describe(ok));
    const imdsToken_ = (await imdsToken(server, "60")).text;
    const viaImds = (await imdsGet(server, "iam/security-credentials/sds-test-role", imdsToken_)).json;
    const ok2 = await send(gw, await dynamodbRequest(gw, { accessKeyId: viaImds.AccessKeyId, secretAccessKey: viaImds.SecretAccessKey,
                                                          sessionToken: viaImds.Token }));
    check("gateway: credentials from IMDS accepted", ok2.status === 200, describe(ok2));

    const [payload, mac] = issued.sessionToken.split(".");
    const forgedToken = `${payload}.${mac.slice(0, -1)}${mac.endsWith("0") ? "1" : "0"}`;
    const forged = await send(gw, await dynamodbRequest(gw, { ...issued, sessionToken: forgedToken }));
    check("gateway: forged token refused (UnrecognizedClientException)", rejected(forged, "UnrecognizedClientException"),
          describe(forged));
    const { sessionToken: _, ...noToken } = issued;
    const missing = await send(gw, await dynamodbRequest(gw, noToken));
    check("gateway: issued key without a token refused (UnrecognizedClientException)",
          rejected(missing, "UnrecognizedClientException"), describe(missing));
    const foreign = issue("another-issuer", 60_000);
    const foreignR = await send(gw, await dynamodbRequest(gw, foreign));
    check("gateway: credentials of another issuer refused (UnrecognizedClientException)",
          rejected(foreignR, "UnrecognizedClientException"), describe(foreignR));
    const wrongSecret = await send(gw, await dynamodbRequest(gw, { ...issued, secretAccessKey: "x".repeat(40) }));
    check("gateway: issued key signed with a wrong secret refused (InvalidSignatureException)",
          rejected(wrongSecret, "InvalidSignatureException"), describe(wrongSecret));
    const short = issue(ISSUER, 1);
    await sleep(5);
    const expired = await send(gw, await dynamodbRequest(gw, short));
    check("gateway: expired issued credentials refused (ExpiredTokenException, AWS's message)",
          rejected(expired, "ExpiredTokenException") &&
          expired.json.message === "The security token included in the request is expired", describe(expired));
    const stat = await send(gw, await dynamodbRequest(gw, STATIC));
    check("gateway: the static pair is still accepted", stat.status === 200 && stat.text === "{}", describe(stat));
    const gwStats = (await send(gw, { path: "/__gateway/stats" })).json;
    check("gateway stats: rejections by type", gwStats?.rejectedByType?.ExpiredTokenException === 1 &&
          gwStats.rejectedByType.UnrecognizedClientException === 3 && gwStats.verified === 3, show(gwStats));

    const plainIssued = await send(plain, await dynamodbRequest(plain, issued));
    const plainStatic = await send(plain, await dynamodbRequest(plain, STATIC));
    check("gateway without --issuer-secret: issued credentials refused, static pair accepted",
          rejected(plainIssued, "UnrecognizedClientException") && plainStatic.status === 200,
          `${describe(plainIssued)} / ${describe(plainStatic)}`);
    const badArg = await runToEnd(gatewayScript, [...common, "--issuer-secret", ""]);
    check("gateway: empty --issuer-secret exits 2", badArg.code === 2 && /usage: gateway\.mjs/.test(badArg.stderr), show(badArg));
    return [gw, plain];
}

async function main() {
    issuedCredentialsUnit();
    const server = await startServer("credentials server",
                                     ["--web-identity-token", WEB_TOKEN, "--role-arn", ROLE_ARN, "--container-token", CONTAINER_TOKEN,
                                      "--entra-client-id", ENTRA_CLIENT_ID, "--entra-client-secret", ENTRA_SECRET,
                                      "--entra-federated-token", FEDERATED_TOKEN, "--identity-header", IDENTITY_HEADER]);
    await imds(server);
    await ecs(server);
    await stsWebIdentity(server);
    await stsAssumeRole(server);
    await entraClientCredentials(server);
    await entraManagedIdentity(server);
    await entraSettings(server);
    await controlApi(server);
    await statsCounters(server);
    await faults(server);
    await entraFaults(server);
    await echoFaults(server);
    const second = await commandLine();
    const gateways = await gateway(server);

    const keepAlive = [];
    for (let i = 0; i < 3; i++) keepAlive.push(await control(server, "GET", "stats"));
    check("keep-alive: later requests reuse the connection", keepAlive.slice(1).every((r) => r.reused), show(keepAlive.map((r) => r.reused)));
    agent.destroy();

    for (const entry of [server, second, ...gateways]) {
        const exit = await stopChild(entry);
        check(`${entry.name}: SIGTERM exits 0, one stdout line, no internal error`,
              exit.code === 0 && entry.stdout.split("\n").filter(Boolean).length === 1 && !/internal error/.test(entry.stderr),
              `${show(exit)} ${show(entry.stdout)} ${entry.stderr.slice(-500)}`);
    }
    const rejections = server.stderr.split("\n").filter((l) => l.startsWith("credentials_server: rejected "));
    check("one stderr line per rejection", rejections.length >= 20, `${rejections.length} lines`);
}

async function stopAll() {
    for (const entry of children) await stopChild(entry);
    agent.destroy();
    upstream.server?.closeAllConnections();
    upstream.server?.close();
}

const watchdog = setTimeout(() => {
    console.log("FAIL self-test did not finish within 60 s");
    stopAll().finally(() => process.exit(1));
}, 60_000);
try {
    await main();
} catch (err) {
    check("self-test ran to the end", false, err.stack ?? String(err));
} finally {
    await stopAll();
    clearTimeout(watchdog);
}
console.log(`${passed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failed === 0 ? 0 : 1);
