#include "dynamodb/dynamodb_engine.hpp"

#include "async/pause.hpp"
#include "counters/counter_keys.hpp"
#include "counters/write_record.hpp"
#include "credentials/refreshing_cache.hpp"
#include "retry/retry_policy.hpp"
#include "sds_crypto.hpp"
#include "transport/json_body.hpp"
#include "transport/pooled_transport.hpp"
#include "transport/request_executor.hpp"

#include <sds/error.hpp>
#include <sds/sigv4.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/crc.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <charconv>
#include <random>
#include <unordered_map>

namespace sds::detail {
namespace {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

// Service limits and protocol constants, from the DynamoDB developer guide
// ("Service, account, and table quotas") and API reference.
constexpr std::string_view target_prefix = "DynamoDB_20120810.";
constexpr std::string_view content_type = "application/x-amz-json-1.0";
constexpr std::string_view service_name = "dynamodb";
constexpr engine_limits dynamodb_limits{.max_key_bytes = 2048, .max_item_bytes = 400 * 1024};
constexpr std::size_t min_table_name = 3, max_table_name = 255;
constexpr std::size_t batch_get_limit = 100;   // keys per BatchGetItem
constexpr std::size_t batch_write_limit = 25;  // requests per BatchWriteItem
// Rounds of UnprocessedKeys / UnprocessedItems before giving up as throttled.
constexpr unsigned max_unprocessed_rounds = 10;

// The data layout (README, "Data layout").
constexpr std::string_view key_attr = "key";
constexpr std::string_view data_attr = "data";
constexpr std::string_view shards_attr = "shards";
// Who wrote a value and the writer's sequence number for it (README, "Data
// layout"): a late copy of an older write cannot replace a newer one.
constexpr std::string_view value_writer_attr = "vw";
constexpr std::string_view value_seq_attr = "vq";
// What those two add to an item, at most: names, a 16-digit writer id and a
// sequence number of up to 19 digits (DynamoDB counts a number's digits).
constexpr std::size_t value_stamp_bytes = 2 + 16 + 2 + 21;

json::object key_of(std::string_view k, json::storage_ptr sp = {}) {
    json::object typed(sp);
    typed["S"] = k;
    json::object key(sp);
    key[key_attr] = std::move(typed);
    return key;
}

// A request's and its answer's JSON live in one buffer of the operation
// (most fit; larger ones continue on the heap).
struct json_arena {
    alignas(std::max_align_t) unsigned char buffer[4096];
    json::monotonic_resource resource{buffer, sizeof buffer};
    json::storage_ptr storage() { return json::storage_ptr(&resource); }
};

[[noreturn]] void protocol_failure(std::string_view op, const std::string& why) {
    throw error(errc::protocol_error, std::string(op) + ": " + why);
}

std::int64_t parse_number(std::string_view op, std::string_view text) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size())
        protocol_failure(op, "number '" + std::string(text) + "' is not a 64-bit integer");
    return v;
}

// The number in attribute `attr` ({"N": "..."}) of an item; nullopt when absent.
std::optional<std::int64_t> number_attr(std::string_view op, const json::object& item, std::string_view attr) {
    const auto* a = item.if_contains(attr);
    if (!a) return std::nullopt;
    const auto* obj = a->if_object();
    const auto* n = obj ? obj->if_contains("N") : nullptr;
    if (!n || !n->is_string()) protocol_failure(op, "attribute '" + std::string(attr) + "' is not a number");
    return parse_number(op, n->get_string());
}

// A plain JSON number field (not a DynamoDB typed attribute), or nullopt.
std::optional<std::int64_t> number_field(const json::object& o, std::string_view name) {
    const auto* v = o.if_contains(name);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v->get_uint64());
    return std::nullopt;
}

errc errc_for(std::string_view op, const call_result& r) {
    const std::string& code = r.error.code;
    if (code == "ResourceNotFoundException") return errc::table_not_found;
    // On CreateTable the table exists; elsewhere (DeleteTable, UpdateTable)
    // it is busy being created, updated or deleted: a service error.
    if (code == "ResourceInUseException") return op == "CreateTable" ? errc::already_exists : errc::service_error;
    if (code == "ConditionalCheckFailedException") return errc::condition_failed;
    if (code == "UnrecognizedClientException" || code == "InvalidSignatureException" ||
        code == "MissingAuthenticationTokenException" || code == "IncompleteSignatureException" ||
        code == "AccessDeniedException" || code == "ExpiredTokenException" || code == "InvalidClientTokenId" ||
        code == "SignatureDoesNotMatch" || r.diag.http_status == 401 || r.diag.http_status == 403)
        return errc::auth_failed;
    return errc::service_error;
}


std::string default_endpoint(const dynamodb_config& c);

class dynamodb_engine final : public engine, public std::enable_shared_from_this<dynamodb_engine> {
public:
    // `t` is the transport, or null when the endpoint is the region's and
    // the region is not known yet: the transport is then made on `ex` once
    // the region is.
    dynamodb_engine(std::shared_ptr<transport> t, dynamodb_config config, boost::asio::any_io_executor ex = {})
        : transport_(std::move(t)), config_(std::move(config)), state_(config_.retry), executor_(std::move(ex)) {
        if (!config_.region.empty()) {
            publish_route(config_.region);
            return;
        }
        // The instance's region: fetched once, by the first operation, for
        // every operation waiting on it.
        region_ = refreshing_cache<found_region>::create(
            []() -> asio::awaitable<found_region> {
                std::optional<error> failed;
                try {
                    std::string name = co_await aws_instance_metadata_region();
                    co_return found_region{std::move(name), std::nullopt};
                } catch (const error& e) {
                    failed = e;
                }
                throw error(failed->condition(),
                            "no AWS region: set AWS_REGION, dynamodb_config.region or a profile's region, or run "
                            "where instance metadata gives one (" + failed->summary() + ")",
                            failed->diag());
            },
            "instance metadata", refreshing_cache<found_region>::default_fetch_timeout, "the region");
    }

