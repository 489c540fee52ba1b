#!/usr/bin/env node
// Self-test of the SigV4-verifying gateway (gateway.mjs) in front of dynalite.
//
// Signs DynamoDB requests with AWS's own @smithy/signature-v4 and checks that the gateway
// forwards good ones unchanged (CreateTable, PutItem with a session token, GetItem, a UTF-8
// body, a dynalite error passing through, x-amz-crc32 intact, keep-alive) and rejects bad ones
// with 403 and an AWS-shaped JSON 1.0 error (flipped signature digit, wrong secret, stale and
// future dates, unknown key id, body or header changed after signing, wrong region, missing or
// malformed Authorization) without them reaching dynalite; finally checks /__gateway/stats.
//
//   node tests/integration/gateway_selftest.mjs
//       starts its own dynalite and gateway on free 127.0.0.1 ports and stops them at the end
//   node tests/integration/gateway_selftest.mjs --gateway http://127.0.0.1:18001
//       uses a running gateway (scripts/emulators.sh start) with the credentials in
//       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION; expects --reject-status 403
//
// Prints one line per check and finally "N passed, M failed"; exits 1 if anything failed.

import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import path from "node:path";
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

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

// ---------------------------------------------------------------------------------------------
// Child processes (only those spawned here, killed by their exact PIDs)

const children = [];

function startChild(name, args) {
    const child = spawn(process.execPath, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    const entry = { name, child, output: "" };
    const keep = (chunk) => { entry.output = (entry.output + chunk).slice(-20000); };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    children.push(entry);
    return entry;
}

async function stopChildren() {
    for (const { child } of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        process.kill(child.pid, "SIGTERM");
        const timer = setTimeout(() => { try { process.kill(child.pid, "SIGKILL"); } catch {} }, 5000);
        await exited;
        clearTimeout(timer);
    }
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

async function waitForPort(port, entry, limitMs = 30000) {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (entry.child.exitCode !== null) break;
        const ok = await new Promise((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
            s.on("error", () => resolve(false));
        });
        if (ok) return;
        await sleep(100);
    }
    throw new Error(`${entry.name} did not listen on 127.0.0.1:${port}; its output:\n${entry.output}`);
}

async function waitForLine(entry, pattern, limitMs = 30000) {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline && entry.child.exitCode === null) {
        const m = pattern.exec(entry.output);
        if (m) return m;
        await sleep(50);
    }
    throw new Error(`${entry.name} did not start; its output:\n${entry.output}`);
}

// ---------------------------------------------------------------------------------------------
// Signed requests

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });   // one socket: reuse is visible
let gateway;       // { host, port }
let creds;         // { accessKeyId, secretAccessKey }
let region;

/** A signed DynamoDB JSON 1.0 request (an HttpRequest with Authorization etc. set). */
async function signedRequest(target, payload, {
    credentials = creds, signingRegion = region, signingDate = new Date(), applyChecksum = false,
} = {}) {
    const signer = new SignatureV4({
        service: "dynamodb", region: signingRegion, credentials, applyChecksum,
        sha256: Hash.bind(null, "sha256"),
    });
    const request = new HttpRequest({
        method: "POST",
        protocol: "http:",
        hostname: gateway.host,
        port: gateway.port,
        path: "/",
        headers: {
            host: `${gateway.host}:${gateway.port}`,
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": `DynamoDB_20120810.${target}`,
        },
        body: typeof payload === "string" ? payload : JSON.stringify(payload),
    });
    return signer.sign(request, { signingDate });
}

/** Sends an HttpRequest-like {method, path, headers, body}; resolves {status, headers, body, json, reused}. */
function send({ method = "POST", path: reqPath = "/", headers = {}, body = "" }) {
    return new Promise((resolve, reject) => {
        const data = Buffer.from(body);
        const req = http.request({
            host: gateway.host, port: gateway.port, method, path: reqPath, agent,
            headers: { ...headers, "content-length": String(data.length) },
        }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
                const raw = Buffer.concat(chunks);
                let json;
                try { json = JSON.parse(raw.toString("utf8")); } catch {}
                resolve({ status: res.statusCode, headers: res.headers, body: raw, json, reused: req.reusedSocket });
            });
        });
        req.on("error", reject);
        req.end(data);
    });
}

async function stats() {
    const res = await send({ method: "GET", path: "/__gateway/stats" });
    return res.json;
}

// ---------------------------------------------------------------------------------------------
// Checks

const describe = (res) => `HTTP ${res.status} ${res.body.toString("utf8").slice(0, 300)}`;

function expectOk(name, res) {
    return check(name, res.status === 200, describe(res));
}

