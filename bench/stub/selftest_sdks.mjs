// Part of bench/stub/selftest.sh: drives a running stub server with the
// official JavaScript clients (@aws-sdk/client-dynamodb, @azure/data-tables)
// and checks their answers, including items written by the sds CLI before.
//
//   node selftest_sdks.mjs DYNAMODB_ENDPOINT AZURE_ENDPOINT TABLE
//
// TABLE must exist on both sides, holding the value "hello sds" under the
// key "sds-value" and a counter "sds-ctr" of 3 (written by sds). Prints one
// line per check; exits 1 on the first failed check.
import {
  DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand, BatchGetItemCommand,
  DeleteItemCommand, DescribeTableCommand, CreateTableCommand, ListTablesCommand,
} from "@aws-sdk/client-dynamodb";
import { TableClient, AzureNamedKeyCredential } from "@azure/data-tables";
import assert from "node:assert/strict";

const [dynamoEndpoint, azureEndpoint, table] = process.argv.slice(2);
if (!table) {
  console.error("usage: node selftest_sdks.mjs DYNAMODB_ENDPOINT AZURE_ENDPOINT TABLE");
  process.exit(2);
}

// Azurite's published development account key (not a secret).
const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   js ${name}`);
  } catch (e) {
    console.log(`FAIL js ${name}: ${e?.name ?? ""} ${e?.message ?? e}`);
    process.exit(1);
  }
}

async function rejects(promise, predicate, what) {
  try {
    await promise;
  } catch (e) {
    if (predicate(e)) return;
    throw new Error(`expected ${what}, got ${e?.name}: ${e?.message}`);
  }
  throw new Error(`expected ${what}, but it succeeded`);
}

// ---------------------------------------------------------------------------
// DynamoDB

const ddb = new DynamoDBClient({
  endpoint: dynamoEndpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "x", secretAccessKey: "y" },
  maxAttempts: 1,
});
const key = (k) => ({ key: { S: k } });

await check("dynamodb DescribeTable", async () => {
  const r = await ddb.send(new DescribeTableCommand({ TableName: table }));
  assert.equal(r.Table.TableStatus, "ACTIVE");
  assert.deepEqual(r.Table.KeySchema, [{ AttributeName: "key", KeyType: "HASH" }]);
});

await check("dynamodb CreateTable of an existing table: ResourceInUseException", () =>
  rejects(ddb.send(new CreateTableCommand({
    TableName: table,
    AttributeDefinitions: [{ AttributeName: "key", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "key", KeyType: "HASH" }],
    BillingMode: "PAY_PER_REQUEST",
  })), (e) => e.name === "ResourceInUseException", "ResourceInUseException"));

await check("dynamodb ListTables", async () => {
  const r = await ddb.send(new ListTablesCommand({}));
  assert.ok(r.TableNames.includes(table));
});

await check("dynamodb GetItem of sds's value", async () => {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: key("sds-value"), ConsistentRead: true }));
  assert.deepEqual(r.Item, { key: { S: "sds-value" }, data: { S: "hello sds" } });
});

await check("dynamodb GetItem of a missing item", async () => {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: key("no-such-key") }));
  assert.equal(r.Item, undefined);
});

await check("dynamodb PutItem then GetItem", async () => {
  await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key("js-value"), data: { S: "hello js ✓" } } }));
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: key("js-value") }));
  assert.equal(r.Item.data.S, "hello js ✓");
});

await check("dynamodb UpdateItem ADD on sds's counter shard", async () => {
  const r = await ddb.send(new UpdateItemCommand({
    TableName: table, Key: key("sds-ctr_shard_1"),
    UpdateExpression: "ADD #d :a",
    ExpressionAttributeNames: { "#d": "data" },
    ExpressionAttributeValues: { ":a": { N: "4" } },
    ReturnValues: "UPDATED_NEW",
  }));
  assert.deepEqual(r.Attributes, { data: { N: "7" } });
});

await check("dynamodb UpdateItem SET with a failing condition: ConditionalCheckFailedException", () =>
  rejects(ddb.send(new UpdateItemCommand({
    TableName: table, Key: key("sds-ctr_shard_1"),
    UpdateExpression: "SET #d = :v",
    ConditionExpression: "#d < :v",
    ExpressionAttributeNames: { "#d": "data" },
    ExpressionAttributeValues: { ":v": { N: "5" } },
  })), (e) => e.name === "ConditionalCheckFailedException", "ConditionalCheckFailedException"));

await check("dynamodb BatchGetItem returns exactly the keys that exist", async () => {
  const r = await ddb.send(new BatchGetItemCommand({
    RequestItems: { [table]: { Keys: [key("sds-value"), key("no-such-key"), key("js-value")], ConsistentRead: true } },
  }));
  const got = r.Responses[table].map((i) => i.key.S).sort();
  assert.deepEqual(got, ["js-value", "sds-value"]);
  assert.deepEqual(r.UnprocessedKeys, {});
});

await check("dynamodb DeleteItem with ReturnValues ALL_OLD", async () => {
  const r = await ddb.send(new DeleteItemCommand({ TableName: table, Key: key("js-value"), ReturnValues: "ALL_OLD" }));
  assert.equal(r.Attributes.data.S, "hello js ✓");
  const g = await ddb.send(new GetItemCommand({ TableName: table, Key: key("js-value") }));
  assert.equal(g.Item, undefined);
});

await check("dynamodb GetItem on a missing table: ResourceNotFoundException", () =>
  rejects(ddb.send(new GetItemCommand({ TableName: "no_such_table", Key: key("k") })),
    (e) => e.name === "ResourceNotFoundException", "ResourceNotFoundException"));

// ---------------------------------------------------------------------------
// Azure Table Storage

const tables = new TableClient(azureEndpoint, table,
  new AzureNamedKeyCredential("devstoreaccount1", AZURITE_KEY), { allowInsecureConnection: true });
// The RowKey sds uses is always "".
const entityKey = (k) => [k, ""];
// The service's error code of a RestError (the SDK leaves RestError.code unset
// and puts x-ms-error-code into details).
const azureCode = (e) => e.code ?? e.details?.errorCode;

await check("azure createTable of an existing table (succeeds, as the SDK ignores TableAlreadyExists)", async () => {
  await tables.createTable();
});

await check("azure getEntity of sds's value", async () => {
  const e = await tables.getEntity(...entityKey("sds-value"));
  assert.equal(e.data, "hello sds");
  assert.match(e.etag, /^W\/"datetime'.+'"$/);
});

await check("azure getEntity of sds's counter shard: an Edm.Int64", async () => {
  const e = await tables.getEntity(...entityKey("sds-ctr_shard_1"));
  // The SDK turns an Edm.Int64 into a bigint (a string would mean the
  // annotation was lost).
  assert.equal(e.data, 3n);
});

await check("azure getEntity of a missing entity: 404 ResourceNotFound", () =>
  rejects(tables.getEntity(...entityKey("no-such-key")),
    (e) => e.statusCode === 404 && azureCode(e) === "ResourceNotFound", "404 ResourceNotFound"));

let etag;
await check("azure upsertEntity (merge) then getEntity", async () => {
  await tables.upsertEntity({ partitionKey: "js-value", rowKey: "", data: "hello js ✓", n: 1 });
  await tables.upsertEntity({ partitionKey: "js-value", rowKey: "", extra: true }, "Merge");
  const e = await tables.getEntity(...entityKey("js-value"));
  assert.equal(e.data, "hello js ✓");
  assert.equal(e.n, 1);
  assert.equal(e.extra, true);
  etag = e.etag;
});

await check("azure updateEntity (replace) with the current ETag", async () => {
  const r = await tables.updateEntity({ partitionKey: "js-value", rowKey: "", data: "replaced" }, "Replace",
    { etag });
  assert.notEqual(r.etag, etag);
  const e = await tables.getEntity(...entityKey("js-value"));
  assert.equal(e.data, "replaced");
  assert.equal(e.n, undefined);
  assert.equal(e.etag, r.etag);
});

await check("azure updateEntity with a stale ETag: 412 UpdateConditionNotSatisfied", () =>
  rejects(tables.updateEntity({ partitionKey: "js-value", rowKey: "", data: "lost" }, "Merge", { etag }),
    (e) => e.statusCode === 412 && azureCode(e) === "UpdateConditionNotSatisfied", "412"));

await check("azure sds reads an Int64 counter shard written by the SDK (checked by sds next)", async () => {
  await tables.upsertEntity({ partitionKey: "js-ctr_shard_1", rowKey: "", data: { type: "Int64", value: "41" } },
    "Replace");
});

await check("azure createEntity of an existing entity: 409 EntityAlreadyExists", () =>
  rejects(tables.createEntity({ partitionKey: "js-value", rowKey: "", data: "x" }),
    (e) => e.statusCode === 409 && azureCode(e) === "EntityAlreadyExists", "409"));

await check("azure listEntities with a PartitionKey filter", async () => {
  const found = [];
  for await (const e of tables.listEntities({ queryOptions: { filter: "PartitionKey eq 'sds-value'" } }))
    found.push(e.partitionKey);
  assert.deepEqual(found, ["sds-value"]);
});

await check("azure deleteEntity", async () => {
  await tables.deleteEntity(...entityKey("js-value"));
  await rejects(tables.getEntity(...entityKey("js-value")), (e) => e.statusCode === 404, "404");
});