    const engine_limits& limits() const noexcept override { return dynamodb_limits; }

    void check_table_name(std::string_view name) const override {
        if (name.size() < min_table_name || name.size() > max_table_name)
            throw error(errc::invalid_argument, "table name '" + std::string(name) + "' must be 3 to 255 characters");
        for (char c : name)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.'))
                throw error(errc::invalid_argument,
                            "table name '" + std::string(name) + "' may hold only letters, digits, '_', '-' and '.'");
    }

    void check_key(std::string_view, std::string_view) const override {}  // the shared checks are DynamoDB's

    void check_item(std::string_view key, const value& v) const override {
        // DynamoDB counts attribute names and values (binary as raw bytes).
        const std::size_t size = key_attr.size() + key.size() + data_attr.size() + v.data.size() + value_stamp_bytes;
        if (size > dynamodb_limits.max_item_bytes)
            throw error(errc::invalid_argument, "item of " + std::to_string(size) +
                                                    " bytes is over DynamoDB's 400 KB item limit");
    }

    asio::awaitable<void> create_table(std::string table, table_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        json::object body{{"TableName", table},
                          {"AttributeDefinitions", json::array{{{"AttributeName", key_attr}, {"AttributeType", "S"}}}},
                          {"KeySchema", json::array{{{"AttributeName", key_attr}, {"KeyType", "HASH"}}}}};
        if (options.on_demand) {
            body["BillingMode"] = "PAY_PER_REQUEST";
        } else {
            body["ProvisionedThroughput"] = {{"ReadCapacityUnits", options.read.value_or(config_.default_read)},
                                             {"WriteCapacityUnits", options.write.value_or(config_.default_write)}};
        }
        // An existing table is not an error. One that is being deleted
        // answers ResourceInUse too, then vanishes while we wait for it to
        // become ACTIVE: create it again then.
        constexpr int max_rounds = 3;
        for (int round = 1;; ++round) {
            bool in_use = false;
            try {
                json::object request = body;
                co_await call("CreateTable", table, std::move(request), deadline);
            } catch (const sds::error& e) {
                if (e.condition() != errc::already_exists) throw;
                in_use = true;
            }
            try {
                co_await wait_for_table(table, true, deadline);
                co_return;
            } catch (const sds::error& e) {
                if (!in_use || e.condition() != errc::table_not_found || round == max_rounds) throw;
            }
        }
    }

    asio::awaitable<void> delete_table(std::string table, operation_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        json::object body{{"TableName", table}};
        co_await call("DeleteTable", table, std::move(body), deadline);
        co_await wait_for_table(table, false, deadline);
    }

    asio::awaitable<std::vector<std::string>> list_tables(operation_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        std::vector<std::string> names;
        std::optional<std::string> start;
        for (;;) {
            json::object body{{"Limit", 100}};
            if (start) body["ExclusiveStartTableName"] = *start;
            const json::value r = co_await call("ListTables", "", std::move(body), deadline);
            const auto* obj = r.if_object();
            const auto* list = obj ? obj->if_contains("TableNames") : nullptr;
            if (!list || !list->is_array()) protocol_failure("ListTables", "no TableNames in the response");
            for (const auto& n : list->get_array()) {
                if (!n.is_string()) protocol_failure("ListTables", "a table name is not a string");
                names.emplace_back(n.get_string());
            }
            const auto* last = obj->if_contains("LastEvaluatedTableName");
            if (!last || !last->is_string()) break;
            start = std::string(last->get_string());
        }
        std::sort(names.begin(), names.end());
        co_return names;
    }

    asio::awaitable<void> update_throughput(std::string table, std::int64_t read, std::int64_t write,
                                            operation_options options) override {
        auto self = shared_from_this();
        const auto deadline = deadline_of(options.timeout);
        json::object body{{"TableName", table},
                          {"ProvisionedThroughput", {{"ReadCapacityUnits", read}, {"WriteCapacityUnits", write}}}};
        // DynamoDB refuses an update that changes nothing, and any update
        // of an on-demand table's provisioned capacity: look first.
        json::object describe{{"TableName", table}};
        const json::value d = co_await call("DescribeTable", table, std::move(describe), deadline);
        const auto* t = d.is_object() ? d.get_object().if_contains("Table") : nullptr;
        const auto* info = t ? t->if_object() : nullptr;
        if (!info) protocol_failure("DescribeTable", "no Table in the response");
        if (const auto* billing = info->if_contains("BillingModeSummary"); billing && billing->is_object()) {
            const auto* mode = billing->get_object().if_contains("BillingMode");
            if (mode && mode->is_string() && mode->get_string() == "PAY_PER_REQUEST")
                throw error(errc::invalid_argument,
                            "update_throughput: table '" + table + "' is on-demand; it has no provisioned capacity");
        }
        if (const auto* pt = info->if_contains("ProvisionedThroughput"); pt && pt->is_object()) {
            const auto current_read = number_field(pt->get_object(), "ReadCapacityUnits");
            const auto current_write = number_field(pt->get_object(), "WriteCapacityUnits");
            if (current_read == read && current_write == write) co_return;  // nothing to change
        }
        co_await call("UpdateTable", table, std::move(body), deadline);
        co_await wait_for_table(table, true, deadline);
    }

