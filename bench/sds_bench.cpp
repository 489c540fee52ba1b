// Operation benchmark of sds::datastore: C coroutines issue one workload's
// operations back to back on one io_context for a fixed time, and the
// program prints one JSON line: operations per second, latency percentiles,
// client CPU per operation and peak resident memory. bench/run.sh runs it
// beside the official clients (bench/peers/) on the same server.
//
//   sds_bench --engine dynamodb|azure --endpoint URL --workload W
//             [--table NAME] [--concurrency C] [--duration S] [--warmup S]
//             [--keys N] [--threads T] [--setup [--max-count N]]
//
// Workloads (the items are the ones README "Data layout" names):
//   get                 get_data of value v<i>, i random in [0, keys)
//   set                 set_data of v<i> (100 bytes of text)
//   incr                incr of unsharded counter c<i>
//   incr_hot            incr of the one counter "hot" (concurrent calls combine)
//   incr_hot_nocombine  the same with incr_options::combine off
//   incr_sharded        incr of "sharded" with 10 shards
//   get_count_N         get_count of "gcN" (N shards, total N), N in 1, 10, 100, 1000
// --setup creates the table and writes what the read workloads read (the
// values, and N increments of each gcN over N shards, for N up to
// --max-count), then exits.
//
// Credentials and the rest of the configuration come from the environment
// as for the CLI (dynamodb_config::from_env, azure_table_config::from_env).
// A progress line goes to stderr once a second; only the JSON goes to stdout.
#include <sds/datastore.hpp>
#include <sds/version.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#ifndef SDS_BENCH_BUILD_TYPE
#define SDS_BENCH_BUILD_TYPE "unknown"
#endif

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

struct arguments {
    std::string engine = "dynamodb";
    std::string endpoint;
    std::string table = "bench";
    std::string workload;
    int concurrency = 64;
    double duration = 2.0;
    double warmup = 0.3;
    int keys = 1000;
    int threads = 1;
    bool setup = false;
    int max_count = 1000;  // --setup writes the counters gcN for N up to this
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "sds_bench: %s\n"
                 "usage: sds_bench --engine dynamodb|azure --endpoint URL --workload W [--table NAME]\n"
                 "                 [--concurrency C] [--duration S] [--warmup S] [--keys N] [--threads T]\n"
                 "                 [--setup [--max-count N]]\n"
                 "workloads: get set incr incr_hot incr_hot_nocombine incr_sharded get_count_1 get_count_10\n"
                 "           get_count_100 get_count_1000\n",
                 why);
    std::exit(2);
}

arguments parse(int argc, char* argv[]) {
    arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--setup") {
            a.setup = true;
            continue;
        }
        if (i + 1 >= argc) usage(("missing value of " + flag).c_str());
        const std::string v = argv[++i];
        try {
            if (flag == "--engine") a.engine = v;
            else if (flag == "--endpoint") a.endpoint = v;
            else if (flag == "--table") a.table = v;
            else if (flag == "--workload") a.workload = v;
            else if (flag == "--concurrency") a.concurrency = std::stoi(v);
            else if (flag == "--duration") a.duration = std::stod(v);
            else if (flag == "--warmup") a.warmup = std::stod(v);
            else if (flag == "--keys") a.keys = std::stoi(v);
            else if (flag == "--threads") a.threads = std::stoi(v);
            else if (flag == "--max-count") a.max_count = std::stoi(v);
            else usage(("unknown flag " + flag).c_str());
        } catch (const std::logic_error&) {
            usage(("bad value of " + flag + ": " + v).c_str());
        }
    }
    if (a.engine != "dynamodb" && a.engine != "azure") usage("--engine is dynamodb or azure");
    if (a.concurrency < 1 || a.keys < 1 || a.threads < 1 || a.duration <= 0 || a.warmup < 0) usage("bad numbers");
    if (!a.setup && a.workload.empty()) usage("--workload is required");
    return a;
}

