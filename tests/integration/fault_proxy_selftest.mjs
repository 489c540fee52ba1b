#!/usr/bin/env node
// Self-test of the fault-injecting proxy (fault_proxy.mjs).
//
// Runs a small upstream HTTP server in this process (it records every request and answers 200
// with a JSON body holding its request counter) and starts fault_proxy.mjs as child processes in
// front of it. Checks:
//   - 2000 requests over 16 keep-alive connections: every fault kind occurs; what each client
//     saw matches the proxy's decision log; throttled and reset_before requests never reach the
//     upstream and all others do (upstream count == forwarded == requests - throttle -
//     reset_before); delayed answers arrive late; truncated ones carry half their body
//   - DynamoDB errors: 400 ProvisionedThroughputExceededException and 500 InternalServerError
//     with a matching x-amz-crc32 and an x-amzn-RequestId
//   - request headers (Host, X-Amz-Date, Authorization, odd case and spacing) and bodies reach
//     the upstream byte for byte; the upstream's status text and headers come back unchanged
//   - the same seed gives the same sequence of faults for one request at a time (two proxies,
//     and the mulberry32 draw documented in fault_proxy.mjs); POST /reseed restarts it; another
//     seed gives another sequence
//   - POST /rates: all=0 switches faults off, a JSON body switches delay on (a client that times
//     out meanwhile is dropped quietly), invalid rates are refused; POST /reset-stats
//   - Azure: 503 with x-ms-error-code ServerBusy and an odata.error body, 500 InternalError
//   - an upstream that drops connections gives 502; SIGTERM exits 0; one stdout line; no repeated log lines
//
//   node tests/integration/fault_proxy_selftest.mjs [--port-range 28600-28699]
//       --port-range: take every port from this range (default: ports the system picks)
//
// Prints one line per check and finally "N passed, M failed"; exits 1 if anything failed.

import http from "node:http";
import net from "node:net";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";

const here = path.dirname(fileURLToPath(import.meta.url));
const proxyScript = path.join(here, "fault_proxy.mjs");
const KINDS = ["throttle", "error500", "reset_before", "reset_after", "delay", "truncate"];
const FORWARDED = new Set(["none", "error500", "reset_after", "delay", "truncate"]);
const started = Date.now();

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
const show = (v) => JSON.stringify(v);

// ---------------------------------------------------------------------------------------------
// Ports

let portRange = null;
{
    const { values } = parseArgs({ options: { "port-range": { type: "string" } }, strict: true });
    if (values["port-range"] !== undefined) {
        const m = /^(\d+)-(\d+)$/.exec(values["port-range"]);
        if (!m || +m[1] < 1 || +m[2] > 65535 || +m[1] > +m[2]) {
            console.error(`fault_proxy_selftest: bad --port-range ${values["port-range"]}`);
            process.exit(2);
        }
        portRange = { lo: +m[1], hi: +m[2] };
    }
}
const handedOut = new Set();

function tryListen(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(null));
        srv.listen(port, "127.0.0.1", () => {
            const got = srv.address().port;
            srv.close(() => resolve(got));
        });
    });
}

/** A port nobody listens on now (from --port-range if given), never the same one twice. */
async function freePort() {
    if (!portRange) {
        for (;;) {
            const port = await tryListen(0);
            if (port !== null && !handedOut.has(port)) return handedOut.add(port), port;
        }
    }
    // From a random start, so that several runs at once seldom reach for the same ports.
    const size = portRange.hi - portRange.lo + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
        const port = portRange.lo + (start + i) % size;
        if (handedOut.has(port)) continue;
        if (await tryListen(port) !== null) return handedOut.add(port), port;
    }
    throw new Error(`no free port left in ${portRange.lo}-${portRange.hi}`);
}

// ---------------------------------------------------------------------------------------------
// The upstream: records requests, answers 200 with its counter