    // A value is stamped with this engine's writer id and a sequence number,
    // and the PutItem is conditional on the item not holding a later write of
    // the same writer:
    //
    //   IF attribute_not_exists(vw) OR vw <> :w OR NOT attribute_type(vq, N) OR vq < :q
    //
    // so a copy that lands late (sent before an unknown outcome, applied
    // after the re-send was acknowledged and a newer value was written) is
    // refused instead of bringing the old value back. A refusal means this
    // write, or a later one of this engine, is in place: the write is done.
    // (A vq that another tool rewrote as something other than a number
    // does not block the write.)
    asio::awaitable<void> put(std::string table, std::string key, value v, operation_options options) override {
        auto self = shared_from_this();
        json_arena arena;
        const std::int64_t seq = ++last_value_seq_;
        json::object item = key_of(key, arena.storage());
        json::object data(arena.storage());
        if (v.is_binary()) data["B"] = crypto::base64_encode(crypto::bytes_of(v.data));
        else data["S"] = v.data;
        item[data_attr] = std::move(data);
        item[value_writer_attr] = json::object{{"S", writer_id_}};
        item[value_seq_attr] = json::object{{"N", std::to_string(seq)}};
        json::object body(arena.storage());
        body["TableName"] = table;
        body["Item"] = std::move(item);
        body["ConditionExpression"] = "attribute_not_exists(#w) OR #w <> :w OR NOT attribute_type(#q, :n) OR #q < :q";
        body["ExpressionAttributeNames"] = json::object{{"#w", value_writer_attr}, {"#q", value_seq_attr}};
        body["ExpressionAttributeValues"] =
            json::object{{":w", {{"S", writer_id_}}}, {":q", {{"N", std::to_string(seq)}}}, {":n", {{"S", "N"}}}};
        try {
            co_await call("PutItem", table, std::move(body), deadline_of(options.timeout), arena.storage());
        } catch (const sds::error& e) {
            if (e.condition() != errc::condition_failed) throw;
            // This write (an earlier copy of it) or a later one of this
            // engine holds the key: either way this one is done.
        }
    }

    asio::awaitable<std::optional<value>> get(std::string table, std::string key, read_options options) override {
        auto self = shared_from_this();
        json_arena arena;
        json::object body(arena.storage());
        body["TableName"] = table;
        body["Key"] = key_of(key, arena.storage());
        body["ConsistentRead"] = options.consistent.value_or(config_.consistent_reads);
        const json::value r =
            co_await call("GetItem", table, std::move(body), deadline_of(options.timeout), arena.storage());
        const auto* item = r.is_object() ? r.get_object().if_contains("Item") : nullptr;
        if (!item) co_return std::nullopt;
        const auto* data = item->is_object() ? item->get_object().if_contains(data_attr) : nullptr;
        if (!data) co_return std::nullopt;  // an item that holds no value, e.g. a counter's shard count
        const auto* typed = data->if_object();
        if (!typed) protocol_failure("GetItem", "data attribute is not a typed value");
        if (const auto* s = typed->if_contains("S"); s && s->is_string())
            co_return value{value::kind::text, std::string(s->get_string())};
        if (const auto* b = typed->if_contains("B"); b && b->is_string()) {
            auto raw = crypto::base64_decode(b->get_string());
            if (!raw) protocol_failure("GetItem", "binary data is not base64");
            co_return value{value::kind::binary, std::string(raw->begin(), raw->end())};
        }
        if (const auto* n = typed->if_contains("N"); n && n->is_string())  // a counter shard read as data
            co_return value{value::kind::text, std::string(n->get_string())};
        protocol_failure("GetItem", "data attribute has an unsupported type");
    }

    asio::awaitable<void> remove(std::string table, std::string key, operation_options options) override {
        auto self = shared_from_this();
        json::object body{{"TableName", table}, {"Key", key_of(key)}};
        co_await call("DeleteItem", table, std::move(body), deadline_of(options.timeout));
    }

    asio::awaitable<void> record_shard_count(std::string table, std::string counter, std::uint32_t n,
                                             deadline_t deadline) override {
        auto self = shared_from_this();
        try {
            json::object body{{"TableName", table},
                              {"Key", key_of(shard_count_key(counter))},
                              {"UpdateExpression", "SET #s = :n"},
                              {"ConditionExpression", "attribute_not_exists(#s) OR #s < :n"},
                              {"ExpressionAttributeNames", {{"#s", shards_attr}}},
                              {"ExpressionAttributeValues", {{":n", {{"N", std::to_string(n)}}}}}};
            co_await call("UpdateItem", table, std::move(body), deadline);
        } catch (const sds::error& e) {
            if (e.condition() != errc::condition_failed) throw;  // already n or more
        }
    }

    asio::awaitable<std::int64_t> add_to_shard(std::string table, std::string shard, std::int64_t amount,
                                               deadline_t deadline, shard_write_options options) override {
        auto self = shared_from_this();
        if (options.exactly_once) co_return co_await add_once(std::move(table), std::move(shard), amount, deadline);
        json_arena arena;
        json::object body(arena.storage());
        body["TableName"] = table;
        body["Key"] = key_of(shard, arena.storage());
        body["UpdateExpression"] = "ADD #d :a";
        // (Built step by step: GCC 12 destroys temporaries inside a braced
        // argument list of a coroutine twice.)
        json::object names(arena.storage());
        names["#d"] = data_attr;
        body["ExpressionAttributeNames"] = std::move(names);
        json::object number(arena.storage());
        number["N"] = std::to_string(amount);
        json::object values(arena.storage());
        values[":a"] = std::move(number);
        body["ExpressionAttributeValues"] = std::move(values);
        body["ReturnValues"] = "UPDATED_NEW";
        const call_result answer =
            co_await send("UpdateItem", table, std::move(body), deadline, /*idempotent=*/false, options.retry_ambiguous);
        // The service answered 200: the increment was applied. An answer we
        // cannot read leaves the caller not knowing the value, not whether
        // it counted: ambiguous, never an invitation to send it again.
        try {
            const json::value r = json_body("UpdateItem", answer, arena.storage());
            const auto* attrs = r.is_object() ? r.get_object().if_contains("Attributes") : nullptr;
            const auto value =
                attrs && attrs->is_object() ? number_attr("UpdateItem", attrs->get_object(), data_attr) : std::nullopt;
            if (!value) protocol_failure("UpdateItem", "response lacks the updated value");
            co_return *value;
        } catch (const sds::error& e) {
            throw error(errc::ambiguous,
                        std::string("UpdateItem: applied (HTTP 200), but the answer is unreadable: ") + e.what(),
                        answer.diag);
        }
    }

