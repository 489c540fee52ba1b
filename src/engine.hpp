// The interface between the datastore facade and a storage service.
//
// The facade resolves table names, validates what every engine needs valid
// and dispatches; an engine turns one datastore operation into service
// requests and back. Table names reaching an engine are resolved (no '%').
#pragma once

#include <sds/options.hpp>
#include <sds/value.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sds::detail {

/// What a service accepts, for validation before anything is sent.
struct engine_limits {
    std::size_t max_key_bytes;   ///< item key (DynamoDB hash key: 2048)
    std::size_t max_item_bytes;  ///< a whole value item (DynamoDB: 400 KB)
};

class engine {
public:
    virtual ~engine() = default;

    virtual const engine_limits& limits() const noexcept = 0;
    /// Throws errc::invalid_argument for a (resolved) table name the service refuses.
    virtual void check_table_name(std::string_view name) const = 0;
    /// Throws errc::invalid_argument when a value item would be too large.
    virtual void check_item(std::string_view key, const value& v) const = 0;

    virtual boost::asio::awaitable<void> create_table(std::string table, table_options options) = 0;
    virtual boost::asio::awaitable<void> delete_table(std::string table, operation_options options) = 0;
    virtual boost::asio::awaitable<std::vector<std::string>> list_tables(operation_options options) = 0;
    virtual boost::asio::awaitable<void> update_throughput(std::string table, std::int64_t read, std::int64_t write,
                                                           operation_options options) = 0;
    virtual boost::asio::awaitable<void> put(std::string table, std::string key, value v, operation_options options) = 0;
    virtual boost::asio::awaitable<std::optional<value>> get(std::string table, std::string key, read_options options) = 0;
    virtual boost::asio::awaitable<void> remove(std::string table, std::string key, operation_options options) = 0;
    virtual boost::asio::awaitable<std::int64_t> incr(std::string table, std::string counter, incr_options options) = 0;
    virtual boost::asio::awaitable<std::int64_t> count(std::string table, std::string counter, read_options options) = 0;
    virtual boost::asio::awaitable<void> delete_counter(std::string table, std::string counter,
                                                        operation_options options) = 0;
};

} // namespace sds::detail
