#include <sds/sigv4.hpp>

#include "sds_crypto.hpp"
#include "sds_http_text.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <forward_list>
#include <memory>
#include <optional>

namespace sds::sigv4 {
namespace {

using http_text::hex_value;
using http_text::iequals;
using http_text::is_control;
using http_text::is_tchar;
using http_text::to_lower;

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view scope_terminator = "aws4_request";
constexpr std::string_view unsigned_payload_literal = "UNSIGNED-PAYLOAD";
// AWS accepts presigned requests valid for at most seven days.
constexpr std::chrono::seconds max_presign_expiry{7 * 24 * 3600};

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = to_lower(c);
    return out;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
            throw signing_error("malformed percent escape in the query string");
        out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
        i += 2;
    }
    return out;
}

// Header values: leading and trailing blanks trimmed, inner runs of blanks
// folded to one space (SigV4 "Trimall").
std::string trim_all(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    bool pending_space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

void check_scope_part(std::string_view what, std::string_view v) {
    if (v.empty()) throw signing_error(std::string(what) + " is empty");
    for (unsigned char c : v)
        if (is_control(c) || c == ' ' || c == '/' || c == ',' || c == '=')
            throw signing_error(std::string(what) + " contains a character that cannot appear in a credential scope");
}

void check_percent_escapes(std::string_view what, std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == '%' && (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0))
            throw signing_error(std::string(what) + " contains a malformed percent escape");
}

// The parameters the query form adds itself; a request that already carries
// one would be signed with two values.
constexpr std::string_view presign_parameters[] = {"x-amz-algorithm",     "x-amz-credential", "x-amz-date",
                                                   "x-amz-expires",       "x-amz-signedheaders",
                                                   "x-amz-security-token", "x-amz-signature"};

// Headers the signature cannot do without.
constexpr std::string_view required_signed_headers[] = {"host", "x-amz-date", "x-amz-security-token",
                                                        "x-amz-content-sha256"};

void check_credentials(const credentials& creds) {
    // The access key id travels in the Authorization header: check it the same
    // way as the scope. The secret is only ever an HMAC key; its content is
    // never echoed.
    check_scope_part("access key id", creds.access_key_id);
    if (creds.secret_access_key.empty()) throw signing_error("secret access key is empty");
    // Real tokens are base64; blanks would be folded by the server's
    // canonicalisation but not by ours, so refuse them outright.
    for (unsigned char c : creds.session_token)
        if (is_control(c) || c == ' ') throw signing_error("session token contains whitespace or a control character");
}

void check_request(const request_view& req) {
    if (req.method.empty()) throw signing_error("HTTP method is empty");
    for (unsigned char c : req.method)
        if (!is_tchar(c)) throw signing_error("HTTP method contains an invalid character");
    if (req.path.empty() || req.path.front() != '/')
        throw signing_error("request path must be absolute (start with '/')");
    for (unsigned char c : req.path)
        if (is_control(c) || c == '?' || c == '#') throw signing_error("request path contains an invalid character");
    check_percent_escapes("request path", req.path);
    for (unsigned char c : req.query)
        if (is_control(c) || c == '#') throw signing_error("query string contains an invalid character");
    // A raw '+' reads as a space to some AWS front ends and as a plus to
    // others, and a raw space cannot go on the request line: either would be
    // signed one way and read another. Callers encode them (%2B, %20).
    for (unsigned char c : req.query)
        if (c == ' ' || c == '+') throw signing_error("query string contains a raw ' ' or '+'; encode it as %20 or %2B");
    bool has_host = false;
    for (const header& h : req.headers) {
        if (h.name.empty()) throw signing_error("header name is empty");
        for (unsigned char c : h.name)
            if (!is_tchar(c)) throw signing_error("header name '" + std::string(h.name) + "' contains an invalid character");
        for (unsigned char c : h.value)
            if (is_control(c) && c != '\t')
                throw signing_error("value of header '" + std::string(h.name) + "' contains a control character");
        if (iequals(h.name, "host")) has_host = true;
    }
    if (!has_host) throw signing_error("request has no Host header; SigV4 must sign it");
}