    asio::awaitable<counter_items> read_counter_items(std::string table, std::vector<std::string> keys, bool consistent,
                                                      deadline_t deadline) override {
        auto self = shared_from_this();
        const item_map items = co_await batch_get(table, std::move(keys), consistent, deadline);
        counter_items numbers;
        for (const auto& [key, item] : items) {
            const std::string_view attr = key.ends_with("_shards") ? shards_attr : data_attr;
            if (const auto v = number_attr("BatchGetItem", item, attr)) numbers.emplace(key, *v);
        }
        co_return numbers;
    }

    asio::awaitable<void> delete_items(std::string table, std::vector<std::string> keys, deadline_t deadline) override {
        auto self = shared_from_this();
        co_await batch_delete(table, std::move(keys), deadline);
    }

    bool consistent_by_default() const noexcept override { return config_.consistent_reads; }

private:
    // One request whose 2xx answer is JSON.
    asio::awaitable<json::value> call(std::string_view op, std::string_view table, json::object body, deadline_t deadline,
                                      json::storage_ptr storage = {}) {
        const call_result result = co_await send(op, table, std::move(body), deadline);
        co_return json_body(op, result, std::move(storage));
    }

    // One request: build, sign (afresh on every attempt), send through the
    // retry loop, check x-amz-crc32, map a final error to sds::error.
    // Returns the 2xx answer.
    asio::awaitable<call_result> send(std::string_view op, std::string_view table, json::object body,
                                      deadline_t deadline, bool idempotent = true, bool retry_ambiguous = false) {
        if (!routed_.load(std::memory_order_acquire)) co_await find_route(deadline);
        // Fixed credentials, or those of the provider (cached, shared).
        std::optional<sigv4::credentials> fetched;
        if (credentials_) {
            aws_credentials c = co_await credentials_->get(deadline);
            sigv4::credentials signing;
            signing.access_key_id = std::move(c.access_key_id);
            signing.secret_access_key = std::move(c.secret_access_key);
            signing.session_token = std::move(c.session_token);
            fetched = std::move(signing);
        } else if (config_.credentials.access_key_id.empty() || config_.credentials.secret_access_key.empty()) {
            throw error(errc::invalid_argument,
                        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                        "dynamodb_config.credentials or credentials_provider)");
        }
        const std::string target = std::string(target_prefix) + std::string(op);
        http_request req{http::verb::post, path_, 11};
        req.set(http::field::host, transport_->target().host_header);
        req.set(http::field::content_type, content_type);
        req.set("X-Amz-Target", target);
        req.body() = json::serialize(body);
        req.prepare_payload();

        call_options call;
        call.service = service_kind::aws;
        call.operation = op;
        call.idempotent = idempotent;
        call.retry_ambiguous = retry_ambiguous;
        call.deadline = deadline;
        auto sign = [this, target, fetched = std::move(fetched)](http_request& r, std::chrono::system_clock::time_point now) {
            const sigv4::header headers[] = {{"Host", transport_->target().host_header},
                                             {"Content-Type", content_type},
                                             {"X-Amz-Target", target}};
            sigv4::signing_params params;
            params.region = signing_region_;
            params.service = service_name;
            params.time = now;
            const auto s = sigv4::sign_headers({"POST", path_, "", headers, r.body()},
                                               fetched ? *fetched : signing_credentials_, params, &keys_);
            for (const auto& f : s.fields) r.set(f.name, f.value);
        };
        auto validate = [](const http_response& r) {
            const auto it = r.find("x-amz-crc32");
            if (it == r.end()) return true;
            std::uint32_t expected = 0;
            const auto v = it->value();
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), expected);
            return ec == std::errc{} && end == v.data() + v.size() && expected == dynamodb_crc32(r.body());
        };

        call_result result;
        try {
            result = co_await execute(*transport_, state_, config_.retry, call, std::move(req), sign, validate);
        } catch (const sigv4::signing_error& e) {
            throw error(errc::invalid_argument, std::string(op) + ": cannot sign the request: " + e.what());
        }
        if (result.response.result_int() >= 300) {
            std::string what = std::string(op);
            if (!table.empty()) what += " on table '" + std::string(table) + "'";
            what += " failed";
            // Credentials the service calls expired (a clock behind, say):
            // the next operation fetches new ones.
            if (credentials_ && result.error.code == "ExpiredTokenException") credentials_->invalidate();
            throw error(errc_for(op, result), what, result.diag);
        }
        co_return result;
    }

    // Polls DescribeTable until the table is ACTIVE (or gone, for a delete).
    asio::awaitable<void> wait_for_table(std::string table, bool want_active, deadline_t deadline) {
        const auto give_up = steady::now() + config_.table_wait_timeout;
        for (;;) {
            try {
                json::object body{{"TableName", table}};
                const json::value r = co_await call("DescribeTable", table, std::move(body), deadline);
                const auto* t = r.is_object() ? r.get_object().if_contains("Table") : nullptr;
                const auto* status = t && t->is_object() ? t->get_object().if_contains("TableStatus") : nullptr;
                if (!status || !status->is_string()) protocol_failure("DescribeTable", "no TableStatus in the response");
                if (want_active && status->get_string() == "ACTIVE") co_return;
            } catch (const sds::error& e) {
                if (want_active || e.condition() != errc::table_not_found) throw;
                co_return;  // deleted
            }
            if (steady::now() >= give_up || (deadline && steady::now() + config_.table_poll_interval >= *deadline))
                throw error(errc::timeout, "table '" + table + "' did not become " + (want_active ? "ACTIVE" : "deleted") +
                                               " in time");
            co_await pause_or_throw(config_.table_poll_interval, "DescribeTable");
        }
    }

    using item_map = std::unordered_map<std::string, json::object>;

    // Reads `keys` with BatchGetItem: chunks of 100, all issued at once.
    asio::awaitable<item_map> batch_get(std::string table, std::vector<std::string> keys, bool consistent,
                                        deadline_t deadline) {
        auto ex = co_await asio::this_coro::executor;
        using op_t = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<item_map>>(), asio::deferred));
        std::vector<op_t> ops;
        for (std::size_t i = 0; i < keys.size(); i += batch_get_limit) {
            std::vector<std::string> chunk(keys.begin() + static_cast<std::ptrdiff_t>(i),
                                           keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + batch_get_limit)));
            ops.push_back(asio::co_spawn(ex, batch_get_chunk(table, std::move(chunk), consistent, deadline), asio::deferred));
        }
        auto [order, exceptions, results] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                                .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        (void)order;
        for (const auto& e : exceptions)
            if (e) std::rethrow_exception(e);
        item_map all;
        for (auto& r : results) all.merge(r);
        co_return all;
    }

    asio::awaitable<item_map> batch_get_chunk(std::string table, std::vector<std::string> keys, bool consistent,
                                              deadline_t deadline) {
        item_map found;
        json::array pending;
        for (const auto& k : keys) pending.push_back(json::value(key_of(k)));
        for (unsigned round = 1;; ++round) {
            // Only the numbers: a shard also holds its writers' records.
            json::object request{{"Keys", std::move(pending)},
                                 {"ConsistentRead", consistent},
                                 {"ProjectionExpression", "#k, #d, #n"},
                                 {"ExpressionAttributeNames", {{"#k", key_attr}, {"#d", data_attr}, {"#n", shards_attr}}}};
            json::object items{{table, std::move(request)}};
            json::object body{{"RequestItems", std::move(items)}};
            const json::value r = co_await call("BatchGetItem", table, std::move(body), deadline);
            const auto* obj = r.if_object();
            const auto* responses = obj ? obj->if_contains("Responses") : nullptr;
            if (const auto* items = responses && responses->is_object() ? responses->get_object().if_contains(table) : nullptr) {
                if (!items->is_array()) protocol_failure("BatchGetItem", "Responses is not a list");
                for (const auto& item : items->get_array()) {
                    const auto* o = item.if_object();
                    const auto* k = o ? o->if_contains(key_attr) : nullptr;
                    const auto* s = k && k->is_object() ? k->get_object().if_contains("S") : nullptr;
                    if (!s || !s->is_string()) protocol_failure("BatchGetItem", "an item has no string key");
                    found.emplace(std::string(s->get_string()), *o);
                }
            }
            pending = unprocessed(obj, "UnprocessedKeys", table);
            if (pending.empty()) co_return found;
            co_await back_off("BatchGetItem", round, deadline);
        }
    }

    // Deletes `keys` with BatchWriteItem: chunks of 25, all issued at once.
    asio::awaitable<void> batch_delete(std::string table, std::vector<std::string> keys, deadline_t deadline) {
        auto ex = co_await asio::this_coro::executor;
        using op_t = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
        std::vector<op_t> ops;
        for (std::size_t i = 0; i < keys.size(); i += batch_write_limit) {
            json::array requests;
            for (std::size_t k = i; k < std::min(keys.size(), i + batch_write_limit); ++k)
                requests.push_back(json::object{{"DeleteRequest", json::object{{"Key", key_of(keys[k])}}}});
            ops.push_back(asio::co_spawn(ex, batch_delete_chunk(table, std::move(requests), deadline), asio::deferred));
        }
        auto [order, exceptions] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                       .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        (void)order;
        for (const auto& e : exceptions)
            if (e) std::rethrow_exception(e);
    }

    asio::awaitable<void> batch_delete_chunk(std::string table, json::array requests, deadline_t deadline) {
        for (unsigned round = 1;; ++round) {
            json::object items{{table, std::move(requests)}};
            json::object body{{"RequestItems", std::move(items)}};
            const json::value r = co_await call("BatchWriteItem", table, std::move(body), deadline);
            const auto* obj = r.if_object();
            const auto* left = obj ? obj->if_contains("UnprocessedItems") : nullptr;
            const auto* mine = left && left->is_object() ? left->get_object().if_contains(table) : nullptr;
            if (!mine || !mine->is_array() || mine->get_array().empty()) co_return;
            requests = mine->get_array();
            co_await back_off("BatchWriteItem", round, deadline);
        }
    }

    static json::array unprocessed(const json::object* response, std::string_view field, std::string_view table) {
        const auto* u = response ? response->if_contains(field) : nullptr;
        const auto* t = u && u->is_object() ? u->get_object().if_contains(table) : nullptr;
        const auto* keys = t && t->is_object() ? t->get_object().if_contains("Keys") : nullptr;
        if (!keys || !keys->is_array()) return {};
        return keys->get_array();
    }

    // The wait before re-requesting unprocessed keys or items: DynamoDB
    // leaves them unprocessed when throttled, so back off as for throttling.
    asio::awaitable<void> back_off(std::string_view op, unsigned round, deadline_t deadline) {
        if (round >= max_unprocessed_rounds)
            throw error(errc::throttled, std::string(op) + ": items still unprocessed after " +
                                             std::to_string(round) + " rounds");
        const auto delay = backoff(config_.retry, failure_kind::throttling, round);
        if (deadline && steady::now() + delay >= *deadline)
            throw error(errc::timeout, std::string(op) + ": deadline would expire while waiting for unprocessed items");
        co_await pause_or_throw(delay, op);
    }

    // --- Exactly-once increments (README, "Counters: exactly once") ---------
    //
    // A writer lane (this engine's random id and a lane number) keeps two
    // attributes in each shard it writes: ws_<lane>, the sequence number of
    // its last write there, and wv_<lane>, the shard's value before that
    // write. The write is one UpdateItem, conditional on the recorded
    // sequence number being lower than its own:
    //
    //   SET data = if_not_exists(data, 0) + :a, ws_<lane> = :s, wv_<lane> = if_not_exists(data, 0)
    //   IF attribute_not_exists(ws_<lane>) OR ws_<lane> < :s
    //
    // so any number of copies of it apply once: a re-send after an unknown
    // outcome either applies (none had) or fails its condition (one had, and
    // ws_/wv_ give the value it produced). A lane has one write in flight per
    // shard at a time, so a later write of the lane cannot be mistaken for
    // this one. Sequence numbers are milliseconds of the service's clock (the
    // clock skew corrected), strictly increasing per engine, so they also
    // say when a lane last wrote: lanes idle for record_lifetime are pruned
    // by later writers.

    static constexpr std::string_view lane_seq_prefix = "ws_";
    static constexpr std::string_view lane_value_prefix = "wv_";
    // How long a lane's record outlives its last write. An unknown outcome
    // is settled within the operation's deadline, far shorter than this.
    static constexpr std::chrono::hours record_lifetime{1};
    // Re-sends of one write after the retry loop gave up on it, before it is
    // fenced off (a deadline or a cancellation ends them sooner).
    static constexpr unsigned max_settle_rounds = 4;
    // Every this many exactly-once writes asks for the whole item back, to
    // find lanes to prune (the first write of an engine does).
    static constexpr std::uint64_t prune_look_every = 16;

    // A lane for one write to one shard: the lowest number no other write of
    // this engine to the same shard holds.
    class lane_lease {
    public:
        lane_lease(dynamodb_engine& e, std::string shard_id) : engine_(e), shard_id_(std::move(shard_id)) {
            std::lock_guard lock(engine_.lanes_mutex_);
            auto& busy = engine_.busy_lanes_[shard_id_];
            while (number_ < busy.size() && busy[number_]) ++number_;
            if (number_ == busy.size()) busy.push_back(true);
            else busy[number_] = true;
        }
        ~lane_lease() {
            std::lock_guard lock(engine_.lanes_mutex_);
            const auto it = engine_.busy_lanes_.find(shard_id_);
            it->second[number_] = false;
            if (std::none_of(it->second.begin(), it->second.end(), [](bool b) { return b; })) engine_.busy_lanes_.erase(it);
        }
        lane_lease(const lane_lease&) = delete;
        lane_lease& operator=(const lane_lease&) = delete;
        std::size_t number() const noexcept { return number_; }

    private:
        dynamodb_engine& engine_;
        std::string shard_id_;
        std::size_t number_ = 0;
    };

    std::int64_t next_seq() {
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::milliseconds>(state_.skew.now().time_since_epoch()).count();
        std::int64_t last = last_seq_.load(std::memory_order_relaxed);
        for (;;) {
            const std::int64_t seq = std::max(now, last + 1);
            if (last_seq_.compare_exchange_weak(last, seq, std::memory_order_relaxed)) return seq;
        }
    }

    static json::object typed_number(std::int64_t n, json::storage_ptr sp) {
        json::object o(sp);
        o["N"] = std::to_string(n);
        return o;
    }

    asio::awaitable<std::int64_t> add_once(std::string table, std::string shard, std::int64_t amount, deadline_t deadline) {
        std::string shard_id = table;
        shard_id.push_back('\0');
        shard_id += shard;
        const lane_lease lane(*this, std::move(shard_id));
        const std::string lane_name = writer_id_ + "_" + std::to_string(lane.number());
        const std::string seq_attr = std::string(lane_seq_prefix) + lane_name;
        const std::string value_attr = std::string(lane_value_prefix) + lane_name;
        const std::int64_t seq = next_seq();
        const bool look = once_writes_.fetch_add(1, std::memory_order_relaxed) % prune_look_every == 0;

        // Once a copy of the write may have been sent without an answer, it
        // may land at any time; the caller then learns only "applied" (found
        // or answered) or "ambiguous", never a plain failure.
        bool may_land = false;
        for (unsigned round = 1;; ++round) {
            json_arena arena;
            json::object body(arena.storage());
            body["TableName"] = table;
            body["Key"] = key_of(shard, arena.storage());
            body["UpdateExpression"] = "SET #d = if_not_exists(#d, :z) + :a, #s = :s, #v = if_not_exists(#d, :z)";
            body["ConditionExpression"] = "attribute_not_exists(#s) OR #s < :s";
            json::object names(arena.storage());
            names["#d"] = data_attr;
            names["#s"] = seq_attr;
            names["#v"] = value_attr;
            body["ExpressionAttributeNames"] = std::move(names);
            json::object values(arena.storage());
            values[":z"] = typed_number(0, arena.storage());
            values[":a"] = typed_number(amount, arena.storage());
            values[":s"] = typed_number(seq, arena.storage());
            body["ExpressionAttributeValues"] = std::move(values);
            body["ReturnValues"] = look ? "ALL_NEW" : "UPDATED_NEW";

            std::optional<sds::error> failure;
            call_result answer;
            try {
                answer = co_await send("UpdateItem", table, std::move(body), deadline, /*idempotent=*/false,
                                       /*retry_ambiguous=*/true);
            } catch (const sds::error& e) {
                failure = e;
            }
            if (!failure) {
                // Applied by this very copy: one that had landed before would
                // have made it fail its condition.
                std::optional<std::int64_t> value;
                std::vector<std::pair<std::string, std::int64_t>> idle;
                try {
                    const json::value r = json_body("UpdateItem", answer, arena.storage());
                    const auto* attrs = r.is_object() ? r.get_object().if_contains("Attributes") : nullptr;
                    if (attrs && attrs->is_object()) {
                        value = number_attr("UpdateItem", attrs->get_object(), data_attr);
                        if (look) idle = idle_lanes(attrs->get_object(), seq_attr);
                    }
                } catch (const sds::error&) {
                }
                if (!value) {
                    // Applied, but the answer is unreadable: the record says.
                    co_return co_await settle(table, shard, seq_attr, value_attr, seq, amount, deadline, answer.diag);
                }
                if (!idle.empty()) co_await prune(table, shard, std::move(idle), deadline);
                co_return *value;
            }

            const sds::error& e = *failure;
            if (e.condition() == errc::condition_failed)
                co_return co_await settle(table, shard, seq_attr, value_attr, seq, amount, deadline, e.diag());
            // The retry loop reports ambiguous whenever a copy may have been
            // applied, except under a final answer of the service to a
            // re-send (the table went, credentials were refused), which says
            // nothing of the copies before it.
            const bool final_answer = e.diag().http_status >= 400 && e.diag().http_status < 500 &&
                                      e.condition() != errc::throttled;
            may_land = may_land || e.condition() == errc::ambiguous || (final_answer && e.diag().attempts > 1);
            if (!may_land) throw e;  // nothing of it was applied: a plain failure
            const bool stopped = e.condition() == errc::cancelled || (deadline && steady::now() >= *deadline);
            if (stopped) {
                if (e.condition() == errc::ambiguous) throw e;
                throw error(errc::ambiguous, std::string("incr: ") + e.what() + "; an earlier attempt may have been applied",
                            e.diag());
            }
            if (e.condition() == errc::ambiguous && round < max_settle_rounds) continue;  // re-send: it applies once
            // Giving up: fence the write off so that no copy still on its way
            // can land, or find that one did.
            const record_state fenced = co_await fence(table, shard, seq_attr, value_attr, seq, amount, deadline);
            if (fenced.applied) co_return *fenced.applied;
            if (fenced.fenced) {
                if (e.condition() != errc::ambiguous) throw e;
                throw error(e.diag().http_status ? errc::service_error : errc::network_error,
                            std::string("incr: not applied (fenced off after: ") + e.what() + ")", e.diag());
            }
            if (e.condition() == errc::ambiguous) throw e;
            throw error(errc::ambiguous, std::string("incr: ") + e.what() + "; an earlier attempt may have been applied",
                        e.diag());
        }
    }

    // What a shard's record says of the write with sequence number `seq`.
    struct record_state {
        std::optional<std::int64_t> applied;  // it landed and produced this value
        bool fenced = false;                  // it was fenced off: it never landed and never will
    };

    asio::awaitable<record_state> read_record(const std::string& table, const std::string& shard,
                                              const std::string& seq_attr, const std::string& value_attr,
                                              std::int64_t seq, std::int64_t amount, deadline_t deadline) {
        json::object body;
        body["TableName"] = table;
        body["Key"] = key_of(shard);
        body["ConsistentRead"] = true;
        body["ProjectionExpression"] = "#s, #v";
        json::object names;
        names["#s"] = seq_attr;
        names["#v"] = value_attr;
        body["ExpressionAttributeNames"] = std::move(names);
        const json::value r = co_await call("GetItem", table, std::move(body), deadline);
        const auto* item = r.is_object() ? r.get_object().if_contains("Item") : nullptr;
        record_state state;
        if (!item || !item->is_object()) co_return state;
        const auto recorded = number_attr("GetItem", item->get_object(), seq_attr);
        if (!recorded || *recorded < seq) co_return state;
        if (*recorded > seq)
            protocol_failure("incr", "the shard records a later write of this writer lane than the one in flight");
        const auto before = number_attr("GetItem", item->get_object(), value_attr);
        if (!before) {
            state.fenced = true;
            co_return state;
        }
        std::int64_t after = 0;
        if (__builtin_add_overflow(*before, amount, &after))
            protocol_failure("incr", "the shard's record of the write overflows a 64-bit integer");
        state.applied = after;
        co_return state;
    }

    // Records sequence number `seq` for the lane without the write (and
    // without a value), so that no copy of the write can land any more;
    // unless one already has. Either way the record then tells which.
    asio::awaitable<record_state> fence(const std::string& table, const std::string& shard, const std::string& seq_attr,
                                        const std::string& value_attr, std::int64_t seq, std::int64_t amount,
                                        deadline_t deadline) {
        json::object body;
        body["TableName"] = table;
        body["Key"] = key_of(shard);
        body["UpdateExpression"] = "SET #s = :s REMOVE #v";
        body["ConditionExpression"] = "attribute_not_exists(#s) OR #s < :s";
        json::object names;
        names["#s"] = seq_attr;
        names["#v"] = value_attr;
        body["ExpressionAttributeNames"] = std::move(names);
        json::object values;
        values[":s"] = typed_number(seq, {});
        body["ExpressionAttributeValues"] = std::move(values);
        record_state state;
        bool settled = false;
        try {
            // Safe to re-send: a copy after the first fails its condition.
            co_await send("UpdateItem", table, std::move(body), deadline);
            state.fenced = true;
            settled = true;
        } catch (const sds::error& e) {
            settled = e.condition() != errc::condition_failed;  // other failures: unknown
        }
        if (settled) co_return state;
        try {
            co_return co_await read_record(table, shard, seq_attr, value_attr, seq, amount, deadline);
        } catch (const sds::error&) {
        }
        co_return record_state{};
    }

    // A copy of the write landed (its condition failed on a re-send, or its
    // answer was unreadable): the record gives the value it produced.
    asio::awaitable<std::int64_t> settle(const std::string& table, const std::string& shard, const std::string& seq_attr,
                                         const std::string& value_attr, std::int64_t seq, std::int64_t amount,
                                         deadline_t deadline, const diagnostics& diag) {
        record_state found;
        std::string why;
        try {
            found = co_await read_record(table, shard, seq_attr, value_attr, seq, amount, deadline);
        } catch (const sds::error& e) {
            why = e.what();
        }
        if (found.applied) co_return *found.applied;
        if (why.empty()) why = found.fenced ? "the shard records it as fenced off" : "the shard holds no record of it";
        throw error(errc::ambiguous, "incr: the write was applied or refused, and reading its record failed: " + why, diag);
    }

    // Lanes in a whole item (ReturnValues ALL_NEW) whose last write is older
    // than record_lifetime: (lane name, recorded sequence number).
    std::vector<std::pair<std::string, std::int64_t>> idle_lanes(const json::object& item, std::string_view own) {
        // The earlier of this machine's clock and the service's (as its
        // Date headers say): a clock or a Date header running ahead must not
        // make a live lane look idle.
        const auto now = std::min(std::chrono::system_clock::now(), state_.skew.now());
        const std::int64_t horizon =
            std::chrono::duration_cast<std::chrono::milliseconds>((now - record_lifetime).time_since_epoch()).count();
        std::vector<std::pair<std::string, std::int64_t>> idle;
        for (const auto& [name, v] : item) {
            if (!name.starts_with(lane_seq_prefix) || name == own || idle.size() >= 16) continue;
            const auto* o = v.if_object();
            const auto* n = o ? o->if_contains("N") : nullptr;
            std::int64_t seq = 0;
            if (!n || !n->is_string()) continue;
            const auto text = n->get_string();
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
            if (ec == std::errc{} && end == text.data() + text.size() && seq < horizon)
                idle.emplace_back(std::string(name.substr(lane_seq_prefix.size())), seq);
        }
        return idle;
    }

    // Removes idle lanes' records, each only if it has not written since.
    // Best effort: a failure leaves them for a later writer.
    asio::awaitable<void> prune(std::string table, std::string shard, std::vector<std::pair<std::string, std::int64_t>> idle,
                                deadline_t deadline) {
        json::object names;
        json::object values;
        std::string remove = "REMOVE ";
        std::string condition;
        for (std::size_t i = 0; i < idle.size(); ++i) {
            const std::string n = std::to_string(i);
            names["#s" + n] = std::string(lane_seq_prefix) + idle[i].first;
            names["#v" + n] = std::string(lane_value_prefix) + idle[i].first;
            values[":s" + n] = typed_number(idle[i].second, {});
            if (i) {
                remove += ", ";
                condition += " AND ";
            }
            remove += "#s" + n + ", #v" + n;
            condition += "#s" + n + " = :s" + n;
        }
        json::object body;
        body["TableName"] = table;
        body["Key"] = key_of(shard);
        body["UpdateExpression"] = remove;
        body["ConditionExpression"] = condition;
        body["ExpressionAttributeNames"] = std::move(names);
        body["ExpressionAttributeValues"] = std::move(values);
        try {
            co_await send("UpdateItem", table, std::move(body), deadline);
        } catch (const sds::error&) {
        }
    }

    // The region from instance metadata, with nothing that expires.
    struct found_region {
        std::string name;
        std::optional<std::chrono::system_clock::time_point> expiration;
    };

    // Where requests go and the region that signs them, set once: when the
    // engine is made, or by the first operation once the region is known.
    void publish_route(std::string region) {
        if (!transport_) {
            dynamodb_config c;
            c.region = region;
            transport_ = std::make_shared<pooled_transport>(executor_, endpoint::parse(default_endpoint(c)), config_.http);
        }
        path_ = transport_->target().path_prefix.empty() ? "/" : transport_->target().path_prefix + "/";
        signing_region_ = std::move(region);
        routed_.store(true, std::memory_order_release);
    }

    asio::awaitable<void> find_route(deadline_t deadline) {
        const found_region region = co_await region_->get(deadline);
        std::lock_guard lock(route_mutex_);
        if (!routed_.load(std::memory_order_relaxed)) publish_route(region.name);
    }

    // Written once, before routed_ is set; read only after it is.
    std::shared_ptr<transport> transport_;
    dynamodb_config config_;
    endpoint_state state_;
    boost::asio::any_io_executor executor_;
    std::string signing_region_;
    std::atomic<bool> routed_{false};
    std::mutex route_mutex_;
    std::shared_ptr<refreshing_cache<found_region>> region_;
    sigv4::signing_key_cache keys_;
    // The configured credentials in the signer's form, made once.
    sigv4::credentials signing_credentials_{config_.credentials.access_key_id, config_.credentials.secret_access_key,
                                            config_.credentials.session_token};
    std::string path_;
    // The provider's credentials, when the config names no fixed ones.
    std::shared_ptr<refreshing_cache<aws_credentials>> credentials_ =
        config_.credentials.access_key_id.empty() && config_.credentials_provider
            ? refreshing_cache<aws_credentials>::create([p = config_.credentials_provider] { return p->fetch(); },
                                                        config_.credentials_provider->name())
            : nullptr;
    // Exactly-once increments: this engine's writer id, its last sequence
    // number, its writes so far, and the lanes in use per shard.
    const std::string writer_id_ = new_op_id();
    std::atomic<std::int64_t> last_seq_{0};
    // The sequence number of this engine's last value write.
    std::atomic<std::int64_t> last_value_seq_{0};
    std::atomic<std::uint64_t> once_writes_{0};
    std::mutex lanes_mutex_;
    std::unordered_map<std::string, std::vector<bool>> busy_lanes_;
};

