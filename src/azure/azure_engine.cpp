#include "azure/azure_engine.hpp"

#include "async/pause.hpp"
#include "azure/odata.hpp"
#include "counters/counter_keys.hpp"
#include "counters/write_record.hpp"
#include "credentials/refreshing_cache.hpp"
#include "retry/retry_policy.hpp"
#include "transport/json_body.hpp"
#include "transport/pooled_transport.hpp"
#include "transport/request_executor.hpp"

#include <sds/error.hpp>
#include <sds/sharedkey.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <random>
#include <unordered_map>

namespace sds::detail {
namespace {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

// Protocol constants, from the Table service REST reference
// (https://learn.microsoft.com/rest/api/storageservices/table-service-rest-api).
constexpr std::string_view api_version = "2019-02-02";
constexpr std::string_view data_service_version = "3.0;NetFx";
constexpr std::string_view json_content_type = "application/json";
// Writes and table operations need no metadata; entity reads ask for the
// minimal metadata, the only form that keeps the Edm.Int64 and Edm.Binary
// annotations (with nometadata both arrive as bare strings).
constexpr std::string_view no_metadata = "application/json;odata=nometadata";
constexpr std::string_view minimal_metadata = "application/json;odata=minimalmetadata";
constexpr std::string_view next_table_header = "x-ms-continuation-NextTableName";
constexpr int list_page_size = 1000;  // the service's most per page

// Limits, from "Understanding the Table service data model".
constexpr std::size_t min_table_name = 3, max_table_name = 63;
constexpr std::size_t max_key_utf16 = 512;               // PartitionKey: 1 KiB of UTF-16
constexpr std::size_t max_property_bytes = 64 * 1024;    // a String (UTF-16) or Binary property
constexpr std::size_t max_entity_bytes = 1024 * 1024;    // a whole entity
constexpr engine_limits azure_limits{.max_key_bytes = 4 * max_key_utf16, .max_item_bytes = max_property_bytes};

// The data layout (README, "Data layout").
constexpr std::string_view data_prop = "data";
constexpr std::string_view shards_prop = "shards";
constexpr std::string_view seq_prop = "seq";
constexpr std::string_view ops_prop = "ops";
// Who wrote a value and the writer's sequence number for it.
constexpr std::string_view value_writer_prop = "vw";
constexpr std::string_view value_seq_prop = "vq";
// What those two add to an entity: 8 + name * 2 + value per property, a
// String of 16 characters (+4) and an Int64.
constexpr std::size_t value_stamp_bytes = (8 + 2 * 2 + 16 * 2 + 4) + (8 + 2 * 2 + 8);
// The ETags a datastore remembers, of values it wrote or read last.
constexpr std::size_t etag_cache_limit = 10'000;

// The longest wait after losing a conditional write to another writer.
constexpr std::chrono::milliseconds max_conflict_backoff{1000};
// Rounds an exactly-once increment whose write may still land spends
// settling it (reads or writes that failed, writes whose outcome stayed
// unknown) before it reports errc::ambiguous.
constexpr unsigned max_settle_rounds = 4;

std::string header(const http_response& r, std::string_view name) {
    const auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string() : std::string(it->value());
}

// errc for a final error, by the service's code and the HTTP status only.
errc errc_for(const call_result& r) {
    const std::string& code = r.error.code;
    const unsigned status = r.response.result_int();
    if (code == "TableNotFound" || code == "ResourceNotFound") return errc::table_not_found;
    if (code == "TableAlreadyExists" || code == "EntityAlreadyExists") return errc::already_exists;
    if (code == "UpdateConditionNotSatisfied" || status == 412) return errc::condition_failed;
    // Azurite says AuthorizationFailure for a bad signature, the service
    // AuthenticationFailed; InvalidAuthenticationInfo when OAuth is on.
    if (code == "AuthenticationFailed" || code == "AuthorizationFailure" || code == "AuthorizationPermissionMismatch" ||
        code == "InvalidAuthenticationInfo" || code == "AuthorizationResourceTypeMismatch" || status == 401 ||
        status == 403)
        return errc::auth_failed;
    return errc::service_error;
}

[[noreturn]] void fail(std::string_view op, std::string_view table, const call_result& r) {
    std::string what(op);
    if (!table.empty()) what += " on table '" + std::string(table) + "'";
    throw error(errc_for(r), what + " failed", r.diag);
}

bool ok(const call_result& r) { return r.response.result_int() < 300; }
bool is(const call_result& r, std::string_view code) { return r.error.code == code; }

// A random UUID (version 4) for x-ms-client-request-id.
std::string client_request_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::uint64_t hi = rng(), lo = rng();
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFF),
                  static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3FFF)),
                  static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return buf;
}