const upstream = {
    count: 0,
    seen: new Map(),                   // id (from ?id=) -> {method, url, rawHeaders, body}
    server: null,
    port: 0,
};
const RESPONSE_PAD = "p".repeat(300); // so that half a body is a real part of it

async function startUpstream() {
    upstream.server = http.createServer((req, res) => {
        const chunks = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => {
            const n = ++upstream.count;
            const id = new URL(req.url, "http://x.invalid").searchParams.get("id");
            upstream.seen.set(id, { method: req.method, url: req.url, rawHeaders: req.rawHeaders,
                                    body: Buffer.concat(chunks) });
            const body = Buffer.from(JSON.stringify({ n, id, pad: RESPONSE_PAD }));
            res.writeHead(200, "All Good", ["Content-Type", "application/json", "X-Upstream-CaSe", "Kept  As Is",
                                            "Content-Length", String(body.length)]);
            res.end(body);
        });
    });
    upstream.server.keepAliveTimeout = 60_000;
    for (let attempt = 1; ; attempt++) {
        upstream.port = await freePort();
        try {
            await new Promise((resolve, reject) => {
                upstream.server.once("error", reject);
                upstream.server.listen(upstream.port, "127.0.0.1", resolve);
            });
            return;
        } catch (err) {
            if (err.code !== "EADDRINUSE" || attempt === 5) throw err;   // taken since we looked
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Proxies (child processes, stopped by their exact PIDs)

const children = [];

/** Starts a proxy on free ports; tries other ports if one was taken meanwhile. */
async function startProxy(name, options) {
    for (let attempt = 1; ; attempt++) {
        try {
            return await startProxyOnce(name, options);
        } catch (err) {
            if (!/EADDRINUSE/.test(err.message) || attempt === 5) throw err;
        }
    }
}

async function startProxyOnce(name, { engine = "dynamodb", seed, rates, delayMs = 300, upstreamPort = upstream.port }) {
    const port = await freePort();
    const controlPort = await freePort();
    const args = [proxyScript, "--listen", String(port), "--upstream", `http://127.0.0.1:${upstreamPort}`,
                  "--engine", engine, "--seed", String(seed), "--delay-ms", String(delayMs),
                  "--control-port", String(controlPort)];
    if (rates !== undefined) args.push("--rates", rates);
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    const entry = { name, child, stdout: "", stderr: "", port, controlPort, seed, exit: null };
    children.push(entry);
    child.stdout.on("data", (c) => { entry.stdout += c; });
    child.stderr.on("data", (c) => { entry.stderr = (entry.stderr + c).slice(-20000); });
    entry.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(entry.exit = { code, signal })));
    const deadline = Date.now() + 10_000;
    while (!entry.stdout.includes("\n")) {
        if (entry.exit) throw new Error(`${name} exited during start-up: ${entry.stderr}`);
        if (Date.now() > deadline) throw new Error(`${name} printed no listening line within 10 s: ${entry.stderr}`);
        await sleep(20);
    }
    const line = entry.stdout.split("\n")[0];
    const m = /^fault_proxy listening on 127\.0\.0\.1:(\d+) seed (\d+) control 127\.0\.0\.1:(\d+)$/.exec(line);
    check(`${name}: listening line`, m && +m[1] === port && +m[2] === seed && +m[3] === controlPort, show(line));
    return entry;
}

async function stopProxy(entry) {
    if (entry.exit) return entry.exit;
    process.kill(entry.child.pid, "SIGTERM");
    const timer = setTimeout(() => { try { process.kill(entry.child.pid, "SIGKILL"); } catch {} }, 5000);
    const exit = await entry.exited;
    clearTimeout(timer);
    return exit;
}

async function stopAll() {
    for (const entry of children) if (!entry.exit) await stopProxy(entry);
    upstream.server?.closeAllConnections();
    upstream.server?.close();
}

// ---------------------------------------------------------------------------------------------
// Clients

const agentFor = (maxSockets) => new http.Agent({ keepAlive: true, maxSockets });

