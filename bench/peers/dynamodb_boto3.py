#!/usr/bin/python3
"""Benchmark peer: boto3's low-level DynamoDB client (Debian's python3-boto3), the
way most Python code calls it: one boto3.client("dynamodb") with the default
configuration (default retry mode, connection pool) except endpoint, region and
credentials, called from one thread in a plain loop. So concurrency 1 only. It
runs one workload over sds's data layout (README "Data layout") and prints one
JSON result line on stdout.

  /usr/bin/python3 bench/peers/dynamodb_boto3.py --endpoint http://127.0.0.1:28201 --table bench --setup
  /usr/bin/python3 bench/peers/dynamodb_boto3.py [--engine dynamodb] --endpoint URL --table NAME \
      --workload get|set|incr|incr_hot|incr_sharded|get_count_1|get_count_10|get_count_100|get_count_1000 \
      --concurrency 1 --duration SECONDS [--warmup SECONDS (0.3)] [--keys N (1000)] [--no-check]

Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), AWS_REGION
(default us-east-1; botocore 1.29 itself only reads AWS_DEFAULT_REGION, so it is passed).
Workloads: get = GetItem v<i>; set = PutItem v<i> (100-byte S); incr = UpdateItem
`ADD #d :one` on c<i>_shard_1 (ReturnValues UPDATED_NEW); incr_hot = the same on
hot_shard_1; incr_sharded = the same on sharded_shard_<1..10>; get_count_N = GetItem
gcN_shards, then BatchGetItem of gcN_shard_1..N in chunks of 100 (one after another:
one thread), UnprocessedKeys re-requested, summed and checked == N. Reads are strongly
consistent (ConsistentRead), as sds's are by default.

Measurement: the first --warmup seconds are not measured; then operations run back to
back until --duration seconds have passed, every completed one counted (ops, or errors)
with its latency (perf_counter_ns). CPU is time.process_time() over that window, peak
RSS getrusage(RUSAGE_SELF).ru_maxrss.
"""
import json
import math
import os
import random
import resource
import sys
import time

PROG = "dynamodb_boto3.py"
WORKLOADS = ["get", "set", "incr", "incr_hot", "incr_sharded",
             "get_count_1", "get_count_10", "get_count_100", "get_count_1000"]
GET_COUNT_SHARDS = [1, 10, 100, 1000]
SHARDED_SHARDS = 10
USAGE = f"""usage: {PROG} [--engine dynamodb] --endpoint URL --table NAME --workload W --concurrency 1 --duration SECONDS
       [--warmup SECONDS (0.3)] [--keys N (1000)] [--no-check]
       {PROG} [--engine dynamodb] --endpoint URL --table NAME [--keys N] --setup
  workloads: {" ".join(WORKLOADS)}
  --no-check: do not count a missing value or a get_count total other than N as an error
              (for a stub server whose canned answers are not the setup data)"""


