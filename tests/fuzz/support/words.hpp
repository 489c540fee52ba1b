// Reading a line of a fuzz input as space-separated words.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sds::fuzz {

/// The words of `line`, split at single spaces ("a  b" has an empty word).
inline std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> out;
    for (;;) {
        const std::size_t sp = line.find(' ');
        out.push_back(line.substr(0, sp));
        if (sp == std::string_view::npos) return out;
        line.remove_prefix(sp + 1);
    }
}

/// Word `i` as a number (0 when absent or not one); `fallback` when absent.
inline std::int64_t number_at(const std::vector<std::string_view>& words, std::size_t i, std::int64_t fallback = 0) {
    if (i >= words.size()) return fallback;
    std::int64_t n = 0;
    std::from_chars(words[i].data(), words[i].data() + words[i].size(), n);
    return n;
}

/// Word `i`, or `fallback` when absent.
inline std::string_view word_at(const std::vector<std::string_view>& words, std::size_t i,
                                std::string_view fallback = {}) {
    return i < words.size() ? words[i] : fallback;
}

} // namespace sds::fuzz
