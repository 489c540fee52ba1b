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

/// HMAC-SHA256 under one key, with the key's inner and outer pads hashed
/// once: each tag then costs only the message's own blocks. Tagging is
/// thread safe; the object is neither copied nor moved.
class hmac_sha256_key {
public:
    explicit hmac_sha256_key(std::span<const unsigned char> key);
    ~hmac_sha256_key();
    hmac_sha256_key(const hmac_sha256_key&) = delete;
    hmac_sha256_key& operator=(const hmac_sha256_key&) = delete;

    /// HMAC-SHA256 of `data` under the key: the same as hmac_sha256(key, data).
    digest tag(std::string_view data) const;

private:
    void* inner_;  // SHA256_CTX after hashing (key ^ ipad); each tag starts from a copy on the stack
    void* outer_;  // SHA256_CTX after hashing (key ^ opad)
};

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