/** A plain request to the control server: resolves {status, json}. */
function control(proxy, method, pathAndQuery, body) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: proxy.controlPort, method, path: pathAndQuery,
                                   agent: false }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
                try {
                    resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString()) });
                } catch (e) {
                    reject(e);
                }
            });
        });
        req.on("error", reject);
        req.end(body);
    });
}

const HOST = "dynamodb.us-east-1.amazonaws.com";
const AMZ_DATE = "20240229T235959Z";
const AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=AKIDSDSTEST/20240229/us-east-1/dynamodb/aws4_request, " +
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, " +
                      "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

function dynamodbRequest(id) {
    const body = Buffer.from(JSON.stringify({ TableName: "t", Item: { pk: { S: `k${id}` } }, note: "é ✓" }));
    const headers = ["Host", HOST, "X-Amz-Date", AMZ_DATE, "Authorization", AUTHORIZATION,
                     "X-Amz-Target", "DynamoDB_20120810.PutItem", "Content-Type", "application/x-amz-json-1.0",
                     "x-ODD-case", "inner  double\tspaced", "Content-Length", String(body.length)];
    return { method: "POST", path: `/?id=${id}`, headers, body };
}

function azureRequest(id) {
    const body = Buffer.from(JSON.stringify({ PartitionKey: "p", RowKey: `r${id}` }));
    const headers = ["Host", "127.0.0.1:10002", "x-ms-date", "Thu, 29 Feb 2024 23:59:59 GMT", "x-ms-version", "2019-02-02",
                     "Authorization", "SharedKeyLite devstoreaccount1:c2lnbmF0dXJl", "Accept",
                     "application/json;odata=nometadata", "DataServiceVersion", "3.0;NetFx",
                     "Content-Type", "application/json", "Content-Length", String(body.length)];
    return { method: "POST", path: `/devstoreaccount1/t?id=${id}`, headers, body };
}

/**
 * Sends one request through the proxy. Resolves one of
 *   {outcome: "response", status, message, headers, rawHeaders, body, elapsed}
 *   {outcome: "truncated", status, expected, received, elapsed}   (headers came, then the end)
 *   {outcome: "reset", code, elapsed}                              (no answer at all)
 *   {outcome: "timeout", elapsed}
 */
function send(proxy, agent, request, timeoutMs) {
    return new Promise((resolve) => {
        const t0 = performance.now();
        let done = false;
        const finish = (result) => {
            if (done) return;
            done = true;
            result.elapsed = performance.now() - t0;
            resolve(result);
        };
        const req = http.request({ host: "127.0.0.1", port: proxy.port, method: request.method, path: request.path,
                                   headers: request.headers, agent });
        let response = null;
        req.setTimeout(timeoutMs, () => {
            finish({ outcome: "timeout" });
            req.destroy();
        });
        req.on("response", (res) => {
            response = res;
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => finish({ outcome: "response", status: res.statusCode, message: res.statusMessage,
                                         headers: res.headers, rawHeaders: res.rawHeaders,
                                         body: Buffer.concat(chunks) }));
            res.on("error", () => {});
            res.on("close", () => finish({ outcome: "truncated", status: res.statusCode,
                                           expected: Number(res.headers["content-length"]),
                                           received: Buffer.concat(chunks).length }));
        });
        req.on("error", (err) => {
            if (!response) finish({ outcome: "reset", code: err.code });
        });
        req.end(request.body);
    });
}

/** Runs requests 0..n-1 with `concurrency` in flight at a time; resolves the results by index. */
async function sendMany(proxy, n, { concurrency, make, timeoutMs, agent, firstId = 0 }) {
    const results = new Array(n);
    let next = 0;
    async function worker() {
        while (next < n) {
            const i = next++;
            results[i] = await send(proxy, agent, make(firstId + i), timeoutMs);
        }
    }
    await Promise.all(Array.from({ length: concurrency }, worker));
    return results;
}

// ---------------------------------------------------------------------------------------------
// Helpers for the checks

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
});
function crc32(bytes) {
    let crc = 0xffffffff;
    for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
}

