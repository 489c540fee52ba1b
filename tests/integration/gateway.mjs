#!/usr/bin/env node
// SigV4-verifying gateway in front of dynalite, for the DynamoDB integration tests.
//
// dynalite does not check signatures, so the tests talk to this gateway instead. Every request
// is buffered and its AWS Signature Version 4 is recomputed with AWS's own JS signer
// (@smithy/signature-v4) from the method, path, query, the *signed* headers as received and
// the body. A request that verifies is forwarded unchanged to dynalite and the answer is
// streamed back unchanged (x-amz-crc32 included); anything else gets an AWS-shaped JSON 1.0
// error (InvalidSignatureException, UnrecognizedClientException, ...) and never reaches dynalite.
//
//   node tests/integration/gateway.mjs --port 18001 --upstream http://127.0.0.1:18000 \
//        --access-key-id AKIDSDSTEST --secret-access-key sds-test-secret [--region us-east-1]
//        [--session-token TOKEN]   require this X-Amz-Security-Token (default: any or none)
//        [--reject-status 403]     HTTP status of rejections (real DynamoDB answers 400)
//        [--issuer-secret S]       also accept temporary credentials issued with this secret
//
// The static pair (--access-key-id / --secret-access-key) is always accepted. With
// --issuer-secret, a request whose access key id is one of issued_credentials.mjs's ("ASIASDS...",
// as handed out by credentials_server.mjs) is verified with the secret derived from it; its
// X-Amz-Security-Token must be present and the genuine token of that key under S, else
// UnrecognizedClientException, and not expired, else ExpiredTokenException ("The security token
// included in the request is expired"). No state is shared with the issuer.
//
// --port 0 picks a free port. Prints "gateway listening on http://127.0.0.1:PORT" when ready,
// exits 0 on SIGTERM/SIGINT. GET /__gateway/stats (unsigned, not forwarded) returns counters
// as JSON. Listens on 127.0.0.1 only and only ever connects to the upstream given.

import http from "node:http";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { parseArgs } from "node:util";
import { SignatureV4, getCanonicalHeaders } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { isIssued, check as checkIssued } from "./issued_credentials.mjs";

const SERVICE = "dynamodb";
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
// Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, not the message.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer",
                            "transfer-encoding", "upgrade"]);

// ---------------------------------------------------------------------------------------------
// Configuration

function usage(message) {
    console.error(`gateway: ${message}`);
    console.error("usage: gateway.mjs --port P --upstream http://127.0.0.1:PORT --access-key-id ID " +
                  "--secret-access-key SECRET [--region us-east-1] [--session-token T] [--reject-status 403] " +
                  "[--issuer-secret S]");
    process.exit(2);
}

