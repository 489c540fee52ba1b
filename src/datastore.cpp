// The facade: resolves table names, validates input, dispatches to the engine.
#include <sds/datastore.hpp>

#include "async/operation_strand.hpp"
#include "counters/counter_keys.hpp"
#include "counters/counter_ops.hpp"
#include "credentials/shared_files.hpp"
#include "datastore_access.hpp"
#include "azure/azure_engine.hpp"
#include "dynamodb/dynamodb_engine.hpp"
#include "engine.hpp"
#include "table_names.hpp"
#include "validation.hpp"

#include <cstdlib>

namespace sds {
namespace {

using detail::engine;

// Increments are exact for readers that hold numbers as doubles (JavaScript).
constexpr std::int64_t max_amount = (std::int64_t{1} << 53) - 1;
using detail::max_shard_count;

// The resolved names an operation tries in turn: the current slice, and for
// reads and deletes of a time-series table the previous slice too.
std::vector<std::string> table_candidates(const engine& e, const std::string& pattern,
                                          std::optional<std::chrono::system_clock::time_point> at, bool with_fallback) {
    detail::check_table_text(pattern);
    std::vector<std::string> names;
    if (!detail::is_time_series(pattern)) {
        names.push_back(pattern);
    } else {
        const auto when = at.value_or(std::chrono::system_clock::now());
        detail::check_table_time(pattern, when);
        names.push_back(detail::resolve_table_name(pattern, when));
        if (with_fallback) {
            std::string previous = detail::resolve_table_name(pattern, detail::previous_slice(pattern, when));
            if (previous != names.front()) names.push_back(std::move(previous));
        }
    }
    for (const auto& n : names) e.check_table_name(n);
    return names;
}

// Runs `op(name)` on each candidate in turn until one has a table: only
// table_not_found moves on to the next (the previous slice). `op` returns the
// engine's awaitable, which owns copies of its arguments.
template <class Op>
auto on_first_existing(std::vector<std::string> names, Op op) -> decltype(op(names.front())) {
    for (std::size_t i = 0;; ++i) {
        try {
            co_return co_await op(names[i]);
        } catch (const sds::error& err) {
            if (err.condition() != errc::table_not_found || i + 1 == names.size()) throw;
        }
    }
}

void check_counter(const engine& e, const std::string& counter) {
    // Shard items are "<counter>_shard_<n>": leave room for the suffix.
    detail::check_key("counter name", counter, e.limits().max_key_bytes - detail::max_shard_suffix);
    e.check_key("counter name", detail::shard_key(counter, detail::max_shard_count));
}

// Values and counters share one key space (README, "Data layout"): a value
// under "hits_shard_1" would overwrite a shard of counter "hits".
void check_value_key(const engine& e, const std::string& key) {
    detail::check_key("key", key, e.limits().max_key_bytes);
    e.check_key("key", key);
    if (detail::names_counter_item(key))
        throw error(errc::invalid_argument, "key '" + key +
                                                "' names a counter item: value keys may not end in _shards or in "
                                                "_shard_ and digits");
}

using detail::check_timeout;

// The operations. Each takes the engine by value: an operation may be
// started, and the datastore moved or destroyed, before it is awaited.

boost::asio::awaitable<void> create_table_impl(std::shared_ptr<engine> e, std::string table, table_options options) {
    check_timeout(options.timeout);
    if (options.on_demand && (options.read || options.write))
        throw error(errc::invalid_argument, "create_table: on_demand excludes read and write capacity");
    if ((options.read && *options.read < 1) || (options.write && *options.write < 1))
        throw error(errc::invalid_argument, "create_table: read and write capacity must be at least 1");
    const auto names = table_candidates(*e, table, options.at, false);
    co_await e->create_table(names.front(), options);
}

boost::asio::awaitable<void> delete_table_impl(std::shared_ptr<engine> e, std::shared_ptr<detail::counter_state> c,
                                               std::string table, operation_options options) {
    check_timeout(options.timeout);
    const auto names = table_candidates(*e, table, options.at, false);
    c->counts.forget_table(names.front());
    co_await e->delete_table(names.front(), options);
}

boost::asio::awaitable<std::vector<std::string>> list_tables_impl(std::shared_ptr<engine> e, operation_options options) {
    check_timeout(options.timeout);
    co_return co_await e->list_tables(options);
}

boost::asio::awaitable<void> update_throughput_impl(std::shared_ptr<engine> e, std::string table, std::int64_t read, std::int64_t write, operation_options options) {
    check_timeout(options.timeout);
    if (read < 1 || write < 1) throw error(errc::invalid_argument, "update_throughput: read and write must be at least 1");
    const auto names = table_candidates(*e, table, options.at, false);
    co_await e->update_throughput(names.front(), read, write, options);
}

boost::asio::awaitable<void> set_data_impl(std::shared_ptr<engine> e, std::string table, std::string key, std::string text, operation_options options) {
    check_timeout(options.timeout);
    check_value_key(*e, key);
    detail::require_utf8("text value", text);
    value v{value::kind::text, std::move(text)};
    e->check_item(key, v);
    const auto names = table_candidates(*e, table, options.at, false);
    co_await e->put(names.front(), std::move(key), std::move(v), options);
}

boost::asio::awaitable<void> set_data_bytes_impl(std::shared_ptr<engine> e, std::string table, std::string key, bytes data, operation_options options) {
    check_timeout(options.timeout);
    check_value_key(*e, key);
    value v{value::kind::binary, std::string(data.begin(), data.end())};
    e->check_item(key, v);
    const auto names = table_candidates(*e, table, options.at, false);
    co_await e->put(names.front(), std::move(key), std::move(v), options);
}

boost::asio::awaitable<std::optional<value>> get_value_impl(std::shared_ptr<engine> e, std::string table, std::string key, read_options options) {
    check_timeout(options.timeout);
    check_value_key(*e, key);
    co_return co_await on_first_existing(table_candidates(*e, table, options.at, true),
                                         [&](const std::string& name) { return e->get(name, key, options); });
}

boost::asio::awaitable<std::optional<std::string>> get_data_impl(std::shared_ptr<engine> e, std::string table, std::string key, read_options options) {
    auto v = co_await get_value_impl(e, std::move(table), std::move(key), std::move(options));
    if (!v) co_return std::nullopt;
    co_return std::move(v->data);
}

boost::asio::awaitable<void> delete_data_impl(std::shared_ptr<engine> e, std::string table, std::string key, operation_options options) {
    check_timeout(options.timeout);
    check_value_key(*e, key);
    co_await on_first_existing(table_candidates(*e, table, options.at, true),
                               [&](const std::string& name) { return e->remove(name, key, options); });
}

boost::asio::awaitable<std::int64_t> incr_impl(std::shared_ptr<engine> e, std::shared_ptr<detail::counter_state> c,
                                               std::string table, std::string counter, incr_options options) {
    check_timeout(options.timeout);
    check_counter(*e, counter);
    if (options.amount > max_amount || options.amount < -max_amount)
        throw error(errc::invalid_argument, "incr: amount " + std::to_string(options.amount) +
                                                " is out of range (at most 2^53 - 1 in magnitude)");
    if (options.shard_count < 1 || options.shard_count > max_shard_count)
        throw error(errc::invalid_argument, "incr: shard_count " + std::to_string(options.shard_count) +
                                                " is out of range (1 to " + std::to_string(max_shard_count) + ")");
    const auto names = table_candidates(*e, table, options.at, false);
    co_return co_await detail::increment_counter(e, c, names.front(), std::move(counter), options);
}

boost::asio::awaitable<std::int64_t> get_count_impl(std::shared_ptr<engine> e, std::shared_ptr<detail::counter_state> c,
                                                    std::string table, std::string counter, read_options options) {
    check_timeout(options.timeout);
    check_counter(*e, counter);
    co_return co_await on_first_existing(table_candidates(*e, table, options.at, true), [&](const std::string& name) {
        return detail::count_counter(e, c, name, counter, options);
    });
}

boost::asio::awaitable<void> delete_counter_impl(std::shared_ptr<engine> e, std::shared_ptr<detail::counter_state> c,
                                                 std::string table, std::string counter, operation_options options) {
    check_timeout(options.timeout);
    check_counter(*e, counter);
    co_await on_first_existing(table_candidates(*e, table, options.at, true), [&](const std::string& name) {
        return detail::delete_counter_shards(e, c, name, counter, options);
    });
}

// GCC 12 destroys a braced temporary twice when it shares a full-expression
// with co_await (as in `co_await db.incr(t, c, {.amount = 2})`). That is
// harmless only while the options hold nothing to destroy.
static_assert(std::is_trivially_destructible_v<operation_options>);
static_assert(std::is_trivially_destructible_v<table_options>);
static_assert(std::is_trivially_destructible_v<read_options>);
static_assert(std::is_trivially_destructible_v<incr_options>);

} // namespace

datastore::datastore(boost::asio::any_io_executor ex, std::shared_ptr<detail::engine> engine)
    : executor_(std::move(ex)), engine_(std::move(engine)), counters_(std::make_shared<detail::counter_state>()) {}

namespace {

// The configuration, once checked (before anything is built from it).
template <class Config>
Config checked(Config config) {
    detail::check_config(config);
    return config;
}

} // namespace

datastore::datastore(boost::asio::any_io_executor ex, dynamodb_config config)
    : datastore(ex, detail::make_dynamodb_engine(ex, checked(std::move(config)))) {}

datastore::datastore(boost::asio::any_io_executor ex, azure_table_config config)
    : datastore(ex, detail::make_azure_engine(ex, checked(std::move(config)))) {}

datastore detail::datastore_access::make(boost::asio::any_io_executor ex, dynamodb_config config,
                                         std::shared_ptr<transport> t) {
    return datastore(std::move(ex), make_dynamodb_engine(std::move(t), checked(std::move(config))));
}

datastore detail::datastore_access::make(boost::asio::any_io_executor ex, azure_table_config config,
                                         std::shared_ptr<transport> t) {
    return datastore(std::move(ex), make_azure_engine(std::move(t), checked(std::move(config))));
}

datastore::~datastore() = default;
datastore::datastore(datastore&&) noexcept = default;
datastore& datastore::operator=(datastore&&) noexcept = default;

boost::asio::awaitable<void> datastore::create_table(std::string table, table_options options) {
    return detail::on_operation_strand(executor_, create_table_impl(engine_, std::move(table), std::move(options)));
}

boost::asio::awaitable<void> datastore::delete_table(std::string table, operation_options options) {
    return detail::on_operation_strand(executor_, delete_table_impl(engine_, counters_, std::move(table), std::move(options)));
}

boost::asio::awaitable<std::vector<std::string>> datastore::list_tables(operation_options options) {
    return detail::on_operation_strand(executor_, list_tables_impl(engine_, std::move(options)));
}

boost::asio::awaitable<void> datastore::update_throughput(std::string table, std::int64_t read, std::int64_t write,
                                                          operation_options options) {
    return detail::on_operation_strand(executor_, update_throughput_impl(engine_, std::move(table), std::move(read), std::move(write), std::move(options)));
}

boost::asio::awaitable<void> datastore::set_data(std::string table, std::string key, std::string text,
                                                 operation_options options) {
    return detail::on_operation_strand(executor_, set_data_impl(engine_, std::move(table), std::move(key), std::move(text), std::move(options)));
}

boost::asio::awaitable<void> datastore::set_data(std::string table, std::string key, bytes data,
                                                 operation_options options) {
    return detail::on_operation_strand(executor_, set_data_bytes_impl(engine_, std::move(table), std::move(key), std::move(data), std::move(options)));
}

boost::asio::awaitable<std::optional<std::string>> datastore::get_data(std::string table, std::string key,
                                                                       read_options options) {
    return detail::on_operation_strand(executor_, get_data_impl(engine_, std::move(table), std::move(key), std::move(options)));
}

boost::asio::awaitable<std::optional<value>> datastore::get_value(std::string table, std::string key,
                                                                  read_options options) {
    return detail::on_operation_strand(executor_, get_value_impl(engine_, std::move(table), std::move(key), std::move(options)));
}

boost::asio::awaitable<void> datastore::delete_data(std::string table, std::string key, operation_options options) {
    return detail::on_operation_strand(executor_, delete_data_impl(engine_, std::move(table), std::move(key), std::move(options)));
}

boost::asio::awaitable<std::int64_t> datastore::incr(std::string table, std::string counter, incr_options options) {
    return detail::on_operation_strand(executor_, incr_impl(engine_, counters_, std::move(table), std::move(counter), std::move(options)));
}

boost::asio::awaitable<std::int64_t> datastore::get_count(std::string table, std::string counter,
                                                          read_options options) {
    return detail::on_operation_strand(executor_, get_count_impl(engine_, counters_, std::move(table), std::move(counter), std::move(options)));
}

boost::asio::awaitable<void> datastore::delete_counter(std::string table, std::string counter,
                                                       operation_options options) {
    return detail::on_operation_strand(executor_, delete_counter_impl(engine_, counters_, std::move(table), std::move(counter), std::move(options)));
}

dynamodb_config dynamodb_config::from_env() {
    auto env = [](const char* name) -> std::string {
        const char* v = std::getenv(name);
        return v ? std::string(v) : std::string();
    };
    dynamodb_config c;
    c.credentials.access_key_id = env("AWS_ACCESS_KEY_ID");
    c.credentials.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
    c.credentials.session_token = env("AWS_SESSION_TOKEN");
    if (c.credentials.access_key_id.empty() || c.credentials.secret_access_key.empty()) {
        c.credentials = {};
        c.credentials_provider = aws_default_credentials_chain();
    }
    const auto files = detail::shared_files::load();
    const auto profile = files.profile(files.selected_profile());
    const auto from_profile = [&](const std::string& key) { return profile ? profile->get(key) : std::string(); };
    if (auto r = env("AWS_REGION"); !r.empty()) c.region = r;
    else if (auto d = env("AWS_DEFAULT_REGION"); !d.empty()) c.region = d;
    else if (auto p = from_profile("region"); !p.empty()) c.region = p;
    else c.region.clear();  // from instance metadata, unless an endpoint is named (below)
    if (auto e = env("AWS_ENDPOINT_URL_DYNAMODB"); !e.empty()) c.endpoint = e;
    else if (auto g = env("AWS_ENDPOINT_URL"); !g.empty()) c.endpoint = g;
    else {
        const auto services = from_profile("services");
        const auto section = services.empty() ? std::nullopt : files.services(services);
        if (auto s = section ? section->get("dynamodb.endpoint_url") : std::string(); !s.empty()) c.endpoint = s;
        else if (auto p = from_profile("endpoint_url"); !p.empty()) c.endpoint = p;
    }
    // A named endpoint (DynamoDB Local, say) needs the region only to sign:
    // us-east-1 as before, with no instance metadata to ask.
    if (c.region.empty() && !c.endpoint.empty()) c.region = "us-east-1";
    return c;
}

} // namespace sds