function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** The kinds fault_proxy.mjs documents for `seed` and `rates`: one draw per request. */
function expectedKinds(seed, rates, n) {
    const random = mulberry32(seed);
    return Array.from({ length: n }, () => {
        const u = random();
        let edge = 0;
        for (const kind of KINDS) {
            edge += rates[kind] ?? 0;
            if (u < edge) return kind;
        }
        return "none";
    });
}
const parseRates = (text) => Object.fromEntries(text.split(",").map((p) => p.split("=")).map(([k, v]) => [k, +v]));

/** What the client can tell: the kind, given which ids the upstream saw; "ok" is none or delay. */
function clientKind(result, id, engine) {
    switch (result.outcome) {
    case "response":
        if (result.status === 200) return "ok";
        if (result.status === (engine === "dynamodb" ? 400 : 503)) return "throttle";
        if (result.status === 500) return "error500";
        return `status ${result.status}`;
    case "reset":
        return upstream.seen.has(String(id)) ? "reset_after" : "reset_before";
    case "truncated":
        return "truncate";
    default:
        return result.outcome;
    }
}

const idOf = (entry) => new URL(entry.path, "http://x.invalid").searchParams.get("id");

async function logById(proxy) {
    const { json } = await control(proxy, "GET", "/log");
    return new Map(json.entries.map((e) => [idOf(e), e]));
}

/** Checks the upstream got the request exactly as the client sent it. */
function receivedUnchanged(request, seen) {
    if (!seen) return "never arrived";
    if (seen.method !== request.method || seen.url !== request.path) return `${seen.method} ${seen.url}`;
    const sent = request.headers;
    const got = seen.rawHeaders.slice(0, sent.length);
    if (show(got) !== show(sent)) return `headers ${show(seen.rawHeaders)}`;
    const rest = seen.rawHeaders.slice(sent.length);
    if (rest.length !== 0 && show(rest) !== show(["Connection", "keep-alive"])) return `extra headers ${show(rest)}`;
    if (!seen.body.equals(request.body)) return `body ${seen.body.toString()}`;
    return null;
}

// ---------------------------------------------------------------------------------------------
// The tests

