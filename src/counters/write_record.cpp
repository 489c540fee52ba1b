#include "counters/write_record.hpp"

#include <sds/error.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>

#include <unistd.h>

namespace sds::detail {
namespace {

// A record read from the service may hold any sequence number; one at
// either end of the range cannot be a record sds wrote.
[[noreturn]] void impossible_seq() {
    throw error(errc::protocol_error, "a counter shard's write record has an impossible sequence number");
}

} // namespace

write_record write_record::after(std::string op) const {
    write_record next;
    if (seq == std::numeric_limits<std::int64_t>::max()) impossible_seq();
    next.seq = seq + 1;
    const std::size_t keep = std::min(ops.size(), capacity - 1);
    next.ops.assign(ops.end() - static_cast<std::ptrdiff_t>(keep), ops.end());
    next.ops.push_back(std::move(op));
    return next;
}

std::optional<std::int64_t> write_record::find(std::string_view op) const {
    const auto it = std::find(ops.begin(), ops.end(), op);
    if (it == ops.end()) return std::nullopt;
    // ops[i] is the op of write seq - ops.size() + 1 + i: the op found is
    // `later` writes before seq.
    const std::int64_t later = ops.end() - it - 1;
    std::int64_t found = 0;
    if (__builtin_sub_overflow(seq, later, &found)) impossible_seq();
    return found;
}

write_record::fate write_record::fate_of(std::string_view op, std::int64_t written_seq) const {
    if (std::find(ops.begin(), ops.end(), op) != ops.end()) return fate::applied;
    // The record has not reached that write yet: it never happened.
    if (seq < written_seq) return fate::not_applied;
    // ops[i] is the op of write seq - ops.size() + 1 + i: when the write
    // numbered written_seq is among them (fewer than ops.size() writes
    // before seq; the distance counted unsigned, as seq >= written_seq and
    // it may not fit a signed one), it is another writer's.
    const std::uint64_t behind = static_cast<std::uint64_t>(seq) - static_cast<std::uint64_t>(written_seq);
    if (behind < ops.size()) return fate::not_applied;
    return fate::unknown;
}

std::string write_record::encode_ops() const {
    std::string out;
    for (const auto& op : ops) {
        if (!out.empty()) out.push_back(',');
        out += op;
    }
    return out;
}

std::vector<std::string> write_record::decode_ops(std::string_view text) {
    std::vector<std::string> ops;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        ops.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    if (ops.size() > capacity) ops.erase(ops.begin(), ops.end() - static_cast<std::ptrdiff_t>(capacity));
    return ops;
}

std::string new_op_id() {
    // Seeded per thread and again in a child after fork(): a forked process
    // inherits the parent's generator, and ids repeated across processes
    // would make one writer's record look like another's.
    struct generator {
        pid_t pid = -1;
        std::mt19937_64 rng;
    };
    thread_local generator g;
    if (const pid_t pid = ::getpid(); pid != g.pid) {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device(), static_cast<unsigned>(pid)};
        g.rng.seed(seed);
        g.pid = pid;
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::uint64_t bits = g.rng();
    std::string id(16, '0');
    for (int i = 15; i >= 0; --i, bits >>= 4) id[static_cast<std::size_t>(i)] = digits[bits & 0xF];
    return id;
}

} // namespace sds::detail