// What one request to the Table service is made of.
struct request_spec {
    http::verb verb = http::verb::get;
    std::string path;   // below the endpoint's path prefix, already encoded: "/Tables"
    std::string query;  // without the SAS and without '?'
    std::string body;   // JSON, or empty
    std::string_view accept = no_metadata;
    std::string if_match;  // empty: none
    bool prefer_no_content = false;
};

// An entity as read, with the ETag to write it back conditionally.
struct read_entity_result {
    json::object properties;
    std::string etag;
};

// The entity the counter code writes: PartitionKey, an empty RowKey, properties.
json::object new_entity(std::string_view key) { return json::object{{"PartitionKey", key}, {"RowKey", ""}}; }

// The ETag a datastore last saw for each value key, so that a value write
// can be conditional without a read first. The etag_cache_limit keys used
// last (a write or a read uses one); operations on several threads share it.
// An entry is a hint: a stale one costs a refused write and a read.
class etag_cache {
public:
    std::string find(std::string_view table, std::string_view key) {
        const std::lock_guard lock(mutex_);
        const auto it = index_.find(id(table, key));
        if (it == index_.end()) return {};
        order_.splice(order_.begin(), order_, it->second);  // used last
        return it->second->second;
    }
    void store(std::string_view table, std::string_view key, std::string etag) {
        // It goes back in an If-Match header: printable ASCII only.
        if (etag.empty() || std::any_of(etag.begin(), etag.end(), [](char c) { return c < 0x20 || c > 0x7e; }))
            return erase(table, key);
        std::string k = id(table, key);
        const std::lock_guard lock(mutex_);
        if (const auto it = index_.find(k); it != index_.end()) {
            it->second->second = std::move(etag);
            order_.splice(order_.begin(), order_, it->second);
            return;
        }
        order_.emplace_front(k, std::move(etag));
        index_.emplace(std::move(k), order_.begin());
        if (order_.size() > etag_cache_limit) {
            index_.erase(order_.back().first);
            order_.pop_back();
        }
    }
    void erase(std::string_view table, std::string_view key) {
        const std::lock_guard lock(mutex_);
        const auto it = index_.find(id(table, key));
        if (it == index_.end()) return;
        order_.erase(it->second);
        index_.erase(it);
    }

private:
    static std::string id(std::string_view table, std::string_view key) {
        std::string s(table);
        s += '/';  // not in a table name
        s += key;
        return s;
    }
    std::mutex mutex_;
    std::list<std::pair<std::string, std::string>> order_;  // key, ETag; used last first
    std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> index_;
};

class azure_engine final : public engine, public std::enable_shared_from_this<azure_engine> {
public:
    azure_engine(std::shared_ptr<transport> t, azure_table_config config)
        : transport_(std::move(t)), config_(std::move(config)), state_(config_.retry),
          prefix_(transport_->target().path_prefix) {
        if (!config_.account_key.empty()) {
            try {
                key_.emplace(sharedkey::credentials{config_.account_name,
                                                    sharedkey::account_key::from_base64(config_.account_key)});
            } catch (const sharedkey::signing_error&) {
                throw error(errc::invalid_argument, "azure_table_config.account_key is not valid base64");
            }
        }
        if (config_.max_concurrent_reads == 0)
            throw error(errc::invalid_argument, "azure_table_config.max_concurrent_reads must be at least 1");
        // A SAS authorizes whoever holds it, like a bearer token: over plain
        // http (even to an emulator on loopback) only when the configuration
        // says so.
        if (!config_.sas_token.empty() && !transport_->target().tls && !config_.http.allow_plain_http)
            throw error(errc::invalid_argument, "azure_table_config: a SAS is sent over https only, unless "
                                                "http.allow_plain_http is set; the endpoint is " +
                                                    transport_->target().origin());
        if (!key_ && config_.sas_token.empty() && config_.token_credential) {
            // A bearer token authorizes whoever holds it: never in clear.
            if (!transport_->target().tls)
                throw error(errc::invalid_argument, "azure_table_config: Entra ID bearer tokens are sent over https only; "
                                                    "the endpoint is " + transport_->target().origin());
            tokens_ = refreshing_cache<azure_access_token>::create(
                [c = config_.token_credential] { return c->fetch(); }, config_.token_credential->name());
        }
    }

    const engine_limits& limits() const noexcept override { return azure_limits; }

