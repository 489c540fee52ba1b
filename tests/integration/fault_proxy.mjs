#!/usr/bin/env node
// Seeded fault-injecting HTTP/1.1 proxy, for testing how clients cope with throttling, server
// errors, connection resets, slow answers and truncated answers from DynamoDB or Azure Table
// Storage. Put it between a client and an emulator (the SigV4 gateway or azurite):
//
//   node tests/integration/fault_proxy.mjs --listen 28601 --upstream http://127.0.0.1:18001 \
//        --engine dynamodb|azure --seed 42
//        [--rates throttle=0.05,error500=0.025,reset_before=0.025,reset_after=0.025,delay=0.01,truncate=0.01]
//        [--delay-ms 3000] [--late-ms MS] [--control-port 28602]
//
// Every request, in arrival order, gets exactly one draw u in [0, 1) of a seeded PRNG
// (mulberry32, seeded with --seed, an integer in [0, 2^32 - 1]). u picks the first kind below,
// in the order listed, whose cumulative rate exceeds u; otherwise no fault. Kinds left out of
// --rates are 0; without --rates the defaults above apply; the rates may add up to at most 1.
//   throttle      not forwarded; answered with the engine's throttling error: DynamoDB 400
//                 ProvisionedThroughputExceededException (with x-amz-crc32), Azure 503 ServerBusy
//   error500      forwarded and applied upstream; the upstream's answer is read and discarded and
//                 the client gets 500 (DynamoDB InternalServerError, Azure InternalError)
//   reset_before  the client connection is reset (TCP RST) before anything is forwarded
//   reset_after   forwarded; once the upstream's whole answer is in, the client connection is reset
//   delay         forwarded; the upstream's answer is held for --delay-ms before it is sent (or
//                 dropped quietly if the client has gone meanwhile)
//   truncate      forwarded; the answer's headers (Content-Length of the whole body) and the first
//                 half of the body are sent, then the connection is reset
//   late          held for --late-ms (default: --delay-ms) and only then forwarded, whether or not the
//                 client is still there: a copy that reaches the service after the client gave up
//                 on it (and, typically, sent it again and moved on). The answer goes to the client
//                 if it is still there, else it is dropped quietly. Off unless --rates names it.
// With the same --seed and the same arrival order (e.g. one request at a time), the sequence of
// faults is the same. Requests without a fault are forwarded and the answer is streamed back.
//
// Forwarding: method, path and query as received; every request header as received (same names,
// case, values and order, Host included, so SigV4 / SharedKey signatures stay valid) except the
// hop-by-hop Connection, Keep-Alive and Proxy-Connection; the body unchanged. Upstream
// connections are kept alive. The answer's status, status text, headers (except the hop-by-hop
// ones) and body are passed back unchanged. An upstream that cannot be reached or drops the
// connection gives the client a 502 (engine-shaped error body).
//
// --listen 0 picks a free port. When ready, prints exactly one line on stdout:
//   fault_proxy listening on 127.0.0.1:PORT seed N
// followed on the same line by " control 127.0.0.1:PORT3" when --control-port is given (0 picks
// one). Everything listens on 127.0.0.1 only. Exits 0 on SIGTERM/SIGINT.
//
// Control server (only with --control-port), JSON answers:
//   GET  /stats          {seed, engine, delay_ms, late_ms, rates, requests, forwarded, inflight,
//                         upstream_answered, upstream_errors, upstream_retries, none,
//                         faults:{kind: n}, forwarded_faults:{kind: n}, applied:{kind: n},
//                         client_gone, aborted}
//                        requests counts every request (one draw each); forwarded those sent
//                        upstream (requests - throttle - reset_before - aborted); faults the draws
//                        of each kind; forwarded_faults and applied, for the forwarded kinds (none,
//                        error500, reset_after, delay, truncate, late), the requests sent upstream
//                        and those the upstream answered in full; inflight the forwarded requests
//                        still waiting for the upstream's answer (a late request counts as
//                        forwarded and in flight from its arrival, while it is held); upstream_retries the requests
//                        sent again because a kept-alive upstream connection had been closed
//                        before it answered; client_gone the answers dropped because the client
//                        had left; aborted the requests whose body never arrived (not forwarded)
//   POST /reset-stats    counters and the log back to 0 (rates and the PRNG are kept)
//   GET  /rates          {rates}
//   POST /rates?throttle=0&delay=0.5  or a JSON body {"throttle":0,...}: changes the named rates
//                        (all=X first sets every kind to X; all=0 switches faults off) for requests
//                        arriving afterwards; answers {rates}, or 400 if invalid
//   POST /reseed?seed=N  restarts the PRNG from seed N for the next request
//   GET  /log?since=SEQ  {next, entries:[{seq, kind, method, path, target}]}: the decision for
//                        each request (seq counts from 1, target is X-Amz-Target; at least the
//                        last 50000 are kept)
// To read the upstream's state around the proxy: POST /rates?all=0, then wait for GET /stats to
// show inflight 0 (delayed answers may still be held, but their requests are applied), or talk
// to the upstream directly.

