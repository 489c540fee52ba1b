// A bounded record of a counter shard's recent writes, kept in the shard
// itself, so that a writer whose write's outcome is unknown (the connection
// broke after sending, a 5xx, a re-send that lost its condition) can find out
// whether it landed instead of guessing.
//
// Every write of a shard is conditional on the state it read (an ETag) and
// stores, with the new value, the write's sequence number (the one it read
// plus one) and its op id appended to the ids of the last `capacity` writes.
// Reading the shard again then tells: the op id is there (applied), or the
// write with that sequence number is someone else's (not applied), or the
// record has moved on by more than `capacity` writes since (unknown: the
// caller reports errc::ambiguous).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sds::detail {

struct write_record {
    /// Op ids kept: the writes a writer may fall behind and still know.
    static constexpr std::size_t capacity = 32;

    /// Writes of the shard that kept the record (0: none yet).
    std::int64_t seq = 0;
    /// Op ids of the last writes, oldest first; at most `capacity`.
    std::vector<std::string> ops;

    /// The record once `op` has been written on top of this one. Throws
    /// errc::protocol_error when `seq` is the largest int64 (a record sds
    /// did not write).
    write_record after(std::string op) const;

    /// The sequence number of the write that carried `op`, if the record
    /// holds it. Throws errc::protocol_error when that number would be
    /// below the smallest int64 (a record sds did not write).
    std::optional<std::int64_t> find(std::string_view op) const;

    enum class fate { applied, not_applied, unknown };
    /// What became of write `op`, which was made on top of a record with
    /// sequence number `written_seq - 1`, as this (later) record tells.
    fate fate_of(std::string_view op, std::int64_t written_seq) const;

    /// The op ids as stored: comma-separated, oldest first.
    std::string encode_ops() const;
    /// Parses what encode_ops wrote; anything else gives an empty list.
    static std::vector<std::string> decode_ops(std::string_view text);
};

/// A fresh random op id: 16 lowercase hex digits (64 bits).
std::string new_op_id();

} // namespace sds::detail