void check_params(const signing_params& params) {
    check_scope_part("region", params.region);
    check_scope_part("service", params.service);
    for (std::string_view u : params.unsigned_headers)
        for (std::string_view required : required_signed_headers)
            if (iequals(u, required))
                throw signing_error("header '" + std::string(u) + "' must be signed; it cannot be in unsigned_headers");
}

enum class form { header, query };

struct prepared {
    canonical_request_result canonical;
    std::vector<field> added;  // header form: headers to add before Authorization
    bool token_added = false;  // the signer adds the session token (header or query parameter)
    std::string amz_date;
    std::string scope;
};

// Builds the canonical request and decides which fields the signer adds. Both
// stage 1 functions and both signing entry points share this, so what is
// signed and what is sent cannot drift apart.
prepared prepare(const request_view& req, const credentials& creds, const signing_params& params, form f) {
    check_request(req);
    check_credentials(creds);
    check_params(params);
    if (f == form::query) {
        if (params.expires.count() < 1 || params.expires > max_presign_expiry)
            throw signing_error("presigned expiry must be between 1 second and 7 days");
        std::size_t start = 0;
        while (start < req.query.size()) {
            std::size_t end = req.query.find('&', start);
            if (end == std::string_view::npos) end = req.query.size();
            const std::string_view pair = req.query.substr(start, end - start);
            const std::string key = percent_decode(pair.substr(0, pair.find('=')));
            for (std::string_view reserved : presign_parameters)
                if (iequals(key, reserved))
                    throw signing_error("query already carries " + key + "; presign adds it itself");
            start = end + 1;
        }
    }

    prepared p;
    p.added.reserve(4);  // the most the header form adds, Authorization included
    p.amz_date = format_amz_date(params.time);
    p.scope = credential_scope(std::string_view(p.amz_date).substr(0, 8), params.region, params.service);

    // Names and values as given when they are already canonical (the usual
    // case), else lowercased or trimmed into `owned`.
    struct canonical_header {
        std::string_view name;
        std::string_view value;
    };
    std::vector<canonical_header> hs;
    hs.reserve(req.headers.size() + 3);
    std::forward_list<std::string> owned;  // allocates only when used; never moves its strings
    auto canonical_name = [&](std::string_view n) -> std::string_view {
        if (std::none_of(n.begin(), n.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return n;
        return owned.emplace_front(lowercase(n));
    };
    auto canonical_value = [&](std::string_view v) -> std::string_view {
        bool trimmed = v.empty() || (v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
        for (std::size_t i = 0; trimmed && i < v.size(); ++i)
            if (v[i] == '\t' || (v[i] == ' ' && i + 1 < v.size() && v[i + 1] == ' ')) trimmed = false;
        if (trimmed) return v;
        return owned.emplace_front(trim_all(v));
    };

    std::optional<std::string> payload_hash;
    bool has_date = false, has_token = false;
    for (const header& h : req.headers) {
        const std::string_view name = canonical_name(h.name);
        const std::string_view value = canonical_value(h.value);
        if (name == "x-amz-date") {
            if (value != p.amz_date)
                throw signing_error("X-Amz-Date header (" + std::string(value) + ") disagrees with the signing time (" +
                                    p.amz_date + ")");
            has_date = true;
        } else if (name == "x-amz-security-token") {
            if (!creds.session_token.empty() && value != creds.session_token)
                throw signing_error("X-Amz-Security-Token header disagrees with the credentials' session token");
            has_token = true;
            if (params.omit_session_token) continue;
        } else if (name == "x-amz-content-sha256") {
            payload_hash = std::string(value);
        } else if (name == "authorization") {
            continue;  // a previous signature is never signed
        }
        const bool excluded = std::any_of(params.unsigned_headers.begin(), params.unsigned_headers.end(),
                                          [&](std::string_view u) { return iequals(u, name); });
        if (excluded) continue;
        hs.push_back({name, value});
    }

    const bool token_needed = !creds.session_token.empty() && !has_token;
    p.token_added = token_needed;
    if (f == form::header) {
        if (token_needed) {
            p.added.push_back({"X-Amz-Security-Token", creds.session_token});
            if (!params.omit_session_token) hs.push_back({"x-amz-security-token", creds.session_token});
        }
        if (!has_date) {
            p.added.push_back({"X-Amz-Date", p.amz_date});
            hs.push_back({"x-amz-date", p.amz_date});
        }
    }
    if (!payload_hash) {
        if (params.payload == payload_signing::unsigned_payload)
            payload_hash = std::string(unsigned_payload_literal);
        else
            payload_hash = crypto::hex(crypto::sha256(req.body));
        if (f == form::header && params.payload != payload_signing::hash_body) {
            p.added.push_back({"x-amz-content-sha256", *payload_hash});
            hs.push_back({"x-amz-content-sha256", *payload_hash});
        }
    }

    // Sort by name; repeated names keep their order and join with commas.
    std::stable_sort(hs.begin(), hs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    std::string canonical_headers, signed_headers;
    std::size_t header_bytes = 0;
    for (const auto& h : hs) header_bytes += h.name.size() + h.value.size() + 2;
    canonical_headers.reserve(header_bytes);
    signed_headers.reserve(header_bytes);
    for (std::size_t i = 0; i < hs.size(); ++i) {
        if (i > 0 && hs[i].name == hs[i - 1].name) {
            canonical_headers.back() = ',';
        } else {
            if (!signed_headers.empty()) signed_headers.push_back(';');
            signed_headers += hs[i].name;
            canonical_headers += hs[i].name;
            canonical_headers.push_back(':');
        }
        canonical_headers += hs[i].value;
        canonical_headers.push_back('\n');
    }

    std::string query(req.query);
    if (f == form::query) {
        auto add = [&](std::string_view name, std::string_view value) {
            if (!query.empty()) query.push_back('&');
            query += name;
            query.push_back('=');
            query += uri_encode(value, false);
        };
        add("X-Amz-Algorithm", algorithm);
        add("X-Amz-Credential", creds.access_key_id + "/" + p.scope);
        add("X-Amz-Date", p.amz_date);
        add("X-Amz-Expires", std::to_string(params.expires.count()));
        if (token_needed && !params.omit_session_token) add("X-Amz-Security-Token", creds.session_token);
        add("X-Amz-SignedHeaders", signed_headers);
    }

    std::string& text = p.canonical.text;
    text.reserve(256 + canonical_headers.size() + query.size());
    text += req.method;
    text.push_back('\n');
    text += canonical_path(req.path, params.normalize_path, params.double_uri_encode);
    text.push_back('\n');
    text += canonical_query(query);
    text.push_back('\n');
    text += canonical_headers;
    text.push_back('\n');
    text += signed_headers;
    text.push_back('\n');
    text += *payload_hash;
    p.canonical.signed_headers = std::move(signed_headers);
    return p;
}

signed_request finish(prepared&& p, const credentials& creds, const signing_params& params,
                      signing_key_cache* cache, form f) {
    signed_request out;
    out.string_to_sign = string_to_sign(p.amz_date, p.scope, p.canonical.text);
    const std::string_view date8 = std::string_view(p.amz_date).substr(0, 8);
    const signing_key key = cache ? cache->get(creds.secret_access_key, date8, params.region, params.service)
                                  : derive_signing_key(creds.secret_access_key, date8, params.region, params.service);
    out.signature = signature(key, out.string_to_sign);
    if (f == form::header) {
        out.fields = std::move(p.added);
        out.fields.push_back(
            {"Authorization", authorization_header(creds.access_key_id, p.scope, p.canonical.signed_headers,
                                                   out.signature)});
    } else {
        // The order AWS's signers append them in; the canonical form sorts anyway.
        out.fields.push_back({"X-Amz-Algorithm", std::string(algorithm)});
        out.fields.push_back({"X-Amz-Credential", uri_encode(creds.access_key_id + "/" + p.scope, false)});
        out.fields.push_back({"X-Amz-Date", p.amz_date});
        out.fields.push_back({"X-Amz-SignedHeaders", uri_encode(p.canonical.signed_headers, false)});
        out.fields.push_back({"X-Amz-Expires", std::to_string(params.expires.count())});
        if (p.token_added)
            out.fields.push_back({"X-Amz-Security-Token", uri_encode(creds.session_token, false)});
        out.fields.push_back({"X-Amz-Signature", out.signature});
    }
    out.canonical_request = std::move(p.canonical.text);
    out.signed_headers = std::move(p.canonical.signed_headers);
    return out;
}

} // namespace

std::string format_amz_date(std::chrono::system_clock::time_point t) {
    // Whole seconds since the epoch, rounded down, without a round trip
    // through nanoseconds (which overflows near time_point::min()).
    const std::time_t tt = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
    // Requests come many to the second: format each second once per thread.
    thread_local std::time_t last_time = -1;
    thread_local std::string last_text;
    if (tt == last_time && !last_text.empty()) return last_text;
    std::tm tm{};
    if (!gmtime_r(&tt, &tm) || tm.tm_year < 70 || tm.tm_year > 9999 - 1900)
        throw signing_error("signing time must be between the years 1970 and 9999");
    char buf[17];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    if (n != 16) throw signing_error("signing time cannot be formatted as an AWS date");
    last_text.assign(buf, n);
    last_time = tt;
    return last_text;
}

std::string credential_scope(std::string_view date8, std::string_view region, std::string_view service) {
    std::string s;
    s.reserve(date8.size() + region.size() + service.size() + scope_terminator.size() + 3);
    s += date8;
    s.push_back('/');
    s += region;
    s.push_back('/');
    s += service;
    s.push_back('/');
    s += scope_terminator;
    return s;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3 / 2);
    for (unsigned char c : s) {
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0x0f]);
        }
    }
    return out;
}

