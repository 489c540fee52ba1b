// Reading a fuzz input as lines, so that seed inputs are readable text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sds::fuzz {

/// The input as text.
inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Takes the next line off `rest` (without its "\n"); the last line may lack one.
inline std::string_view next_line(std::string_view& rest) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

} // namespace sds::fuzz
