// AWS Signature Version 4, as staged pure functions.
//
//   canonical_request -> string_to_sign -> derive_signing_key -> signature
//   -> authorization_header
//
// `sign_headers` and `presign` run the whole chain for the header form and the
// query (presigned URL) form. The signer knows nothing of HTTP libraries or
// I/O: a small view of the request goes in, the headers or query parameters to
// add come out. All functions are thread safe; `signing_key_cache` may be
// shared by any number of threads.
//
// Bad input (empty credentials, a header name or value with control
// characters, a path that is not absolute, a malformed percent escape, a
// request whose own X-Amz-Date disagrees with the signing time, ...) throws
// `sds::sigv4::signing_error` naming the problem; nothing is signed silently
// wrong. Secrets never appear in error messages.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sds::sigv4 {

/// Thrown for input the signer refuses to sign.
class signing_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// AWS credentials. An empty `session_token` means none.
struct credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
};

/// One request header as it will be sent. Names are case-insensitive.
struct header {
    std::string_view name;
    std::string_view value;
};

/// The parts of an HTTP request that SigV4 covers.
struct request_view {
    std::string_view method;               ///< "GET", "POST", ...
    std::string_view path = "/";           ///< as sent on the request line; must start with '/'
    std::string_view query;                ///< as sent, without the '?'
    std::span<const header> headers;       ///< must include Host
    std::string_view body;                 ///< hashed unless the payload is unsigned
};

/// How the payload enters the signature.
enum class payload_signing {
    hash_body,              ///< SHA-256 of the body; no header added (DynamoDB, the classic suites)
    hash_body_with_header,  ///< same, and send it as a signed `x-amz-content-sha256` header
    unsigned_payload,       ///< the literal UNSIGNED-PAYLOAD (header form: sent as x-amz-content-sha256)
};

/// Everything besides the request and the credentials.
struct signing_params {
    std::string_view region;
    std::string_view service;
    std::chrono::system_clock::time_point time;
    /// Remove dot segments and duplicate slashes from the path (all services but S3).
    bool normalize_path = true;
    /// URI-encode the path as sent once more (all services but S3).
    bool double_uri_encode = true;
    payload_signing payload = payload_signing::hash_body;
    /// Add the session token after signing instead of signing it (a few services want this).
    bool omit_session_token = false;
    /// Header names (any case) left out of the signature, e.g. headers a proxy may rewrite.
    std::span<const std::string_view> unsigned_headers{};
    /// Lifetime of a presigned request (query form only): 1 s to 7 days.
    std::chrono::seconds expires{3600};
};

/// A header or query parameter the signer adds to the request.
struct field {
    std::string name;
    std::string value;
    friend bool operator==(const field&, const field&) = default;
};

/// The canonical request, with the list of signed headers it covers.
struct canonical_request_result {
    std::string text;
    std::string signed_headers;  ///< "host;x-amz-date"
};

/// A derived SigV4 signing key: HMAC chain over date, region, service.
using signing_key = std::array<unsigned char, 32>;

/// The result of signing: what to add to the request, and every stage for inspection.
struct signed_request {
    /// Header form: headers to add, in the order AWS's own signers add them
    /// (X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256, Authorization).
    /// Query form: query parameters to append, values already URI-encoded.
    std::vector<field> fields;
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;      ///< lowercase hex
    std::string signed_headers;
};

/// The compact ISO 8601 form SigV4 uses: 20150830T123600Z.
std::string format_amz_date(std::chrono::system_clock::time_point t);

/// The credential scope: 20150830/us-east-1/service/aws4_request.
std::string credential_scope(std::string_view date8, std::string_view region, std::string_view service);

/// URI-encodes per SigV4: every byte but A-Z a-z 0-9 - _ . ~ becomes %XX
/// (uppercase hex); '/' is kept when `keep_slash`.
std::string uri_encode(std::string_view s, bool keep_slash);

/// The canonical path for `path` under the normalisation and encoding flags.
std::string canonical_path(std::string_view path, bool normalize, bool double_encode);

/// The canonical query string: parameters decoded, re-encoded strictly, sorted.
std::string canonical_query(std::string_view query);

/// Stage 1, header form: the canonical request for `req` signed at `params.time`.
/// The X-Amz-Date, session token and x-amz-content-sha256 headers that
/// `sign_headers` would add are included as if they were already present.
canonical_request_result canonical_request(const request_view& req, const credentials& creds,
                                           const signing_params& params);

/// Stage 1, query form: the canonical request for a presigned URL.
canonical_request_result canonical_request_presigned(const request_view& req, const credentials& creds,
                                                     const signing_params& params);

/// Stage 2: "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + hex(sha256(canonical_request)).
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);

/// Stage 3: HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
signing_key derive_signing_key(std::string_view secret_access_key, std::string_view date8,
                               std::string_view region, std::string_view service);

/// Stage 4: hex(HMAC(key, string_to_sign)).
std::string signature(const signing_key& key, std::string_view string_to_sign);

/// Stage 5: the Authorization header value.
std::string authorization_header(std::string_view access_key_id, std::string_view scope,
                                 std::string_view signed_headers, std::string_view signature);

/// Derives each signing key once per (secret, date, region, service) and keeps
/// a few of them. Thread safe. Keys are valid for one UTC day, so a key for an
/// older date than the newest is dropped first when the cache is full.
class signing_key_cache {
public:
    /// The key for these inputs, derived on the first call only.
    signing_key get(std::string_view secret_access_key, std::string_view date8,
                    std::string_view region, std::string_view service);

    /// How many times a key had to be derived (for tests and benchmarks).
    std::uint64_t derivations() const;

private:
    struct entry {
        std::string secret, date8, region, service;
        signing_key key;
    };
    static constexpr std::size_t capacity = 8;
    mutable std::mutex mutex_;
    std::vector<entry> entries_;
    std::uint64_t derivations_ = 0;
};

/// Signs `req` for the Authorization header. Pass a cache to skip the four-HMAC
/// key derivation on every call.
signed_request sign_headers(const request_view& req, const credentials& creds,
                            const signing_params& params, signing_key_cache* cache = nullptr);

/// Signs `req` as a presigned URL: the returned fields are the query parameters
/// to append (X-Amz-Algorithm ... X-Amz-Signature), values URI-encoded.
signed_request presign(const request_view& req, const credentials& creds,
                       const signing_params& params, signing_key_cache* cache = nullptr);

} // namespace sds::sigv4
