// Turns the JSON lines of one benchmark run (bench/run.sh) into
//   OUT/results.json  every figure, with the machine and the build
//   OUT/report.md     the targets, then tables with ratios sds / peer
//   OUT/throughput.png  ops/s and p99 against concurrency (gnuplot), when
//                       gnuplot is installed
//
//   node bench/report.mjs RESULTS.jsonl OUT [--mode quick|full] [--build-type T]
//
// Ratios compare figures from the same run only: the machines are noisy.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [input, outDir] = process.argv.slice(2);
if (!input || !outDir) {
  console.error("usage: node bench/report.mjs RESULTS.jsonl OUT [--mode quick|full] [--build-type T]");
  process.exit(2);
}
const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
};
const mode = flag("--mode", "unknown");
const buildType = flag("--build-type", "unknown");

const rows = fs.readFileSync(input, "utf8").split("\n").filter((l) => l.trim()).map((l, i) => {
  try {
    return JSON.parse(l);
  } catch {
    throw new Error(`${input}:${i + 1}: not JSON: ${l.slice(0, 80)}`);
  }
});
for (const r of rows)
  for (const k of ["client", "workload", "ops_per_sec"])
    if (!(k in r)) throw new Error(`a result lacks "${k}": ${JSON.stringify(r).slice(0, 120)}`);

const cpuModel = (() => {
  try {
    return fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
})();
const machine = {
  cpus: os.cpus().length, cpu_model: cpuModel, memory_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
  kernel: os.release(), node: process.version,
};
const meta = { date: new Date().toISOString(), mode, sds_build_type: buildType, machine };
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "results.json"), JSON.stringify({ ...meta, results: rows }, null, 1) + "\n");

// --- Lookups -----------------------------------------------------------------
const find = (q) => rows.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
const sdsVersion = rows.find((r) => r.client === "sds" && r.version)?.version ?? "?";
const fmt = (v, digits = 0) => (v === undefined || v === null || Number.isNaN(v) ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a, b) => (a && b ? a / b : undefined);
const x = (v, digits = 1) => (v === undefined ? "–" : `${fmt(v, digits)}x`);

// --- Targets -----------------------------------------------------------------
const targets = [];
const target = (name, value, goal, better, note = "") => {
  const met = value === undefined ? undefined : better === "higher" ? value >= goal : value <= goal;
  targets.push({ name, value, goal, better, met, note });
};
for (const engine of ["dynamodb", "azure"]) {
  const peer = engine === "dynamodb" ? "aws-sdk-js" : "azure-data-tables";
  const sdsGet = find({ client: "sds", engine, server: "stub", workload: "get", concurrency: 64 });
  const jsGet = find({ client: peer, engine, server: "stub", workload: "get", concurrency: 64 });
  const wrk = find({ client: "wrk", engine, server: "stub" });
  target(`${engine}: get_data ops/s, sds / ${peer} (c=64)`, ratio(sdsGet?.ops_per_sec, jsGet?.ops_per_sec), 40, "higher");
  target(`${engine}: get_data CPU per op, ${peer} / sds (c=64)`, ratio(jsGet?.cpu_us_per_op, sdsGet?.cpu_us_per_op), 40, "higher");
  target(`${engine}: get_data ops/s, sds / wrk (c=64; stretch 0.6)`, ratio(sdsGet?.ops_per_sec, wrk?.ops_per_sec), 0.4, "higher");
  target(`${engine}: sds peak RSS, get_data c=64 (MB)`, sdsGet?.peak_rss_mb, 20, "lower");
  const hot = find({ client: "sds", engine, server: "stub", workload: "incr_hot", concurrency: 64 });
  const cold = find({ client: "sds", engine, server: "stub", workload: "incr_hot_nocombine", concurrency: 64 });
  target(`${engine}: 64 incr of one counter, combined / not combined (ops/s)`, ratio(hot?.ops_per_sec, cold?.ops_per_sec), 5, "higher");
  const count = find({ client: "sds", engine, server: "stub-2ms", workload: "get_count_100", concurrency: 1 });
  const one = find({ client: "sds", engine, server: "stub-2ms", workload: "get", concurrency: 1 });
  target(`${engine}: get_count over 100 shards / one get_data, p50 latency at 2 ms`, ratio(count?.p50_us, one?.p50_us), 3, "lower");
}
{
  const sdsSign = find({ client: "sds", workload: "sign_sigv4" });
  const smithy = find({ client: "smithy-signature-v4", workload: "sign_sigv4" });
  target("SigV4 signatures per second, sds / @smithy/signature-v4", ratio(sdsSign?.ops_per_sec, smithy?.ops_per_sec), 10, "higher");
}

// --- Report ------------------------------------------------------------------
const md = [];
md.push(`# sds benchmark report`, "");
md.push(`${meta.date}, ${mode} mode. sds ${sdsVersion}, build type **${buildType}**, one thread (an io_context made with BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO).`);
md.push(`Machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.memory_gib} GiB, Linux ${machine.kernel}, Node ${machine.node}.`);
md.push(`Servers on 127.0.0.1: *stub* is nginx with Lua answering DynamoDB and Azure Table requests (bench/stub), ` +
        `*stub-2ms* the same with 2 ms of latency injected per request, *emulator* is dynalite behind the SigV4-verifying ` +
        `gateway or Azurite. Every figure below comes from this one run; ratios compare figures of the same run.`, "");

