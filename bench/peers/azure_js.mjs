// Benchmark peer: the official Azure Tables client for JavaScript (@azure/data-tables)
// used the obvious way: one TableClient with an AzureNamedKeyCredential (the SDK
// signs with SharedKeyLite), default pipeline and retry options,
// allowInsecureConnection only for http:// endpoints. It runs one workload over
// sds's data layout (README "Data layout": PartitionKey K, RowKey "", property
// `data`; counter shards Edm.Int64) with C concurrent async workers and prints one
// JSON result line on stdout (see peer_common.mjs).
//
//   node bench/peers/azure_js.mjs --engine azure --endpoint http://127.0.0.1:28202/devstoreaccount1 --table bench --setup
//   node bench/peers/azure_js.mjs [--engine azure] --endpoint URL --table NAME \
//        --workload get|set|incr|incr_hot|incr_sharded|get_count_1|get_count_10|get_count_100|get_count_1000 \
//        --concurrency C --duration SECONDS [--warmup SECONDS (0.3)] [--keys N (1000)] [--no-check]
//
// Credentials: AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY. The endpoint is the account's
// table endpoint, path-style for Azurite (http://HOST:PORT/devstoreaccount1).
// Workloads: get = getEntity v<i>; set = upsertEntity v<i> (Replace, 100-char string);
// incr/incr_hot/incr_sharded = what a user of @azure/data-tables must do without an
// atomic add: getEntity, then updateEntity(Replace) with the read etag (If-Match),
// again from the read on 412; createEntity on 404 (again from the read on 409). No
// backoff between tries; an increment that loses 100 times counts as an error. The
// entity read is written back whole, so sds's `seq`/`ops` write record is kept.
// get_count_N = getEntity gcN_shards, then getEntity of every shard, at most 32 in
// flight per count, summed and checked == N.
import { createRequire } from "node:module";
import { TableClient, AzureNamedKeyCredential } from "@azure/data-tables";
import {
  parseArgs, measure, mapLimit, randomIndex, valueFor, SET_VALUE, GET_COUNT_SHARDS, SHARDED_SHARDS,
} from "./peer_common.mjs";

const PROG = "azure_js.mjs";
const MAX_CONFLICTS = 100;
const SHARD_READS_IN_FLIGHT = 32;
const opts = parseArgs(PROG, "azure");
const version = createRequire(import.meta.url)("@azure/data-tables/package.json").version;

const { AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY } = process.env;
if (!AZURE_STORAGE_ACCOUNT || !AZURE_STORAGE_KEY) {
  console.error(`${PROG}: set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY`);
  process.exit(2);
}
const table = new TableClient(opts.endpoint, opts.table,
                              new AzureNamedKeyCredential(AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY),
                              { allowInsecureConnection: opts.endpoint.startsWith("http:") });

let conflicts = 0, creates = 0;

// An Int64 property as a BigInt; with --no-check, anything else (a stub's canned entity) is 0.
function int64(v) {
  if (opts.check) return BigInt(v ?? 0n);
  try { return BigInt(v ?? 0n); } catch { return 0n; }
}

async function getValue(k) {
  const e = await table.getEntity(k, "");
  if (opts.check && typeof e.data !== "string") throw new Error(`${k}: no string property data`);
  return e.data;
}

// Read-modify-write with the ETag; returns the new value.
async function incr(pk) {
  for (let lost = 0; ; lost++) {
    if (lost >= MAX_CONFLICTS) throw new Error(`incr ${pk}: lost ${MAX_CONFLICTS} times to other writers`);
    let entity;
    try {
      entity = await table.getEntity(pk, "");
    } catch (e) {
      if (e.statusCode !== 404) throw e;
      try {
        await table.createEntity({ partitionKey: pk, rowKey: "", data: 1n });
        creates++;
        return 1n;
      } catch (e2) {
        if (e2.statusCode !== 409) throw e2;
        conflicts++;
        continue;
      }
    }
    const { etag, timestamp, "odata.metadata": _metadata, ...props } = entity;
    const value = int64(props.data) + 1n;
    try {
      await table.updateEntity({ ...props, data: value }, "Replace", { etag });
      return value;
    } catch (e) {
      if (e.statusCode !== 412 && e.statusCode !== 404) throw e;
      conflicts++;
    }
  }
}

async function getCount(counter) {
  let shards = 1;
  try {
    const e = await table.getEntity(`${counter}_shards`, "");
    if (e.shards !== undefined) shards = Number(int64(e.shards)) || 1;
  } catch (e) {
    if (e.statusCode !== 404) throw e;
  }
  const values = await mapLimit(shards, SHARD_READS_IN_FLIGHT, async (i) => {
    try {
      return int64((await table.getEntity(`${counter}_shard_${i + 1}`, "")).data);
    } catch (e) {
      if (e.statusCode === 404) return 0n;
      throw e;
    }
  });
  return Number(values.reduce((a, b) => a + b, 0n));
}

async function setup() {
  await table.createTable(); // an existing table is not an error
  const entities = [];
  for (let i = 0; i < opts.keys; i++) entities.push({ partitionKey: `v${i}`, rowKey: "", data: valueFor(i) });
  for (const n of GET_COUNT_SHARDS) {
    entities.push({ partitionKey: `gc${n}_shards`, rowKey: "", shards: BigInt(n) });
    for (let s = 1; s <= n; s++) entities.push({ partitionKey: `gc${n}_shard_${s}`, rowKey: "", data: 1n });
  }
  entities.push({ partitionKey: "sharded_shards", rowKey: "", shards: BigInt(SHARDED_SHARDS) });
  await mapLimit(entities.length, 32, (i) => table.upsertEntity(entities[i], "Replace"));
  for (const n of GET_COUNT_SHARDS) {
    const total = await getCount(`gc${n}`);
    if (total !== n) throw new Error(`check failed: gc${n} counts ${total}, expected ${n}`);
  }
  console.error(`${PROG}: setup done: table ${opts.table} exists, wrote ${entities.length} entities ` +
                `(v0..v${opts.keys - 1}, gc{1,10,100,1000} shards, sharded_shards)`);
}

function operation(workload) {
  const keys = opts.keys;
  switch (workload) {
    case "get": return () => getValue(`v${randomIndex(keys)}`);
    case "set": return () => table.upsertEntity({ partitionKey: `v${randomIndex(keys)}`, rowKey: "", data: SET_VALUE }, "Replace");
    case "incr": return () => incr(`c${randomIndex(keys)}_shard_1`);
    case "incr_hot": return () => incr("hot_shard_1");
    case "incr_sharded": return () => incr(`sharded_shard_${1 + randomIndex(SHARDED_SHARDS)}`);
  }
  const n = Number(workload.slice("get_count_".length));
  return async () => {
    const total = await getCount(`gc${n}`);
    if (opts.check && total !== n) throw new Error(`get_count gc${n} = ${total}, expected ${n} (run --setup first)`);
  };
}

try {
  if (opts.setup) await setup();
  else await measure({ client: "azure-data-tables", engine: "azure", version, opts, op: operation(opts.workload),
                       note: () => `${conflicts} etag/create conflicts retried, ${creates} counters created` });
} catch (e) {
  console.error(`${PROG}: ${e.name ?? "Error"}${e.statusCode ? ` HTTP ${e.statusCode}` : ""}: ${e.message}`);
  process.exit(1);
}
process.exit(0);