std::string default_endpoint(const dynamodb_config& c) {
    if (!c.endpoint.empty()) return c.endpoint;
    for (char ch : c.region)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            throw error(errc::invalid_argument, "region '" + c.region + "' is not a valid AWS region name");
    if (c.region.empty()) throw error(errc::invalid_argument, "region is empty");
    return "https://dynamodb." + c.region + ".amazonaws.com";
}

} // namespace

std::uint32_t dynamodb_crc32(std::string_view body) noexcept {
    boost::crc_32_type crc;
    crc.process_bytes(body.data(), body.size());
    return crc.checksum();
}

std::shared_ptr<engine> make_dynamodb_engine(std::shared_ptr<transport> t, dynamodb_config config) {
    return std::make_shared<dynamodb_engine>(std::move(t), std::move(config));
}

std::shared_ptr<engine> make_dynamodb_engine(boost::asio::any_io_executor ex, dynamodb_config config) {
    if (config.region.empty() && config.endpoint.empty())  // the region's endpoint, once instance metadata names it
        return std::make_shared<dynamodb_engine>(nullptr, std::move(config), std::move(ex));
    auto ep = endpoint::parse(default_endpoint(config));
    auto t = std::make_shared<pooled_transport>(std::move(ex), std::move(ep), config.http);
    return make_dynamodb_engine(std::move(t), std::move(config));
}

} // namespace sds::detail