std::string canonical_path(std::string_view path, bool normalize, bool double_encode) {
    std::string p;
    if (normalize) {
        // RFC 3986 remove_dot_segments, plus empty segments dropped: AWS treats
        // "//a//" as "/a/". A path that ends in a directory keeps its slash.
        std::vector<std::string_view> kept;
        std::string_view last;
        std::size_t start = 1;
        while (start <= path.size()) {
            std::size_t end = path.find('/', start);
            if (end == std::string_view::npos) end = path.size();
            std::string_view seg = path.substr(start, end - start);
            last = seg;
            if (seg == "..") {
                if (!kept.empty()) kept.pop_back();
            } else if (!seg.empty() && seg != ".") {
                kept.push_back(seg);
            }
            start = end + 1;
        }
        p = "/";
        for (std::size_t i = 0; i < kept.size(); ++i) {
            if (i) p.push_back('/');
            p += kept[i];
        }
        const bool directory = last.empty() || last == "." || last == "..";
        if (!kept.empty() && directory) p.push_back('/');
    } else {
        p = std::string(path);
    }
    return double_encode ? uri_encode(p, true) : p;
}

std::string canonical_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> params;
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        std::string_view pair = query.substr(start, end - start);
        if (!pair.empty()) {
            const std::size_t eq = pair.find('=');
            std::string_view k = pair.substr(0, eq);
            std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            params.emplace_back(uri_encode(percent_decode(k), false), uri_encode(percent_decode(v), false));
        }
        start = end + 1;
    }
    std::sort(params.begin(), params.end());
    std::string out;
    for (const auto& [k, v] : params) {
        if (!out.empty()) out.push_back('&');
        out += k;
        out.push_back('=');
        out += v;
    }
    return out;
}