def usage_exit(message=None):
    if message:
        print(f"{PROG}: {message}", file=sys.stderr)
    print(USAGE, file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    opts = {"engine": "dynamodb", "warmup": "0.3", "keys": "1000", "setup": False, "check": True}
    valued = {"engine", "endpoint", "table", "workload", "concurrency", "duration", "warmup", "keys"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            usage_exit()
        if not arg.startswith("--"):
            usage_exit(f"unexpected argument {arg}")
        name, eq, value = arg[2:].partition("=")
        if name == "setup" and not eq:
            opts["setup"] = True
        elif name == "no-check" and not eq:
            opts["check"] = False
        elif name in valued:
            if not eq:
                i += 1
                if i >= len(argv):
                    usage_exit(f"--{name} needs a value")
                value = argv[i]
            opts[name] = value
        else:
            usage_exit(f"unknown option --{name}")
        i += 1
    if opts["engine"] != "dynamodb":
        usage_exit(f"unknown engine {opts['engine']} (boto3 is dynamodb only)")
    for required in ("endpoint", "table"):
        if not opts.get(required):
            usage_exit(f"--{required} is required")

    def number(name, kind, minimum):
        try:
            v = kind(opts[name])
        except (TypeError, ValueError):
            usage_exit(f"bad --{name} {opts[name]}")
        if not v >= minimum or (kind is float and not math.isfinite(v)):
            usage_exit(f"bad --{name} {opts[name]}")
        opts[name] = v

    number("keys", int, 1)
    number("warmup", float, 0)
    if opts["setup"]:
        return opts
    for required in ("workload", "concurrency", "duration"):
        if opts.get(required) is None:
            usage_exit(f"--{required} is required")
    if opts["workload"] not in WORKLOADS:
        usage_exit(f"unknown workload {opts['workload']}")
    number("concurrency", int, 1)
    number("duration", float, 1e-9)
    if opts["concurrency"] != 1:
        usage_exit(f"--concurrency {opts['concurrency']}: the boto3 peer is one thread calling the client "
                   "in a loop, as most Python code does; only --concurrency 1 is measured")
    return opts


def value_for(i):
    """A 100-byte ASCII value, the same as the Node peers' valueFor(i)."""
    return (f"value-{i}-" + "abcdefghijklmnopqrstuvwxyz0123456789" * 3)[:100]


SET_VALUE = value_for("set")


def error_message(e):
    try:
        import botocore.exceptions
        if isinstance(e, botocore.exceptions.ClientError):
            err = e.response.get("Error", {})
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return f"{err.get('Code')}: HTTP {status}: {err.get('Message')}"
    except ImportError:
        pass
    return f"{type(e).__name__}: {e}"


class Peer:
    def __init__(self, opts):
        import boto3
        self.boto3_version = boto3.__version__
        key_id = os.environ.get("AWS_ACCESS_KEY_ID")
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not key_id or not secret:
            print(f"{PROG}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", file=sys.stderr)
            sys.exit(2)
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=opts["endpoint"],
            region_name=os.environ.get("AWS_REGION") or "us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        )
        self.table = opts["table"]
        self.opts = opts

    def number(self, n):
        """An N attribute as an int; with --no-check, anything else (a stub's canned item) is 0."""
        try:
            return int(n)
        except (TypeError, ValueError):
            if self.opts["check"]:
                raise
            return 0

    def get_value(self, k):
        r = self.client.get_item(TableName=self.table, Key={"key": {"S": k}}, ConsistentRead=True)
        item = r.get("Item")
        value = (item or {}).get("data", {}).get("S")
        if value is None and self.opts["check"]:
            raise LookupError(f"{k} not found (run --setup first)")
        return value

    def set_value(self, k, v):
        self.client.put_item(TableName=self.table, Item={"key": {"S": k}, "data": {"S": v}})

    def incr(self, k):
        r = self.client.update_item(
            TableName=self.table, Key={"key": {"S": k}},
            UpdateExpression="ADD #d :one",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW")
        return r.get("Attributes", {}).get("data", {}).get("N")

    def batch_get_sum(self, keys):
        request = {self.table: {"Keys": [{"key": {"S": k}} for k in keys], "ConsistentRead": True}}
        total = 0
        attempt = 0
        while True:
            r = self.client.batch_get_item(RequestItems=request)
            for item in r.get("Responses", {}).get(self.table, []):
                total += self.number(item.get("data", {}).get("N", "0"))
            unprocessed = r.get("UnprocessedKeys", {}).get(self.table)
            if not unprocessed or not unprocessed.get("Keys"):
                return total
            if attempt >= 10:
                raise RuntimeError(f"BatchGetItem: {len(unprocessed['Keys'])} keys still unprocessed after 10 retries")
            time.sleep(min(1.0, 0.005 * 2 ** attempt) * random.random())
            attempt += 1
            request = {self.table: unprocessed}

    def get_count(self, counter):
        r = self.client.get_item(TableName=self.table, Key={"key": {"S": f"{counter}_shards"}}, ConsistentRead=True)
        item = r.get("Item")
        shards = (self.number(item["shards"].get("N")) or 1) if item and "shards" in item else 1
        total = 0
        for first in range(1, shards + 1, 100):
            total += self.batch_get_sum([f"{counter}_shard_{n}" for n in range(first, min(first + 100, shards + 1))])
        return total

    def setup(self):
        c = self.client
        try:
            c.describe_table(TableName=self.table)
        except c.exceptions.ResourceNotFoundException:
            try:
                c.create_table(TableName=self.table,
                               KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                               BillingMode="PAY_PER_REQUEST")
            except c.exceptions.ResourceInUseException:
                pass
        deadline = time.monotonic() + 300
        while c.describe_table(TableName=self.table)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError(f"table {self.table} not ACTIVE after 5 minutes")
            time.sleep(0.25)
        items = [{"key": {"S": f"v{i}"}, "data": {"S": value_for(i)}} for i in range(self.opts["keys"])]
        for n in GET_COUNT_SHARDS:
            items.append({"key": {"S": f"gc{n}_shards"}, "shards": {"N": str(n)}})
            items += [{"key": {"S": f"gc{n}_shard_{s}"}, "data": {"N": "1"}} for s in range(1, n + 1)]
        items.append({"key": {"S": "sharded_shards"}, "shards": {"N": str(SHARDED_SHARDS)}})
        for b in range(0, len(items), 25):
            request = {self.table: [{"PutRequest": {"Item": item}} for item in items[b:b + 25]]}
            for attempt in range(21):
                unprocessed = c.batch_write_item(RequestItems=request).get("UnprocessedItems", {}).get(self.table)
                if not unprocessed:
                    break
                time.sleep(min(1.0, 0.01 * 2 ** attempt) * random.random())
                request = {self.table: unprocessed}
            else:
                raise RuntimeError("BatchWriteItem: items still unprocessed after 20 retries")
        for n in GET_COUNT_SHARDS:
            total = self.get_count(f"gc{n}")
            if total != n:
                raise RuntimeError(f"check failed: gc{n} counts {total}, expected {n}")
        print(f"{PROG}: setup done: table {self.table} ACTIVE, wrote {len(items)} items "
              f"(v0..v{self.opts['keys'] - 1}, gc{{1,10,100,1000}} shards, sharded_shards)", file=sys.stderr)

    def operation(self, workload):
        keys = self.opts["keys"]
        rand = random.randrange
        if workload == "get":
            return lambda: self.get_value(f"v{rand(keys)}")
        if workload == "set":
            return lambda: self.set_value(f"v{rand(keys)}", SET_VALUE)
        if workload == "incr":
            return lambda: self.incr(f"c{rand(keys)}_shard_1")
        if workload == "incr_hot":
            return lambda: self.incr("hot_shard_1")
        if workload == "incr_sharded":
            return lambda: self.incr(f"sharded_shard_{1 + rand(SHARDED_SHARDS)}")
        n = int(workload[len("get_count_"):])

        def get_count():
            total = self.get_count(f"gc{n}")
            if total != n and self.opts["check"]:
                raise RuntimeError(f"get_count gc{n} = {total}, expected {n} (run --setup first)")
        return get_count


def measure(peer, opts):
    op = peer.operation(opts["workload"])
    workload, concurrency, duration = opts["workload"], opts["concurrency"], opts["duration"]
    tty = sys.stderr.isatty()
    end_char = "\r" if tty else "\n"
    first_error = None
    perf_counter, perf_counter_ns = time.perf_counter, time.perf_counter_ns

    def note_error(e):
        nonlocal first_error
        if first_error is None:
            first_error = error_message(e)
            print(f"boto3 {workload}: first error: {first_error}", file=sys.stderr)

    begin = perf_counter()
    warm_end = begin + opts["warmup"]
    warm_ops = warm_errors = 0
    next_progress = begin + 1
    while True:
        now = perf_counter()
        if now >= warm_end:
            break
        if now >= next_progress:
            print(f"boto3 {workload} c=1 warmup {now - begin:.1f}s ops={warm_ops} errors={warm_errors}",
                  end=end_char, file=sys.stderr, flush=True)
            next_progress += 1
        try:
            op()
            warm_ops += 1
        except Exception as e:  # counted, not fatal
            warm_errors += 1
            note_error(e)

    latencies = []
    ops = errors = 0
    cpu_start = time.process_time()
    start = perf_counter()
    end = start + duration
    next_progress = start + 1
    now = start
    while now < end:
        t0 = perf_counter_ns()
        try:
            op()
            t1 = perf_counter_ns()
            ops += 1
            latencies.append((t1 - t0) / 1000)
        except Exception as e:
            errors += 1
            note_error(e)
        now = perf_counter()
        if now >= next_progress:
            s = now - start
            print(f"boto3 {workload} c=1 {s:.1f}/{duration:g}s ops={ops} errors={errors} {ops / s:.0f} ops/s",
                  end=end_char, file=sys.stderr, flush=True)
            next_progress += 1
    cpu_s = time.process_time() - cpu_start
    seconds = now - start

    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return round(latencies[max(1, math.ceil(p / 100 * len(latencies))) - 1], 1)

    cpu_per_op = cpu_s * 1e6 / ops if ops else None
    result = {
        "client": "boto3", "engine": "dynamodb", "workload": workload, "concurrency": concurrency,
        "ops": ops, "errors": errors, "seconds": round(seconds, 3), "ops_per_sec": round(ops / seconds, 1),
        "p50_us": pct(50), "p99_us": pct(99), "p999_us": pct(99.9),
        "cpu_us_per_op": None if cpu_per_op is None else round(cpu_per_op, 2),
        "cpu_s_per_10k_ops": None if cpu_per_op is None else round(cpu_per_op / 100, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "version": peer.boto3_version,
    }
    print(f"boto3 {workload} c=1: {ops} ops, {errors} errors in {seconds:.2f} s ({result['ops_per_sec']} ops/s, "
          f"p50 {result['p50_us']} us, {result['cpu_us_per_op']} us CPU/op)", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main():
    opts = parse_args(sys.argv[1:])
    peer = Peer(opts)
    try:
        if opts["setup"]:
            peer.setup()
        else:
            measure(peer, opts)
    except Exception as e:
        print(f"{PROG}: {error_message(e)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
