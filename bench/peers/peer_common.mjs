// Shared harness of the Node.js benchmark peers (dynamodb_js.mjs, azure_js.mjs):
// command line, the workloads' keys and values, and the measurement loop that
// prints the one JSON result line. Not run on its own.
//
// Measurement: C async workers issue operations back to back. The first
// --warmup seconds are not measured; then for --duration seconds every
// operation that completes is counted (ops, or errors when it threw) and a
// successful one's latency (µs, from its start to its completion) is recorded.
// CPU is process.cpuUsage() (user + system) over the measured window, peak RSS
// process.resourceUsage().maxRSS.
import { performance } from "node:perf_hooks";

export const WORKLOADS = ["get", "set", "incr", "incr_hot", "incr_sharded",
                          "get_count_1", "get_count_10", "get_count_100", "get_count_1000"];
export const GET_COUNT_SHARDS = [1, 10, 100, 1000];
export const SHARDED_SHARDS = 10;

// A 100-byte ASCII value (what `get` reads and `set` writes).
export function valueFor(i) {
  return `value-${i}-`.padEnd(100, "abcdefghijklmnopqrstuvwxyz0123456789");
}
export const SET_VALUE = valueFor("set");

const USAGE = (prog, engine) =>
  `usage: ${prog} [--engine ${engine}] --endpoint URL --table NAME --workload W --concurrency C --duration SECONDS
       [--warmup SECONDS (0.3)] [--keys N (1000)] [--no-check]
       ${prog} [--engine ${engine}] --endpoint URL --table NAME [--keys N] --setup
  workloads: ${WORKLOADS.join(" ")}
  --no-check: do not count a missing value or a get_count total other than N as an error
              (for a stub server whose canned answers are not the setup data)`;

export function usageExit(prog, engine, message) {
  if (message) console.error(`${prog}: ${message}`);
  console.error(USAGE(prog, engine));
  process.exit(2);
}

// Parses the common command line; exits 2 with the usage on anything wrong.
export function parseArgs(prog, engine) {
  const opts = { engine, warmup: 0.3, keys: 1000, setup: false, check: true };
  const argv = process.argv.slice(2);
  const valued = new Set(["engine", "endpoint", "table", "workload", "concurrency", "duration", "warmup", "keys"]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === "-h" || arg === "--help") usageExit(prog, engine);
    if (!arg.startsWith("--")) usageExit(prog, engine, `unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf("=");
    if (eq >= 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    if (arg === "setup" && value === undefined) { opts.setup = true; continue; }
    if (arg === "no-check" && value === undefined) { opts.check = false; continue; }
    if (!valued.has(arg)) usageExit(prog, engine, `unknown option --${arg}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) usageExit(prog, engine, `--${arg} needs a value`);
      value = argv[++i];
    }
    opts[arg] = value;
  }
  if (opts.engine !== engine) usageExit(prog, engine, `unknown engine ${opts.engine} (this peer is ${engine} only)`);
  if (!opts.endpoint) usageExit(prog, engine, "--endpoint is required");
  if (!opts.table) usageExit(prog, engine, "--table is required");
  const number = (name, integer, min) => {
    const v = Number(opts[name]);
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
      usageExit(prog, engine, `bad --${name} ${opts[name]}`);
    opts[name] = v;
  };
  number("keys", true, 1);
  number("warmup", false, 0);
  if (opts.setup) return opts;
  if (!opts.workload) usageExit(prog, engine, "--workload is required");
  if (!WORKLOADS.includes(opts.workload)) usageExit(prog, engine, `unknown workload ${opts.workload}`);
  if (opts.concurrency === undefined) usageExit(prog, engine, "--concurrency is required");
  if (opts.duration === undefined) usageExit(prog, engine, "--duration is required");
  number("concurrency", true, 1);
  number("duration", false, Number.MIN_VALUE);
  return opts;
}

export const randomIndex = (n) => Math.floor(Math.random() * n);

export function errorMessage(e) {
  if (!(e instanceof Error)) return String(e);
  const status = e.$metadata?.httpStatusCode ?? e.statusCode;
  const code = e.name && e.name !== "Error" ? e.name : e.code;
  return [code, status && `HTTP ${status}`, e.message].filter(Boolean).join(": ");
}

// Runs `count(i)` tasks with at most `limit` in flight; resolves to their results in order.
export async function mapLimit(count, limit, task) {
  const results = new Array(count);
  let next = 0;
  const runner = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, runner));
  return results;
}

