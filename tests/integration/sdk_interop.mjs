#!/usr/bin/env node
// Interop peer for the C++ DynamoDB integration tests: reads and writes items with AWS's
// official JS SDK v3 (@aws-sdk/client-dynamodb), so the tests can check that sds and the SDK
// agree on the documented data layout (DESIGN.md, "Data layout"). All traffic goes to
// AWS_ENDPOINT_URL_DYNAMODB, i.e. the signature-verifying gateway.
//
//   node tests/integration/sdk_interop.mjs get TABLE KEY
//        prints the item as the SDK returns it, as JSON ({"key":{"S":"..."},"data":{"S":"..."}};
//        binary values as {"B":"<base64>"}), or null if there is none
//   node tests/integration/sdk_interop.mjs put-text TABLE KEY TEXT
//   node tests/integration/sdk_interop.mjs put-binary TABLE KEY BASE64
//   node tests/integration/sdk_interop.mjs put-counter-shard TABLE COUNTER N VALUE
//        writes {key: "COUNTER_shard_N", data: {N: VALUE}}
//   node tests/integration/sdk_interop.mjs put-shard-count TABLE COUNTER N
//        writes {key: "COUNTER_shards", shards: {N: N}}
//   node tests/integration/sdk_interop.mjs create-table TABLE
//        hash key `key` (S), PAY_PER_REQUEST; an existing table is fine; waits until ACTIVE
//
// Environment: AWS_ENDPOINT_URL_DYNAMODB, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION (default us-east-1), AWS_SESSION_TOKEN (optional); scripts/emulators.sh prints
// them. Exit 0 on success; any error (usage errors too) goes to stderr with exit 1.

import { setTimeout as sleep } from "node:timers/promises";
import {
    DynamoDBClient, GetItemCommand, PutItemCommand, CreateTableCommand, DescribeTableCommand,
} from "@aws-sdk/client-dynamodb";

// The SDK warns on stderr that future releases need node >= 22; noise for a pinned test peer.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

class UsageError extends Error {}

function env(name) {
    const value = process.env[name];
    if (!value) throw new UsageError(`${name} is not set (see scripts/emulators.sh start)`);
    return value;
}

function client() {
    const endpoint = env("AWS_ENDPOINT_URL_DYNAMODB");
    const host = new URL(endpoint).hostname;
    if (host !== "127.0.0.1" && host !== "localhost")
        throw new UsageError(`refusing to talk to ${endpoint}: this tool is for the local emulators only`);
    return new DynamoDBClient({
        endpoint,
        region: process.env.AWS_REGION || "us-east-1",
        credentials: {
            accessKeyId: env("AWS_ACCESS_KEY_ID"),
            secretAccessKey: env("AWS_SECRET_ACCESS_KEY"),
            ...(process.env.AWS_SESSION_TOKEN ? { sessionToken: process.env.AWS_SESSION_TOKEN } : {}),
        },
    });
}

function integer(text, what, min = null) {
    if (!/^-?\d+$/.test(text ?? "") || (min !== null && BigInt(text) < BigInt(min)))
        throw new UsageError(`${what} must be an integer${min !== null ? ` >= ${min}` : ""}, got '${text}'`);
    return BigInt(text).toString();   // DynamoDB numbers travel as strings; keeps 64-bit values exact
}

/** JSON of an item as the SDK returns it; Uint8Array (B, BS) becomes base64. */
function itemJson(item) {
    return JSON.stringify(item ?? null, (_key, value) =>
        value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.length).toString("base64") : value);
}

async function put(table, item) {
    await client().send(new PutItemCommand({ TableName: table, Item: item }));
}

const commands = {
    async get(table, key) {
        const out = await client().send(new GetItemCommand({
            TableName: table, Key: { key: { S: key } }, ConsistentRead: true,
        }));
        console.log(itemJson(out.Item));
    },
    async "put-text"(table, key, text) {
        await put(table, { key: { S: key }, data: { S: text } });
    },
    async "put-binary"(table, key, base64) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0)
            throw new UsageError(`'${base64}' is not base64`);
        await put(table, { key: { S: key }, data: { B: new Uint8Array(Buffer.from(base64, "base64")) } });
    },
    async "put-counter-shard"(table, counter, n, value) {
        const shard = integer(n, "N", 1);
        await put(table, { key: { S: `${counter}_shard_${shard}` }, data: { N: integer(value, "VALUE") } });
    },
    async "put-shard-count"(table, counter, n) {
        await put(table, { key: { S: `${counter}_shards` }, shards: { N: integer(n, "N", 1) } });
    },
    async "create-table"(table) {
        const db = client();
        try {
            await db.send(new CreateTableCommand({
                TableName: table,
                AttributeDefinitions: [{ AttributeName: "key", AttributeType: "S" }],
                KeySchema: [{ AttributeName: "key", KeyType: "HASH" }],
                BillingMode: "PAY_PER_REQUEST",
            }));
        } catch (err) {
            if (err.name !== "ResourceInUseException") throw err;   // exists already: fine
        }
        const deadline = Date.now() + 60_000;
        for (;;) {
            const { Table } = await db.send(new DescribeTableCommand({ TableName: table }));
            if (Table?.TableStatus === "ACTIVE") return;
            if (Date.now() > deadline) throw new Error(`table ${table} is still ${Table?.TableStatus} after 60 s`);
            await sleep(100);
        }
    },
};
const arity = { get: 2, "put-text": 3, "put-binary": 3, "put-counter-shard": 4, "put-shard-count": 3, "create-table": 1 };

const [command, ...args] = process.argv.slice(2);
try {
    if (!(command in commands) || args.length !== arity[command])
        throw new UsageError("usage: sdk_interop.mjs get TABLE KEY | put-text TABLE KEY TEXT | " +
                             "put-binary TABLE KEY BASE64 | put-counter-shard TABLE COUNTER N VALUE | " +
                             "put-shard-count TABLE COUNTER N | create-table TABLE");
    await commands[command](...args);
} catch (err) {
    if (err instanceof UsageError) {
        console.error(`sdk_interop: ${err.message}`);
        process.exit(1);
    }
    const status = err.$metadata?.httpStatusCode ? ` (HTTP ${err.$metadata.httpStatusCode})` : "";
    console.error(`sdk_interop: ${command}: ${err.name}${status}: ${err.message}`);
    process.exit(1);
}