async function bulkDynamodb() {
    const rates = "throttle=0.1,error500=0.05,reset_before=0.05,reset_after=0.05,delay=0.03,truncate=0.05";
    const delayMs = 300;
    const proxy = await startProxy("dynamodb proxy", { seed: 12345, rates, delayMs });
    const n = 2000;
    const agent = agentFor(16);
    const results = await sendMany(proxy, n, { concurrency: 16, make: dynamodbRequest, timeoutMs: 10_000, agent });
    const { json: stats } = await control(proxy, "GET", "/stats");
    const log = await logById(proxy);

    check("2000 requests counted", stats.requests === n, show(stats));
    for (const kind of KINDS)
        check(`fault ${kind} occurred`, stats.faults[kind] > 0, show(stats.faults));
    const notForwarded = stats.faults.throttle + stats.faults.reset_before;
    check("upstream count == forwarded == requests - throttle - reset_before",
          upstream.count === stats.forwarded && stats.forwarded === n - notForwarded,
          `upstream ${upstream.count}, ${show(stats)}`);
    check("nothing in flight, no upstream errors, all forwarded applied",
          stats.inflight === 0 && stats.upstream_errors === 0 && stats.upstream_retries === 0 &&
          stats.aborted === 0 && stats.upstream_answered === stats.forwarded &&
          FORWARDED_LIST.every((k) => stats.applied[k] === stats.forwarded_faults[k]) &&
          stats.forwarded_faults.none === stats.none &&
          ["error500", "reset_after", "delay", "truncate"].every((k) => stats.forwarded_faults[k] === stats.faults[k]),
          show(stats));
    check("decision log covers every request", log.size === n, `${log.size}`);

    // Each request: what the client saw agrees with the proxy's decision and the upstream's view.
    const mismatches = [];
    const tally = {};
    for (let i = 0; i < n; i++) {
        const kind = log.get(String(i))?.kind;
        const result = results[i];
        const seen = upstream.seen.has(String(i));
        tally[kind] = (tally[kind] ?? 0) + 1;
        const seenOk = seen === FORWARDED.has(kind);
        const saw = clientKind(result, i, "dynamodb");
        const expect = kind === "none" || kind === "delay" ? "ok" : kind;
        const lateOk = kind !== "delay" || result.elapsed >= delayMs - 5;
        if (!seenOk || saw !== expect || !lateOk)
            mismatches.push(`#${i} ${kind}: client saw ${saw} after ${result.elapsed.toFixed(0)} ms, upstream saw it: ${seen}`);
    }
    check("each client outcome matches the proxy's decision and the upstream's view", mismatches.length === 0,
          mismatches.slice(0, 5).join("; "));
    check("log tally matches /stats", KINDS.every((k) => (tally[k] ?? 0) === stats.faults[k]) && tally.none === stats.none,
          `${show(tally)} vs ${show(stats.faults)}`);

    // DynamoDB-shaped errors.
    const errorProblems = [];
    for (const [status, type] of [[400, "ProvisionedThroughputExceededException"], [500, "InternalServerError"]]) {
        const answers = results.filter((r) => r.outcome === "response" && r.status === status);
        if (answers.length === 0) errorProblems.push(`no ${status}`);
        for (const r of answers) {
            let parsed = null;
            try { parsed = JSON.parse(r.body.toString()); } catch {}
            if (r.headers["x-amz-crc32"] !== String(crc32(r.body))) errorProblems.push(`${status} crc ${r.headers["x-amz-crc32"]}`);
            if (r.headers["content-type"] !== "application/x-amz-json-1.0") errorProblems.push(`${status} ${r.headers["content-type"]}`);
            if (!/^[A-Z0-9]{52}$/.test(r.headers["x-amzn-requestid"] ?? "")) errorProblems.push(`${status} request id`);
            if (parsed?.__type !== `com.amazonaws.dynamodb.v20120810#${type}` || typeof parsed.message !== "string")
                errorProblems.push(`${status} body ${r.body}`);
        }
    }
    check("DynamoDB 400 throttle and 500 bodies, x-amz-crc32 matches", errorProblems.length === 0,
          errorProblems.slice(0, 5).join("; "));

    // Truncated answers: the whole body's Content-Length, half of it received.
    const truncated = results.filter((r) => r.outcome === "truncated");
    check("truncated answers carry the full Content-Length and half the body",
          truncated.length > 0 && truncated.every((r) => r.status === 200 && r.expected > 0 &&
                                                         r.received === Math.floor(r.expected / 2)),
          show(truncated.slice(0, 3)));

    // Headers and bodies byte for byte, both ways.
    const unchanged = [];
    for (const [id, seen] of upstream.seen) {
        const problem = receivedUnchanged(dynamodbRequest(Number(id)), seen);
        if (problem) unchanged.push(`#${id}: ${problem}`);
    }
    check("Host, X-Amz-Date, Authorization, other headers and bodies reach the upstream unchanged",
          unchanged.length === 0 && upstream.seen.size === stats.forwarded, unchanged.slice(0, 3).join("; "));
    const oks = results.filter((r) => r.outcome === "response" && r.status === 200);
    const backProblems = oks.filter((r) => {
        const i = r.rawHeaders.indexOf("X-Upstream-CaSe");
        return r.message !== "All Good" || i < 0 || r.rawHeaders[i + 1] !== "Kept  As Is" ||
               JSON.parse(r.body.toString()).pad !== RESPONSE_PAD;
    });
    check("the upstream's status text, headers and body come back unchanged", oks.length > 0 && backProblems.length === 0,
          show(backProblems[0]));

    // Faults off: nothing injected.
    const off = await control(proxy, "POST", "/rates?all=0");
    check("POST /rates?all=0", off.status === 200 && KINDS.every((k) => off.json.rates[k] === 0), show(off.json));
    const before = { ...stats.faults };
    const calm = await sendMany(proxy, 200, { concurrency: 16, make: dynamodbRequest, timeoutMs: 10_000, agent,
                                             firstId: 10_000 });
    const { json: after } = await control(proxy, "GET", "/stats");
    check("with all rates 0 every request is answered 200 and no fault is counted",
          calm.every((r) => r.outcome === "response" && r.status === 200) && show(after.faults) === show(before) &&
          after.requests === n + 200 && upstream.count === after.forwarded,
          `${show(calm.find((r) => r.outcome !== "response" || r.status !== 200))} ${show(after)}`);

    // A JSON body switches delay on; a client that gives up meanwhile is dropped quietly.
    const on = await control(proxy, "POST", "/rates", JSON.stringify({ delay: 1 }));
    check("POST /rates with a JSON body", on.status === 200 && on.json.rates.delay === 1 && on.json.rates.throttle === 0,
          show(on.json));
    const upstreamBefore = upstream.count;
    const gone = await send(proxy, agentFor(1), dynamodbRequest(20_000), 100);
    await sleep(delayMs + 200);
    const { json: afterGone } = await control(proxy, "GET", "/stats");
    check("delay: the client timing out is dropped quietly, the request was applied",
          gone.outcome === "timeout" && afterGone.client_gone === 1 && afterGone.faults.delay === before.delay + 1 &&
          upstream.count === upstreamBefore + 1 && proxy.exit === null, `${show(gone)} ${show(afterGone)}`);
    // late: the request reaches the upstream only after the client gave up on it.
    const late = await control(proxy, "POST", "/rates", JSON.stringify({ delay: 0, late: 1 }));
    const upstreamBeforeLate = upstream.count;
    const gaveUp = await send(proxy, agentFor(1), dynamodbRequest(20_001), 100);
    const seenAtTimeout = upstream.count;
    await sleep(delayMs + 200);
    const { json: afterLate } = await control(proxy, "GET", "/stats");
    check("late: held past the client's timeout, then forwarded and applied; the answer dropped quietly",
          late.status === 200 && gaveUp.outcome === "timeout" && seenAtTimeout === upstreamBeforeLate &&
          upstream.count === upstreamBeforeLate + 1 && upstream.seen.has("20001") && afterLate.faults.late === 1 &&
          afterLate.applied.late === 1 && afterLate.client_gone === 2 && afterLate.late_ms === delayMs &&
          afterLate.inflight === 0, `${show(gaveUp)} ${seenAtTimeout} ${show(afterLate)}`);
    await control(proxy, "POST", "/rates", JSON.stringify({ delay: 1, late: 0 }));
    const bad = await control(proxy, "POST", "/rates?throttle=0.7&error500=0.7");
    const unknown = await control(proxy, "POST", "/rates?slow=0.1");
    const notJson = await control(proxy, "POST", "/rates", "{oops");
    const { json: kept } = await control(proxy, "GET", "/rates");
    check("invalid rates are refused with 400 and change nothing",
          bad.status === 400 && unknown.status === 400 && notJson.status === 400 && kept.rates.delay === 1 &&
          kept.rates.throttle === 0, `${show(bad)} ${show(unknown)} ${show(kept)}`);

    const reset = await control(proxy, "POST", "/reset-stats");
    const { json: emptyLog } = await control(proxy, "GET", "/log");
    check("POST /reset-stats zeroes the counters and the log",
          reset.status === 200 && reset.json.requests === 0 && reset.json.forwarded === 0 &&
          KINDS.every((k) => reset.json.faults[k] === 0) && emptyLog.entries.length === 0, show(reset.json));
    agent.destroy();
    return proxy;
}

