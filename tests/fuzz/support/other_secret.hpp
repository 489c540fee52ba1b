// Telling whether an error message shows a secret: sign (or parse) again
// with another secret of the same shape, and compare the messages. A message
// that changes with the secret shows it (or something made from it); one
// that merely contains it, because the input also put it where messages may
// quote (a header name, a host), does not change.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sds::fuzz {

/// `s` with every letter and digit but the last replaced by the next one
/// (z -> a, 9 -> 0) and everything else kept: a secret of the same length,
/// character classes, blanks and punctuation, as valid or invalid as the
/// original wherever validity depends only on those. The last letter or
/// digit stays, so that a base64 key's unused trailing bits stay as they were.
inline std::string other_secret(std::string_view s) {
    std::string out(s);
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    std::size_t last = out.size();
    while (last > 0 && !alnum(out[last - 1])) --last;
    for (std::size_t i = 0; i + 1 < last; ++i) {
        char& c = out[i];
        if (c >= 'a' && c <= 'z') c = c == 'z' ? 'a' : static_cast<char>(c + 1);
        else if (c >= 'A' && c <= 'Z') c = c == 'Z' ? 'A' : static_cast<char>(c + 1);
        else if (c >= '0' && c <= '9') c = c == '9' ? '0' : static_cast<char>(c + 1);
    }
    return out;
}

} // namespace sds::fuzz