class Latencies {
  constructor() { this.values = new Float64Array(1 << 16); this.n = 0; }
  add(us) {
    if (this.n === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = us;
  }
  // Nearest-rank percentiles.
  percentiles(ps) {
    const sorted = this.values.subarray(0, this.n).sort();
    return ps.map((p) => (this.n === 0 ? null : sorted[Math.max(1, Math.ceil((p / 100) * this.n)) - 1]));
  }
}

const round = (x, digits) => (x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));

// Drives `op()` (a function returning a promise; throwing counts as an error)
// with opts.concurrency workers, then prints the JSON line on stdout.
export async function measure({ client, engine, version, opts, op, note }) {
  const progressEnd = process.stderr.isTTY ? "\r" : "\n";
  let phase = 0; // 0 warmup, 1 measured, 2 stopping
  let ops = 0, errors = 0, warmupOps = 0, warmupErrors = 0, firstError = null;
  const latencies = new Latencies();
  const noteError = (e) => {
    if (firstError === null) {
      firstError = errorMessage(e);
      console.error(`${client} ${opts.workload}: first error: ${firstError}`);
    }
  };
  const worker = async () => {
    while (phase < 2) {
      const t0 = performance.now();
      let failed = null;
      try { await op(); } catch (e) { failed = e ?? new Error("unknown error"); }
      const t1 = performance.now();
      if (phase === 1) {
        if (failed === null) { ops++; latencies.add((t1 - t0) * 1000); } else { errors++; noteError(failed); }
      } else if (phase === 0) {
        if (failed === null) warmupOps++; else { warmupErrors++; noteError(failed); }
      }
    }
  };

  let startWall = 0, endWall = 0, startCpu = null, endCpu = null;
  const begin = performance.now();
  const progress = setInterval(() => {
    const now = performance.now();
    if (phase === 0)
      process.stderr.write(`${client} ${opts.workload} c=${opts.concurrency} warmup ${((now - begin) / 1000).toFixed(1)}s ops=${warmupOps} errors=${warmupErrors}${progressEnd}`);
    else if (phase === 1) {
      const s = (now - startWall) / 1000;
      process.stderr.write(`${client} ${opts.workload} c=${opts.concurrency} ${s.toFixed(1)}/${opts.duration}s ops=${ops} errors=${errors} ${Math.round(ops / s)} ops/s${progressEnd}`);
    }
  }, 1000);

  const workers = Array.from({ length: opts.concurrency }, worker);
  await new Promise((resolve) => setTimeout(resolve, opts.warmup * 1000));
  startCpu = process.cpuUsage();
  startWall = performance.now();
  phase = 1;
  await new Promise((resolve) => setTimeout(resolve, opts.duration * 1000));
  phase = 2;
  endWall = performance.now();
  endCpu = process.cpuUsage(startCpu);
  clearInterval(progress);
  // Let the operations in flight finish (not counted), but not forever.
  let stuck = false;
  await Promise.race([
    Promise.all(workers),
    new Promise((resolve) => setTimeout(() => { stuck = true; resolve(); }, 10000).unref()),
  ]);
  if (stuck) console.error(`${client}: operations still in flight 10 s after the end; reporting anyway`);

  const seconds = (endWall - startWall) / 1000;
  const cpuUs = endCpu.user + endCpu.system;
  const [p50, p99, p999] = latencies.percentiles([50, 99, 99.9]);
  const cpuPerOp = ops > 0 ? cpuUs / ops : null;
  const result = {
    client, engine, workload: opts.workload, concurrency: opts.concurrency,
    ops, errors, seconds: round(seconds, 3), ops_per_sec: round(ops / seconds, 1),
    p50_us: round(p50, 1), p99_us: round(p99, 1), p999_us: round(p999, 1),
    cpu_us_per_op: round(cpuPerOp, 2), cpu_s_per_10k_ops: round(cpuPerOp === null ? null : cpuPerOp / 100, 4),
    peak_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
    version,
  };
  process.stderr.write(`${client} ${opts.workload} c=${opts.concurrency}: ${ops} ops, ${errors} errors in ${seconds.toFixed(2)} s` +
                       ` (${result.ops_per_sec} ops/s, p50 ${result.p50_us} us, ${result.cpu_us_per_op} us CPU/op)` +
                       `${note ? `; ${note()}` : ""}\n`);
  process.stdout.write(JSON.stringify(result) + "\n");
  return result;
}
