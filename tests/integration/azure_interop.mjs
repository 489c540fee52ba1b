#!/usr/bin/env node
// Interop peer for the C++ Azure integration tests: reads and writes entities with
// Microsoft's official JS client (@azure/data-tables), so the tests can check that sds and
// the SDK agree on the documented data layout (DESIGN.md, "Data layout"; RowKey is "").
//
//   node tests/integration/azure_interop.mjs get TABLE KEY
//        prints the entity's properties as the SDK returns them, typed, as JSON:
//        {"data":{"String":"..."}} / {"Binary":"<base64>"} / {"Int64":"7"}; null if none
//   node tests/integration/azure_interop.mjs put-text TABLE KEY TEXT
//   node tests/integration/azure_interop.mjs put-binary TABLE KEY BASE64
//   node tests/integration/azure_interop.mjs put-counter-shard TABLE COUNTER N VALUE
//        writes PartitionKey "COUNTER_shard_N" with data: Int64 VALUE
//   node tests/integration/azure_interop.mjs put-shard-count TABLE COUNTER N
//        writes PartitionKey "COUNTER_shards" with shards: Int64 N
//   node tests/integration/azure_interop.mjs create-table TABLE      an existing table is fine
//   node tests/integration/azure_interop.mjs table-sas TABLE          prints a table SAS (query, all
//        data permissions, valid for an hour) made by the SDK's own generateTableSas
//
// Environment, as the Azure CLI reads it: AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, and
// SDS_AZURE_TABLE_ENDPOINT (the emulator's table endpoint). Exit 0 on success; any error
// (usage errors too) goes to stderr with exit 1.

import { AzureNamedKeyCredential, TableClient, TableServiceClient, generateTableSas } from "@azure/data-tables";

class UsageError extends Error {}

function env(name) {
    const value = process.env[name];
    if (!value) throw new UsageError(`${name} is not set (see scripts/emulators.sh start)`);
    return value;
}

function endpoint() {
    const url = env("SDS_AZURE_TABLE_ENDPOINT");
    const host = new URL(url).hostname;
    if (host !== "127.0.0.1" && host !== "localhost")
        throw new UsageError(`refusing to talk to ${url}: this tool is for the local emulator only`);
    return url;
}

function credential() {
    return new AzureNamedKeyCredential(env("AZURE_STORAGE_ACCOUNT"), env("AZURE_STORAGE_KEY"));
}

function table(name) {
    return new TableClient(endpoint(), name, credential(), { allowInsecureConnection: true });
}

function integer(text, what) {
    if (!/^-?\d+$/.test(text ?? "")) throw new UsageError(`${what} must be an integer, got '${text}'`);
    return BigInt(text).toString();
}

function typed(value) {
    if (value instanceof Uint8Array) return { Binary: Buffer.from(value).toString("base64") };
    if (typeof value === "bigint") return { Int64: value.toString() };
    if (value && typeof value === "object" && value.type === "Int64") return { Int64: String(value.value) };
    if (typeof value === "string") return { String: value };
    return { Other: value };
}

const [command, ...args] = process.argv.slice(2);
try {
    switch (command) {
    case "get": {
        const [t, key] = args;
        try {
            const e = await table(t).getEntity(key, "", { disableTypeConversion: false, useInt64: true });
            const out = {};
            for (const [name, value] of Object.entries(e)) {
                if (["partitionKey", "rowKey", "timestamp", "etag", "odata.metadata"].includes(name)) continue;
                out[name] = typed(value);
            }
            console.log(JSON.stringify(out));
        } catch (e) {
            if (e.statusCode === 404) console.log("null");
            else throw e;
        }
        break;
    }
    case "put-text": {
        const [t, key, text] = args;
        await table(t).upsertEntity({ partitionKey: key, rowKey: "", data: text }, "Replace");
        break;
    }
    case "put-binary": {
        const [t, key, b64] = args;
        await table(t).upsertEntity({ partitionKey: key, rowKey: "", data: new Uint8Array(Buffer.from(b64, "base64")) },
                                    "Replace");
        break;
    }
    case "put-counter-shard": {
        const [t, counter, n, value] = args;
        await table(t).upsertEntity({ partitionKey: `${counter}_shard_${integer(n, "N")}`, rowKey: "",
                                      data: { value: integer(value, "VALUE"), type: "Int64" } }, "Replace");
        break;
    }
    case "put-shard-count": {
        const [t, counter, n] = args;
        await table(t).upsertEntity({ partitionKey: `${counter}_shards`, rowKey: "",
                                      shards: { value: integer(n, "N"), type: "Int64" } }, "Replace");
        break;
    }
    case "create-table": {
        const [t] = args;
        const service = new TableServiceClient(endpoint(), credential(), { allowInsecureConnection: true });
        await service.createTable(t);  // an existing table is not an error for this client
        break;
    }
    case "table-sas": {
        const [t] = args;
        const sas = generateTableSas(t, credential(), {
            permissions: { query: true, add: true, update: true, delete: true },
            expiresOn: new Date(Date.now() + 3600 * 1000),
        });
        console.log(sas.startsWith("?") ? sas.slice(1) : sas);
        break;
    }
    default:
        throw new UsageError(`unknown command '${command ?? ""}'`);
    }
} catch (e) {
    console.error(`azure_interop: ${e instanceof UsageError ? e.message : e.stack ?? e}`);
    process.exit(1);
}
