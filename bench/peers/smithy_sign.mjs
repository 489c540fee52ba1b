// The peer for bench/sign_bench.cpp: AWS's own JavaScript SigV4 signer
// (@smithy/signature-v4 with Node's crypto through @smithy/hash-node) signing
// the same DynamoDB GetItem on one thread. Prints one JSON object.
//
//   node bench/peers/smithy_sign.mjs [seconds]
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";

const seconds = Number(process.argv[2] ?? 1);
const signer = new SignatureV4({
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  region: "us-east-1",
  service: "dynamodb",
  sha256: Hash.bind(null, "sha256"),
});
const body = '{"TableName":"bench","Key":{"key":{"S":"user#12345"}},"ConsistentRead":true}';
const signingDate = new Date(Date.UTC(2024, 0, 1));
const request = () =>
  new HttpRequest({
    method: "POST",
    protocol: "https:",
    hostname: "dynamodb.us-east-1.amazonaws.com",
    path: "/",
    headers: {
      host: "dynamodb.us-east-1.amazonaws.com",
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "DynamoDB_20120810.GetItem",
    },
    body,
  });

let checksum = 0;
for (let i = 0; i < 1000; i++) checksum += (await signer.sign(request(), { signingDate })).headers.authorization.length;
let n = 0;
const start = process.hrtime.bigint();
const until = start + BigInt(Math.round(seconds * 1e9));
let now = start;
while (now < until) {
  for (let i = 0; i < 256; i++) checksum += (await signer.sign(request(), { signingDate })).headers.authorization.length;
  n += 256;
  now = process.hrtime.bigint();
}
const elapsed = Number(now - start) / 1e9;
if (checksum === 0) process.exit(1);
console.log(JSON.stringify({ name: "@smithy/signature-v4 GetItem", per_second: Math.round(n / elapsed), micros: (elapsed * 1e6) / n }));