const FORWARDED_LIST = [...FORWARDED];

async function determinism() {
    const rates = "throttle=0.1,error500=0.1,reset_before=0.1,reset_after=0.1,delay=0.05,truncate=0.1";
    const n = 200;
    const delayMs = 100;
    const seed = 4242;
    const runs = await Promise.all([["a", seed], ["b", seed], ["c", seed + 1]].map(async ([tag, s], r) => {
        const proxy = await startProxy(`sequential proxy ${tag} (seed ${s})`, { seed: s, rates, delayMs });
        const agent = agentFor(1);
        const firstId = 100_000 * (r + 1);
        const results = await sendMany(proxy, n, { concurrency: 1, make: dynamodbRequest, timeoutMs: 5000, agent, firstId });
        const { json } = await control(proxy, "GET", "/log");
        agent.destroy();
        const logKinds = json.entries.map((e) => e.kind);
        const inOrder = json.entries.every((e, i) => idOf(e) === String(firstId + i));
        const clientKinds = results.map((res, i) => clientKind(res, firstId + i, "dynamodb"));
        const lateOk = results.every((res, i) => logKinds[i] !== "delay" || res.elapsed >= delayMs - 5);
        return { proxy, logKinds, clientKinds, inOrder, lateOk };
    }));
    const [a, b, c] = runs;
    const expected = expectedKinds(seed, parseRates(rates), n);
    const fold = (k) => (k === "none" || k === "delay" ? "ok" : k);
    check("sequential requests arrive in order", runs.every((r) => r.inOrder && r.logKinds.length === n));
    check("same seed, same sequence of faults (proxy logs)", show(a.logKinds) === show(b.logKinds),
          `${a.logKinds.slice(0, 10)} vs ${b.logKinds.slice(0, 10)}`);
    check("same seed, same sequence of faults (as the clients saw them)", show(a.clientKinds) === show(b.clientKinds));
    check("the clients saw what the proxy logged", runs.every((r) => show(r.clientKinds) === show(r.logKinds.map(fold))));
    check("delayed answers came at least --delay-ms late", runs.every((r) => r.lateOk));
    check("the sequence is mulberry32(seed), one draw per request", show(a.logKinds) === show(expected),
          `${a.logKinds.slice(0, 10)} vs ${expected.slice(0, 10)}`);
    check("every kind occurs in the sequential run", KINDS.every((k) => a.logKinds.includes(k)));
    check("another seed gives another sequence", show(c.logKinds) !== show(a.logKinds));

    // Reseeding restarts the sequence.
    const reseed = await control(a.proxy, "POST", `/reseed?seed=${seed}`);
    await control(a.proxy, "POST", "/reset-stats");
    const agent = agentFor(1);
    const again = await sendMany(a.proxy, 40, { concurrency: 1, make: dynamodbRequest, timeoutMs: 5000, agent,
                                               firstId: 900_000 });
    agent.destroy();
    const { json } = await control(a.proxy, "GET", "/log");
    check("POST /reseed restarts the sequence", reseed.status === 200 && again.length === 40 &&
          show(json.entries.map((e) => e.kind)) === show(a.logKinds.slice(0, 40)));
    return runs.map((r) => r.proxy);
}