/** A rejection: 403, JSON 1.0 content type, a request id, the __type and (optionally) message. */
function expectRejected(name, res, type, messagePattern) {
    const problems = [];
    if (res.status !== 403) problems.push(`status ${res.status}`);
    if (res.headers["content-type"] !== "application/x-amz-json-1.0")
        problems.push(`content-type ${res.headers["content-type"]}`);
    if (!/^[A-Z0-9]{52}$/.test(res.headers["x-amzn-requestid"] ?? "")) problems.push("no x-amzn-RequestId");
    if (res.json?.__type !== `com.amazon.coral.service#${type}`) problems.push(`__type ${res.json?.__type}`);
    if (typeof res.json?.message !== "string" || (messagePattern && !messagePattern.test(res.json.message)))
        problems.push(`message ${JSON.stringify(res.json?.message)?.slice(0, 200)}`);
    if (res.headers["x-amz-crc32"] !== String(zlib.crc32(res.body))) problems.push("bad x-amz-crc32");
    return check(name, problems.length === 0, `${problems.join(", ")}; ${describe(res)}`);
}

const MISMATCH = /^The request signature we calculated does not match the signature you provided/;

async function run() {
    const table = `gateway_selftest_${crypto.randomBytes(4).toString("hex")}`;
    const key = (k) => ({ key: { S: k } });
    const before = await stats();
    check("stats endpoint answers without a signature", before && Number.isInteger(before.verified),
          JSON.stringify(before));
    let accepted = 0;
    let rejected = 0;
    const ok = async (name, res) => { accepted++; expectOk(name, res); return res; };
    const bad = async (name, res, type, pattern) => { rejected++; expectRejected(name, res, type, pattern); return res; };

    // --- requests that must pass -------------------------------------------------------------
    await ok("CreateTable signed with @smithy/signature-v4", await send(await signedRequest("CreateTable", {
        TableName: table,
        AttributeDefinitions: [{ AttributeName: "key", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "key", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
    })));
    for (let i = 0; i < 100; i++) {           // dynalite may keep the table CREATING for a while
        accepted++;
        const res = await send(await signedRequest("DescribeTable", { TableName: table }));
        if (res.json?.Table?.TableStatus === "ACTIVE") break;
        await sleep(100);
    }

    const withToken = { ...creds, sessionToken: "FwoGZXIvYXdzEXAMPLE//session+token==" };
    const putWithToken = await signedRequest("PutItem",
        { TableName: table, Item: { ...key("k1"), data: { S: "hello" } } }, { credentials: withToken });
    check("session token is sent and signed", putWithToken.headers["x-amz-security-token"] === withToken.sessionToken &&
          /SignedHeaders=[^,]*x-amz-security-token/.test(putWithToken.headers.authorization));
    await ok("PutItem with a session token", await send(putWithToken));

    const get1 = await ok("GetItem", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1"), ConsistentRead: true })));
    check("GetItem returns the item written", get1.json?.Item?.data?.S === "hello", describe(get1));
    check("x-amz-crc32 from dynalite passes through and matches the body",
          get1.headers["x-amz-crc32"] === String(zlib.crc32(get1.body)), `x-amz-crc32 ${get1.headers["x-amz-crc32"]}`);
    check("x-amzn-RequestId from dynalite passes through", /^[A-Z0-9]{52}$/.test(get1.headers["x-amzn-requestid"] ?? ""));

    const text = "grüße · 日本語 · emoji 🎉 · \"quotes\" \\ \u2028";
    await ok("PutItem with a UTF-8 body (x-amz-content-sha256 signed)", await send(await signedRequest("PutItem",
        { TableName: table, Item: { ...key("ünïcödé 🔑"), data: { S: text } } }, { applyChecksum: true })));
    const get2 = await ok("GetItem of the UTF-8 item", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("ünïcödé 🔑"), ConsistentRead: true })));
    check("UTF-8 value round-trips", get2.json?.Item?.data?.S === text, describe(get2));
    check("x-amz-crc32 matches a UTF-8 response body", get2.headers["x-amz-crc32"] === String(zlib.crc32(get2.body)));
    check("keep-alive: the connection to the gateway is reused", get2.reused === true);

    const missing = await send(await signedRequest("GetItem", { TableName: `${table}_absent`, Key: key("k1") }));
    accepted++;
    check("a dynalite error passes through unchanged (400 ResourceNotFoundException)",
          missing.status === 400 && /ResourceNotFoundException$/.test(missing.json?.__type ?? "") &&
          missing.headers["x-amz-crc32"] === String(zlib.crc32(missing.body)), describe(missing));

    // --- requests that must be rejected ------------------------------------------------------
    const good = await signedRequest("PutItem", { TableName: table, Item: { ...key("k1"), data: { S: "tampered" } } });
    const signature = /Signature=([0-9a-f]{64})/.exec(good.headers.authorization)[1];
    const flipped = signature.slice(0, 17) + (signature[17] === "0" ? "1" : "0") + signature.slice(18);
    await bad("one hex digit of the signature flipped", await send({ ...good,
        headers: { ...good.headers, authorization: good.headers.authorization.replace(signature, flipped) } }),
        "InvalidSignatureException", MISMATCH);

    await bad("wrong secret access key", await send(await signedRequest("PutItem",
        { TableName: table, Item: { ...key("k1"), data: { S: "tampered" } } },
        { credentials: { ...creds, secretAccessKey: `${creds.secretAccessKey}x` } })),
        "InvalidSignatureException", MISMATCH);

    await bad("X-Amz-Date 20 minutes old", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1") }, { signingDate: new Date(Date.now() - 20 * 60 * 1000) })),
        "InvalidSignatureException", /^Signature expired: \d{8}T\d{6}Z is now earlier than/);

    await bad("X-Amz-Date 20 minutes ahead", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1") }, { signingDate: new Date(Date.now() + 20 * 60 * 1000) })),
        "InvalidSignatureException", /^Signature not yet current/);

    await bad("unknown access key id", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1") }, { credentials: { ...creds, accessKeyId: "AKIDUNKNOWN" } })),
        "UnrecognizedClientException", /security token included in the request is invalid/);

    await bad("body modified after signing", await send({ ...good,
        body: good.body.replace("tampered", "tampereD") }), "InvalidSignatureException", MISMATCH);

    const withSha = await signedRequest("PutItem",
        { TableName: table, Item: { ...key("k1"), data: { S: "tampered" } } }, { applyChecksum: true });
    await bad("body modified after signing (x-amz-content-sha256 signed)", await send({ ...withSha,
        body: withSha.body.replace("tampered", "tampereD") }), "InvalidSignatureException");

    await bad("signed header changed after signing (X-Amz-Target)", await send({ ...good,
        headers: { ...good.headers, "x-amz-target": "DynamoDB_20120810.DeleteItem" } }),
        "InvalidSignatureException", MISMATCH);

    await bad("credential scoped to another region", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1") }, { signingRegion: region === "eu-west-1" ? "us-west-2" : "eu-west-1" })),
        "InvalidSignatureException", /valid region/);

    const { authorization, ...unsigned } = good.headers;
    await bad("missing Authorization header", await send({ ...good, headers: unsigned }),
        "MissingAuthenticationTokenException");

    await bad("malformed Authorization header", await send({ ...good,
        headers: { ...good.headers, authorization: "AWS4-HMAC-SHA256 Credential=garbage" } }),
        "IncompleteSignatureException");

    const get3 = await ok("GetItem after the rejected writes", await send(await signedRequest("GetItem",
        { TableName: table, Key: key("k1"), ConsistentRead: true })));
    check("rejected requests never reached dynalite", get3.json?.Item?.data?.S === "hello", describe(get3));

    await ok("DeleteTable", await send(await signedRequest("DeleteTable", { TableName: table })));

    // --- counters ------------------------------------------------------------------------------
    const after = await stats();
    check(`stats: verified grew by ${accepted}`, after.verified - before.verified === accepted,
          `${before.verified} -> ${after.verified}`);
    check(`stats: rejected grew by ${rejected}`, after.rejected - before.rejected === rejected,
          `${before.rejected} -> ${after.rejected}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
    const { values } = parseArgs({ options: { gateway: { type: "string" } }, strict: true });
    if (values.gateway) {
        const url = new URL(values.gateway);
        gateway = { host: url.hostname, port: Number(url.port) };
        creds = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
        region = process.env.AWS_REGION ?? "us-east-1";
        if (!creds.accessKeyId || !creds.secretAccessKey)
            throw new Error("--gateway needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    } else {
        creds = { accessKeyId: "AKIDSELFTEST", secretAccessKey: "selftest/secret+key" };
        region = "us-east-1";
        const dynalitePort = await freePort();
        const dynalite = startChild("dynalite", [path.join(repo, "node_modules/dynalite/cli.js"),
            "--port", String(dynalitePort), "--host", "127.0.0.1", "--createTableMs", "0", "--deleteTableMs", "0"]);
        await waitForPort(dynalitePort, dynalite);
        const gw = startChild("gateway", [path.join(here, "gateway.mjs"), "--port", "0",
            "--upstream", `http://127.0.0.1:${dynalitePort}`, "--access-key-id", creds.accessKeyId,
            "--secret-access-key", creds.secretAccessKey, "--region", region]);
        const m = await waitForLine(gw, /gateway listening on http:\/\/127\.0\.0\.1:(\d+)\n/);
        gateway = { host: "127.0.0.1", port: Number(m[1]) };
    }
    await run();
}

let exitCode = 0;
process.once("SIGINT", () => { stopChildren().finally(() => process.exit(130)); });
process.once("SIGTERM", () => { stopChildren().finally(() => process.exit(143)); });
try {
    await main();
} catch (err) {
    check("selftest ran to completion", false, err.stack ?? String(err));
}
agent.destroy();
if (failed > 0)
    for (const { name, output } of children) console.log(`--- ${name} output (tail) ---\n${output.slice(-3000)}`);
await stopChildren();
console.log(`${passed} passed, ${failed} failed`);
exitCode = failed > 0 ? 1 : 0;
process.exit(exitCode);
