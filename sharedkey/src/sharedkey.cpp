#include <sds/sharedkey.hpp>

#include "sds_crypto.hpp"
#include "sds_http_text.hpp"

#include <algorithm>
#include <ctime>
#include <optional>

namespace sds::sharedkey {
namespace {

using http_text::iequals;
using http_text::is_control;
using http_text::is_tchar;

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// A signed header's value, trimmed as the service trims it. A signed header
// sent twice would leave the server to pick one: refused.
std::optional<std::string_view> find_header(const request_view& req, std::string_view name) {
    std::optional<std::string_view> found;
    for (const header& h : req.headers) {
        if (!iequals(h.name, name)) continue;
        if (found) throw signing_error("header '" + std::string(name) + "' appears more than once");
        found = trim(h.value);
    }
    return found;
}

std::string_view header_or_empty(const request_view& req, std::string_view name) {
    return find_header(req, name).value_or(std::string_view{});
}

std::string percent_decoded(std::string_view s) {
    const auto hex = http_text::hex_value;
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

void check_account(std::string_view account) {
    // Storage account names are 3 to 24 lowercase letters and digits; the
    // emulator's devstoreaccount1 fits too. Anything else cannot be right.
    if (account.empty()) throw signing_error("storage account name is empty");
    for (unsigned char c : account)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            throw signing_error("storage account name contains a character other than lowercase letters, digits and '-'");
}

void check_request(const request_view& req) {
    if (req.method.empty()) throw signing_error("HTTP method is empty");
    for (unsigned char c : req.method)
        if (!(c >= 'A' && c <= 'Z')) throw signing_error("HTTP method must be uppercase letters (GET, MERGE, ...)");
    if (req.path.empty() || req.path.front() != '/')
        throw signing_error("request path must be absolute (start with '/')");
    for (unsigned char c : req.path)
        if (is_control(c) || c == ' ' || c == '?' || c == '#' || c >= 0x80)
            throw signing_error("request path contains a character that must be percent-encoded");
    for (unsigned char c : req.query)
        if (is_control(c) || c == ' ' || c == '#')
            throw signing_error("query string contains a character that must be percent-encoded");
    for (const header& h : req.headers) {
        if (h.name.empty()) throw signing_error("header name is empty");
        for (unsigned char c : h.name)
            if (!is_tchar(c)) throw signing_error("header name '" + std::string(h.name) + "' contains an invalid character");
        for (unsigned char c : h.value)
            if (is_control(c) && c != '\t')
                throw signing_error("value of header '" + std::string(h.name) + "' contains a control character");
    }
}

// The Date line. The service documents that x-ms-date wins when both are
// sent; Azurite signs Date instead. sds only ever sends x-ms-date, and refuses
// to guess when a caller sends both with different values.
std::string_view date_line(const request_view& req) {
    const auto ms_date = find_header(req, "x-ms-date");
    const auto date = find_header(req, "date");
    if (ms_date && date && *ms_date != *date)
        throw signing_error("request carries both x-ms-date and Date with different values; "
                            "the service and the emulator disagree on which one is signed");
    const auto chosen = ms_date ? ms_date : date;
    if (!chosen) throw signing_error("request has neither an x-ms-date nor a Date header");
    if (chosen->empty()) throw signing_error("the request's date header is empty");
    return *chosen;
}

} // namespace

account_key account_key::from_base64(std::string_view base64_key) {
    if (base64_key.empty()) throw signing_error("storage account key is empty");
    auto decoded = crypto::base64_decode(base64_key);
    if (!decoded || decoded->empty()) throw signing_error("storage account key is not valid base64");
    account_key k;
    k.bytes_ = std::move(*decoded);
    return k;
}

std::string format_date(std::chrono::system_clock::time_point t) {
    // Whole seconds since the epoch, rounded down, without a round trip
    // through nanoseconds (which overflows near time_point::min()).
    const std::time_t tt = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
    std::tm tm{};
    if (!gmtime_r(&tt, &tm) || tm.tm_year < 70 || tm.tm_year > 9999 - 1900)
        throw signing_error("date must be between the years 1970 and 9999");
    // strftime's %a and %b follow the locale; RFC 1123 wants English.
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[40];
    const int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string canonicalized_resource(std::string_view account_name, std::string_view path, std::string_view query) {
    std::string r;
    r.reserve(1 + account_name.size() + path.size() + 16);
    r.push_back('/');
    r += account_name;
    r += path;
    // Only comp is part of the resource for the Table service. Servers differ
    // on a repeated, empty, differently cased or percent-encoded comp (Azurite
    // lowercases names and keeps the last one), so those are refused.
    std::optional<std::string_view> comp;
    std::size_t start = 0;
    while (start < query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view pair = query.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (key == "comp") {
            if (comp) throw signing_error("query has more than one comp parameter");
            if (value.empty()) throw signing_error("query has an empty comp parameter");
            comp = value;
        } else if (iequals(key, "comp") || key.find('%') != std::string_view::npos) {
            if (iequals(key, "comp") || iequals(percent_decoded(key), "comp"))
                throw signing_error("query spells comp as '" + std::string(key) + "'; write it as comp");
        }
        start = end + 1;
    }
    if (comp) {
        r += "?comp=";
        r += *comp;
    }
    return r;
}

std::string string_to_sign(scheme s, const request_view& req, std::string_view account_name) {
    check_account(account_name);
    check_request(req);
    const std::string_view date = date_line(req);
    std::string out;
    if (s == scheme::shared_key) {
        out += req.method;
        out.push_back('\n');
        out += header_or_empty(req, "content-md5");
        out.push_back('\n');
        out += header_or_empty(req, "content-type");
        out.push_back('\n');
    }
    out += date;
    out.push_back('\n');
    out += canonicalized_resource(account_name, req.path, req.query);
    return out;
}

std::string signature(const account_key& key, std::string_view string_to_sign) {
    const crypto::digest mac = crypto::hmac_sha256(key.bytes(), string_to_sign);
    return crypto::base64_encode(mac);
}

std::string authorization_header(scheme s, std::string_view account_name, std::string_view signature) {
    std::string a = s == scheme::shared_key ? "SharedKey " : "SharedKeyLite ";
    a += account_name;
    a.push_back(':');
    a += signature;
    return a;
}

signed_request sign(scheme s, const request_view& req, const credentials& creds) {
    if (creds.key.bytes().empty()) throw signing_error("storage account key is empty");
    signed_request out;
    out.string_to_sign = string_to_sign(s, req, creds.account_name);
    out.canonicalized_resource = canonicalized_resource(creds.account_name, req.path, req.query);
    out.signature = signature(creds.key, out.string_to_sign);
    out.authorization = authorization_header(s, creds.account_name, out.signature);
    return out;
}

} // namespace sds::sharedkey