async function azure() {
    const proxy = await startProxy("azure proxy", { engine: "azure", seed: 99, rates: "throttle=0.3,error500=0.2" });
    const agent = agentFor(8);
    const firstId = 50_000;
    const upstreamBefore = upstream.count;
    const results = await sendMany(proxy, 150, { concurrency: 8, make: azureRequest, timeoutMs: 10_000, agent, firstId });
    agent.destroy();
    const { json: stats } = await control(proxy, "GET", "/stats");
    const busy = results.filter((r) => r.outcome === "response" && r.status === 503);
    const internal = results.filter((r) => r.outcome === "response" && r.status === 500);
    const odataCode = (r) => { try { return JSON.parse(r.body.toString())["odata.error"].code; } catch { return null; } };
    const odataValue = (r) => { try { return JSON.parse(r.body.toString())["odata.error"].message.value; } catch { return null; } };
    check("Azure throttle: 503, x-ms-error-code ServerBusy, odata.error body",
          busy.length === stats.faults.throttle && busy.length > 0 &&
          busy.every((r) => r.headers["x-ms-error-code"] === "ServerBusy" && odataCode(r) === "ServerBusy" &&
                            r.headers["content-type"].startsWith("application/json;odata=nometadata") &&
                            typeof odataValue(r) === "string" && r.headers["x-ms-request-id"]),
          show(busy[0]));
    check("Azure error500: 500, x-ms-error-code InternalError",
          internal.length === stats.faults.error500 && internal.length > 0 &&
          internal.every((r) => r.headers["x-ms-error-code"] === "InternalError" && odataCode(r) === "InternalError"),
          show(internal[0]));
    check("Azure: upstream count == forwarded == requests - throttle",
          upstream.count - upstreamBefore === stats.forwarded && stats.forwarded === 150 - stats.faults.throttle &&
          results.filter((r) => r.outcome === "response" && r.status === 200).length === stats.none,
          `upstream ${upstream.count - upstreamBefore}, ${show(stats)}`);
    const unchanged = [];
    for (let i = firstId; i < firstId + 150; i++) {
        if (!upstream.seen.has(String(i))) continue;
        const problem = receivedUnchanged(azureRequest(i), upstream.seen.get(String(i)));
        if (problem) unchanged.push(`#${i}: ${problem}`);
    }
    check("Azure headers (x-ms-date, SharedKeyLite Authorization, Host) reach the upstream unchanged",
          unchanged.length === 0, unchanged.slice(0, 3).join("; "));
    return proxy;
}