canonical_request_result canonical_request(const request_view& req, const credentials& creds,
                                           const signing_params& params) {
    return prepare(req, creds, params, form::header).canonical;
}

canonical_request_result canonical_request_presigned(const request_view& req, const credentials& creds,
                                                     const signing_params& params) {
    return prepare(req, creds, params, form::query).canonical;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
    std::string s;
    s.reserve(algorithm.size() + amz_date.size() + scope.size() + 67);
    s += algorithm;
    s.push_back('\n');
    s += amz_date;
    s.push_back('\n');
    s += scope;
    s.push_back('\n');
    crypto::append_hex(s, crypto::sha256(canonical_request));
    return s;
}

signing_key derive_signing_key(std::string_view secret_access_key, std::string_view date8, std::string_view region,
                               std::string_view service) {
    std::string seed = "AWS4";
    seed += secret_access_key;
    crypto::digest k = crypto::hmac_sha256(crypto::bytes_of(seed), date8);
    // Do not leave a copy of the secret behind in freed memory.
    OPENSSL_cleanse(seed.data(), seed.size());
    k = crypto::hmac_sha256(k, region);
    k = crypto::hmac_sha256(k, service);
    return crypto::hmac_sha256(k, scope_terminator);
}

std::string signature(const signing_key& key, std::string_view string_to_sign) {
    // A signing key serves a whole day of requests: keep its HMAC pads
    // hashed, per thread, for the key used last.
    struct last_key {
        signing_key key{};
        std::unique_ptr<crypto::hmac_sha256_key> hmac;
        ~last_key() { OPENSSL_cleanse(key.data(), key.size()); }
    };
    thread_local last_key last;
    if (!last.hmac || last.key != key) {
        last.hmac = std::make_unique<crypto::hmac_sha256_key>(key);
        last.key = key;
    }
    return crypto::hex(last.hmac->tag(string_to_sign));
}

