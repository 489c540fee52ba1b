#include <sds/error.hpp>

namespace sds {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "sds"; }
    std::string message(int ev) const override { return to_string(static_cast<errc>(ev)); }
};

std::string describe(errc code, const std::string& what, const diagnostics& d) {
    std::string s = std::string(to_string(code)) + ": " + what;
    if (d.http_status) s += "; HTTP " + std::to_string(d.http_status);
    if (!d.service_code.empty()) s += "; " + d.service_code;
    if (!d.service_message.empty()) s += ": " + d.service_message;
    if (!d.request_id.empty()) s += "; request id " + d.request_id;
    if (!d.client_request_id.empty()) s += "; client request id " + d.client_request_id;
    if (d.attempts) s += "; " + std::to_string(d.attempts) + (d.attempts == 1 ? " attempt" : " attempts");
    if (d.total_backoff.count()) s += ", " + std::to_string(d.total_backoff.count()) + " ms backoff";
    return s;
}

} // namespace

const boost::system::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

const char* to_string(errc e) noexcept {
    switch (e) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::table_not_found: return "table_not_found";
    case errc::already_exists: return "already_exists";
    case errc::condition_failed: return "condition_failed";
    case errc::throttled: return "throttled";
    case errc::auth_failed: return "auth_failed";
    case errc::timeout: return "timeout";
    case errc::cancelled: return "cancelled";
    case errc::ambiguous: return "ambiguous";
    case errc::protocol_error: return "protocol_error";
    case errc::network_error: return "network_error";
    case errc::tls_error: return "tls_error";
    case errc::service_error: return "service_error";
    }
    return "unknown";
}

error::error(errc code, const std::string& what, diagnostics diag)
    : boost::system::system_error(make_error_code(code), what), diag_(std::move(diag)), summary_(what),
      message_(describe(code, what, diag_)) {}

} // namespace sds