sds::datastore make_datastore(asio::any_io_executor ex, const arguments& a) {
    if (a.engine == "azure") {
        auto config = sds::azure_table_config::from_env();
        if (!a.endpoint.empty()) config.endpoint = a.endpoint;
        return sds::datastore(ex, std::move(config));
    }
    auto config = sds::dynamodb_config::from_env();
    if (!a.endpoint.empty()) config.endpoint = a.endpoint;
    return sds::datastore(ex, std::move(config));
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

const std::vector<int> get_count_sizes{1, 10, 100, 1000};

// One operation of the workload; throws on failure. `rng` belongs to the caller.
using operation = std::function<asio::awaitable<void>(std::minstd_rand&)>;

operation make_operation(sds::datastore& db, const arguments& a) {
    const std::string table = a.table;
    const int keys = a.keys;
    auto pick = [keys](std::minstd_rand& rng) { return std::to_string(rng() % static_cast<unsigned>(keys)); };
    const std::string& w = a.workload;
    if (w == "get") {
        return [&db, table, pick](std::minstd_rand& rng) -> asio::awaitable<void> {
            const auto v = co_await db.get_data(table, "v" + pick(rng));
            if (!v) throw std::runtime_error("get_data found no value (run --setup first)");
        };
    }
    if (w == "set") {
        return [&db, table, pick](std::minstd_rand& rng) -> asio::awaitable<void> {
            co_await db.set_data(table, "v" + pick(rng), std::string(100, 'x'));
        };
    }
    if (w == "incr") {
        return [&db, table, pick](std::minstd_rand& rng) -> asio::awaitable<void> {
            co_await db.incr(table, "c" + pick(rng));
        };
    }
    if (w == "incr_hot" || w == "incr_hot_nocombine") {
        const bool combine = w == "incr_hot";
        return [&db, table, combine](std::minstd_rand&) -> asio::awaitable<void> {
            sds::incr_options options;
            options.combine = combine;
            co_await db.incr(table, "hot", options);
        };
    }
    if (w == "incr_sharded") {
        return [&db, table](std::minstd_rand&) -> asio::awaitable<void> {
            sds::incr_options options;
            options.shard_count = 10;
            co_await db.incr(table, "sharded", options);
        };
    }
    for (const int n : get_count_sizes) {
        if (w != "get_count_" + std::to_string(n)) continue;
        return [&db, table, n](std::minstd_rand&) -> asio::awaitable<void> {
            const std::int64_t total = co_await db.get_count(table, "gc" + std::to_string(n));
            if (total != n)
                throw std::runtime_error("get_count of gc" + std::to_string(n) + " is " + std::to_string(total) +
                                         ", expected " + std::to_string(n) + " (run --setup first)");
        };
    }
    usage(("unknown workload " + w).c_str());
}

using step_function = std::function<asio::awaitable<void>(int)>;

// Runs `count` calls of `step(i)` with at most `width` in flight.
asio::awaitable<void> run_all(int count, int width, step_function step) {
    auto next = std::make_shared<int>(0);
    auto done = std::make_shared<int>(0);
    auto failure = std::make_shared<std::exception_ptr>();
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer finished(ex, clock_type::time_point::max());
    const int workers = std::min(width, count);
    for (int w = 0; w < workers; ++w) {
        asio::co_spawn(
            ex,
            [=, &finished]() -> asio::awaitable<void> {
                while (*next < count && !*failure) {
                    const int i = (*next)++;
                    try {
                        co_await step(i);
                    } catch (...) {
                        if (!*failure) *failure = std::current_exception();
                    }
                }
                if (++*done == workers) finished.cancel();
            },
            asio::detached);
    }
    boost::system::error_code ec;
    co_await finished.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (*failure) std::rethrow_exception(*failure);
}

asio::awaitable<void> setup(sds::datastore& db, const arguments& a) {
    try {
        co_await db.create_table(a.table);
    } catch (const sds::error& e) {
        if (e.condition() != sds::errc::already_exists) throw;
    }
    // (Named, not temporaries: GCC 12 destroys temporary arguments of a
    // co_await expression twice.)
    const step_function set_value = [&](int i) -> asio::awaitable<void> {
        co_await db.set_data(a.table, "v" + std::to_string(i), std::string(100, 'x'));
    };
    co_await run_all(a.keys, 64, set_value);
    for (const int n : get_count_sizes) {
        if (n > a.max_count) break;
        const std::string counter = "gc" + std::to_string(n);
        co_await db.delete_counter(a.table, counter);
        // N increments over N shards: the total is N whichever shards they hit.
        const step_function increment = [&, counter, n](int) -> asio::awaitable<void> {
            sds::incr_options options;
            options.shard_count = static_cast<std::uint32_t>(n);
            co_await db.incr(a.table, counter, options);
        };
        co_await run_all(n, 64, increment);
        const std::int64_t total = co_await db.get_count(a.table, counter);
        if (total != n) throw std::runtime_error("setup: " + counter + " counts " + std::to_string(total));
    }
    std::fprintf(stderr, "sds_bench: set up table %s: %d values, counters gcN for N up to %d\n", a.table.c_str(), a.keys,
                 a.max_count);
}

// What the workers share. Latencies are kept per worker (no lock on the hot
// path) and merged at the end.
struct run_state {
    std::atomic<bool> stop{false};
    std::atomic<bool> measuring{false};
    std::atomic<std::uint64_t> ops{0};
    std::atomic<std::uint64_t> errors{0};
    clock_type::time_point measure_start;
    std::mutex first_error_mutex;
    std::string first_error;
    std::vector<std::vector<std::uint32_t>> latencies;  // per worker, microseconds
};

asio::awaitable<void> worker(int id, operation op, std::shared_ptr<run_state> state) {
    std::minstd_rand rng(static_cast<std::uint32_t>(id) * 7919u + 1u);
    auto& mine = state->latencies[static_cast<std::size_t>(id)];
    while (!state->stop.load(std::memory_order_relaxed)) {
        const auto start = clock_type::now();
        bool ok = true;
        try {
            co_await op(rng);
        } catch (const std::exception& e) {
            ok = false;
            std::lock_guard lock(state->first_error_mutex);
            if (state->first_error.empty()) state->first_error = e.what();
        }
        // A failure that came without any I/O would never let the clock run:
        // let the others (and the clock) have a turn.
        if (!ok) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        // Every operation that completes inside the window counts, as in the
        // peers (bench/peers/peer_common.mjs).
        if (!state->measuring.load(std::memory_order_acquire)) continue;
        if (state->stop.load(std::memory_order_relaxed)) break;
        if (!ok) {
            state->errors.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        state->ops.fetch_add(1, std::memory_order_relaxed);
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - start).count();
        mine.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(micros, UINT32_MAX)));
    }
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    // Nearest rank.
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

} // namespace

