// The SigV4 signer (sds/sigv4.hpp) on any request: it signs, or refuses with
// signing_error, whose message does not depend on the secret or the token
// (support/other_secret.hpp). What it signs, it signs the same way every
// time, with or without the key cache, and stage 1 alone gives the
// canonical request the whole chain used.
//
// Input (text):
//   <region> <service> <unix seconds> <flags> <expires seconds> <session token> <unsigned,headers>
//   <method>
//   <path>
//   <query>
//   <header lines "Name: value", up to an empty line>
//   <body>
// flags: bit 0 normalize_path, bit 1 double_uri_encode, bits 2-3 payload
// (hash_body, hash_body_with_header, unsigned_payload), bit 4
// omit_session_token, bit 5 presign instead of the header form.
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "support/other_secret.hpp"
#include "support/words.hpp"

#include <sds/sigv4.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sds::fuzz::finding;
namespace sigv4 = sds::sigv4;

constexpr std::string_view secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

bool lower_hex(std::string_view s, std::size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono;
    std::string_view rest = sds::fuzz::text_of(data, size);
    const auto params_line = sds::fuzz::words_of(sds::fuzz::next_line(rest));
    const std::string_view method = sds::fuzz::next_line(rest);
    const std::string_view path = sds::fuzz::next_line(rest);
    const std::string_view query = sds::fuzz::next_line(rest);
    std::vector<sigv4::header> headers;
    while (!rest.empty()) {
        const std::string_view line = sds::fuzz::next_line(rest);
        if (line.empty()) break;
        const std::size_t colon = line.find(':');
        std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
        headers.push_back({line.substr(0, colon), value});
    }
    const std::string_view body = rest;

    const std::int64_t flags = sds::fuzz::number_at(params_line, 3, 3);
    constexpr std::int64_t limit = duration_cast<seconds>(system_clock::duration::max()).count();
    sigv4::signing_params params;
    params.region = sds::fuzz::word_at(params_line, 0, "us-east-1");
    params.service = sds::fuzz::word_at(params_line, 1, "dynamodb");
    params.time = system_clock::time_point{seconds(std::clamp(sds::fuzz::number_at(params_line, 2), -limit, limit))};
    params.normalize_path = flags & 1;
    params.double_uri_encode = flags & 2;
    params.payload = static_cast<sigv4::payload_signing>(((flags >> 2) & 3) % 3);
    params.omit_session_token = flags & 16;
    const bool presigned = flags & 32;
    params.expires = seconds(sds::fuzz::number_at(params_line, 4, 3600));
    const std::string token(sds::fuzz::word_at(params_line, 5));
    std::vector<std::string_view> unsigned_headers;
    for (std::string_view list = sds::fuzz::word_at(params_line, 6); !list.empty();) {
        const std::size_t comma = std::min(list.find(','), list.size());
        unsigned_headers.push_back(list.substr(0, comma));
        list.remove_prefix(std::min(comma + 1, list.size()));
    }
    params.unsigned_headers = unsigned_headers;

    const sigv4::credentials creds{"AKIDEXAMPLE", std::string(secret), token};
    const sigv4::request_view req{method, path, query, headers, body};
    auto sign = [&](const sigv4::credentials& c, sigv4::signing_key_cache* cache) {
        return presigned ? sigv4::presign(req, c, params, cache) : sigv4::sign_headers(req, c, params, cache);
    };

    sigv4::signed_request signed_once;
    try {
        signed_once = sign(creds, nullptr);
    } catch (const sigv4::signing_error& e) {
        const sigv4::credentials others{"AKIDEXAMPLE", sds::fuzz::other_secret(secret), sds::fuzz::other_secret(token)};
        try {
            (void)sign(others, nullptr);
        } catch (const sigv4::signing_error& e2) {
            if (std::string_view(e.what()) != e2.what()) finding("a signing error shows the secret or the token");
        }
        return 0;
    }
    if (!lower_hex(signed_once.signature, 64)) finding("the signature is not 64 lowercase hex digits");
    sigv4::signing_key_cache cache;
    const auto cached = sign(creds, &cache);
    const auto again = sign(creds, &cache);
    if (cached.signature != signed_once.signature || again.signature != signed_once.signature ||
        cached.fields != signed_once.fields || cached.canonical_request != signed_once.canonical_request)
        finding("signing the same request twice gives two signatures");
    if (cache.derivations() != 1) finding("the key cache derived a key more than once");
    const auto stage1 = presigned ? sigv4::canonical_request_presigned(req, creds, params)
                                  : sigv4::canonical_request(req, creds, params);
    if (stage1.text != signed_once.canonical_request || stage1.signed_headers != signed_once.signed_headers)
        finding("stage 1 gives another canonical request than the whole chain");
    // (A session token that holds the secret's text is sent as it is: the
    // secret's text is then in the token's field by the input's doing.)
    if (token.find(secret) == std::string::npos)
        for (const auto& f : signed_once.fields)
            if (f.value.find(secret) != std::string::npos) finding("the secret appears in a signed field");
    return 0;
}
