// Hashing, HMAC-SHA256, hex and base64 on top of OpenSSL 3.
//
// Internal to sds: used by the SigV4 and SharedKey signers. Every function is
// thread safe; the OpenSSL algorithm objects are fetched once per process and
// the contexts are kept per thread, so the hot path allocates nothing.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sds::crypto {

/// A SHA-256 digest or an HMAC-SHA256 tag.
using digest = std::array<unsigned char, 32>;

/// SHA-256 of `data`.
digest sha256(std::string_view data);

/// HMAC-SHA256 of `data` under `key`.
digest hmac_sha256(std::span<const unsigned char> key, std::string_view data);

/// `data` as lowercase hexadecimal, appended to `out`.
void append_hex(std::string& out, std::span<const unsigned char> data);

/// `data` as lowercase hexadecimal.
std::string hex(std::span<const unsigned char> data);

/// Standard base64 (RFC 4648, with padding) of `data`.
std::string base64_encode(std::span<const unsigned char> data);

/// Decodes standard base64. Padding may be omitted; anything else that is not
/// base64 (a stray character, a length that cannot be base64, padding in the
/// middle) gives std::nullopt.
std::optional<std::vector<unsigned char>> base64_decode(std::string_view text);

/// Views the bytes of a string.
inline std::span<const unsigned char> bytes_of(std::string_view s) noexcept {
    return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

} // namespace sds::crypto