int main(int argc, char* argv[]) try {
    const arguments a = parse(argc, argv);
    // One thread: the hint that promises Asio one thread at a time (sds then
    // needs no strand of its own), as a single-threaded server would use.
    asio::io_context io(a.threads == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : a.threads);
    auto db = make_datastore(io.get_executor(), a);

    if (a.setup) {
        std::exception_ptr failure;
        asio::co_spawn(io, setup(db, a), [&](std::exception_ptr e) { failure = e; });
        io.run();
        if (failure) std::rethrow_exception(failure);
        return 0;
    }

    const operation op = make_operation(db, a);
    auto state = std::make_shared<run_state>();
    state->latencies.resize(static_cast<std::size_t>(a.concurrency));
    const auto expected = static_cast<std::size_t>(a.duration * 200'000 / a.concurrency) + 1024;
    for (auto& l : state->latencies) l.reserve(expected);

    for (int i = 0; i < a.concurrency; ++i) asio::co_spawn(io, worker(i, op, state), asio::detached);

    // The clock: warm-up, then the measured window with a progress line each second.
    double cpu_start = 0;
    double cpu_end = 0;
    clock_type::time_point end;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            timer.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(a.warmup)));
            co_await timer.async_wait(asio::use_awaitable);
            state->measure_start = clock_type::now();
            cpu_start = cpu_seconds();
            state->measuring = true;
            const auto until =
                state->measure_start +
                std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(a.duration));
            while (clock_type::now() < until) {
                timer.expires_at(std::min(until, clock_type::now() + std::chrono::seconds(1)));
                co_await timer.async_wait(asio::use_awaitable);
                const double elapsed = std::chrono::duration<double>(clock_type::now() - state->measure_start).count();
                std::fprintf(stderr, "\rsds_bench %s %s c=%d: %.1f s, %llu ops, %.0f ops/s, %llu errors   ",
                             a.engine.c_str(), a.workload.c_str(), a.concurrency, elapsed,
                             static_cast<unsigned long long>(state->ops.load()), state->ops.load() / elapsed,
                             static_cast<unsigned long long>(state->errors.load()));
            }
            std::fprintf(stderr, "\n");
            end = clock_type::now();
            cpu_end = cpu_seconds();
            state->stop = true;
        },
        asio::detached);

    std::vector<std::thread> extra;
    for (int t = 1; t < a.threads; ++t) extra.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : extra) t.join();

    std::vector<std::uint32_t> all;
    for (const auto& l : state->latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    const double seconds = std::chrono::duration<double>(end - state->measure_start).count();
    const auto ops = state->ops.load();
    const double cpu = cpu_end - cpu_start;
    const double per_op = ops ? cpu * 1e6 / static_cast<double>(ops) : 0;
    if (!state->first_error.empty()) std::fprintf(stderr, "sds_bench: first error: %s\n", state->first_error.c_str());
    std::printf("{\"client\":\"sds\",\"engine\":\"%s\",\"workload\":\"%s\",\"concurrency\":%d,\"threads\":%d,"
                "\"ops\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"ops_per_sec\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
                "\"p999_us\":%.0f,\"cpu_us_per_op\":%.2f,\"cpu_s_per_10k_ops\":%.4f,\"peak_rss_mb\":%.1f,"
                "\"version\":\"%s\",\"build_type\":\"%s\"}\n",
                a.engine.c_str(), a.workload.c_str(), a.concurrency, a.threads, static_cast<unsigned long long>(ops),
                static_cast<unsigned long long>(state->errors.load()), seconds, ops / seconds,
                percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999), per_op, per_op / 100.0,
                peak_rss_mb(), std::string(sds::version()).c_str(), SDS_BENCH_BUILD_TYPE);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "sds_bench: %s\n", e.what());
    return 1;
}
