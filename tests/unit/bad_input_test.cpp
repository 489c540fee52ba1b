// The bad-input matrix: every public operation of sds::datastore, on both
// engines, with empty, oversized and invalid table names, keys, counter
// names, values, amounts, shard counts, capacities, timeouts and times, and
// with malformed configurations and credentials. Each is refused with a
// specific errc (invalid_argument) and a message that names what is wrong,
// and the scripted transport under the datastore proves that nothing was
// sent. A control row per operation and engine proves that the same
// operation with good input does reach the transport, so "nothing sent"
// means something. Last, the sums a counter cannot hold: a total past 64 bits
// is a protocol_error, never a wrapped number.
#include <catch2/catch.hpp>

#include "azure/odata.hpp"
#include "datastore_access.hpp"
#include "dynamodb/dynamodb_engine.hpp"
#include "support/expect_error.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"
#include "validation.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using sds::errc;
using sds::test::expect_error;
using sds::test::fake_transport;

namespace {

constexpr const char* dynamodb_url = "http://127.0.0.1:8000";
constexpr const char* azure_url = "http://127.0.0.1:10002/devstoreaccount1";
constexpr const char* azure_dev_key =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

enum class engine_kind { dynamodb, azure };

const char* name_of(engine_kind e) { return e == engine_kind::dynamodb ? "dynamodb" : "azure"; }

// Every operation datastore.hpp declares (set_data twice: text and bytes).
enum class op {
    create_table,
    delete_table,
    list_tables,
    update_throughput,
    set_text,
    set_bytes,
    get_data,
    get_value,
    delete_data,
    incr,
    get_count,
    delete_counter,
};

constexpr op all_ops[] = {op::create_table, op::delete_table, op::list_tables, op::update_throughput,
                          op::set_text,     op::set_bytes,    op::get_data,    op::get_value,
                          op::delete_data,  op::incr,         op::get_count,   op::delete_counter};

const char* name_of(op o) {
    switch (o) {
    case op::create_table: return "create_table";
    case op::delete_table: return "delete_table";
    case op::list_tables: return "list_tables";
    case op::update_throughput: return "update_throughput";
    case op::set_text: return "set_data(text)";
    case op::set_bytes: return "set_data(bytes)";
    case op::get_data: return "get_data";
    case op::get_value: return "get_value";
    case op::delete_data: return "delete_data";
    case op::incr: return "incr";
    case op::get_count: return "get_count";
    case op::delete_counter: return "delete_counter";
    }
    return "?";
}

bool takes_table(op o) { return o != op::list_tables; }
bool takes_key(op o) {
    return o == op::set_text || o == op::set_bytes || o == op::get_data || o == op::get_value || o == op::delete_data;
}
bool takes_counter(op o) { return o == op::incr || o == op::get_count || o == op::delete_counter; }

// The arguments of one call; each operation uses those it takes. The
// defaults are good input.
struct input {
    std::string table = "tbl";
    std::string key = "k";  // a value's key, or a counter's name
    std::string text = "v";
    sds::bytes data{1, 2, 3};
    std::int64_t amount = 1;
    std::uint32_t shard_count = 1;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<std::chrono::system_clock::time_point> at;
    std::optional<std::int64_t> read, write;  // create_table
    bool on_demand = false;
    std::int64_t new_read = 1, new_write = 1;  // update_throughput
};

// (Options are built in named variables: GCC 12 mishandles braced
// temporaries in a full-expression with co_await.)
asio::awaitable<void> perform(sds::datastore& db, op o, input in) {
    sds::operation_options plain;
    plain.at = in.at;
    plain.timeout = in.timeout;
    sds::read_options read;
    read.at = in.at;
    read.timeout = in.timeout;
    switch (o) {
    case op::create_table: {
        sds::table_options t;
        t.read = in.read;
        t.write = in.write;
        t.on_demand = in.on_demand;
        t.at = in.at;
        t.timeout = in.timeout;
        co_await db.create_table(in.table, t);
        break;
    }
    case op::delete_table: co_await db.delete_table(in.table, plain); break;
    case op::list_tables: {
        const auto names = co_await db.list_tables(plain);
        (void)names;
        break;
    }
    case op::update_throughput: co_await db.update_throughput(in.table, in.new_read, in.new_write, plain); break;
    case op::set_text: co_await db.set_data(in.table, in.key, in.text, plain); break;
    case op::set_bytes: co_await db.set_data(in.table, in.key, in.data, plain); break;
    case op::get_data: {
        const auto v = co_await db.get_data(in.table, in.key, read);
        (void)v;
        break;
    }
    case op::get_value: {
        const auto v = co_await db.get_value(in.table, in.key, read);
        (void)v;
        break;
    }
    case op::delete_data: co_await db.delete_data(in.table, in.key, plain); break;
    case op::incr: {
        sds::incr_options i;
        i.amount = in.amount;
        i.shard_count = in.shard_count;
        i.at = in.at;
        i.timeout = in.timeout;
        const auto n = co_await db.incr(in.table, in.key, i);
        (void)n;
        break;
    }
    case op::get_count: {
        const auto n = co_await db.get_count(in.table, in.key, read);
        (void)n;
        break;
    }
    case op::delete_counter: co_await db.delete_counter(in.table, in.key, plain); break;
    }
}

// Good configurations: one attempt per call, quick polls.
sds::dynamodb_config dynamodb_config_ok() {
    sds::dynamodb_config c;
    c.region = "eu-west-1";
    c.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    c.retry.max_attempts = 1;
    c.table_poll_interval = 1ms;
    return c;
}

sds::azure_table_config azure_config_ok() {
    sds::azure_table_config c;
    c.account_name = "devstoreaccount1";
    c.account_key = azure_dev_key;
    c.retry.max_attempts = 1;
    c.table_poll_interval = 1ms;
    return c;
}

// What one call did: the error it threw (or any other exception), and how
// many requests reached the transport.
struct outcome {
    std::optional<sds::error> error;
    std::string other;
    std::size_t sent = 0;
};

template <class Config>
asio::awaitable<void> run_on(Config config, std::shared_ptr<fake_transport> fake, op o, input in) {
    const auto ex = co_await asio::this_coro::executor;
    sds::datastore db = sds::detail::datastore_access::make(ex, std::move(config), fake);
    co_await perform(db, o, std::move(in));
}

// Runs `o` on a datastore over a fresh fake transport. The transport has
// nothing scripted: a request that reaches it fails as a network error.
template <class Config>
outcome attempt(const Config& config, op o, const input& in,
                const std::function<void(fake_transport&)>& script = {}) {
    constexpr bool azure = std::is_same_v<Config, sds::azure_table_config>;
    auto fake = std::make_shared<fake_transport>(azure ? azure_url : dynamodb_url);
    if (script) script(*fake);
    outcome out;
    try {
        sds::test::run([&](auto&) { return run_on(config, fake, o, in); });
    } catch (const sds::error& e) {
        out.error = e;
    } catch (const std::exception& e) {
        out.other = e.what();
    }
    out.sent = fake->requests().size();
    return out;
}

outcome attempt_on(engine_kind e, op o, const input& in) {
    return e == engine_kind::dynamodb ? attempt(dynamodb_config_ok(), o, in) : attempt(azure_config_ok(), o, in);
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// A message fit to print and log: short, UTF-8, without control characters
// (an input is never echoed raw into it).
bool printable(std::string_view what) {
    if (what.size() > 4096 || !sds::detail::is_utf8(what)) return false;
    for (std::size_t i = 0; i < what.size(); ++i) {
        const auto c = static_cast<unsigned char>(what[i]);
        if (c < 0x20 || c == 0x7F) return false;
        if (c == 0xC2 && i + 1 < what.size() && static_cast<unsigned char>(what[i + 1]) <= 0x9F) return false;
    }
    return true;
}

// A refusal before sending: the errc, the message naming `names`, no
// attempt in the diagnostics and no request at the transport.
// `names` holds the phrases the message must contain, separated by '|'.
void check_refused(const outcome& out, std::string_view names, errc expected = errc::invalid_argument) {
    INFO("other exception: " << out.other);
    REQUIRE(out.error.has_value());
    const std::string what = out.error->what();
    INFO("what(): " << (what.size() > 600 ? what.substr(0, 600) + "..." : what));
    CHECK(out.error->condition() == expected);
    for (std::size_t start = 0; start <= names.size();) {
        const std::size_t bar = std::min(names.find('|', start), names.size());
        const std::string phrase(names.substr(start, bar - start));
        INFO("the message should name: " << phrase);
        CHECK(lower(what).find(lower(phrase)) != std::string::npos);
        start = bar + 1;
    }
    CHECK(printable(what));
    CHECK(out.error->diag().attempts == 0);
    CHECK(out.error->diag().http_status == 0);
    CHECK(out.sent == 0);
}

struct bad_case {
    std::string what;  // the bad input, in words
    op operation;
    input in;
    std::string names;  // what the message must mention (case-insensitive)
};

struct named_value {
    std::string what;
    std::string value;
    std::string names = {};  // what the message must name besides the kind of input
};

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

constexpr std::int64_t two_53 = std::int64_t{1} << 53;
constexpr auto i64_max = std::numeric_limits<std::int64_t>::max();
constexpr auto i64_min = std::numeric_limits<std::int64_t>::min();

// Every bad input of the matrix for one engine.
std::vector<bad_case> bad_inputs(engine_kind e) {
    const bool azure = e == engine_kind::azure;
    std::vector<bad_case> cases;

    // Table names, for every operation that takes one.
    const std::string length = azure ? "3 to 63" : "3 to 255";
    const std::string charset = azure ? "letters and digits" : "letters, digits";
    std::vector<named_value> tables{
        {"an empty table name", "", length},
        {"a table name of 2 characters", "ab", length},
        {"a table name one character over the limit", std::string(azure ? 64 : 256, 't'), length},
        {"a table name of 1 MiB", std::string(1 << 20, 't'), "1048576 bytes"},
        {"a table name with a space", "bad name", charset},
        {"a table name with '$'", "tbl$", charset},
        {"a table name with '/'", "tbl/x", charset},
        {"a table name with a non-ASCII letter", "t\xC3\xA9l", charset},
        {"a table name with a line break", "tb\nl", "control character"},
        {"a table name with a NUL", std::string("tb\0l", 4), "control character"},
        {"a table name with U+0085", "tb\xC2\x85l", "control character"},
        {"a table name that is not UTF-8", "tb\xFFl", "UTF-8"},
        {"a table name pattern with %e", "events%e", "%e is not supported"},
        {"a table name pattern with %Z", "events%Z", "%Z is not supported"},
        {"a table name pattern ending in '%'", "events%", "ends with '%'"},
        {"a table name pattern with a line break", "ev\r\n%Y", "control character"},
        {"a table name pattern resolving to over 1024 bytes", repeat("%Y", 300), "over 1024 bytes"},
        {"a table name pattern of 1 MiB", repeat("%Y", 1 << 19), "1048576 bytes"},
        {"a table name pattern resolving to a name with a space", "ev %Y", charset},
    };
    if (azure) {
        tables.push_back({"an Azure table name with '_'", "bad_name", charset});
        tables.push_back({"an Azure table name with '-'", "bad-name", charset});
        tables.push_back({"an Azure table name starting with a digit", "1abc", "starting with a letter"});
        tables.push_back({"the reserved Azure table name 'tables'", "tables", "reserved"});
        tables.push_back({"the reserved Azure table name 'TABLES'", "TABLES", "reserved"});
        tables.push_back({"an Azure table name pattern resolving to a name with '_'", "ev_%Y", charset});
    } else {
        tables.push_back({"a DynamoDB table name with ':'", "tbl:1", charset});
        tables.push_back({"a DynamoDB table name with '#'", "tbl#", charset});
    }
    for (const op o : all_ops) {
        if (!takes_table(o)) continue;
        for (const auto& t : tables) {
            input in;
            in.table = t.value;
            cases.push_back({t.what, o, in, "table|" + t.names});
        }
    }

    // Keys of values.
    std::vector<named_value> keys{
        {"an empty key", "", "empty"},
        {"a key of 2049 bytes", std::string(2049, 'k'), "2049 bytes"},
        {"a key of 1 MiB", std::string(1 << 20, 'k'), "1048576 bytes"},
        {"a key that is not UTF-8", "k\xFF", "UTF-8"},
        {"a key with an overlong UTF-8 form", "k\xC0\xAF", "UTF-8"},
        {"a key with a UTF-16 surrogate", "k\xED\xA0\x80", "UTF-8"},
        {"a key cut in the middle of a character", "k\xE2\x82", "UTF-8"},
        {"a key with a line break", "a\nb", "control character"},
        {"a key with a NUL", std::string("a\0b", 3), "control character"},
        {"a key with DEL", "a\x7F", "control character"},
        {"a key with U+0085", "a\xC2\x85", "control character"},
        {"a key naming a counter's shard", "hits_shard_1", "counter item"},
        {"a key naming a counter's shard count", "hits_shards", "counter item"},
    };
    if (azure) {
        keys.push_back({"an Azure key of 513 UTF-16 units", std::string(513, 'k'), "1 KiB"});
        keys.push_back({"an Azure key of 257 characters outside the BMP", repeat("\xF0\x9F\x98\x80", 257), "1 KiB"});
        for (const char* k : {"a/b", "a\\b", "a#b", "a?b"})
            keys.push_back({std::string("an Azure key '") + k + "'", k, "may not contain"});
    }
    for (const op o : all_ops) {
        if (!takes_key(o)) continue;
        for (const auto& k : keys) {
            input in;
            in.key = k.value;
            cases.push_back({k.what, o, in, "key|" + k.names});
        }
    }

    // Counter names.
    std::vector<named_value> counters{
        {"an empty counter name", "", "empty"},
        {"a counter name without room for the longest shard suffix", std::string(azure ? 501 : 2037, 'c'),
         azure ? "1 KiB" : "2037 bytes"},
        {"a counter name of 1 MiB", std::string(1 << 20, 'c'), "1048576 bytes"},
        {"a counter name that is not UTF-8", "c\xFF", "UTF-8"},
        {"a counter name with a tab", "c\tx", "control character"},
        {"a counter name with U+009F", "c\xC2\x9F", "control character"},
    };
    if (azure) {
        counters.push_back({"an Azure counter name with '/'", "c/x", "may not contain"});
        counters.push_back({"an Azure counter name with '#'", "c#x", "may not contain"});
    }
    for (const op o : all_ops) {
        if (!takes_counter(o)) continue;
        for (const auto& c : counters) {
            input in;
            in.key = c.value;
            cases.push_back({c.what, o, in, "counter name|" + c.names});
        }
    }

    // Values.
    {
        input in;
        in.text = "bad \xFF";
        cases.push_back({"text that is not UTF-8", op::set_text, in, "text value|UTF-8"});
        in.text = "\xED\xB0\x80";
        cases.push_back({"text of a lone UTF-16 surrogate", op::set_text, in, "text value|UTF-8"});
        in.text = "ok\xC0\x80";
        cases.push_back({"text with an overlong NUL", op::set_text, in, "text value|UTF-8"});
    }
    {
        // DynamoDB: the item ("key" + key + "data" + value) over 400 KB;
        // Azure: the property over 64 KiB, text counted in UTF-16.
        const std::size_t over = azure ? 32769 : 400 * 1024 - 8 + 1;
        const std::string limit = azure ? "value of|64 KiB" : "item of|400 KB";
        input in;
        in.text = std::string(over, 'v');
        cases.push_back({"text one byte over the size limit", op::set_text, in, limit});
        in.text = std::string(2 << 20, 'v');
        cases.push_back({"text of 2 MiB", op::set_text, in, limit});
        in.text = "v";
        in.data = sds::bytes(azure ? 65537 : 400 * 1024 - 8 + 1, 0xAB);
        cases.push_back({"bytes one over the size limit", op::set_bytes, in, limit});
        if (azure) {
            in.text = repeat("\xF0\x9F\x98\x80", 16385);  // 65540 bytes as UTF-16, 65540 as UTF-8
            cases.push_back({"text whose UTF-16 form is over 64 KiB", op::set_text, in, limit});
            in.text = repeat("\xC3\xA9", 32769);  // 65538 bytes either way
            cases.push_back({"two-byte text over 64 KiB as UTF-16", op::set_text, in, limit});
        }
    }

    // Amounts and shard counts.
    for (const std::int64_t amount : {two_53, -two_53, two_53 + 1, i64_max, i64_min}) {
        input in;
        in.amount = amount;
        cases.push_back({"an amount of " + std::to_string(amount), op::incr, in, "amount|out of range"});
    }
    for (const std::uint32_t shards : {0u, 10001u, 65536u, std::numeric_limits<std::uint32_t>::max()}) {
        input in;
        in.shard_count = shards;
        cases.push_back({"a shard count of " + std::to_string(shards), op::incr, in, "shard_count|1 to 10000"});
    }

    // Capacities.
    {
        input in;
        in.read = 0;
        cases.push_back({"a read capacity of 0", op::create_table, in, "capacity|at least 1"});
        in.read = std::nullopt;
        in.write = -1;
        cases.push_back({"a write capacity of -1", op::create_table, in, "capacity|at least 1"});
        in.write = i64_min;
        cases.push_back({"a write capacity of INT64_MIN", op::create_table, in, "capacity|at least 1"});
        in.write = std::nullopt;
        in.read = 5;
        in.on_demand = true;
        cases.push_back({"on demand with a read capacity", op::create_table, in, "on_demand"});
        in.read = std::nullopt;
        in.write = 5;
        cases.push_back({"on demand with a write capacity", op::create_table, in, "on_demand"});
    }
    for (const auto& [r, w] : std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 5}, {5, 0}, {-1, -1}, {i64_min, 1}}) {
        input in;
        in.new_read = r;
        in.new_write = w;
        cases.push_back({"update_throughput to " + std::to_string(r) + "/" + std::to_string(w), op::update_throughput,
                         in, "read and write|at least 1"});
    }
    if (azure) cases.push_back({"update_throughput on Azure", op::update_throughput, input{}, "no provisioned throughput"});

