#include "validation.hpp"

#include <sds/error.hpp>

#include <string>

namespace sds::detail {

bool is_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        char32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        const char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

void require_utf8(std::string_view what, std::string_view text) {
    if (!is_utf8(text)) throw error(errc::invalid_argument, std::string(what) + " is not valid UTF-8");
}

void check_key(std::string_view what, std::string_view key, std::size_t max_bytes) {
    if (key.empty()) throw error(errc::invalid_argument, std::string(what) + " is empty");
    if (key.size() > max_bytes)
        throw error(errc::invalid_argument, std::string(what) + " is " + std::to_string(key.size()) +
                                                " bytes; the limit is " + std::to_string(max_bytes));
    require_utf8(what, key);
    // C0 controls, DEL, and the C1 controls U+0080 to U+009F (UTF-8 C2 80 to
    // C2 9F), which Azure Table keys may not hold either.
    for (std::size_t i = 0; i < key.size(); ++i) {
        const auto c = static_cast<unsigned char>(key[i]);
        const bool c1 = c == 0xC2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) >= 0x80 &&
                        static_cast<unsigned char>(key[i + 1]) <= 0x9F;
        if (c < 0x20 || c == 0x7f || c1)
            throw error(errc::invalid_argument, std::string(what) + " contains a control character");
    }
}

} // namespace sds::detail
