#include "counters/counter_keys.hpp"

namespace sds::detail {

std::string shard_key(std::string_view counter, std::uint32_t n) {
    return std::string(counter) + "_shard_" + std::to_string(n);
}

std::string shard_count_key(std::string_view counter) { return std::string(counter) + "_shards"; }

bool names_counter_item(std::string_view key) noexcept {
    constexpr std::string_view count_suffix = "_shards", shard_infix = "_shard_";
    if (key.ends_with(count_suffix)) return true;
    std::size_t digits = 0;
    while (digits < key.size() && key[key.size() - 1 - digits] >= '0' && key[key.size() - 1 - digits] <= '9') ++digits;
    return digits > 0 && key.substr(0, key.size() - digits).ends_with(shard_infix);
}

} // namespace sds::detail