async function brokenUpstream() {
    // An upstream that accepts connections and drops them at once (a port nobody listens on
    // could be taken by another program meanwhile; this one is ours for the whole test).
    const dropper = net.createServer((socket) => socket.destroy());
    let dropperPort;
    for (let attempt = 1; ; attempt++) {
        dropperPort = await freePort();
        try {
            await new Promise((resolve, reject) => {
                dropper.once("error", reject);
                dropper.listen(dropperPort, "127.0.0.1", resolve);
            });
            break;
        } catch (err) {
            if (err.code !== "EADDRINUSE" || attempt === 5) throw err;
        }
    }
    const proxy = await startProxy("proxy with a broken upstream", { seed: 1, rates: "none", upstreamPort: dropperPort });
    const agent = agentFor(1);
    const first = await send(proxy, agent, dynamodbRequest(70_000), 5000);
    const second = await send(proxy, agent, dynamodbRequest(70_001), 5000);
    agent.destroy();
    dropper.close();
    const { json: stats } = await control(proxy, "GET", "/stats");
    const is502 = (r) => r.outcome === "response" && r.status === 502 &&
                         /ServiceUnavailableException/.test(r.body.toString()) &&
                         r.headers["x-amz-crc32"] === String(crc32(r.body));
    check("an upstream that drops the connection gives 502, and the proxy carries on",
          is502(first) && is502(second) && stats.upstream_errors === 2 && stats.inflight === 0 && proxy.exit === null,
          `${show(first.outcome)} ${first.status} ${show(stats)}`);
    return proxy;
}

async function main() {
    await startUpstream();
    const proxies = [await bulkDynamodb(), ...(await determinism()), await azure(), await brokenUpstream()];
    for (const proxy of proxies) {
        const exit = await stopProxy(proxy);
        const lines = proxy.stderr.split("\n").filter(Boolean);
        const repeated = lines.filter((l, i) => lines.indexOf(l) !== i);
        check(`${proxy.name}: SIGTERM exits 0, one stdout line, nothing fatal or repeated on stderr`,
              exit.code === 0 && proxy.stdout.split("\n").filter(Boolean).length === 1 &&
              !/fatal|internal error/.test(proxy.stderr) && repeated.length === 0,
              `${show(exit)} ${show(proxy.stdout)} ${proxy.stderr}`);
    }
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