    void check_table_name(std::string_view name) const override {
        const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
        const auto digit = [](char c) { return c >= '0' && c <= '9'; };
        if (name.size() < min_table_name || name.size() > max_table_name)
            throw error(errc::invalid_argument,
                        "table name '" + std::string(name) + "' must be 3 to 63 characters on Azure Table Storage");
        if (!letter(name.front()) || !std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || digit(c); }))
            throw error(errc::invalid_argument, "table name '" + std::string(name) +
                                                    "' must be letters and digits, starting with a letter, on Azure "
                                                    "Table Storage");
        std::string lower(name);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "tables") throw error(errc::invalid_argument, "table name 'tables' is reserved on Azure Table Storage");
    }

    void check_key(std::string_view what, std::string_view key) const override {
        // The service refuses these in keys; '#' and '?' would end the path.
        if (key.find_first_of("/\\#?") != std::string_view::npos)
            throw error(errc::invalid_argument, std::string(what) + " may not contain '/', '\\', '#' or '?' on Azure "
                                                                    "Table Storage");
        const std::size_t units = odata::utf16_units(key);
        if (units > max_key_utf16)
            throw error(errc::invalid_argument, std::string(what) + " is " + std::to_string(units * 2) +
                                                    " bytes as UTF-16; Azure Table Storage keys hold at most 1 KiB");
    }

    void check_item(std::string_view key, const value& v) const override {
        // Sizes as the service counts them: strings in UTF-16.
        const std::size_t property = v.is_binary() ? v.data.size() : odata::utf16_units(v.data) * 2;
        if (property > max_property_bytes)
            throw error(errc::invalid_argument, "value of " + std::to_string(property) +
                                                    " bytes is over Azure Table Storage's 64 KiB property limit" +
                                                    (v.is_binary() ? "" : " (text counts 2 bytes per UTF-16 unit)"));
        // 4 + keys * 2 + per property: 8 + name * 2 + value (+4 for strings and binary).
        const std::size_t entity =
            4 + odata::utf16_units(key) * 2 + 8 + data_prop.size() * 2 + property + 4 + value_stamp_bytes;
        if (entity > max_entity_bytes)
            throw error(errc::invalid_argument, "entity of " + std::to_string(entity) +
                                                    " bytes is over Azure Table Storage's 1 MiB limit");
    }

    bool consistent_by_default() const noexcept override { return true; }  // every read is strong

    asio::awaitable<void> create_table(std::string table, table_options options) override {
        auto self = shared_from_this();
        // read, write and on_demand are DynamoDB's: Table Storage has no
        // provisioned throughput, so they are ignored here.
        const auto deadline = deadline_of(options.timeout);
        const auto give_up = steady::now() + config_.table_wait_timeout;
        json::object body{{"TableName", table}};
        for (;;) {
            request_spec spec{.verb = http::verb::post, .path = "/Tables", .body = json::serialize(body)};
            spec.prefer_no_content = true;
            const call_result r = co_await send("CreateTable", spec, deadline);
            if (ok(r) || is(r, "TableAlreadyExists")) co_return;
            if (!is(r, "TableBeingDeleted")) fail("CreateTable", table, r);
            // The service deletes tables in the background and refuses the
            // name meanwhile: wait it out.
            const auto now = steady::now();
            if (now + config_.table_poll_interval >= give_up ||
                (deadline && now + config_.table_poll_interval >= *deadline))
                throw error(errc::timeout, "CreateTable: table '" + table + "' is still being deleted", r.diag);
            co_await pause_or_throw(config_.table_poll_interval, "CreateTable");
        }
    }

    asio::awaitable<void> delete_table(std::string table, operation_options options) override {
        auto self = shared_from_this();
        request_spec spec{.verb = http::verb::delete_, .path = "/Tables('" + odata::key_literal(table) + "')"};
        const call_result r = co_await send("DeleteTable", spec, deadline_of(options.timeout));
        if (!ok(r)) fail("DeleteTable", table, r);
    }

    asio::awaitable<std::vector<std::string>> list_tables(operation_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        std::vector<std::string> names;
        std::string next;
        // A page may be empty and still carry a continuation: follow the
        // header, not the page size.
        do {
            request_spec spec{.path = "/Tables", .query = "$top=" + std::to_string(list_page_size)};
            if (!next.empty()) spec.query += "&NextTableName=" + odata::query_value(next);
            const call_result r = co_await send("QueryTables", spec, deadline);
            if (!ok(r)) fail("QueryTables", "", r);
            const json::value page = json_body("QueryTables", r);
            const auto* list = page.is_object() ? page.get_object().if_contains("value") : nullptr;
            if (!list || !list->is_array()) protocol_failure("QueryTables", "no value list in the response", r);
            for (const auto& t : list->get_array()) {
                const auto* name = t.is_object() ? t.get_object().if_contains("TableName") : nullptr;
                if (!name || !name->is_string()) protocol_failure("QueryTables", "a table without a TableName", r);
                names.emplace_back(name->get_string());
            }
            next = header(r.response, next_table_header);
        } while (!next.empty());
        std::sort(names.begin(), names.end());
        co_return names;
    }

    asio::awaitable<void> update_throughput(std::string, std::int64_t, std::int64_t, operation_options) override {
        throw error(errc::invalid_argument,
                    "update_throughput: Azure Table Storage has no provisioned throughput to set");
        co_return;
    }

    // Every value write is conditional, so that a copy landing late (sent
    // before an unknown outcome, applied after the re-send was acknowledged
    // and a newer value written) is refused instead of bringing the old value
    // back: an Update with If-Match on the ETag this datastore last saw for
    // the key, or an Insert when it knows none. The entity is stamped with
    // this engine's writer id and a sequence number. A refusal (412, 404,
    // 409) means the key moved on: it is read, and if it holds this write or
    // a later one of this engine (an earlier copy landed) the write is done;
    // otherwise it is written again on the ETag just read.
    asio::awaitable<void> put(std::string table, std::string key, value v, operation_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        const std::int64_t seq = ++last_value_seq_;
        json::object entity = new_entity(key);
        if (v.is_binary()) odata::set_binary(entity, data_prop, v.data);
        else entity[data_prop] = v.data;
        entity[value_writer_prop] = writer_id_;
        odata::set_int64(entity, value_seq_prop, seq);
        // The first write goes on what the datastore knows (the cached ETag,
        // or none: an Insert); a refusal of that guess is no loss to another
        // writer. Losses count from writes on an ETag this call read.
        std::string etag = etags_.find(table, key);
        bool read = false;  // etag comes from a read of this call
        for (unsigned losses = 0;;) {
            const bool update = !etag.empty();
            request_spec spec;
            if (update) spec = update_spec(table, key, entity, etag);
            else spec = insert_spec(table, entity);
            const call_result r = co_await send(update ? "UpdateEntity" : "InsertEntity", std::move(spec), deadline);
            if (ok(r)) {
                etags_.store(table, key, header(r.response, "ETag"));
                co_return;
            }
            if (errc_for(r) != errc::condition_failed && !is(r, "EntityAlreadyExists") && !is(r, "ResourceNotFound"))
                fail(update ? "UpdateEntity" : "InsertEntity", table, r);
            etags_.erase(table, key);
            if (read) {
                if (++losses >= config_.max_write_conflicts) throw lost_too_often("set_data", losses);
                co_await back_off_conflict(losses, deadline, "set_data");
            }
            const auto current = co_await read_entity(table, key, deadline);
            read = true;
            if (!current) {
                etag.clear();  // gone: insert it
                continue;
            }
            // Without an ETag it could only be written unconditionally.
            if (current->etag.empty())
                throw error(errc::protocol_error, "GetEntity: the entity came without an ETag; it cannot be written "
                                                  "back conditionally");
            if (holds_own_write(current->properties, seq)) {
                etags_.store(table, key, current->etag);
                co_return;
            }
            etag = current->etag;
        }
    }

    asio::awaitable<std::optional<value>> get(std::string table, std::string key, read_options options) override {
        auto self = shared_from_this();
        const auto e = co_await read_entity(table, key, deadline_of(options.timeout));
        if (!e) co_return std::nullopt;
        etags_.store(table, key, e->etag);
        co_return odata::value_property(e->properties, data_prop);
    }

    asio::awaitable<void> remove(std::string table, std::string key, operation_options options) override {
        auto self = shared_from_this();
        etags_.erase(table, key);
        co_await delete_entity(table, std::move(key), deadline_of(options.timeout));
    }

    // The shard count item: read it with its ETag, insert it when missing
    // (409: someone else did, read again), raise it with If-Match (412: it
    // changed, read again). It only grows.
    asio::awaitable<void> record_shard_count(std::string table, std::string counter, std::uint32_t n,
                                             deadline_t deadline) override {
        auto self = shared_from_this();
        const std::string key = shard_count_key(counter);
        json::object entity = new_entity(key);
        odata::set_int64(entity, shards_prop, n);
        for (unsigned conflicts = 0;; ++conflicts) {
            if (conflicts >= config_.max_write_conflicts) throw lost_too_often("RecordShardCount", conflicts);
            const auto current = co_await read_entity(table, key, deadline);
            call_result r;
            if (!current) {
                r = co_await send("InsertEntity", insert_spec(table, entity), deadline);
            } else {
                if (odata::int64_property(current->properties, shards_prop).value_or(0) >= n) co_return;
                r = co_await send("UpdateEntity", update_spec(table, key, entity, current->etag), deadline);
            }
            if (ok(r)) co_return;
            if (is(r, "EntityAlreadyExists") || is(r, "ResourceNotFound")) continue;  // raced: read again
            if (errc_for(r) != errc::condition_failed) fail("RecordShardCount", table, r);
            co_await back_off_conflict(conflicts + 1, deadline);
        }
    }

    // Exactly once: read the shard and its write record, write the new value
    // with the record extended by this write's op id, conditional on the
    // ETag read. A conditional write can be re-sent without counting twice,
    // so the retry loop re-sends it when its outcome is unknown; a re-send
    // that finds the ETag moved, and a call that ends ambiguous, are settled
    // by reading the record again.
    asio::awaitable<std::int64_t> add_to_shard(std::string table, std::string shard, std::int64_t amount,
                                               deadline_t deadline, shard_write_options) override {
        auto self = shared_from_this();
        const std::string op = new_op_id();
        // Every write of this increment, by the sequence number it would
        // give the record and the value it would leave. Once one of them may
        // have been sent without an answer, it may still land at any time
        // (a stalled request the service applies later): from then on every
        // read looks for the op id, and any way out other than finding it or
        // a write that succeeded is ambiguous.
        std::vector<std::pair<std::int64_t, std::int64_t>> writes;
        bool may_land = false;
        std::optional<sds::error> unknown;  // why an outcome was unknown, to report if it stays so
        // Why the increment cannot be settled, and why its outcome first
        // became unknown.
        const auto unsettled = [&](const std::string& why, const diagnostics& diag) {
            if (!unknown) return error(errc::ambiguous, "incr: " + why + "; an earlier attempt may have been applied", diag);
            return error(errc::ambiguous, "incr: " + why + "; an earlier attempt may have been applied (first unknown: " +
                                              unknown->summary() + ")",
                         unknown->diag());
        };
        // A read or write that failed (the retry loop gave up on it) while a
        // copy may land: giving up too would leave the increment ambiguous,
        // so a transient failure is tried again, a few rounds, after a pause.
        unsigned settle_failures = 0;
        unsigned unknown_writes = 0;  // writes the retry loop gave up on, outcome unknown
        const auto settle_again = [&](const sds::error& e) {
            const errc c = e.condition();
            const bool transient = c == errc::throttled || c == errc::network_error || c == errc::timeout ||
                                   c == errc::service_error || c == errc::ambiguous;
            return transient && ++settle_failures < max_settle_rounds && !(deadline && steady::now() >= *deadline);
        };
        for (unsigned losses = 0;;) {
            std::optional<read_entity_result> current;
            std::optional<sds::error> read_failure;
            try {
                current = co_await read_entity(table, shard, deadline);
            } catch (const sds::error& e) {
                if (!may_land) throw;
                read_failure = e;
            }
            if (read_failure) {
                const std::string why = "cannot tell whether a write landed: " + read_failure->summary();
                if (!settle_again(*read_failure)) throw unsettled(why, read_failure->diag());
                std::optional<sds::error> stopped;
                try {
                    co_await back_off_conflict(settle_failures, deadline);
                } catch (const sds::error& e) {
                    stopped = e;
                }
                if (stopped) throw unsettled(why + " (" + stopped->summary() + ")", read_failure->diag());
                continue;
            }
            const write_record record = current ? record_of(current->properties) : write_record{};
            if (may_land) {
                if (const auto landed = record.find(op)) {
                    for (const auto& [seq, value] : writes)
                        if (seq == *landed) co_return value;
                    throw error(errc::protocol_error, "incr: the shard's record holds this increment at a write it never made");
                }
                // Not there: every write of it that could still land is
                // conditional on a state the record has either moved past
                // (it failed) or still holds (and the next write competes
                // with it for the same condition). Only a record that moved
                // on by more than its capacity cannot tell.
                for (const auto& [seq, value] : writes)
                    if (record.fate_of(op, seq) == write_record::fate::unknown)
                        throw unsettled("more than " + std::to_string(write_record::capacity) +
                                            " writes of the shard passed before its write could be checked",
                                        {});
                if (unknown_writes >= max_settle_rounds)
                    throw unsettled("the outcome of " + std::to_string(unknown_writes) + " writes stayed unknown", {});
            }
            if (losses >= config_.max_write_conflicts) {
                if (may_land) throw unsettled("lost to other writers too often to settle", {});
                throw lost_too_often("UpdateEntity", losses);
            }

            const std::int64_t old_value = current ? odata::int64_property(current->properties, data_prop).value_or(0) : 0;
            std::int64_t new_value;
            if (__builtin_add_overflow(old_value, amount, &new_value)) {
                if (may_land) throw unsettled("the shard would overflow a 64-bit integer", {});
                throw error(errc::invalid_argument, "incr: shard '" + shard + "' would overflow a 64-bit integer");
            }
            const write_record next = record.after(op);
            writes.emplace_back(next.seq, new_value);
            json::object entity = new_entity(shard);
            odata::set_int64(entity, data_prop, new_value);
            odata::set_int64(entity, seq_prop, next.seq);
            entity[ops_prop] = next.encode_ops();

            call_result r;
            try {
                request_spec spec = current ? update_spec(table, shard, entity, current->etag) : insert_spec(table, entity);
                r = co_await send(current ? "UpdateEntity" : "InsertEntity", std::move(spec), deadline,
                                  /*idempotent=*/false, /*retry_ambiguous=*/true);
            } catch (const sds::error& e) {
                if (e.condition() == errc::ambiguous) {
                    may_land = true;
                    if (!unknown) unknown = e;
                    ++unknown_writes;
                    continue;  // find out by reading the record
                }
                if (!may_land) throw;
                if (!settle_again(e)) throw unsettled(e.summary(), e.diag());
                continue;  // read the record again: the next write competes with any copy for the same condition
            }
            if (ok(r)) co_return new_value;
            // The retry loop sent it more than once: an earlier attempt may
            // have landed (and moved the ETag), or may land yet.
            if (r.diag.attempts > 1) may_land = true;
            const bool lost = errc_for(r) == errc::condition_failed || is(r, "EntityAlreadyExists") ||
                              (current && is(r, "ResourceNotFound"));
            if (!lost) {
                if (!may_land) fail(current ? "UpdateEntity" : "InsertEntity", table, r);
                // A final answer to a re-send says nothing of an earlier
                // copy, which may land yet. Going round again settles it:
                // the record is read (it holds the op, or every copy is
                // conditional on a state it has moved past or still holds),
                // and the next write, conditional on the same state as any
                // copy still in flight, fences it: only one of them can land.
                if (!unknown)  // the first reason the outcome became unknown is the one to report
                    unknown = error(errc::ambiguous,
                                "incr: a re-sent write was refused (HTTP " + std::to_string(r.response.result_int()) +
                                    (r.error.code.empty() ? "" : " " + r.error.code) +
                                    "); an earlier attempt may have been applied",
                                r.diag);
            }
            ++losses;
            if (!may_land) co_await back_off_conflict(losses, deadline);
        }
    }

    asio::awaitable<counter_items> read_counter_items(std::string table, std::vector<std::string> keys, bool,
                                                      deadline_t deadline) override {
        auto self = shared_from_this();
        auto job = std::make_shared<fan_out>();
        job->table = std::move(table);
        job->keys = std::move(keys);
        job->numbers.resize(job->keys.size());
        job->deadline = deadline;
        co_await run_workers(job, &azure_engine::read_worker);
        counter_items items;
        for (std::size_t i = 0; i < job->keys.size(); ++i)
            if (job->numbers[i]) items.emplace(job->keys[i], *job->numbers[i]);
        co_return items;
    }

    asio::awaitable<void> delete_items(std::string table, std::vector<std::string> keys, deadline_t deadline) override {
        auto self = shared_from_this();
        auto job = std::make_shared<fan_out>();
        job->table = std::move(table);
        job->keys = std::move(keys);
        job->deadline = deadline;
        co_await run_workers(job, &azure_engine::delete_worker);
    }

