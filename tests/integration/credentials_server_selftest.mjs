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
//   - the control API (stats counters, last_session_name / last_role_arn, config and its
//     validation, issue, lifetime_s)
//   - faults: hang (no answer within 500 ms), 500 and malformed for each target, from the
//     command line (repeated and comma-separated --fault) and the control API
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
                                      "--lifetime-s", "60", "--role-arn", ROLE_ARN]);
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
    const any = await webIdentity(server, { WebIdentityToken: "anything-at-all" });
    const lifetime = Date.parse(xmlText(any.text, "Expiration")) - Date.now();
    check("without --web-identity-token any token is accepted; --lifetime-s 60 applies",
          any.status === 200 && lifetime > 55_000 && lifetime <= 60_000, `${lifetime} ms; ${describe(any)}`);

    const bad = await Promise.all([
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
                                     ["--web-identity-token", WEB_TOKEN, "--role-arn", ROLE_ARN, "--container-token", CONTAINER_TOKEN]);
    await imds(server);
    await ecs(server);
    await stsWebIdentity(server);
    await stsAssumeRole(server);
    await controlApi(server);
    await statsCounters(server);
    await faults(server);
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
