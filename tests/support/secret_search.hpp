// Searching what an error tells for secrets, in every form a secret could
// take in a text: as it is, in hex (both cases), in base64 at each of the
// three alignments a longer encoded text may give it, and percent-encoded.
// Shared by the unit tests (tests/unit/secrets_test.cpp) and the
// integration tests of the credential sources.
#pragma once

#include <sds/error.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sds::test {

/// `s` percent-encoded: every byte outside the unreserved set, with upper-
/// or lower-case hex digits.
inline std::string url_encode(std::string_view s, bool upper = true) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    for (const unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

inline std::string hex(std::string_view s, bool upper) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    for (const unsigned char c : s) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

/// The whole 3-byte groups of `s` in base64: what is the same wherever `s`
/// sits in a longer encoded text (at this alignment).
inline std::string base64(std::string_view s) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= s.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8) |
                           static_cast<unsigned char>(s[i + 2]);
        for (int k = 3; k >= 0; --k) out.push_back(alphabet[(v >> (6 * k)) & 63]);
    }
    return out;
}

inline std::string base64_decode(std::string_view s) {
    std::string out;
    unsigned v = 0;
    int bits = 0;
    for (const char c : s) {
        int d;
        if (c >= 'A' && c <= 'Z') d = c - 'A';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
        else if (c >= '0' && c <= '9') d = c - '0' + 52;
        else if (c == '+') d = 62;
        else if (c == '/') d = 63;
        else continue;
        v = (v << 6) | static_cast<unsigned>(d);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((v >> bits) & 0xFF));
        }
    }
    return out;
}

/// The forms a secret could take in a text: as it is, in hex, in base64 at
/// each of the three alignments a longer encoded text may give it, and
/// percent-encoded.
inline std::vector<std::string> forms_of(const std::string& s) {
    std::vector<std::string> f{s, hex(s, false), hex(s, true), url_encode(s, true), url_encode(s, false)};
    for (std::size_t skip = 0; skip < 3 && skip < s.size(); ++skip) f.push_back(base64(s.substr(skip)));
    return f;
}

struct secret {
    std::string what;
    std::string value;
};

/// Fails the test for every form of every secret found in `text`. Forms
/// under 12 characters are left out: too short to tell from chance.
inline void check_clean(const std::string& text, const std::vector<secret>& secrets) {
    for (const auto& s : secrets) {
        for (const auto& form : forms_of(s.value)) {
            if (form.size() < 12) continue;
            INFO(s.what << " as '" << form << "' in:\n" << text);
            CHECK(text.find(form) == std::string::npos);
        }
    }
}

/// Everything an error tells: what(), its summary, its code's message and
/// the diagnostics' texts.
inline std::string everything_in(const sds::error& e) {
    const auto& d = e.diag();
    return std::string(e.what()) + "\n" + e.std::runtime_error::what() + "\n" + e.code().message() + "\n" +
           d.service_code + "\n" + d.service_message + "\n" + d.request_id + "\n" + d.client_request_id;
}

} // namespace sds::test
