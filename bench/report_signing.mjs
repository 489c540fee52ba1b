// Runs the sds signing benchmark and the @smithy/signature-v4 peer in the same
// run and prints both with ratios, so the figures compare like with like on a
// noisy machine.
//
//   node bench/report_signing.mjs BUILD_DIR [seconds] [--json]
//
// With --json it prints one JSON line per signer instead (the schema of
// bench/run.sh's results: client, workload, ops_per_sec, cpu_us_per_op).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = process.argv[2] ?? path.join(here, "..", "build");
const seconds = process.argv[3] ?? "1";

const sds = JSON.parse(execFileSync(path.join(buildDir, "bench", "sds_sign_bench"), ["--seconds", seconds, "--json"]));
const peer = JSON.parse(execFileSync(process.execPath, [path.join(here, "peers", "smithy_sign.mjs"), seconds]));

if (process.argv.includes("--json")) {
  const workload = { "sigv4 GetItem, key cache": "sign_sigv4", "sigv4 GetItem, no key cache": "sign_sigv4_no_key_cache",
                     "sharedkey point read, key decoded once": "sign_sharedkey",
                     "sharedkey point read, key decoded per call": "sign_sharedkey_key_per_call" };
  for (const r of sds)
    console.log(JSON.stringify({ client: "sds", engine: r.name.startsWith("sigv4") ? "dynamodb" : "azure",
                                 workload: workload[r.name] ?? r.name, concurrency: 1, ops_per_sec: r.per_second,
                                 cpu_us_per_op: r.micros, server: "none" }));
  console.log(JSON.stringify({ client: "smithy-signature-v4", engine: "dynamodb", workload: "sign_sigv4", concurrency: 1,
                               ops_per_sec: peer.per_second, cpu_us_per_op: peer.micros, server: "none" }));
  process.exit(0);
}

const rows = [...sds, peer];
console.log(`signing throughput, one thread, ${seconds} s per row`);
console.log("name".padEnd(46) + "sig/s".padStart(12) + "us/sig".padStart(10) + "  vs smithy");
for (const r of rows) {
  const ratio = r.name.startsWith("sigv4") ? `${(r.per_second / peer.per_second).toFixed(1)}x` : "";
  console.log(r.name.padEnd(46) + String(r.per_second).padStart(12) + r.micros.toFixed(3).padStart(10) + "  " + ratio);
}