import http from "node:http";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { parseArgs } from "node:util";

const KINDS = ["throttle", "error500", "reset_before", "reset_after", "delay", "truncate", "late"];
const FORWARDED_KINDS = ["none", "error500", "reset_after", "delay", "truncate", "late"];
const DEFAULT_RATES = { throttle: 0.05, error500: 0.025, reset_before: 0.025, reset_after: 0.025,
                        delay: 0.01, truncate: 0.01, late: 0 };
// Hop-by-hop headers that describe one connection; the rest pass through as received.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection"]);
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const LOG_LIMIT = 100_000;             // the decision log is cut to its last LOG_KEEP entries
const LOG_KEEP = 50_000;               // when it grows past LOG_LIMIT

// ---------------------------------------------------------------------------------------------
// Configuration

function usage(message) {
    console.error(`fault_proxy: ${message}`);
    console.error("usage: fault_proxy.mjs --listen PORT --upstream http://127.0.0.1:PORT --engine dynamodb|azure " +
                  "--seed N [--rates kind=p,...] [--delay-ms 3000] [--control-port PORT]");
    process.exit(2);
}

function parsePort(name, value) {
    const port = Number(value);
    if (!/^\d+$/.test(value ?? "") || port > 65535) usage(`bad --${name} ${value}`);
    return port;
}

/** "throttle=0.1,delay=0.2" -> {kind: rate} (kinds left out are 0); throws on anything invalid. */
function parseRatesArg(text) {
    const rates = Object.fromEntries(KINDS.map((k) => [k, 0]));
    for (const part of text.split(",")) {
        if (!part.trim() || part.trim() === "none") continue;
        const eq = part.indexOf("=");
        if (eq < 0) throw new Error(`'${part}' is not kind=rate`);
        rates[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    return checkRates(rates);
}

/** Validates {kind: number-or-string}: known kinds, each in [0, 1], sum at most 1. */
function checkRates(rates) {
    const out = {};
    for (const [kind, value] of Object.entries(rates)) {
        if (!KINDS.includes(kind)) throw new Error(`unknown fault kind '${kind}' (kinds: ${KINDS.join(", ")})`);
        const rate = typeof value === "number" ? value : (String(value).trim() === "" ? NaN : Number(value));
        if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`rate of ${kind} must be in [0, 1], got '${value}'`);
        out[kind] = rate;
    }
    const sum = KINDS.reduce((s, k) => s + (out[k] ?? 0), 0);
    if (sum > 1 + 1e-9) throw new Error(`the rates add up to ${sum}, more than 1`);
    return out;
}

function readConfig() {
    let values;
    try {
        ({ values } = parseArgs({
            options: {
                listen: { type: "string" },
                upstream: { type: "string" },
                engine: { type: "string" },
                seed: { type: "string" },
                rates: { type: "string" },
                "delay-ms": { type: "string", default: "3000" },
                "late-ms": { type: "string" },
                "control-port": { type: "string" },
            },
            strict: true,
        }));
    } catch (e) {
        usage(e.message);
    }
    for (const required of ["listen", "upstream", "engine", "seed"])
        if (values[required] === undefined) usage(`--${required} is required`);
    const listen = parsePort("listen", values.listen);
    const controlPort = values["control-port"] === undefined ? undefined
                                                              : parsePort("control-port", values["control-port"]);
    if (values.engine !== "dynamodb" && values.engine !== "azure") usage(`bad --engine ${values.engine}`);
    if (!/^\d+$/.test(values.seed) || Number(values.seed) > 0xffffffff)
        usage(`bad --seed ${values.seed} (an integer in [0, 4294967295])`);
    const delayMs = Number(values["delay-ms"]);
    if (!/^\d+$/.test(values["delay-ms"])) usage(`bad --delay-ms ${values["delay-ms"]}`);
    if (values["late-ms"] !== undefined && !/^\d+$/.test(values["late-ms"])) usage(`bad --late-ms ${values["late-ms"]}`);
    const lateMs = values["late-ms"] === undefined ? delayMs : Number(values["late-ms"]);
    let upstream;
    try {
        upstream = new URL(values.upstream);
    } catch {
        usage(`bad --upstream ${values.upstream}`);
    }
    if (upstream.protocol !== "http:" || upstream.hostname !== "127.0.0.1" || !upstream.port ||
        (upstream.pathname !== "/" && upstream.pathname !== ""))
        usage("--upstream must be http://127.0.0.1:PORT");
    let rates = { ...DEFAULT_RATES };
    if (values.rates !== undefined) {
        try {
            rates = parseRatesArg(values.rates);
        } catch (e) {
            usage(`bad --rates: ${e.message}`);
        }
    }
    return {
        listen,
        controlPort,
        upstream: { host: upstream.hostname, port: Number(upstream.port) },
        engine: values.engine,
        seed: Number(values.seed),
        rates,
        delayMs,
        lateMs,
    };
}

const config = readConfig();

// ---------------------------------------------------------------------------------------------
// Deterministic choice

/** mulberry32: a small 32-bit PRNG; next() gives a uniform number in [0, 1). */
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

let random = mulberry32(config.seed);
let rates = { ...config.rates };

/** One draw per request: the fault kind, or "none". */
function chooseFault() {
    const u = random();
    let edge = 0;
    for (const kind of KINDS) {
        edge += rates[kind];
        if (u < edge) return kind;
    }
    return "none";
}

// ---------------------------------------------------------------------------------------------
// CRC32 (IEEE), for DynamoDB's x-amz-crc32

const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        table[n] = c >>> 0;
    }
    return table;
})();

