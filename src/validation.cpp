#include "validation.hpp"

#include <sds/error.hpp>

#include <string>

namespace sds::detail {

bool is_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        char32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        const char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

void require_utf8(std::string_view what, std::string_view text) {
    if (!is_utf8(text)) throw error(errc::invalid_argument, std::string(what) + " is not valid UTF-8");
}

namespace {

// C0 controls, DEL, and the C1 controls U+0080 to U+009F (UTF-8 C2 80 to
// C2 9F), which Azure Table keys may not hold either. `s` is UTF-8.
bool has_control_character(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        const bool c1 = c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
                        static_cast<unsigned char>(s[i + 1]) <= 0x9F;
        if (c < 0x20 || c == 0x7f || c1) return true;
    }
    return false;
}

[[noreturn]] void refuse(const std::string& why) { throw error(errc::invalid_argument, why); }

constexpr const char* max_wait_text = "100 years";
static_assert(max_wait == std::chrono::hours(24 * 365 * 100));

// A wait of the configuration: positive (or, with `zero_ok`, not negative)
// and at most max_wait.
void check_wait(std::string_view field, std::chrono::milliseconds d, bool zero_ok = false) {
    if (d.count() < 0 || (d.count() == 0 && !zero_ok))
        refuse(std::string(field) + " must be " + (zero_ok ? "0 or more" : "positive") + ", not " +
               std::to_string(d.count()) + " ms");
    if (d > max_wait) refuse(std::string(field) + " is over " + max_wait_text + " (" + std::to_string(d.count()) + " ms)");
}

void check_shared(std::string_view prefix, const http_options& http, const retry_options& retry,
                  std::chrono::milliseconds poll_interval, std::chrono::milliseconds wait_timeout) {
    const std::string p(prefix);
    if (http.max_connections == 0) refuse("http_options.max_connections must be at least 1");
    check_wait("http_options.connect_timeout", http.connect_timeout);
    check_wait("http_options.request_timeout", http.request_timeout);
    check_wait("http_options.idle_timeout", http.idle_timeout, true);
    if (http.max_response_body == 0) refuse("http_options.max_response_body must be at least 1");
    check_wait("retry_options.base_delay", retry.base_delay, true);
    check_wait("retry_options.throttle_base_delay", retry.throttle_base_delay, true);
    check_wait("retry_options.max_backoff", retry.max_backoff, true);
    check_wait(p + ".table_poll_interval", poll_interval);
    check_wait(p + ".table_wait_timeout", wait_timeout);
}

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A SAS goes into every request's query as it is: it must be one (RFC 3986
// query characters, percent escapes well formed). Never echoed.
void check_sas_token(std::string_view sas) {
    if (sas.front() == '?') refuse("azure_table_config.sas_token must not start with '?' (give the query string alone)");
    for (std::size_t i = 0; i < sas.size(); ++i) {
        const char c = sas[i];
        if (c == '%') {
            if (i + 2 >= sas.size() || !hex_digit(sas[i + 1]) || !hex_digit(sas[i + 2]))
                refuse("azure_table_config.sas_token holds a malformed percent escape");
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view("-._~!$&'()*+,;=:@/?").find(c) != std::string_view::npos;
        if (!ok)
            refuse("azure_table_config.sas_token holds a character a URL query cannot (a space, a control "
                   "character, '#' or a byte outside ASCII); percent-encode it");
    }
}

} // namespace

void check_key(std::string_view what, std::string_view key, std::size_t max_bytes) {
    if (key.empty()) throw error(errc::invalid_argument, std::string(what) + " is empty");
    if (key.size() > max_bytes)
        throw error(errc::invalid_argument, std::string(what) + " is " + std::to_string(key.size()) +
                                                " bytes; the limit is " + std::to_string(max_bytes));
    require_utf8(what, key);
    if (has_control_character(key))
        throw error(errc::invalid_argument, std::string(what) + " contains a control character");
}

void check_timeout(const std::optional<std::chrono::milliseconds>& t) {
    if (!t) return;
    if (t->count() <= 0) refuse("timeout must be positive, not " + std::to_string(t->count()) + " ms");
    if (*t > max_wait)
        refuse("timeout of " + std::to_string(t->count()) + " ms is over " + std::string(max_wait_text) +
               "; leave it unset for none");
}

void check_table_text(std::string_view name) {
    constexpr std::size_t max_bytes = 1024;  // far beyond any engine's limit, as for resolved patterns
    if (name.size() > max_bytes)
        refuse("table name of " + std::to_string(name.size()) + " bytes is too long");
    if (!is_utf8(name)) refuse("table name is not valid UTF-8");
    if (has_control_character(name)) refuse("table name contains a control character");
}

void check_table_time(std::string_view pattern, std::chrono::system_clock::time_point at) {
    if (at < std::chrono::system_clock::time_point{})
        refuse("table name pattern '" + std::string(pattern) + "' cannot be resolved at a time before 1970");
}

void check_config(const dynamodb_config& c) {
    check_shared("dynamodb_config", c.http, c.retry, c.table_poll_interval, c.table_wait_timeout);
    if (c.default_read < 1) refuse("dynamodb_config.default_read must be at least 1");
    if (c.default_write < 1) refuse("dynamodb_config.default_write must be at least 1");
}

void check_config(const azure_table_config& c) {
    check_shared("azure_table_config", c.http, c.retry, c.table_poll_interval, c.table_wait_timeout);
    if (c.max_concurrent_reads == 0) refuse("azure_table_config.max_concurrent_reads must be at least 1");
    if (c.max_write_conflicts == 0) refuse("azure_table_config.max_write_conflicts must be at least 1");
    if (!c.sas_token.empty()) check_sas_token(c.sas_token);
}

} // namespace sds::detail
