// Benchmark peer: the official AWS SDK for JavaScript v3 (@aws-sdk/client-dynamodb)
// used the obvious way: one DynamoDBClient with the default configuration
// (default retry strategy and maxAttempts, the default NodeHttpHandler: keepAlive
// on, maxSockets 50) except endpoint, region and credentials. It runs one
// workload over sds's data layout (README "Data layout") with C concurrent async
// workers and prints one JSON result line on stdout (see peer_common.mjs).
//
//   node bench/peers/dynamodb_js.mjs --endpoint http://127.0.0.1:28201 --table bench --setup
//   node bench/peers/dynamodb_js.mjs [--engine dynamodb] --endpoint URL --table NAME \
//        --workload get|set|incr|incr_hot|incr_sharded|get_count_1|get_count_10|get_count_100|get_count_1000 \
//        --concurrency C --duration SECONDS [--warmup SECONDS (0.3)] [--keys N (1000)] [--no-check]
//
// Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), AWS_REGION (us-east-1).
// Workloads: get = GetItem v<i>; set = PutItem v<i> (100-byte S); incr = UpdateItem
// `ADD #d :one` on c<i>_shard_1 (ReturnValues UPDATED_NEW); incr_hot = the same on
// hot_shard_1 from every worker; incr_sharded = the same on sharded_shard_<1..10>;
// get_count_N = GetItem gcN_shards, then BatchGetItem of gcN_shard_1..N in chunks of
// 100 issued concurrently (UnprocessedKeys re-requested), summed and checked == N.
// Reads are strongly consistent (ConsistentRead: true), as sds's are by default.
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand, BatchGetItemCommand,
  BatchWriteItemCommand, DescribeTableCommand, CreateTableCommand,
} from "@aws-sdk/client-dynamodb";
import {
  parseArgs, measure, mapLimit, randomIndex, valueFor, SET_VALUE, GET_COUNT_SHARDS, SHARDED_SHARDS,
} from "./peer_common.mjs";

const PROG = "dynamodb_js.mjs";
const opts = parseArgs(PROG, "dynamodb");
const version = createRequire(import.meta.url)("@aws-sdk/client-dynamodb/package.json").version;

const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) {
  console.error(`${PROG}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
  process.exit(2);
}
const client = new DynamoDBClient({
  endpoint: opts.endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  credentials: { accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY, sessionToken: AWS_SESSION_TOKEN || undefined },
});
const TableName = opts.table;
const key = (k) => ({ key: { S: k } });

async function getValue(k) {
  const r = await client.send(new GetItemCommand({ TableName, Key: key(k), ConsistentRead: true }));
  if (opts.check && r.Item?.data?.S === undefined) throw new Error(`${k} not found (run --setup first)`);
  return r.Item?.data?.S;
}

async function incr(k) {
  const r = await client.send(new UpdateItemCommand({
    TableName, Key: key(k),
    UpdateExpression: "ADD #d :one",
    ExpressionAttributeNames: { "#d": "data" },
    ExpressionAttributeValues: { ":one": { N: "1" } },
    ReturnValues: "UPDATED_NEW",
  }));
  return Number(r.Attributes?.data?.N);
}

// One BatchGetItem chunk, re-requesting UnprocessedKeys with backoff; the sum of `data`.
async function batchGetSum(keys) {
  let request = { [TableName]: { Keys: keys.map(key), ConsistentRead: true } };
  let sum = 0;
  for (let attempt = 0; ; attempt++) {
    const r = await client.send(new BatchGetItemCommand({ RequestItems: request }));
    for (const item of r.Responses?.[TableName] ?? []) sum += Number(item.data?.N ?? 0);
    const unprocessed = r.UnprocessedKeys?.[TableName];
    if (!unprocessed?.Keys?.length) return sum;
    if (attempt >= 10) throw new Error(`BatchGetItem: ${unprocessed.Keys.length} keys still unprocessed after 10 retries`);
    await sleep(Math.min(1000, 5 * 2 ** attempt) * Math.random());
    request = { [TableName]: unprocessed };
  }
}

async function getCount(counter) {
  const r = await client.send(new GetItemCommand({ TableName, Key: key(`${counter}_shards`), ConsistentRead: true }));
  const shards = r.Item?.shards ? Number(r.Item.shards.N) || 1 : 1;
  const chunks = [];
  for (let first = 1; first <= shards; first += 100) {
    const keys = [];
    for (let n = first; n < first + 100 && n <= shards; n++) keys.push(`${counter}_shard_${n}`);
    chunks.push(batchGetSum(keys));
  }
  let total = 0;
  for (const s of await Promise.all(chunks)) total += s;
  return total;
}

async function setup() {
  try {
    await client.send(new DescribeTableCommand({ TableName }));
  } catch (e) {
    if (e.name !== "ResourceNotFoundException") throw e;
    try {
      await client.send(new CreateTableCommand({
        TableName,
        KeySchema: [{ AttributeName: "key", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "key", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }));
    } catch (e2) {
      if (e2.name !== "ResourceInUseException") throw e2;
    }
  }
  for (let i = 0; ; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName }));
    if (d.Table.TableStatus === "ACTIVE") break;
    if (i > 1200) throw new Error(`table ${TableName} not ACTIVE after 5 minutes`);
    await sleep(250);
  }
  const items = [];
  for (let i = 0; i < opts.keys; i++) items.push({ key: { S: `v${i}` }, data: { S: valueFor(i) } });
  for (const n of GET_COUNT_SHARDS) {
    items.push({ key: { S: `gc${n}_shards` }, shards: { N: String(n) } });
    for (let s = 1; s <= n; s++) items.push({ key: { S: `gc${n}_shard_${s}` }, data: { N: "1" } });
  }
  items.push({ key: { S: `sharded_shards` }, shards: { N: String(SHARDED_SHARDS) } });
  const batches = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  await mapLimit(batches.length, 16, async (b) => {
    let request = { [TableName]: batches[b].map((Item) => ({ PutRequest: { Item } })) };
    for (let attempt = 0; ; attempt++) {
      const r = await client.send(new BatchWriteItemCommand({ RequestItems: request }));
      const unprocessed = r.UnprocessedItems?.[TableName];
      if (!unprocessed?.length) return;
      if (attempt >= 20) throw new Error("BatchWriteItem: items still unprocessed after 20 retries");
      await sleep(Math.min(1000, 10 * 2 ** attempt) * Math.random());
      request = { [TableName]: unprocessed };
    }
  });
  for (const n of GET_COUNT_SHARDS) {
    const total = await getCount(`gc${n}`);
    if (total !== n) throw new Error(`check failed: gc${n} counts ${total}, expected ${n}`);
  }
  console.error(`${PROG}: setup done: table ${TableName} ACTIVE, wrote ${items.length} items ` +
                `(v0..v${opts.keys - 1}, gc{1,10,100,1000} shards, sharded_shards)`);
}

function operation(workload) {
  const keys = opts.keys;
  switch (workload) {
    case "get": return () => getValue(`v${randomIndex(keys)}`);
    case "set": return () => client.send(new PutItemCommand({ TableName, Item: { key: { S: `v${randomIndex(keys)}` }, data: { S: SET_VALUE } } }));
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
  else await measure({ client: "aws-sdk-js", engine: "dynamodb", version, opts, op: operation(opts.workload) });
} catch (e) {
  console.error(`${PROG}: ${e.name ?? "Error"}: ${e.message}`);
  process.exit(1);
}
client.destroy();
process.exit(0);