function readConfig() {
    let values;
    try {
        ({ values } = parseArgs({
            options: {
                port: { type: "string" },
                upstream: { type: "string" },
                "access-key-id": { type: "string" },
                "secret-access-key": { type: "string" },
                region: { type: "string", default: "us-east-1" },
                "session-token": { type: "string" },
                "reject-status": { type: "string", default: "403" },
                "issuer-secret": { type: "string" },
            },
            strict: true,
        }));
    } catch (e) {
        usage(e.message);
    }
    for (const required of ["port", "upstream", "access-key-id", "secret-access-key"])
        if (!values[required]) usage(`--${required} is required`);
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${values.port}`);
    const rejectStatus = Number(values["reject-status"]);
    if (!Number.isInteger(rejectStatus) || rejectStatus < 400 || rejectStatus > 499)
        usage(`bad --reject-status ${values["reject-status"]}`);
    let upstream;
    try {
        upstream = new URL(values.upstream);
    } catch {
        usage(`bad --upstream ${values.upstream}`);
    }
    if (upstream.protocol !== "http:" || upstream.hostname !== "127.0.0.1" || !upstream.port)
        usage("--upstream must be http://127.0.0.1:PORT");
    if (values["issuer-secret"] === "") usage("--issuer-secret must not be empty");
    return {
        port,
        upstream: { host: upstream.hostname, port: Number(upstream.port) },
        accessKeyId: values["access-key-id"],
        secretAccessKey: values["secret-access-key"],
        region: values.region,
        sessionToken: values["session-token"],
        rejectStatus,
        issuerSecret: values["issuer-secret"],
    };
}

/** A signer that recomputes signatures for one key pair (no session token: it is signed as received). */
function makeSigner(accessKeyId, secretAccessKey) {
    return new SignatureV4({
        service: SERVICE,
        region: config.region,
        credentials: { accessKeyId, secretAccessKey },
        sha256: Hash.bind(null, "sha256"),
        applyChecksum: false,      // never add x-amz-content-sha256: we sign what was received
    });
}

const config = readConfig();
const staticSigner = makeSigner(config.accessKeyId, config.secretAccessKey);

const stats = {
    verified: 0,                   // signature verified, request forwarded
    rejected: 0,                   // answered by the gateway with an error, not forwarded
    rejectedByType: {},            // __type (short form) -> count
    upstreamErrors: 0,             // verified but dynalite could not be reached (502)
    startedAt: new Date().toISOString(),
};

// ---------------------------------------------------------------------------------------------
// Errors

class Rejection extends Error {
    constructor(type, message) {
        super(message);
        this.type = type;
    }
}
const invalidSignature = (m) => new Rejection("InvalidSignatureException", m);
const incompleteSignature = (m) => new Rejection("IncompleteSignatureException", m);

function requestId() {
    // The shape of DynamoDB's x-amzn-RequestId: 52 upper-case alphanumerics.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    return Array.from(crypto.randomBytes(52), (b) => alphabet[b % alphabet.length]).join("");
}

function sendJsonError(res, status, type, message) {
    const body = Buffer.from(JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message }));
    res.writeHead(status, {
        "x-amzn-RequestId": requestId(),
        "x-amz-crc32": String(zlib.crc32(body)),
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": String(body.length),
    });
    res.end(body);
}

function reject(res, rejection) {
    stats.rejected++;
    stats.rejectedByType[rejection.type] = (stats.rejectedByType[rejection.type] ?? 0) + 1;
    console.error(`gateway: rejected (${rejection.type}): ${rejection.message.split("\n")[0]}`);
    sendJsonError(res, config.rejectStatus, rejection.type, rejection.message);
}

// ---------------------------------------------------------------------------------------------
// Signature verification

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
    const match = /^(\S+)\s+(.*)$/s.exec(value.trim());
    if (!match) throw incompleteSignature(`Authorization header is malformed. Authorization=${value}`);
    const [, algorithm, rest] = match;
    if (algorithm !== "AWS4-HMAC-SHA256")
        throw incompleteSignature(`Unsupported AWS 'algorithm': '${algorithm}' (only AWS4-HMAC-SHA256 for now).`);
    const params = {};
    for (const part of rest.split(",")) {
        const eq = part.indexOf("=");
        if (eq < 0) throw incompleteSignature(
            `'${part.trim()}' not a valid key=value pair (missing equal-sign) in Authorization header: '${value}'.`);
        params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    let missing = "";
    for (const p of ["Credential", "Signature", "SignedHeaders"])
        if (!params[p]) missing += `Authorization header requires '${p}' parameter. `;
    if (missing) throw incompleteSignature(`${missing}Authorization=${value}`);
    const scope = params.Credential.split("/");
    if (scope.length !== 5)
        throw incompleteSignature("Credential must have exactly 5 slash-delimited elements, " +
                                  `e.g. keyid/date/region/service/term, got '${params.Credential}'`);
    if (!/^[0-9a-f]{64}$/.test(params.Signature))
        throw incompleteSignature(`Signature must be 64 lower-case hex digits, got '${params.Signature}'`);
    const signedHeaders = params.SignedHeaders.split(";");
    const canonicalList = [...new Set(signedHeaders.map((h) => h.toLowerCase()))].sort();
    if (signedHeaders.join(";") !== canonicalList.join(";") || signedHeaders.includes(""))
        throw incompleteSignature("SignedHeaders must be lower-case, sorted, unique and non-empty, " +
                                  `got '${params.SignedHeaders}'`);
    const [accessKeyId, date, region, service, terminator] = scope;
    return { accessKeyId, date, region, service, terminator, signedHeaders, signature: params.Signature };
}

/** X-Amz-Date "YYYYMMDDTHHMMSSZ" -> Date, or null. */
function parseAmzDate(value) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
    if (!m) return null;
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    // Reject normalised nonsense such as month 13.
    return date.toISOString().replace(/[-:]|\.\d{3}/g, "") === value ? date : null;
}
const amzDate = (date) => date.toISOString().replace(/[-:]|\.\d{3}/g, "");

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

/**
 * The signer for the request's access key id and X-Amz-Security-Token: the static pair's (with
 * --session-token, only with that token), or, with --issuer-secret, one made for issued
 * credentials whose token checks out. Throws a Rejection for anything else.
 */
function signerFor(accessKeyId, sessionToken) {
    if (accessKeyId === config.accessKeyId) {
        if (config.sessionToken !== undefined && sessionToken !== config.sessionToken)
            throw new Rejection("UnrecognizedClientException", "The security token included in the request is invalid");
        return staticSigner;
    }
    if (config.issuerSecret !== undefined && isIssued(accessKeyId)) {
        const verdict = checkIssued(config.issuerSecret, accessKeyId, sessionToken);
        if (!verdict.ok) throw new Rejection(verdict.type, verdict.message);
        return makeSigner(accessKeyId, verdict.secretAccessKey);
    }
    throw new Rejection("UnrecognizedClientException", "The security token included in the request is invalid.");
}

/** Throws a Rejection unless the request's SigV4 signature is valid for our credentials. */
async function verify(req, body) {
    const headers = receivedHeaders(req.rawHeaders);
    if (headers.authorization === undefined) {
        const hasQueryAuth = /(^|[?&])X-Amz-Algorithm=/.test(req.url);
        throw new Rejection("MissingAuthenticationTokenException",
                            hasQueryAuth ? "Query-string (presigned) authentication is not supported by this gateway"
                                         : "Request is missing Authentication Token");
    }
    const auth = parseAuthorization(headers.authorization);

    const dateHeader = headers["x-amz-date"];
    if (dateHeader === undefined)
        throw incompleteSignature("Authorization header requires existence of a 'X-Amz-Date' header " +
                                  "(this gateway does not accept 'Date' instead).");
    const signingDate = parseAmzDate(dateHeader);
    if (!signingDate)
        throw incompleteSignature(`Date must be in ISO-8601 'basic format'. Got '${dateHeader}'. ` +
                                  "See http://en.wikipedia.org/wiki/ISO_8601");
    const now = new Date();
    if (signingDate.getTime() < now.getTime() - MAX_SKEW_MS)
        throw invalidSignature(`Signature expired: ${dateHeader} is now earlier than ` +
                               `${amzDate(new Date(now.getTime() - MAX_SKEW_MS))} (${amzDate(now)} - 15 min.)`);
    if (signingDate.getTime() > now.getTime() + MAX_SKEW_MS)
        throw invalidSignature(`Signature not yet current: ${dateHeader} is still later than ` +
                               `${amzDate(new Date(now.getTime() + MAX_SKEW_MS))} (${amzDate(now)} + 15 min.)`);

    for (const required of ["host", "x-amz-date"])
        if (!auth.signedHeaders.includes(required))
            throw invalidSignature(`'${required === "host" ? "Host" : "X-Amz-Date"}' must be a 'SignedHeader' in the AWS Authorization.`);
    let scopeProblems = "";
    if (auth.region !== config.region)
        scopeProblems += `Credential should be scoped to a valid region, not '${auth.region}' (expected '${config.region}'). `;
    if (auth.service !== SERVICE)
        scopeProblems += `Credential should be scoped to correct service: '${SERVICE}'. `;
    if (auth.terminator !== "aws4_request")
        scopeProblems += `Credential should be scoped with a valid terminator: 'aws4_request', not '${auth.terminator}'. `;
    if (auth.date !== dateHeader.slice(0, 8))
        scopeProblems += "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: " +
                         `'${auth.date}' != '${dateHeader.slice(0, 8)}', from '${dateHeader}'.`;
    if (scopeProblems) throw invalidSignature(scopeProblems.trim());

    const signer = signerFor(auth.accessKeyId, headers["x-amz-security-token"]);

    const contentSha = headers["x-amz-content-sha256"];
    if (contentSha !== undefined && contentSha !== crypto.createHash("sha256").update(body).digest("hex"))
        throw invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.");

    // Rebuild the request from what was received, keeping only the signed headers.
    const signed = {};
    for (const name of auth.signedHeaders) {
        if (headers[name] === undefined)
            throw invalidSignature(`Header '${name}' is listed in SignedHeaders but missing from the request.`);
        signed[name] = headers[name];
    }
    const url = new URL(req.url, "http://gateway.invalid");
    const rawPath = req.url.split("?")[0];
    const request = new HttpRequest({
        method: req.method,
        protocol: "http:",
        hostname: headers.host ?? "",
        path: rawPath,                 // as received; the signer applies the (double) URI encoding
        query: parseQuery(url.search.slice(1)),
        headers: signed,
        body: new Uint8Array(body.buffer, body.byteOffset, body.length),
    });
    const options = { signingDate, signableHeaders: new Set(auth.signedHeaders) };
    const result = await signer.sign(request, options);
    const expected = /Signature=([0-9a-f]{64})/.exec(result.headers.authorization)[1];
    const expectedList = /SignedHeaders=([^,]*)/.exec(result.headers.authorization)[1];

    const ok = expectedList === auth.signedHeaders.join(";") &&
               crypto.timingSafeEqual(Buffer.from(expected, "ascii"), Buffer.from(auth.signature, "ascii"));
    if (!ok) {
        // Same message as AWS, with the canonical forms the signer used, to debug client signers.
        const payloadHash = crypto.createHash("sha256").update(body).digest("hex");
        const canonicalHeaders = getCanonicalHeaders(request, undefined, options.signableHeaders);
        const canonical = signer.createCanonicalRequest(request, canonicalHeaders, payloadHash);
        const scope = `${auth.date}/${auth.region}/${SERVICE}/aws4_request`;
        const stringToSign = await signer.createStringToSign(dateHeader, scope, canonical, "AWS4-HMAC-SHA256");
        throw invalidSignature(
            "The request signature we calculated does not match the signature you provided. " +
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details." +
            `\n\nThe Canonical String for this request should have been\n'${canonical}'` +
            `\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`);
    }
}

// ---------------------------------------------------------------------------------------------
// Forwarding

// Keep-alive to dynalite. Idle sockets are dropped after 4 s, before Node's default 5 s server
// keep-alive timeout in dynalite closes them under us.
const agent = new http.Agent({ keepAlive: true, timeout: 4000, maxSockets: 256 });

/** Original-case header object without hop-by-hop headers (repeated headers become arrays). */
function endToEndHeaders(rawHeaders, skip = new Set()) {
    const out = {};
    const caseOf = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const lower = rawHeaders[i].toLowerCase();
        if (HOP_BY_HOP.has(lower) || skip.has(lower)) continue;
        const name = caseOf[lower] ??= rawHeaders[i];
        out[name] = name in out ? [].concat(out[name], rawHeaders[i + 1]) : rawHeaders[i + 1];
    }
    return out;
}

function forward(req, res, body, attempt = 1) {
    const headers = endToEndHeaders(req.rawHeaders, new Set(["content-length"]));
    if (body.length > 0 || req.method === "POST" || req.method === "PUT") headers["Content-Length"] = String(body.length);
    const upstreamReq = http.request({
        host: config.upstream.host,
        port: config.upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
    }, (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.rawHeaders));
        upstreamRes.pipe(res);
        upstreamRes.on("error", () => res.destroy());
    });
    upstreamReq.on("error", (err) => {
        // A reused keep-alive socket that the upstream closed meanwhile: retry once on a new one.
        if (upstreamReq.reusedSocket && err.code === "ECONNRESET" && attempt === 1 && !res.headersSent)
            return forward(req, res, body, 2);
        stats.upstreamErrors++;
        console.error(`gateway: upstream error: ${err.message}`);
        if (!res.headersSent) sendJsonError(res, 502, "ServiceUnavailableException", `gateway: upstream error: ${err.message}`);
        else res.destroy();
    });
    upstreamReq.end(body);
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
    if (req.url === "/__gateway/stats" && req.method === "GET") {
        const body = JSON.stringify(stats);
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
        res.end(body);
        return;
    }
    let body;
    try {
        body = await readBody(req);
    } catch {
        return;                        // client went away or sent too much; nothing to answer
    }
    try {
        await verify(req, body);
    } catch (err) {
        if (err instanceof Rejection) return reject(res, err);
        throw err;
    }
    stats.verified++;
    forward(req, res, body);
}

const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
        console.error(`gateway: internal error: ${err.stack ?? err}`);
        if (!res.headersSent) sendJsonError(res, 500, "InternalFailure", `gateway internal error: ${err.message}`);
        else res.destroy();
    });
});
server.keepAliveTimeout = 60_000;      // be generous to clients' connection pools
server.headersTimeout = 65_000;

server.on("error", (err) => {
    console.error(`gateway: cannot listen on 127.0.0.1:${config.port}: ${err.message}`);
    process.exit(1);
});
server.listen(config.port, "127.0.0.1", () => {
    console.log(`gateway listening on http://127.0.0.1:${server.address().port}`);
});

function shutdown(signal) {
    console.error(`gateway: ${signal}, shutting down (verified ${stats.verified}, rejected ${stats.rejected})`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    agent.destroy();
    // In-flight requests get a moment to finish; then go regardless.
    setTimeout(() => { server.closeAllConnections(); process.exit(0); }, 1000).unref();
}
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
