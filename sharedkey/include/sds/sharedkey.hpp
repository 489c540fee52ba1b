// Azure Storage SharedKey and SharedKeyLite signing for the Table service.
//
//   canonicalized_resource -> string_to_sign -> signature -> authorization_header
//
// `sign` runs the whole chain. Like the SigV4 signer it knows nothing of HTTP
// libraries: a view of the request goes in, the Authorization value comes out.
// All functions are thread safe.
//
// The Table service signs (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key):
//   SharedKey:     VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedResource
//   SharedKeyLite: Date \n CanonicalizedResource
// where Date is the x-ms-date header (the Date header only when x-ms-date is
// absent) and CanonicalizedResource is "/" + account + the path exactly as sent,
// plus "?comp=<value>" when the query has a comp parameter (no other parameter
// is signed). On path-style URLs (the emulator: http://127.0.0.1:10002/devstoreaccount1/...)
// the path already starts with the account, so the account appears twice.
//
// Bad input throws `sds::sharedkey::signing_error`; the key never appears in a message.
#pragma once

#include <chrono>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sds::sharedkey {

/// Thrown for input the signer refuses to sign.
class signing_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// The two Table service schemes.
enum class scheme { shared_key, shared_key_lite };

/// A storage account key: the decoded bytes of the base64 key Azure hands out.
class account_key {
public:
    /// Decodes a base64 key (padding may be omitted). Throws signing_error for
    /// an empty or malformed key.
    static account_key from_base64(std::string_view base64_key);

    std::span<const unsigned char> bytes() const noexcept { return bytes_; }

private:
    std::vector<unsigned char> bytes_;
};

/// Account name and key.
struct credentials {
    std::string account_name;
    account_key key;
};

/// One request header as it will be sent. Names are case-insensitive.
struct header {
    std::string_view name;
    std::string_view value;
};

/// The parts of a request that SharedKey covers.
struct request_view {
    std::string_view method;          ///< "GET", "POST", "MERGE", ...
    std::string_view path = "/";      ///< as sent (percent-escapes kept); must start with '/'
    std::string_view query;           ///< as sent, without the '?'
    std::span<const header> headers;  ///< must include x-ms-date (or Date)
};

/// The signed parts of a request.
struct signed_request {
    std::string canonicalized_resource;
    std::string string_to_sign;
    std::string signature;      ///< base64 HMAC-SHA256
    std::string authorization;  ///< "SharedKey account:signature"
};

/// The RFC 1123 date Azure expects in x-ms-date: "Mon, 01 Jan 2024 00:00:00 GMT".
std::string format_date(std::chrono::system_clock::time_point t);

/// "/" + account + path, plus "?comp=<value>" if the query has comp.
std::string canonicalized_resource(std::string_view account_name, std::string_view path, std::string_view query);

/// The string to sign for `req` under `s`.
std::string string_to_sign(scheme s, const request_view& req, std::string_view account_name);

/// base64(HMAC-SHA256(key, string_to_sign)).
std::string signature(const account_key& key, std::string_view string_to_sign);

/// "SharedKey account:signature" or "SharedKeyLite account:signature".
std::string authorization_header(scheme s, std::string_view account_name, std::string_view signature);

/// Signs `req`: every stage, and the Authorization header value.
signed_request sign(scheme s, const request_view& req, const credentials& creds);

} // namespace sds::sharedkey