std::string authorization_header(std::string_view access_key_id, std::string_view scope,
                                 std::string_view signed_headers, std::string_view signature) {
    std::string s;
    s.reserve(algorithm.size() + access_key_id.size() + scope.size() + signed_headers.size() + signature.size() + 40);
    s += algorithm;
    s += " Credential=";
    s += access_key_id;
    s.push_back('/');
    s += scope;
    s += ", SignedHeaders=";
    s += signed_headers;
    s += ", Signature=";
    s += signature;
    return s;
}

signing_key signing_key_cache::get(std::string_view secret, std::string_view date8, std::string_view region,
                                   std::string_view service) {
    std::lock_guard lock(mutex_);
    for (const entry& e : entries_)
        if (e.date8 == date8 && e.region == region && e.service == service && e.secret == secret) return e.key;
    signing_key key = derive_signing_key(secret, date8, region, service);
    ++derivations_;
    if (entries_.size() >= capacity) {
        // Dates are yyyymmdd, so the smallest string is the oldest day.
        auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                       [](const entry& a, const entry& b) { return a.date8 < b.date8; });
        entries_.erase(oldest);
    }
    entries_.push_back({std::string(secret), std::string(date8), std::string(region), std::string(service), key});
    return key;
}

std::uint64_t signing_key_cache::derivations() const {
    std::lock_guard lock(mutex_);
    return derivations_;
}

signed_request sign_headers(const request_view& req, const credentials& creds, const signing_params& params,
                            signing_key_cache* cache) {
    return finish(prepare(req, creds, params, form::header), creds, params, cache, form::header);
}

signed_request presign(const request_view& req, const credentials& creds, const signing_params& params,
                       signing_key_cache* cache) {
    return finish(prepare(req, creds, params, form::query), creds, params, cache, form::query);
}

} // namespace sds::sigv4