    // Timeouts, for every operation.
    const std::vector<std::tuple<std::string, std::chrono::milliseconds, std::string>> timeouts{
        {"a timeout of 0", 0ms, "must be positive"},
        {"a timeout of -1 ms", -1ms, "must be positive"},
        {"the most negative timeout", std::chrono::milliseconds::min(), "must be positive"},
        {"the largest timeout", std::chrono::milliseconds::max(), "over 100 years"},
        {"a timeout of 300 years", std::chrono::hours(24 * 366 * 300), "over 100 years"},
    };
    for (const op o : all_ops) {
        for (const auto& [what, t, names] : timeouts) {
            input in;
            in.timeout = t;
            cases.push_back({what, o, in, "timeout|" + names});
        }
    }

    // Times a time-series table cannot be resolved at.
    for (const op o : all_ops) {
        if (!takes_table(o)) continue;
        for (const auto& [what, at] : std::vector<std::pair<std::string, std::chrono::system_clock::time_point>>{
                 {"the earliest time point", std::chrono::system_clock::time_point::min()},
                 {"a second before 1970", std::chrono::system_clock::time_point{} - std::chrono::seconds(1)}}) {
            input in;
            in.table = "events%Y%m%d";
            in.at = at;
            cases.push_back({"a time-series table at " + what, o, in, "table name pattern|before 1970"});
        }
    }
    return cases;
}

} // namespace

