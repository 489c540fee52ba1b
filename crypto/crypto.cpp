#include "sds_crypto.hpp"

// SHA-256 and the keyed HMAC use OpenSSL's low-level SHA256_* functions: the
// same (assembly) code as EVP, with the working state a plain struct (on the
// stack for each digest and tag), where EVP in OpenSSL 3 allocates a fresh
// state for every digest and every context copy.
// OpenSSL 3 marks them deprecated, not removed.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>

namespace sds::crypto {
namespace {

[[noreturn]] void openssl_failure(const char* what) {
    // Leave nothing in this thread's error queue for a later TLS call to trip on.
    ERR_clear_error();
    throw std::runtime_error(std::string("OpenSSL failure: ") + what);
}

// Fetching an algorithm in OpenSSL 3 takes a lock and a lookup; do it once.
EVP_MAC* hmac_mac() {
    static EVP_MAC* mac = [] {
        EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (!m) openssl_failure("EVP_MAC_fetch(HMAC)");
        return m;
    }();
    return mac;
}

struct mac_ctx_deleter {
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

// One HMAC context per thread with the digest chosen once; each call only sets
// the key, which is what EVP_MAC_init allows when params are omitted.
EVP_MAC_CTX* thread_hmac_ctx() {
    thread_local std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter> ctx = [] {
        std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter> c{EVP_MAC_CTX_new(hmac_mac())};
        if (!c) openssl_failure("EVP_MAC_CTX_new");
        char digest_name[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
            OSSL_PARAM_construct_end()};
        if (EVP_MAC_CTX_set_params(c.get(), params) != 1) openssl_failure("EVP_MAC_CTX_set_params");
        return c;
    }();
    return ctx.get();
}

constexpr char hex_digits[] = "0123456789abcdef";

// EVP_EncodeBlock and EVP_DecodeBlock take int lengths.
constexpr std::size_t max_block = static_cast<std::size_t>(std::numeric_limits<int>::max()) / 4 * 3;

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

} // namespace

digest sha256(std::string_view data) {
    digest out{};
    SHA256_CTX ctx;
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, data.data(), data.size()) != 1 || SHA256_Final(out.data(), &ctx) != 1)
        openssl_failure("SHA-256");
    return out;
}

digest hmac_sha256(std::span<const unsigned char> key, std::string_view data) {
    digest out{};
    EVP_MAC_CTX* ctx = thread_hmac_ctx();
    // OpenSSL rejects a null key pointer even with length 0.
    static const unsigned char empty_key = 0;
    const unsigned char* key_ptr = key.empty() ? &empty_key : key.data();
    std::size_t len = 0;
    if (EVP_MAC_init(ctx, key_ptr, key.size(), nullptr) != 1 ||
        EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
        EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size())
        openssl_failure("HMAC-SHA256");
    return out;
}

hmac_sha256_key::hmac_sha256_key(std::span<const unsigned char> key)
    : inner_(new SHA256_CTX), outer_(new SHA256_CTX) {
    // RFC 2104: a key longer than the block is hashed first; then it is
    // padded with zeros to the block and XORed with ipad and opad.
    constexpr std::size_t block = SHA256_CBLOCK;
    std::array<unsigned char, block> k{};
    if (key.size() > block) {
        const digest d = sha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
        std::copy(d.begin(), d.end(), k.begin());
    } else {
        std::copy(key.begin(), key.end(), k.begin());
    }
    std::array<unsigned char, block> pad{};
    bool ok = true;
    for (auto [state, x] : {std::pair{static_cast<SHA256_CTX*>(inner_), 0x36}, std::pair{static_cast<SHA256_CTX*>(outer_), 0x5c}}) {
        for (std::size_t i = 0; i < block; ++i) pad[i] = static_cast<unsigned char>(k[i] ^ x);
        ok = ok && SHA256_Init(state) == 1 && SHA256_Update(state, pad.data(), pad.size()) == 1;
    }
    OPENSSL_cleanse(k.data(), k.size());
    OPENSSL_cleanse(pad.data(), pad.size());
    if (!ok) {
        this->~hmac_sha256_key();
        openssl_failure("HMAC-SHA256 key setup");
    }
}

hmac_sha256_key::~hmac_sha256_key() {
    // The states are as good as the key: wipe them.
    for (void* state : {inner_, outer_}) {
        if (!state) continue;
        OPENSSL_cleanse(state, sizeof(SHA256_CTX));
        delete static_cast<SHA256_CTX*>(state);
    }
    inner_ = outer_ = nullptr;
}

digest hmac_sha256_key::tag(std::string_view data) const {
    digest inner{};
    digest out{};
    SHA256_CTX ctx = *static_cast<const SHA256_CTX*>(inner_);
    bool ok = SHA256_Update(&ctx, data.data(), data.size()) == 1 && SHA256_Final(inner.data(), &ctx) == 1;
    ctx = *static_cast<const SHA256_CTX*>(outer_);
    ok = ok && SHA256_Update(&ctx, inner.data(), inner.size()) == 1 && SHA256_Final(out.data(), &ctx) == 1;
    OPENSSL_cleanse(&ctx, sizeof ctx);
    if (!ok) openssl_failure("HMAC-SHA256");
    return out;
}

void append_hex(std::string& out, std::span<const unsigned char> data) {
    const std::size_t start = out.size();
    out.resize(start + 2 * data.size());
    char* p = out.data() + start;
    for (unsigned char b : data) {
        *p++ = hex_digits[b >> 4];
        *p++ = hex_digits[b & 0x0f];
    }
}

std::string hex(std::span<const unsigned char> data) {
    std::string out;
    append_hex(out, data);
    return out;
}

std::string base64_encode(std::span<const unsigned char> data) {
    if (data.size() > max_block / 4 * 3) throw std::length_error("base64_encode: input too large");
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                  static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
    auto is_alphabet = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    };
    // Split off the padding, then insist on the alphabet everywhere else.
    std::size_t body = text.size();
    while (body > 0 && text[body - 1] == '=') --body;
    const std::size_t padding = text.size() - body;
    if (padding > 2) return std::nullopt;
    for (std::size_t i = 0; i < body; ++i)
        if (!is_alphabet(text[i])) return std::nullopt;
    // A group of four characters carries three bytes; a final group of one
    // character carries less than a byte and is never valid.
    if (body % 4 == 1) return std::nullopt;
    if (padding != 0 && (body + padding) % 4 != 0) return std::nullopt;
    if (text.size() > max_block) return std::nullopt;
    // The bits after the last whole byte must be zero, or two different texts
    // would decode to the same bytes (a typo in a key's last character).
    if (body % 4 == 2 && (base64_value(text[body - 1]) & 0x0f) != 0) return std::nullopt;
    if (body % 4 == 3 && (base64_value(text[body - 1]) & 0x03) != 0) return std::nullopt;

    std::string padded(text.substr(0, body));
    const std::size_t missing = (4 - body % 4) % 4;
    padded.append(missing, '=');

    std::vector<unsigned char> out(padded.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(padded.data()),
                                  static_cast<int>(padded.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the zero bytes that stand for padding.
    out.resize(static_cast<std::size_t>(n) - missing);
    return out;
}

} // namespace sds::crypto