function crc32Table(bytes) {
    let crc = 0xffffffff;
    for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
}

const crc32 = typeof zlib.crc32 === "function" ? (bytes) => zlib.crc32(bytes) >>> 0 : crc32Table;

// ---------------------------------------------------------------------------------------------
// Counters, decision log and one-line-per-kind logging

function freshStats() {
    return {
        requests: 0,             // requests received (each had one draw)
        forwarded: 0,            // sent to the upstream
        upstream_answered: 0,    // of those, answered in full by the upstream
        upstream_errors: 0,      // of those, failed (unreachable upstream, broken answer)
        upstream_retries: 0,     // sent again after a reused upstream connection failed
        none: 0,                 // draws without a fault
        faults: Object.fromEntries(KINDS.map((k) => [k, 0])),
        forwarded_faults: Object.fromEntries(FORWARDED_KINDS.map((k) => [k, 0])),
        applied: Object.fromEntries(FORWARDED_KINDS.map((k) => [k, 0])),
        client_gone: 0,          // answers not delivered because the client had gone
        aborted: 0,              // request body never arrived in full; not forwarded
    };
}
let stats = freshStats();
let inflight = 0;
let seq = 0;
let decisionLog = [];

const logged = new Set();
function logOnce(kind, message) {
    if (logged.has(kind)) return;
    logged.add(kind);
    console.error(`fault_proxy: ${message} (further ${kind} not logged)`);
}

// ---------------------------------------------------------------------------------------------
// Engine-shaped errors

function dynamodbRequestId() {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    return Array.from(crypto.randomBytes(52), (b) => alphabet[b % alphabet.length]).join("");
}

/** Sends an error the way the engine would: [status, type/code, message]. */
function sendEngineError(req, res, status, code, message) {
    if (res.headersSent || res.destroyed) return;
    let body;
    let headers;
    if (config.engine === "dynamodb") {
        const type = code.includes("#") ? code : `com.amazonaws.dynamodb.v20120810#${code}`;
        body = Buffer.from(JSON.stringify({ __type: type, message }));
        headers = {
            "x-amzn-RequestId": dynamodbRequestId(),
            "x-amz-crc32": String(crc32(body)),
            "Content-Type": "application/x-amz-json-1.0",
            "Content-Length": String(body.length),
        };
    } else {
        const requestId = crypto.randomUUID();
        const value = `${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}`;
        body = Buffer.from(JSON.stringify({ "odata.error": { code, message: { lang: "en-US", value } } }));
        headers = {
            "Content-Type": "application/json;odata=nometadata",
            "Content-Length": String(body.length),
            "x-ms-request-id": requestId,
            "x-ms-version": req.headers["x-ms-version"] ?? "2019-02-02",
            "x-ms-error-code": code,
        };
    }
    res.writeHead(status, headers);
    res.end(body);
}

