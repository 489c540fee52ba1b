// The Azure SharedKey / SharedKeyLite signer (sds/sharedkey.hpp) on any
// request and any account key: it signs, or refuses with signing_error,
// whose message does not depend on the key (support/other_secret.hpp). What it signs it signs the same way
// every time, and the stages alone give what the whole chain used.
//
// Input (text):
//   <flags> <account name> <base64 account key>
//   <method>
//   <path>
//   <query>
//   <header lines "Name: value">
// flags: bit 0 SharedKeyLite instead of SharedKey.
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "support/other_secret.hpp"
#include "support/words.hpp"

#include <sds/sharedkey.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace sharedkey = sds::sharedkey;
    using sds::fuzz::finding;
    std::string_view rest = sds::fuzz::text_of(data, size);
    const auto params = sds::fuzz::words_of(sds::fuzz::next_line(rest));
    const std::string_view method = sds::fuzz::next_line(rest);
    const std::string_view path = sds::fuzz::next_line(rest);
    const std::string_view query = sds::fuzz::next_line(rest);
    std::vector<sharedkey::header> headers;
    while (!rest.empty()) {
        const std::string_view line = sds::fuzz::next_line(rest);
        const std::size_t colon = line.find(':');
        std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
        headers.push_back({line.substr(0, colon), value});
    }
    const auto scheme = (sds::fuzz::number_at(params, 0) & 1) ? sharedkey::scheme::shared_key_lite
                                                                : sharedkey::scheme::shared_key;
    const std::string account(sds::fuzz::word_at(params, 1, "devstoreaccount1"));
    const std::string_view key_text = sds::fuzz::word_at(params, 2);

    // Whether a refusal's message changes with the key: the same steps with
    // a key of the same shape, where both are refused, give the same message.
    const std::string other_key_text = sds::fuzz::other_secret(key_text);
    auto same_message = [](const sharedkey::signing_error& e, auto&& step) {
        try {
            step();
        } catch (const sharedkey::signing_error& e2) {
            if (std::string_view(e.what()) != e2.what()) finding("a signing error shows the account key");
        }
    };
    std::optional<sharedkey::credentials> creds;
    try {
        creds.emplace(sharedkey::credentials{account, sharedkey::account_key::from_base64(key_text)});
    } catch (const sharedkey::signing_error& e) {
        same_message(e, [&] { (void)sharedkey::account_key::from_base64(other_key_text); });
        return 0;
    }
    if (creds->key.bytes().empty()) finding("an empty key was accepted");

    const sharedkey::request_view req{method, path, query, headers};
    sharedkey::signed_request s;
    try {
        s = sharedkey::sign(scheme, req, *creds);
    } catch (const sharedkey::signing_error& e) {
        try {
            const sharedkey::credentials others{account, sharedkey::account_key::from_base64(other_key_text)};
            same_message(e, [&] { (void)sharedkey::sign(scheme, req, others); });
        } catch (const sharedkey::signing_error&) {
            // The other key does not decode: nothing to compare with.
        }
        return 0;
    }
    const auto again = sharedkey::sign(scheme, req, *creds);
    if (again.authorization != s.authorization || again.string_to_sign != s.string_to_sign)
        finding("signing the same request twice gives two signatures");
    if (sharedkey::canonicalized_resource(account, path, query) != s.canonicalized_resource)
        finding("canonicalized_resource alone differs from the chain's");
    if (sharedkey::string_to_sign(scheme, req, account) != s.string_to_sign)
        finding("string_to_sign alone differs from the chain's");
    if (sharedkey::signature(creds->key, s.string_to_sign) != s.signature) finding("signature alone differs from the chain's");
    if (s.authorization != sharedkey::authorization_header(scheme, account, s.signature))
        finding("the Authorization value is not built from the signature");
    if (s.signature.size() != 44 || !s.signature.ends_with('=')) finding("the signature is not base64 of 32 bytes");
    return 0;
}
