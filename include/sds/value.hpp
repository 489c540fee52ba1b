// What a key holds: UTF-8 text or raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sds {

/// Raw bytes, stored as DynamoDB B / Azure Edm.Binary.
using bytes = std::vector<std::uint8_t>;

/// A stored value with its type.
struct value {
    enum class kind { text, binary };
    kind type = kind::text;
    /// The UTF-8 text, or the raw bytes.
    std::string data;

    bool is_binary() const noexcept { return type == kind::binary; }
    /// The bytes of either kind.
    sds::bytes as_bytes() const { return sds::bytes(data.begin(), data.end()); }
    friend bool operator==(const value&, const value&) = default;
};

} // namespace sds