function sendThrottle(req, res) {
    if (config.engine === "dynamodb")
        sendEngineError(req, res, 400, "ProvisionedThroughputExceededException",
                        "The level of configured provisioned throughput for the table was exceeded. " +
                        "Consider increasing your provisioning level with the UpdateTable API.");
    else
        sendEngineError(req, res, 503, "ServerBusy",
                        "The server is currently unable to receive requests. Please retry your request.");
}

function sendInternalError(req, res) {
    if (config.engine === "dynamodb")
        sendEngineError(req, res, 500, "InternalServerError", "Internal server error");
    else
        sendEngineError(req, res, 500, "InternalError",
                        "The server encountered an internal error. Please retry the request.");
}

function sendUpstreamError(req, res, err) {
    const message = `fault_proxy: upstream error: ${err.message}`;
    if (config.engine === "dynamodb") sendEngineError(req, res, 502, "com.amazon.coral.service#ServiceUnavailableException", message);
    else sendEngineError(req, res, 502, "ServiceUnavailable", message);
}

// ---------------------------------------------------------------------------------------------
// Forwarding

// Keep-alive to the upstream. Idle sockets are dropped after 4 s, before a Node server's default
// 5 s keep-alive timeout closes them under us; a request that meets a closed reused socket anyway
// is sent again on another one.
const agent = new http.Agent({ keepAlive: true, timeout: 4000, maxSockets: 256 });

/** Raw header list [name, value, ...] without the hop-by-hop headers; optionally others too. */
function passHeaders(rawHeaders, skip) {
    const out = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const lower = rawHeaders[i].toLowerCase();
        if (HOP_BY_HOP.has(lower) || (skip && skip.has(lower))) continue;
        out.push(rawHeaders[i], rawHeaders[i + 1]);
    }
    return out;
}

/**
 * Sends the request upstream. onResponse(upstreamRes) gets the answer as a stream;
 * onError(err) is called if no answer came.
 */
function sendUpstream(req, body, onResponse, onError, attempt = 1) {
    const upstreamReq = http.request({
        host: config.upstream.host,
        port: config.upstream.port,
        method: req.method,
        path: req.url,
        headers: passHeaders(req.rawHeaders),
        agent,
    });
    let answered = false;
    upstreamReq.on("response", (upstreamRes) => {
        answered = true;
        onResponse(upstreamRes);
    });
    upstreamReq.on("error", (err) => {
        if (answered) return;                   // reported through the response stream
        if (upstreamReq.reusedSocket && attempt < 4 && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
            stats.upstream_retries++;
            logOnce(`retry-${err.code}`, `reused upstream connection failed (${err.message}); sending again on another`);
            return sendUpstream(req, body, onResponse, onError, attempt + 1);
        }
        onError(err);
    });
    upstreamReq.end(body);
}

/** Reads a whole upstream answer: resolves {status, message, rawHeaders, body}; rejects on error. */
function forwardBuffered(req, body) {
    return new Promise((resolve, reject) => {
        sendUpstream(req, body, (upstreamRes) => {
            const chunks = [];
            upstreamRes.on("data", (c) => chunks.push(c));
            upstreamRes.on("end", () => resolve({ status: upstreamRes.statusCode, message: upstreamRes.statusMessage,
                                                  rawHeaders: upstreamRes.rawHeaders, body: Buffer.concat(chunks) }));
            upstreamRes.on("error", reject);
            upstreamRes.on("aborted", () => reject(new Error("upstream answer aborted")));
        }, reject);
    });
}

function clientGone(req, res) {
    return res.destroyed || req.socket.destroyed;
}

/** TCP reset of the client's connection (plain close where a reset is impossible). */
function resetClient(socket) {
    if (!socket || socket.destroyed) return;
    try {
        if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
        else socket.destroy();
    } catch {
        socket.destroy();
    }
}

function noteForwarded(kind) {
    stats.forwarded++;
    stats.forwarded_faults[kind]++;
    inflight++;
}
function noteAnswered(kind) {
    inflight--;
    stats.upstream_answered++;
    stats.applied[kind]++;
}
function noteUpstreamError(err) {
    inflight--;
    stats.upstream_errors++;
    logOnce(`upstream-${err.code ?? err.message}`, `upstream error: ${err.message}`);
}

