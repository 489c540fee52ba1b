#include "counters/shard_counts.hpp"

#include <algorithm>

namespace sds::detail {

std::string shard_counts::key_of(std::string_view table, std::string_view counter) {
    std::string k(table);
    k.push_back('\0');  // table names cannot hold it
    k += counter;
    return k;
}

shard_counts::entry& shard_counts::slot(std::string_view table, std::string_view counter) {
    if (entries_.size() >= max_entries) entries_.clear();
    return entries_[key_of(table, counter)];
}

std::optional<std::uint32_t> shard_counts::known(std::string_view table, std::string_view counter) const {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key_of(table, counter));
    if (it == entries_.end() || it->second.largest == 0) return std::nullopt;
    return it->second.largest;
}

bool shard_counts::needs_record(std::string_view table, std::string_view counter, std::uint32_t n,
                                clock::time_point now) const {
    if (n <= 1) return false;
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key_of(table, counter));
    if (it == entries_.end()) return true;
    const entry& e = it->second;
    return e.recorded_at_least < n || now - e.recorded_when >= ttl_;
}

void shard_counts::recorded(std::string_view table, std::string_view counter, std::uint32_t n, clock::time_point now) {
    std::lock_guard lock(mutex_);
    entry& e = slot(table, counter);
    // A record of at least n now, and of at least the older figure too while
    // that is still fresh: the count only grows.
    const bool older_fresh = now - e.recorded_when < ttl_;
    e.recorded_at_least = older_fresh ? std::max(e.recorded_at_least, n) : n;
    e.recorded_when = now;
    e.largest = std::max(e.largest, n);
}

void shard_counts::seen(std::string_view table, std::string_view counter, std::uint32_t n) {
    std::lock_guard lock(mutex_);
    entry& e = slot(table, counter);
    e.largest = std::max(e.largest, n);
}

void shard_counts::forget_table(std::string_view table) {
    std::lock_guard lock(mutex_);
    const std::string prefix = key_of(table, "");
    std::erase_if(entries_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

} // namespace sds::detail