TEST_CASE("bad input to every operation on either engine is refused with invalid_argument, a message naming it, "
          "and nothing sent",
          "[bad_input]") {
    std::size_t total = 0;
    for (const engine_kind e : {engine_kind::dynamodb, engine_kind::azure}) {
        for (const auto& c : bad_inputs(e)) {
            INFO(name_of(e) << " " << name_of(c.operation) << ": " << c.what);
            check_refused(attempt_on(e, c.operation, c.in), c.names);
            ++total;
        }
    }
    // The matrix is as large as it was written (a loop that lost its cases would pass vacuously).
    CHECK(total > 700);
}

// Without this, "nothing sent" could hold because nothing is ever sent.
TEST_CASE("good input to every operation on either engine reaches the transport", "[bad_input]") {
    for (const engine_kind e : {engine_kind::dynamodb, engine_kind::azure}) {
        for (const op o : all_ops) {
            if (e == engine_kind::azure && o == op::update_throughput) continue;  // refused on Azure
            INFO(name_of(e) << " " << name_of(o));
            input in;
            in.timeout = 60000ms;
            const outcome out = attempt_on(e, o, in);
            INFO("other exception: " << out.other);
            REQUIRE(out.error.has_value());  // the transport answers nothing
            CHECK(out.error->condition() == errc::network_error);
            CHECK(out.sent >= 1);
        }
        // The edges of the ranges, and time-series tables, pass too.
        for (const auto& [what, o, in] : std::vector<std::tuple<std::string, op, input>>{
                 {"amount 2^53 - 1", op::incr, [] { input i; i.amount = two_53 - 1; return i; }()},
                 {"amount -(2^53 - 1)", op::incr, [] { input i; i.amount = -(two_53 - 1); return i; }()},
                 {"10000 shards", op::incr, [] { input i; i.shard_count = 10000; return i; }()},
                 {"a timeout of 100 days", op::get_data, [] { input i; i.timeout = std::chrono::hours(2400); return i; }()},
                 {"a daily table", op::get_data, [] { input i; i.table = "events%Y%m%d"; return i; }()},
                 {"a daily table at 1970-01-01", op::delete_data,
                  [] { input i; i.table = "events%Y%m%d"; i.at = std::chrono::system_clock::time_point{}; return i; }()},
                 {"a daily table at the latest time point", op::get_count,
                  [] { input i; i.table = "events%Y%m%d"; i.at = std::chrono::system_clock::time_point::max(); return i; }()},
                 {"a table of 3 characters", op::delete_table, [] { input i; i.table = "abc"; return i; }()},
                 {"a key of 512 characters", op::get_value, [] { input i; i.key = std::string(512, 'k'); return i; }()},
                 {"a key with spaces and a quote", op::set_text, [] { input i; i.key = "it's a key"; return i; }()},
                 {"empty text", op::set_text, [] { input i; i.text = ""; return i; }()},
                 {"empty bytes", op::set_bytes, [] { input i; i.data = {}; return i; }()},
             }) {
            INFO(name_of(e) << " " << name_of(o) << ": " << what);
            const outcome out = attempt_on(e, o, in);
            REQUIRE(out.error.has_value());
            CHECK(out.error->condition() == errc::network_error);
            CHECK(out.sent >= 1);
        }
    }
}