/** No fault: forward and stream the answer back as it comes. */
function forwardStreaming(req, res, body) {
    noteForwarded("none");
    sendUpstream(req, body, (upstreamRes) => {
        let done = false;
        const finish = (ok, err) => {
            if (done) return;
            done = true;
            if (ok) noteAnswered("none");
            else noteUpstreamError(err);
        };
        upstreamRes.on("end", () => finish(true));
        upstreamRes.on("aborted", () => {
            finish(false, new Error("upstream answer aborted"));
            resetClient(req.socket);
        });
        upstreamRes.on("error", (err) => {
            finish(false, err);
            resetClient(req.socket);            // the client cannot get the whole answer now
        });
        if (clientGone(req, res)) {
            stats.client_gone++;
            upstreamRes.resume();
            return;
        }
        res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, passHeaders(upstreamRes.rawHeaders));
        upstreamRes.on("data", (chunk) => {
            if (clientGone(req, res)) return;        // keep reading so the upstream connection stays usable
            if (!res.write(chunk)) {
                upstreamRes.pause();
                res.once("drain", () => upstreamRes.resume());
            }
        });
        upstreamRes.on("end", () => { if (!clientGone(req, res)) res.end(); });
        res.on("close", () => upstreamRes.resume());
    }, (err) => {
        noteUpstreamError(err);
        sendUpstreamError(req, res, err);
    });
}

/** The forwarded faults: the upstream's whole answer first, then what the fault does with it. */
async function forwardFaulty(kind, req, res, body) {
    noteForwarded(kind);
    if (kind === "late") await new Promise((resolve) => setTimeout(resolve, config.lateMs));
    let answer;
    try {
        answer = await forwardBuffered(req, body);
        noteAnswered(kind);
    } catch (err) {
        noteUpstreamError(err);
        answer = null;
    }
    switch (kind) {
    case "error500":
        if (clientGone(req, res)) stats.client_gone++;
        else sendInternalError(req, res);
        return;
    case "reset_after":
        resetClient(req.socket);
        return;
    case "delay":
    case "late":
        if (kind === "delay") await new Promise((resolve) => setTimeout(resolve, config.delayMs));
        if (clientGone(req, res)) {
            stats.client_gone++;
            return;
        }
        if (!answer) return sendUpstreamError(req, res, new Error("no answer"));
        res.writeHead(answer.status, answer.message, passHeaders(answer.rawHeaders));
        res.end(answer.body);
        return;
    case "truncate": {
        if (clientGone(req, res)) {
            stats.client_gone++;
            return;
        }
        if (!answer) return resetClient(req.socket);
        const headers = passHeaders(answer.rawHeaders, new Set(["content-length", "transfer-encoding"]));
        headers.push("Content-Length", String(answer.body.length));
        res.writeHead(answer.status, answer.message, headers);
        res.flushHeaders();                      // the headers go out even if the half body is empty
        const half = answer.body.subarray(0, Math.floor(answer.body.length / 2));
        // Reset only once the headers and the half body are in the kernel, so that they arrive.
        res.write(half, () => setTimeout(() => resetClient(req.socket), 10));
        return;
    }
    }
}

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
        req.on("aborted", () => reject(new Error("request aborted")));
        req.on("close", () => { if (!req.complete) reject(new Error("request aborted")); });
    });
}

async function handle(req, res) {
    // The draw happens here, synchronously, so that it follows the order in which requests arrive.
    const kind = chooseFault();
    stats.requests++;
    if (kind === "none") stats.none++;
    else stats.faults[kind]++;
    decisionLog.push({ seq: ++seq, kind, method: req.method, path: req.url,
                       target: req.headers["x-amz-target"] ?? null });
    if (decisionLog.length > LOG_LIMIT) decisionLog = decisionLog.slice(-LOG_KEEP);

    if (kind === "reset_before") return resetClient(req.socket);

    let body;
    try {
        body = await readBody(req);
    } catch (err) {
        stats.aborted++;
        logOnce(`client-body-${err.message}`, `client request not read in full: ${err.message}`);
        return;
    }
    if (kind === "throttle") return sendThrottle(req, res);
    if (kind === "none") return forwardStreaming(req, res, body);
    return forwardFaulty(kind, req, res, body);
}

// ---------------------------------------------------------------------------------------------
// Servers

function quietSocket(socket) {
    socket.on("error", (err) => logOnce(`client-${err.code ?? err.message}`, `client connection: ${err.message}`));
}

