// The DynamoDB engine: JSON 1.0 protocol (X-Amz-Target: DynamoDB_20120810.<Op>),
// SigV4-signed, over the pooled transport.
//
// Data layout (a documented contract, see README "Data layout"): hash key
// `key` (S); a value is {key: K, data: S|B}; counter shard n of N is
// {key: "C_shard_n", data: N}; the shard count is {key: "C_shards", shards: N},
// and it only grows (delete_counter leaves it).
#pragma once

#include "engine.hpp"

#include <sds/dynamodb_config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace sds::detail {

class transport;

/// A DynamoDB engine on the production transport. Throws errc::invalid_argument
/// for a malformed endpoint or region; opens nothing.
std::shared_ptr<engine> make_dynamodb_engine(boost::asio::any_io_executor ex, dynamodb_config config);

/// The same over any transport (unit tests pass a scripted fake).
std::shared_ptr<engine> make_dynamodb_engine(std::shared_ptr<transport> t, dynamodb_config config);

/// DynamoDB's checksum of a response body: CRC32 (IEEE) as the decimal
/// x-amz-crc32 header carries it.
std::uint32_t dynamodb_crc32(std::string_view body) noexcept;

} // namespace sds::detail