// ---------------------------------------------------------------- configurations

namespace {

template <class Config>
struct config_case {
    std::string what;
    std::function<void(Config&)> change;
    std::string names;  // phrases the message must contain, separated by '|'
};

// What both engines' configurations share: connections, retries, table waits.
template <class Config>
std::vector<config_case<Config>> bad_shared_configs(const std::string& prefix) {
    using C = Config;
    const auto max = std::chrono::milliseconds::max();
    return {
        {"a table poll interval of 0", [](C& c) { c.table_poll_interval = 0ms; }, prefix + ".table_poll_interval|positive"},
        {"a negative table poll interval", [](C& c) { c.table_poll_interval = -5ms; }, prefix + ".table_poll_interval|positive"},
        {"the largest table poll interval", [=](C& c) { c.table_poll_interval = max; }, prefix + ".table_poll_interval|100 years"},
        {"a table wait timeout of 0", [](C& c) { c.table_wait_timeout = 0ms; }, prefix + ".table_wait_timeout|positive"},
        {"a negative table wait timeout", [](C& c) { c.table_wait_timeout = -1ms; }, prefix + ".table_wait_timeout|positive"},
        {"the largest table wait timeout", [=](C& c) { c.table_wait_timeout = max; }, prefix + ".table_wait_timeout|100 years"},
        {"a request timeout of 0", [](C& c) { c.http.request_timeout = 0ms; }, "http_options.request_timeout|positive"},
        {"the largest request timeout", [=](C& c) { c.http.request_timeout = max; }, "http_options.request_timeout|100 years"},
        {"a negative connect timeout", [](C& c) { c.http.connect_timeout = -1ms; }, "http_options.connect_timeout|positive"},
        {"the largest connect timeout", [=](C& c) { c.http.connect_timeout = max; }, "http_options.connect_timeout|100 years"},
        {"a negative idle timeout", [](C& c) { c.http.idle_timeout = -1ms; }, "http_options.idle_timeout|0 or more"},
        {"the largest idle timeout", [=](C& c) { c.http.idle_timeout = max; }, "http_options.idle_timeout|100 years"},
        {"no connections", [](C& c) { c.http.max_connections = 0; }, "http_options.max_connections|at least 1"},
        {"a response body limit of 0", [](C& c) { c.http.max_response_body = 0; }, "http_options.max_response_body|at least 1"},
        {"a negative retry base delay", [](C& c) { c.retry.base_delay = -1ms; }, "retry_options.base_delay|0 or more"},
        {"a negative throttling base delay", [](C& c) { c.retry.throttle_base_delay = -1ms; },
         "retry_options.throttle_base_delay|0 or more"},
        {"the largest backoff", [=](C& c) { c.retry.max_backoff = max; }, "retry_options.max_backoff|100 years"},
    };
}

std::vector<config_case<sds::dynamodb_config>> bad_dynamodb_configs() {
    using C = sds::dynamodb_config;
    std::vector<config_case<C>> cases{
        {"no credentials", [](C& c) { c.credentials = {}; }, "no AWS credentials|AWS_ACCESS_KEY_ID"},
        {"no access key id", [](C& c) { c.credentials.access_key_id.clear(); }, "no AWS credentials"},
        {"no secret access key", [](C& c) { c.credentials.secret_access_key.clear(); }, "no AWS credentials"},
        {"a session token with a space", [](C& c) { c.credentials.session_token = "tok en"; }, "session token|whitespace"},
        {"a session token with a line break", [](C& c) { c.credentials.session_token = "token\r\n"; },
         "session token|control character"},
        {"an access key id with '/'", [](C& c) { c.credentials.access_key_id = "AKID/X"; }, "access key id|character"},
        {"an access key id with a line break", [](C& c) { c.credentials.access_key_id = "AKID\n"; }, "access key id|character"},
        {"a region with '/'", [](C& c) { c.region = "eu/west-1"; }, "region|character"},
        {"a region with a space", [](C& c) { c.region = "eu west 1"; }, "region|character"},
        {"a default read capacity of 0", [](C& c) { c.default_read = 0; }, "dynamodb_config.default_read|at least 1"},
        {"a default write capacity of -1", [](C& c) { c.default_write = -1; }, "dynamodb_config.default_write|at least 1"},
    };
    for (auto& c : bad_shared_configs<C>("dynamodb_config")) cases.push_back(std::move(c));
    return cases;
}

std::vector<config_case<sds::azure_table_config>> bad_azure_configs() {
    using C = sds::azure_table_config;
    std::vector<config_case<C>> cases{
        {"neither a key nor a SAS", [](C& c) { c.account_key.clear(); }, "no Azure credentials|AZURE_STORAGE_KEY"},
        {"an account key that is not base64", [](C& c) { c.account_key = "not*base64"; }, "account_key|base64"},
        {"an account key with bits after its padding", [](C& c) { c.account_key = "AB=="; }, "account_key|base64"},
        {"an account key without an account name", [](C& c) { c.account_name.clear(); }, "account_key needs an account_name"},
        {"an account name with capitals", [](C& c) { c.account_name = "DevStore"; }, "account name|character"},
        {"an account name with a line break", [](C& c) { c.account_name = "dev\nstore"; }, "account name|character"},
        {"a SAS with a space", [](C& c) { c.sas_token = "sv=2019-02-02&sig=a b"; }, "azure_table_config.sas_token|query"},
        {"a SAS with a line break", [](C& c) { c.sas_token = "sv=2019-02-02&sig=ab\r\n"; }, "azure_table_config.sas_token|query"},
        {"a SAS with '#'", [](C& c) { c.sas_token = "sv=2019-02-02&sig=ab#c"; }, "azure_table_config.sas_token|query"},
        {"a SAS with a malformed percent escape", [](C& c) { c.sas_token = "sv=2019-02-02&sig=ab%2"; },
         "azure_table_config.sas_token|percent escape"},
        {"a SAS with a non-ASCII byte", [](C& c) { c.sas_token = "sv=2019-02-02&sig=\xC3\xA9"; },
         "azure_table_config.sas_token|query"},
        {"a SAS starting with '?'", [](C& c) { c.sas_token = "?sv=2019-02-02&sig=abc"; }, "azure_table_config.sas_token|'?'"},
        {"a SAS over plain http", [](C& c) { c.sas_token = "sv=2019-02-02&sig=abc"; },
         "a SAS is sent over https only|http.allow_plain_http"},
        {"no concurrent reads", [](C& c) { c.max_concurrent_reads = 0; }, "azure_table_config.max_concurrent_reads|at least 1"},
        {"no write conflicts allowed", [](C& c) { c.max_write_conflicts = 0; }, "azure_table_config.max_write_conflicts|at least 1"},
    };
    for (auto& c : bad_shared_configs<C>("azure_table_config")) cases.push_back(std::move(c));
    return cases;
}

} // namespace