const server = http.createServer((req, res) => {
    res.on("error", (err) => logOnce(`client-${err.code ?? err.message}`, `client connection: ${err.message}`));
    handle(req, res).catch((err) => {
        logOnce(`internal-${err.message}`, `internal error: ${err.stack ?? err}`);
        if (!res.headersSent && !clientGone(req, res)) sendUpstreamError(req, res, err);
        else resetClient(req.socket);
    });
});
server.keepAliveTimeout = 60_000;      // be generous to clients' connection pools
server.headersTimeout = 65_000;
server.requestTimeout = 0;
server.on("connection", quietSocket);
server.on("clientError", (err, socket) => {
    logOnce(`client-${err.code ?? err.message}`, `client connection: ${err.message}`);
    if (err.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
});

function sendJson(res, status, value) {
    const body = JSON.stringify(value);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

function statsJson() {
    return { seed: config.seed, engine: config.engine, delay_ms: config.delayMs, late_ms: config.lateMs, rates, ...stats,
             inflight };
}

async function handleControl(req, res) {
    const url = new URL(req.url, "http://control.invalid");
    const body = await readBody(req);
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
    case "GET /stats":
        return sendJson(res, 200, statsJson());
    case "POST /reset-stats":
        stats = freshStats();
        decisionLog = [];
        return sendJson(res, 200, statsJson());
    case "GET /rates":
        return sendJson(res, 200, { rates });
    case "POST /rates": {
        let changes = Object.fromEntries(url.searchParams);
        if (body.length > 0) {
            try {
                changes = { ...changes, ...JSON.parse(body.toString("utf8")) };
            } catch (e) {
                return sendJson(res, 400, { error: `body is not JSON: ${e.message}` });
            }
        }
        const next = { ...rates };
        try {
            if ("all" in changes) {
                for (const k of KINDS) next[k] = changes.all;
                delete changes.all;
            }
            Object.assign(next, changes);
            rates = { ...rates, ...checkRates(next) };
        } catch (e) {
            return sendJson(res, 400, { error: e.message, rates });
        }
        return sendJson(res, 200, { rates });
    }
    case "POST /reseed": {
        const seed = url.searchParams.get("seed");
        if (!/^\d+$/.test(seed ?? "") || Number(seed) > 0xffffffff)
            return sendJson(res, 400, { error: "seed must be an integer in [0, 4294967295]" });
        random = mulberry32(Number(seed));
        return sendJson(res, 200, { seed: Number(seed) });
    }
    case "GET /log": {
        const since = Number(url.searchParams.get("since") ?? 0) || 0;
        return sendJson(res, 200, { next: seq + 1, entries: decisionLog.filter((e) => e.seq >= since) });
    }
    default:
        return sendJson(res, 404, { error: `no ${route}; try GET /stats, POST /reset-stats, GET|POST /rates, ` +
                                           "POST /reseed?seed=N, GET /log?since=SEQ" });
    }
}

const control = config.controlPort === undefined ? null : http.createServer((req, res) => {
    res.on("error", () => {});
    handleControl(req, res).catch((err) => {
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: err.message });
    });
});
if (control) control.on("connection", quietSocket);

function listen(srv, port, what) {
    return new Promise((resolve) => {
        srv.once("error", (err) => {
            console.error(`fault_proxy: cannot listen (${what}) on 127.0.0.1:${port}: ${err.message}`);
            process.exit(1);
        });
        srv.listen(port, "127.0.0.1", () => resolve(srv.address().port));
    });
}

// A broken connection must never take the proxy down: such errors are logged once and ignored.
const SOCKET_ERRORS = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ERR_STREAM_DESTROYED",
                               "ERR_STREAM_WRITE_AFTER_END", "ERR_SOCKET_CLOSED", "ERR_HTTP_HEADERS_SENT"]);
process.on("uncaughtException", (err) => {
    if (SOCKET_ERRORS.has(err.code)) return logOnce(`uncaught-${err.code}`, `ignored: ${err.message}`);
    console.error(`fault_proxy: fatal: ${err.stack ?? err}`);
    process.exit(1);
});

const port = await listen(server, config.listen, "proxy");
const controlPort = control ? await listen(control, config.controlPort, "control") : undefined;
console.log(`fault_proxy listening on 127.0.0.1:${port} seed ${config.seed}` +
            (control ? ` control 127.0.0.1:${controlPort}` : ""));

function shutdown(signal) {
    const f = stats.faults;
    console.error(`fault_proxy: ${signal}, shutting down (requests ${stats.requests}, forwarded ${stats.forwarded}, ` +
                  KINDS.map((k) => `${k} ${f[k]}`).join(", ") + ")");
    server.close();
    control?.close();
    server.closeAllConnections();
    control?.closeAllConnections();
    agent.destroy();
    process.exit(0);
}
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
