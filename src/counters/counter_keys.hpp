// The keys of a counter's items (README, "Data layout"), the same on every
// engine: shard n of counter C is "C_shard_n" (n from 1), its recorded shard
// count is "C_shards". Values share the key space, so a value key must not
// look like either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sds::detail {

/// "C_shard_n".
std::string shard_key(std::string_view counter, std::uint32_t n);

/// "C_shards".
std::string shard_count_key(std::string_view counter);

/// The most shards a counter may have (get_count reads them all at once).
inline constexpr std::uint32_t max_shard_count = 10000;

/// Bytes a shard key adds to its counter name, at most ("_shard_10000").
inline constexpr std::size_t max_shard_suffix = sizeof("_shard_10000") - 1;

/// True for a key that names a counter item: one ending in "_shards", or in
/// "_shard_" and one or more digits.
bool names_counter_item(std::string_view key) noexcept;

} // namespace sds::detail