TEST_CASE("a malformed configuration or credentials are refused with invalid_argument naming the field, "
          "and nothing is sent, by every operation",
          "[bad_input][config]") {
    std::size_t total = 0;
    for (const auto& c : bad_dynamodb_configs()) {
        auto config = dynamodb_config_ok();
        c.change(config);
        for (const op o : all_ops) {
            INFO("dynamodb " << name_of(o) << ": " << c.what);
            check_refused(attempt(config, o, input{}), c.names);
            ++total;
        }
    }
    for (const auto& c : bad_azure_configs()) {
        auto config = azure_config_ok();
        c.change(config);
        for (const op o : all_ops) {
            if (o == op::update_throughput) continue;  // refused on Azure whatever the configuration
            INFO("azure " << name_of(o) << ": " << c.what);
            check_refused(attempt(config, o, input{}), c.names);
            ++total;
        }
    }
    CHECK(total > 650);
}

// The same checks run when the public constructors make the datastore.
TEST_CASE("the public constructors refuse a malformed configuration or endpoint before opening anything",
          "[bad_input][config]") {
    asio::io_context io;
    auto refused_at_construction = [&](const auto& config, std::string_view names) {
        outcome out;
        try {
            sds::datastore db(io.get_executor(), config);
        } catch (const sds::error& e) {
            out.error = e;
        }
        check_refused(out, names);
        CHECK(io.poll() == 0);  // nothing was started
    };
    const std::vector<std::pair<std::string, std::string>> endpoints{
        {"ftp://127.0.0.1:9", "scheme"},
        {"not a url", "endpoint"},
        {"http://user:password@127.0.0.1:9", "user info"},
        {"http://127.0.0.1:9/?x=1", "query"},
        {"http://127.0.0.1:9/#f", "endpoint"},
        {"http://127.0.0.1:0", "port"},
        {"http://127.0.0.1:65536", "port"},
        {"http://127.0.0.1:9\r\nX-Injected: 1", "endpoint"},
    };
    for (const auto& [url, names] : endpoints) {
        INFO(url);
        auto d = dynamodb_config_ok();
        d.endpoint = url;
        refused_at_construction(d, names);
        auto a = azure_config_ok();
        a.endpoint = url;
        refused_at_construction(a, names);
    }
    {
        auto d = dynamodb_config_ok();
        d.endpoint.clear();
        d.region = "bad region!";
        refused_at_construction(d, "region|not a valid AWS region name");
        auto a = azure_config_ok();
        a.endpoint.clear();
        a.account_name.clear();
        a.account_key.clear();
        a.sas_token = "sv=1&sig=x";
        refused_at_construction(a, "an endpoint or an account_name");
        a.account_name = "Bad_Account";
        refused_at_construction(a, "account name|lowercase letters and digits");
    }
    for (const auto& c : bad_dynamodb_configs()) {
        INFO("dynamodb: " << c.what);
        auto config = dynamodb_config_ok();
        config.endpoint = "http://127.0.0.1:9";
        c.change(config);
        // Credentials (and the region, which signs) are looked at by the
        // first operation (from_env may leave them empty); everything else
        // at construction.
        if (c.what.find("credentials") != std::string::npos || c.what.find("access key") != std::string::npos ||
            c.what.find("session token") != std::string::npos || c.what.find("region with") != std::string::npos)
            continue;
        refused_at_construction(config, c.names);
    }
    for (const auto& c : bad_azure_configs()) {
        INFO("azure: " << c.what);
        auto config = azure_config_ok();
        config.endpoint = "http://127.0.0.1:9/devstoreaccount1";
        c.change(config);
        if (c.what == "neither a key nor a SAS" || c.what.find("account name with") != std::string::npos)
            continue;  // at the first operation
        refused_at_construction(config, c.names);
    }
}

