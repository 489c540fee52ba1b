#!/usr/bin/env bash
# A second of the benchmark against the emulators (the test command's): the
# harness sets up its items, measures a few workloads on both engines, and
# bench/report.mjs turns the lines into a report. Checks that every line is
# well formed, counted operations and no errors, and that the report shows
# them. Asserts no time: figures come from bench/run.sh alone.
#
#   bench/smoke_test.sh PATH/TO/sds_bench
set -euo pipefail
bench=$1
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
table=benchsmoke$$

run() {  # ENGINE WORKLOAD
    "$bench" --engine "$1" --table "$table" --workload "$2" --keys 20 --concurrency 4 --duration 0.3 --warmup 0.1 \
        2>"$out/err" | sed 's/}$/,"server":"emulator","server_cpu_pct":null}/' >>"$out/results.jsonl" ||
        { cat "$out/err" >&2; exit 1; }
}
for engine in dynamodb azure; do
    "$bench" --engine $engine --table "$table" --setup --keys 20 --max-count 10
    run $engine get
    run $engine incr_hot
    run $engine get_count_10
done
node "$here/report.mjs" "$out/results.jsonl" "$out" --mode smoke --build-type test

node --input-type=module - "$out" <<'JS'
import fs from "node:fs";
const out = process.argv[2];
const { results } = JSON.parse(fs.readFileSync(`${out}/results.json`, "utf8"));
const fail = (why) => { console.error(`smoke: ${why}`); process.exit(1); };
if (results.length !== 6) fail(`expected 6 results, got ${results.length}`);
for (const r of results) {
  const label = `${r.engine} ${r.workload}`;
  if (r.client !== "sds") fail(`${label}: client ${r.client}`);
  if (!(r.ops > 0) || r.errors !== 0) fail(`${label}: ${r.ops} operations, ${r.errors} errors`);
  if (!(r.ops_per_sec > 0 && r.p50_us > 0 && r.p99_us >= r.p50_us && r.p999_us >= r.p99_us)) fail(`${label}: figures ${JSON.stringify(r)}`);
  if (!(r.cpu_us_per_op > 0 && r.peak_rss_mb > 0)) fail(`${label}: no CPU or memory figure`);
}
const report = fs.readFileSync(`${out}/report.md`, "utf8");
for (const engine of ["DynamoDB", "Azure Table"])
  if (!report.includes(`## ${engine}`)) fail(`the report has no ${engine} section`);
for (const w of ["get", "incr_hot", "get_count_10"])
  if ((report.match(new RegExp(`\\| sds \\| ${w} \\| 4 \\|`, "g")) ?? []).length !== 2) fail(`the report lacks sds ${w} on both engines`);
console.log(`smoke: ${results.length} results, report well formed`);
JS