md.push(`## Targets`, "", `| target | measured | goal | |`, `|---|---:|---:|---|`);
for (const t of targets) {
  const shown = t.name.includes("RSS") ? fmt(t.value, 1) : t.name.includes("wrk") ? fmt(t.value, 2) : x(t.value);
  const goal = `${t.better === "higher" ? "≥" : "≤"} ${t.name.includes("RSS") || t.name.includes("wrk") ? t.goal : `${t.goal}x`}`;
  md.push(`| ${t.name} | ${shown} | ${goal} | ${t.met === undefined ? "not measured" : t.met ? "met" : "**missed**"} |`);
}
md.push("");

const peerOf = { dynamodb: "aws-sdk-js", azure: "azure-data-tables" };
const table = (title, list, withRatio) => {
  if (!list.length) return;
  md.push(`### ${title}`, "");
  const head = ["client", "workload", "c", "ops/s", "p50 µs", "p99 µs", "p99.9 µs", "CPU µs/op", "peak RSS MB", "server CPU %"];
  if (withRatio) head.push("ops/s ratio", "CPU ratio");
  md.push(`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`);
  for (const r of list) {
    const cells = [r.client, r.workload, r.concurrency ?? "", fmt(r.ops_per_sec), fmt(r.p50_us), fmt(r.p99_us), fmt(r.p999_us),
                   fmt(r.cpu_us_per_op, 1), fmt(r.peak_rss_mb, 1), fmt(r.server_cpu_pct)];
    if (withRatio) {
      const sds = r.client === "sds" ? undefined : find({ client: "sds", engine: r.engine, server: r.server, workload: r.workload, concurrency: r.concurrency });
      cells.push(r.client === "sds" ? "" : x(ratio(sds?.ops_per_sec, r.ops_per_sec)), r.client === "sds" ? "" : x(ratio(r.cpu_us_per_op, sds?.cpu_us_per_op)));
    }
    md.push(`| ${cells.join(" | ")} |`);
  }
  md.push("");
};
const order = (a, b) => a.workload.localeCompare(b.workload, "en", { numeric: true }) || (a.concurrency ?? 0) - (b.concurrency ?? 0);
for (const engine of ["dynamodb", "azure"]) {
  md.push(`## ${engine === "dynamodb" ? "DynamoDB" : "Azure Table"}`, "");
  table("sds on the stub", rows.filter((r) => r.client === "sds" && r.engine === engine && r.server === "stub").sort(order), false);
  table(`Peers on the stub (ratio: sds / peer, same workload and concurrency; CPU ratio: peer / sds)`,
        rows.filter((r) => r.client !== "sds" && r.engine === engine && r.server === "stub").sort(order), true);
  table("With 2 ms injected latency", rows.filter((r) => r.engine === engine && r.server === "stub-2ms").sort(order), true);
  table("End to end on the emulator", rows.filter((r) => r.engine === engine && r.server === "emulator").sort(order), true);
}
const signing = rows.filter((r) => r.workload.startsWith("sign_"));
if (signing.length) {
  md.push(`## Signing (one thread)`, "", `| signer | signatures/s | µs each |`, `|---|---:|---:|`);
  for (const r of signing) md.push(`| ${r.client} ${r.workload} | ${fmt(r.ops_per_sec)} | ${fmt(r.cpu_us_per_op, 2)} |`);
  md.push("");
}
md.push(`Columns: ops/s over the measured window (after a warm-up); latency percentiles by nearest rank; CPU µs/op is the ` +
        `client process's user+system CPU over the window divided by the operations; peak RSS is the process's maximum ` +
        `resident set; server CPU % is the stub's CPU time over the run's wall time (100 = one core).`);

// --- Plot --------------------------------------------------------------------
let plotted = false;
try {
  execFileSync("gnuplot", ["--version"], { stdio: "ignore" });
  const series = [];
  for (const engine of ["dynamodb", "azure"]) {
    for (const client of ["sds", peerOf[engine]]) {
      const pts = rows.filter((r) => r.client === client && r.engine === engine && r.server === "stub" && r.workload === "get")
                      .sort((a, b) => a.concurrency - b.concurrency);
      if (!pts.length) continue;
      const file = path.join(outDir, `plot-${engine}-${client}.dat`);
      fs.writeFileSync(file, pts.map((p) => `${p.concurrency} ${p.ops_per_sec} ${p.p99_us / 1000}`).join("\n") + "\n");
      series.push({ engine, client, file });
    }
  }
  if (series.length) {
    const lines = (col) => series.map((s) => `'${s.file}' using 1:${col} with linespoints lw 2 title '${s.client} (${s.engine})'`).join(", ");
    const script = [
      `set terminal pngcairo size 1200,500 font ',10'`,
      `set output '${path.join(outDir, "throughput.png")}'`,
      `set multiplot layout 1,2 title 'get_data against the nginx stub, one client thread (${buildType}, ${mode} run)'`,
      `set logscale xy`, `set xtics (1, 16, 64, 256)`, `set grid`, `set key left top`,
      `set xlabel 'concurrency'`, `set ylabel 'operations per second'`, `set title 'throughput'`,
      `plot ${lines(2)}`,
      `set ylabel 'p99 latency (ms)'`, `set title 'p99 latency'`,
      `plot ${lines(3)}`,
      `unset multiplot`,
    ].join("\n");
    fs.writeFileSync(path.join(outDir, "throughput.gp"), script + "\n");
    execFileSync("gnuplot", [path.join(outDir, "throughput.gp")]);
    plotted = true;
  }
} catch (e) {
  md.push("", `(No plot: ${e.message.split("\n")[0]})`);
}
if (plotted) md.push("", "![throughput and p99 against concurrency](throughput.png)");
fs.writeFileSync(path.join(outDir, "report.md"), md.join("\n") + "\n");
console.log(`report: ${path.join(outDir, "report.md")} (${rows.length} results, ${targets.filter((t) => t.met).length} of ${targets.length} targets met)`);