private:
    [[noreturn]] static void protocol_failure(std::string_view op, const std::string& why, const call_result& r) {
        throw error(errc::protocol_error, std::string(op) + ": " + why, r.diag);
    }

    static sds::error lost_too_often(std::string_view op, unsigned conflicts) {
        return error(errc::condition_failed, std::string(op) + ": lost to other writers " + std::to_string(conflicts) +
                                                 " times in a row (azure_table_config.max_write_conflicts)");
    }

    static write_record record_of(const json::object& entity) {
        write_record r;
        r.seq = odata::int64_property(entity, seq_prop).value_or(0);
        if (const auto* ops = entity.if_contains(ops_prop); ops && ops->is_string())
            r.ops = write_record::decode_ops(ops->get_string());
        return r;
    }

    // Whether an entity holds value write `seq` of this engine, or a later one.
    bool holds_own_write(const json::object& entity, std::int64_t seq) const {
        const auto* writer = entity.if_contains(value_writer_prop);
        return writer && writer->is_string() && writer->get_string() == writer_id_ &&
               odata::int64_property(entity, value_seq_prop).value_or(0) >= seq;
    }

    // After losing a conditional write: a full-jitter wait that grows with
    // the conflicts, within the deadline.
    asio::awaitable<void> back_off_conflict(unsigned conflicts, deadline_t deadline, std::string_view op = "incr") {
        // Losing a condition is contention, not an outage: the waits stay short.
        retry_options conflict = config_.retry;
        conflict.max_backoff = std::min(conflict.max_backoff, max_conflict_backoff);
        const auto delay = backoff(conflict, failure_kind::transient, conflicts);
        if (deadline && steady::now() + delay >= *deadline)
            throw error(errc::timeout,
                        std::string(op) + ": deadline would expire while waiting to retry a conflicting write");
        co_await pause_or_throw(delay, op);
    }

    request_spec insert_spec(std::string_view table, const json::object& entity) const {
        request_spec spec{.verb = http::verb::post, .path = "/" + std::string(table), .body = json::serialize(entity)};
        spec.prefer_no_content = true;
        return spec;
    }

    request_spec update_spec(std::string_view table, std::string_view key, const json::object& entity,
                             const std::string& etag) const {
        // Without an ETag the write back would be unconditional, and could
        // undo another writer's.
        if (etag.empty())
            throw error(errc::protocol_error, "GetEntity: the entity came without an ETag; it cannot be written back "
                                              "conditionally");
        request_spec spec{.verb = http::verb::put, .path = odata::entity_path(table, key), .body = json::serialize(entity)};
        spec.if_match = etag;
        return spec;
    }

    // A point read: the entity and its ETag, nullopt when there is none.
    asio::awaitable<std::optional<read_entity_result>> read_entity(std::string table, std::string key,
                                                                   deadline_t deadline) {
        request_spec spec{.path = odata::entity_path(table, key), .accept = minimal_metadata};
        const call_result r = co_await send("GetEntity", spec, deadline);
        if (is(r, "ResourceNotFound")) co_return std::nullopt;
        if (!ok(r)) fail("GetEntity", table, r);
        json::value v = json_body("GetEntity", r);
        if (!v.is_object()) protocol_failure("GetEntity", "the entity is not a JSON object", r);
        read_entity_result e{std::move(v.get_object()), header(r.response, "ETag")};
        if (e.etag.empty()) {
            if (const auto* tag = e.properties.if_contains("odata.etag"); tag && tag->is_string())
                e.etag = std::string(tag->get_string());
        }
        // It goes back in an If-Match header: printable ASCII only.
        for (const char c : e.etag)
            if (c < 0x20 || c > 0x7e) protocol_failure("GetEntity", "the entity's ETag holds a control character", r);
        co_return e;
    }

    asio::awaitable<void> delete_entity(std::string table, std::string key, deadline_t deadline) {
        request_spec spec{.verb = http::verb::delete_, .path = odata::entity_path(table, key)};
        spec.if_match = "*";
        const call_result r = co_await send("DeleteEntity", spec, deadline);
        if (ok(r) || is(r, "ResourceNotFound")) co_return;  // deleting nothing is not an error
        fail("DeleteEntity", table, r);
    }

    // Point operations on many keys, at most max_concurrent_reads at once:
    // that many workers take the next key until none is left. All of them
    // run on the operation's strand.
    struct fan_out {
        std::string table;
        std::vector<std::string> keys;
        std::vector<std::optional<std::int64_t>> numbers;
        deadline_t deadline;
        std::size_t next = 0;
    };
    using worker_fn = asio::awaitable<void> (azure_engine::*)(std::shared_ptr<fan_out>);

    asio::awaitable<void> run_workers(std::shared_ptr<fan_out> job, worker_fn worker) {
        auto ex = co_await asio::this_coro::executor;
        const std::size_t workers = std::min(config_.max_concurrent_reads, job->keys.size());
        using op_t = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
        std::vector<op_t> ops;
        for (std::size_t i = 0; i < workers; ++i) ops.push_back(asio::co_spawn(ex, (this->*worker)(job), asio::deferred));
        auto [order, exceptions] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                       .async_wait(asio::experimental::wait_for_one_error(), asio::use_awaitable);
        // The first failure to happen: the workers that failed after it may
        // only have been cancelled by it.
        for (const std::size_t i : order)
            if (exceptions[i]) std::rethrow_exception(exceptions[i]);
    }

    asio::awaitable<void> read_worker(std::shared_ptr<fan_out> job) {
        while (job->next < job->keys.size()) {
            const std::size_t i = job->next++;
            const auto e = co_await read_entity(job->table, job->keys[i], job->deadline);
            if (!e) continue;
            const std::string_view prop = job->keys[i].ends_with("_shards") ? shards_prop : data_prop;
            job->numbers[i] = odata::int64_property(e->properties, prop);
        }
    }

    asio::awaitable<void> delete_worker(std::shared_ptr<fan_out> job) {
        while (job->next < job->keys.size()) {
            const std::size_t i = job->next++;
            co_await delete_entity(job->table, job->keys[i], job->deadline);
        }
    }

    // One request: build, sign (afresh on every attempt), send through the
    // retry loop. Returns the final answer, success or not: what a 404 or a
    // 409 means depends on the operation.
    asio::awaitable<call_result> send(std::string_view op, request_spec spec, deadline_t deadline,
                                      bool idempotent = true, bool retry_ambiguous = false) {
        std::string bearer;
        if (!key_ && config_.sas_token.empty()) {
            if (!tokens_)
                throw error(errc::invalid_argument,
                            "no Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and "
                            "AZURE_STORAGE_KEY (or azure_table_config.account_key, sas_token or token_credential)");
            const azure_access_token token = co_await tokens_->get(deadline);
            bearer = "Bearer " + token.token;
        }
        std::string path = prefix_ + spec.path;
        std::string query = spec.query;
        if (!config_.sas_token.empty()) query += (query.empty() ? "" : "&") + config_.sas_token;
        http_request req{spec.verb, query.empty() ? path : path + "?" + query, 11};
        req.set(http::field::host, transport_->target().host_header);
        req.set(http::field::accept, std::string(spec.accept));
        req.set("x-ms-version", api_version);
        req.set("DataServiceVersion", data_service_version);
        req.set("MaxDataServiceVersion", data_service_version);
        const std::string request_id = client_request_id();
        req.set("x-ms-client-request-id", request_id);
        if (!spec.body.empty()) req.set(http::field::content_type, json_content_type);
        if (!spec.if_match.empty()) req.set(http::field::if_match, spec.if_match);
        if (spec.prefer_no_content) req.set("Prefer", "return-no-content");
        if (!bearer.empty()) req.set(http::field::authorization, bearer);
        req.body() = std::move(spec.body);
        req.prepare_payload();

        call_options call;
        call.service = service_kind::azure;
        call.operation = op;
        call.idempotent = idempotent;
        call.retry_ambiguous = retry_ambiguous;
        call.deadline = deadline;
        call.client_request_id = request_id;
        auto sign = [this, path, query, has_body = !req.body().empty()](http_request& r,
                                                                         std::chrono::system_clock::time_point now) {
            const std::string date = sharedkey::format_date(now);
            r.set("x-ms-date", date);
            if (!key_ || !config_.sas_token.empty()) return;  // the SAS in the query authorizes
            const std::string method(r.method_string());
            std::vector<sharedkey::header> headers{{"x-ms-date", date}};
            if (has_body) headers.push_back({"Content-Type", json_content_type});
            const auto s = sharedkey::sign(config_.shared_key_lite ? sharedkey::scheme::shared_key_lite
                                                                   : sharedkey::scheme::shared_key,
                                           {method, path, query, headers}, *key_);
            r.set(http::field::authorization, s.authorization);
        };
        try {
            co_return co_await execute(*transport_, state_, config_.retry, call, std::move(req), sign);
        } catch (const sharedkey::signing_error& e) {
            throw error(errc::invalid_argument, std::string(op) + ": cannot sign the request: " + e.what());
        }
    }

    std::shared_ptr<transport> transport_;
    azure_table_config config_;
    endpoint_state state_;
    std::string prefix_;
    std::optional<sharedkey::credentials> key_;  // decoded once
    // Entra ID tokens, when there is neither a key nor a SAS.
    std::shared_ptr<refreshing_cache<azure_access_token>> tokens_;
    // Value writes: this engine's writer id, its last sequence number, and
    // the ETags of the values it wrote or read last.
    const std::string writer_id_ = new_op_id();
    std::atomic<std::int64_t> last_value_seq_{0};
    etag_cache etags_;
};

std::string default_endpoint(const azure_table_config& c) {
    if (!c.endpoint.empty()) return c.endpoint;
    if (c.account_name.empty())
        throw error(errc::invalid_argument, "azure_table_config needs an endpoint or an account_name");
    for (char ch : c.account_name)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            throw error(errc::invalid_argument, "account name '" + c.account_name +
                                                    "' may hold only lowercase letters and digits");
    return "https://" + c.account_name + ".table.core.windows.net";
}

} // namespace

std::shared_ptr<engine> make_azure_engine(std::shared_ptr<transport> t, azure_table_config config) {
    if (!config.account_key.empty() && config.account_name.empty())
        throw error(errc::invalid_argument, "azure_table_config.account_key needs an account_name");
    return std::make_shared<azure_engine>(std::move(t), std::move(config));
}

std::shared_ptr<engine> make_azure_engine(boost::asio::any_io_executor ex, azure_table_config config) {
    auto ep = endpoint::parse(default_endpoint(config));
    auto t = std::make_shared<pooled_transport>(std::move(ex), std::move(ep), config.http);
    return make_azure_engine(std::move(t), std::move(config));
}

} // namespace sds::detail