TEST_CASE("a malformed Azure connection string is refused naming the field", "[bad_input][config]") {
    const std::string key = "c2VjcmV0LWFjY291bnQta2V5LWZvci10ZXN0cw==";
    for (const auto& [cs, names] : std::vector<std::pair<std::string, std::string>>{
             {"", "neither AccountKey nor SharedAccessSignature"},
             {";;;", "neither AccountKey nor SharedAccessSignature"},
             {"AccountName=myaccount;" + key.substr(0, 24), "part 2"},
             {"AccountName=myaccount;AccountKey=not*base64", "AccountKey"},
             {"AccountName=myaccount;AccountKey=", "AccountKey"},
             {"AccountName=My_Account;AccountKey=" + key, "AccountName"},
             {"AccountName=ab;AccountKey=" + key, "AccountName"},
             {"AccountName=" + std::string(25, 'a') + ";AccountKey=" + key, "AccountName"},
             {"AccountKey=" + key, "AccountName"},
             {"DefaultEndpointsProtocol=ftp;AccountName=myaccount;AccountKey=" + key, "DefaultEndpointsProtocol"},
             {"AccountName=myaccount;AccountKey=" + key + ";EndpointSuffix=", "EndpointSuffix"},
             {"TableEndpoint=;SharedAccessSignature=sv=1&sig=x", "TableEndpoint"},
             {"TableEndpoint=https://x.table.core.windows.net;SharedAccessSignature=", "SharedAccessSignature"},
             {"TableEndpoint=https://x.table.core.windows.net;SharedAccessSignature=?", "SharedAccessSignature"},
             {"UseDevelopmentStorage=yes", "UseDevelopmentStorage"},
             {"UseDevelopmentStorage=true;AccountKey=" + key, "UseDevelopmentStorage"},
             {"AccountName=a1b;AccountName=a2b;AccountKey=" + key, "AccountName is given twice"},
         }) {
        INFO(cs);
        const auto e = expect_error([&, cs = cs] { sds::azure_table_config::from_connection_string(cs); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(std::string(e.what()).find(names) != std::string::npos);
        CHECK(printable(e.what()));
    }
}

// ---------------------------------------------------------------- sums past 64 bits

namespace {

// A DynamoDB server holding counter items: answers BatchGetItem with the
// items it has of the keys asked for.
void serve_dynamodb_items(fake_transport& fake, std::map<std::string, std::string> numbers) {
    fake.answer_with([numbers](const sds::detail::http_request& r) {
        const json::value body = json::parse(r.body());
        json::array found;
        for (const auto& [table, request] : body.at("RequestItems").as_object()) {
            for (const auto& k : request.at("Keys").as_array()) {
                const std::string key(k.at("key").at("S").as_string());
                const auto it = numbers.find(key);
                if (it == numbers.end()) continue;
                const char* attr = key.ends_with("_shards") ? "shards" : "data";
                found.push_back(json::object{{"key", {{"S", key}}}, {attr, {{"N", it->second}}}});
            }
        }
        const std::string out = json::serialize(json::object{{"Responses", {{"tbl", found}}}, {"UnprocessedKeys", json::object{}}});
        return fake_transport::response(200, out, {{"x-amz-crc32", std::to_string(sds::detail::dynamodb_crc32(out))}});
    });
}

// An Azure server holding counter entities: answers point reads.
void serve_azure_items(fake_transport& fake, std::map<std::string, std::int64_t> numbers) {
    fake.answer_with([numbers](const sds::detail::http_request& r) {
        const std::string target(r.target());
        for (const auto& [key, n] : numbers) {
            if (target.find("PartitionKey='" + sds::detail::odata::key_literal(key) + "'") == std::string::npos) continue;
            if (r.method() != boost::beast::http::verb::get) break;
            json::object e{{"PartitionKey", key}, {"RowKey", ""}};
            sds::detail::odata::set_int64(e, key.ends_with("_shards") ? "shards" : "data", n);
            return fake_transport::response(200, json::serialize(e), {{"ETag", "W/\"1\""}});
        }
        if (r.method() == boost::beast::http::verb::get)
            return fake_transport::response(404, R"({"odata.error":{"code":"ResourceNotFound"}})",
                                            {{"x-ms-error-code", "ResourceNotFound"}});
        return fake_transport::response(500, "unexpected write");
    });
}

} // namespace

TEST_CASE("a counter total past 64 bits is a protocol_error naming the overflow, on either engine", "[bad_input]") {
    input in;
    in.key = "hits";
    for (const auto& [what, a, b] : std::vector<std::tuple<std::string, std::int64_t, std::int64_t>>{
             {"past INT64_MAX", i64_max, 1}, {"past INT64_MIN", i64_min, -1}, {"two large halves", i64_max / 2 + 1, i64_max / 2 + 1}}) {
        INFO(what);
        const auto dynamodb = attempt(dynamodb_config_ok(), op::get_count, in, [&, a = a, b = b](fake_transport& f) {
            serve_dynamodb_items(f, {{"hits_shards", "2"}, {"hits_shard_1", std::to_string(a)}, {"hits_shard_2", std::to_string(b)}});
        });
        REQUIRE(dynamodb.error.has_value());
        CHECK(dynamodb.error->condition() == errc::protocol_error);
        CHECK_THAT(std::string(dynamodb.error->what()), Catch::Matchers::Contains("overflows a 64-bit integer"));
        CHECK(dynamodb.sent == 2);  // the first round, then shard 2

        const auto azure = attempt(azure_config_ok(), op::get_count, in, [&, a = a, b = b](fake_transport& f) {
            serve_azure_items(f, {{"hits_shards", 2}, {"hits_shard_1", a}, {"hits_shard_2", b}});
        });
        REQUIRE(azure.error.has_value());
        CHECK(azure.error->condition() == errc::protocol_error);
        CHECK_THAT(std::string(azure.error->what()), Catch::Matchers::Contains("overflows a 64-bit integer"));
    }
    // At the edge the total is exact.
    const auto exact = attempt(dynamodb_config_ok(), op::get_count, in, [&](fake_transport& f) {
        serve_dynamodb_items(f, {{"hits_shards", "2"}, {"hits_shard_1", std::to_string(i64_max - 1)}, {"hits_shard_2", "1"}});
    });
    CHECK_FALSE(exact.error.has_value());
}

TEST_CASE("a count read from DynamoDB that is not a 64-bit number is a protocol_error", "[bad_input]") {
    input in;
    in.key = "hits";
    for (const std::string n : {"9223372036854775808", "-9223372036854775809", "1e3", "1.5", "12abc"}) {
        INFO(n);
        const auto out = attempt(dynamodb_config_ok(), op::get_count, in,
                                 [&](fake_transport& f) { serve_dynamodb_items(f, {{"hits_shard_1", n}}); });
        REQUIRE(out.error.has_value());
        CHECK(out.error->condition() == errc::protocol_error);
        CHECK_THAT(std::string(out.error->what()), Catch::Matchers::Contains("64-bit"));
    }
}

TEST_CASE("an Azure increment that would carry a shard past 64 bits is refused, and nothing is written",
          "[bad_input]") {
    for (const auto& [value, amount] :
         std::vector<std::pair<std::int64_t, std::int64_t>>{{i64_max, 1}, {i64_max - 5, 6}, {i64_min, -1}, {i64_min + 1, -two_53 + 1}}) {
        INFO(value << " + " << amount);
        input in;
        in.key = "hits";
        in.amount = amount;
        std::vector<std::string> methods;
        const auto out = attempt(azure_config_ok(), op::incr, in, [&, value = value](fake_transport& f) {
            serve_azure_items(f, {{"hits_shard_1", value}});
        });
        REQUIRE(out.error.has_value());
        CHECK(out.error->condition() == errc::invalid_argument);
        CHECK_THAT(std::string(out.error->what()), Catch::Matchers::Contains("overflow a 64-bit integer"));
        CHECK(out.sent == 1);  // the read of the shard; no write
    }
}
