// The Entra ID token sources for Azure Storage (include/sds/credentials.hpp).
#include "credentials/first_configured.hpp"
#include "credentials/http_fetch.hpp"
#include "credentials/text.hpp"

#include <sds/credentials.hpp>
#include <sds/error.hpp>

#include <boost/json.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

namespace sds {
namespace detail {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::string_view storage_scope = "https://storage.azure.com/.default";
constexpr std::string_view storage_resource = "https://storage.azure.com/";
constexpr std::string_view default_authority = "https://login.microsoftonline.com";
constexpr std::string_view default_imds = "http://169.254.169.254";
constexpr auto token_timeout = 10000ms;
constexpr auto imds_timeout = 1000ms;
constexpr auto app_service_timeout = 3000ms;

std::string read_token_file(const std::string& source, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::invalid_argument, source + ": cannot read the token file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = trimmed(text.str());
    if (token.empty()) throw error(errc::invalid_argument, source + ": the token file '" + path + "' is empty");
    return token;
}

// A number of seconds, as a JSON number or a string of digits.
std::optional<std::int64_t> seconds_field(const json::object& o, std::string_view name) {
    const auto* v = o.if_contains(name);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
    if (v->is_string()) {
        const auto s = v->get_string();
        std::int64_t n = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc{} && end == s.data() + s.size()) return n;
    }
    return std::nullopt;
}

// An access token from a token endpoint's answer: access_token with
// expires_on (epoch seconds) or expires_in; a refusal names Entra ID's error
// code and description, which hold no secret.
azure_access_token token_from_answer(const std::string& source, const fetch_response& r,
                                     std::string_view withheld = {}) {
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    const auto* o = !ec && v.is_object() ? &v.get_object() : nullptr;
    if (r.status != 200) {
        std::string what = source + ": the token endpoint answered HTTP " + std::to_string(r.status);
        if (o) {
            if (const auto* e = o->if_contains("error"); e && e->is_string()) what += " " + std::string(e->get_string());
            if (const auto* d = o->if_contains("error_description"); d && d->is_string()) {
                std::string text(d->get_string());
                text = text.substr(0, text.find_first_of("\r\n"));
                // One that quotes what was sent (the secret, the assertion, as
                // they are or as the form carried them) is withheld.
                what += ": " + (quotes(text, withheld) ? std::string("(description withheld: it quotes the request)")
                                                       : text.substr(0, 300));
            }
        }
        throw error(r.status >= 500 ? errc::service_error : errc::auth_failed, what);
    }
    if (!o) throw error(errc::protocol_error, source + ": the token endpoint's answer is not a JSON object");
    const auto* t = o->if_contains("access_token");
    if (!t || !t->is_string() || t->get_string().empty())
        throw error(errc::protocol_error, source + ": the token endpoint's answer holds no access_token");
    azure_access_token out{std::string(t->get_string()), std::nullopt};
    for (const char c : out.token)
        if (c < 0x21 || c > 0x7e) throw error(errc::protocol_error, source + ": the access token is not printable");
    // Past what the clock can hold (2262): as far as it goes.
    constexpr auto last = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max());
    const auto at = [&](std::int64_t epoch_seconds) {
        return epoch_seconds >= last.count() / 2 ? std::chrono::system_clock::time_point::max()
                                                 : std::chrono::system_clock::time_point(std::chrono::seconds(epoch_seconds));
    };
    if (const auto on = seconds_field(*o, "expires_on"))
        out.expiration = at(*on);
    else if (const auto in = seconds_field(*o, "expires_in"))
        out.expiration = at(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count() +
                            std::min<std::int64_t>(*in, last.count() / 2));
    else
        throw error(errc::protocol_error, source + ": the token endpoint's answer says nothing of its expiry");
    return out;
}

// The client credentials grant at <authority>/<tenant>/oauth2/v2.0/token.
fetch_request client_credentials_request(const std::string& source, const std::string& tenant,
                                         const std::string& client_id, const std::string& secret_part) {
    if (tenant.empty() || client_id.empty())
        throw error(errc::invalid_argument, source + ": the tenant id and the client id are required");
    for (const char c : tenant)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
            throw error(errc::invalid_argument, source + ": the tenant id may hold only letters, digits, '-' and '.'");
    std::string authority = env("AZURE_AUTHORITY_HOST");
    if (authority.empty()) authority = default_authority;
    while (authority.ends_with("/")) authority.pop_back();
    fetch_request req;
    req.verb = http::verb::post;
    req.url = authority + "/" + tenant + "/oauth2/v2.0/token";
    req.timeout = token_timeout;
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.headers.emplace_back("Accept", "application/json");
    req.body = "grant_type=client_credentials&client_id=" + form_encode(client_id) +
               "&scope=" + form_encode(storage_scope) + "&" + secret_part;
    return req;
}

class client_secret_credential final : public azure_token_credential {
public:
    client_secret_credential(std::string tenant, std::string client, std::string secret,
                             std::string name = "client secret credential")
        : tenant_(std::move(tenant)), client_(std::move(client)), secret_(std::move(secret)), name_(std::move(name)) {}
    boost::asio::awaitable<azure_access_token> fetch() override {
        const std::string source = name();
        if (secret_.empty()) throw error(errc::invalid_argument, source + ": the client secret is empty");
        fetch_request req = client_credentials_request(source, tenant_, client_, "client_secret=" + form_encode(secret_));
        const fetch_response r = co_await fetch_url(source, std::move(req));
        co_return token_from_answer(source, r, secret_);
    }
    std::string name() const override { return name_; }

private:
    std::string tenant_, client_, secret_, name_;
};

class environment_credential final : public azure_token_credential {
public:
    boost::asio::awaitable<azure_access_token> fetch() override {
        if (env("AZURE_CLIENT_SECRET").empty())
            throw error(errc::invalid_argument, "environment credential: AZURE_CLIENT_SECRET is not set");
        client_secret_credential c(env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET"), name());
        co_return co_await c.fetch();
    }
    std::string name() const override { return "environment credential"; }
};

class workload_identity_credential final : public azure_token_credential {
public:
    boost::asio::awaitable<azure_access_token> fetch() override {
        const std::string source = name();
        const std::string file = env("AZURE_FEDERATED_TOKEN_FILE");
        if (file.empty()) throw error(errc::invalid_argument, source + ": AZURE_FEDERATED_TOKEN_FILE is not set");
        const std::string assertion = read_token_file(source, file);
        fetch_request req = client_credentials_request(
            source, env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"),
            "client_assertion_type=" + form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                "&client_assertion=" + form_encode(assertion));
        const fetch_response r = co_await fetch_url(source, std::move(req));
        co_return token_from_answer(source, r, assertion);
    }
    std::string name() const override { return "workload identity"; }
};

class managed_identity_credential final : public azure_token_credential {
public:
    explicit managed_identity_credential(std::string client_id) : client_id_(std::move(client_id)) {}
    boost::asio::awaitable<azure_access_token> fetch() override {
        const std::string source = name();
        std::string client_id = client_id_.empty() ? env("AZURE_CLIENT_ID") : client_id_;
        fetch_request req;
        std::string withheld;
        req.allow_plain_http = true;  // link-local, or the platform's local endpoint
        if (const auto endpoint = env("IDENTITY_ENDPOINT"), header = env("IDENTITY_HEADER");
            !endpoint.empty() && !header.empty()) {
            // App Service and Functions.
            req.url = endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
                      "api-version=2019-08-01&resource=" + form_encode(storage_resource);
            req.headers.emplace_back("X-IDENTITY-HEADER", header);
            withheld = header;
            req.timeout = app_service_timeout;
        } else {
            std::string host = env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
            if (host.empty()) host = default_imds;
            while (host.ends_with("/")) host.pop_back();
            req.url = host + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" +
                      form_encode(storage_resource);
            req.headers.emplace_back("Metadata", "true");
            req.timeout = imds_timeout;
        }
        if (!client_id.empty()) req.url += "&client_id=" + form_encode(client_id);
        for (const auto& [name, value] : req.headers)
            for (const char c : value)
                if (c == '\r' || c == '\n' || c == '\0')
                    throw error(errc::invalid_argument, source + ": " + name + " holds a line break");
        const fetch_response r = co_await fetch_url(source, std::move(req));
        co_return token_from_answer(source, r, withheld);
    }
    std::string name() const override { return "managed identity"; }

private:
    std::string client_id_;
};

// The first source that is configured, in DefaultAzureCredential's order.
std::shared_ptr<azure_token_credential> first_azure_source() {
    const bool ids = !env("AZURE_TENANT_ID").empty() && !env("AZURE_CLIENT_ID").empty();
    if (ids && !env("AZURE_CLIENT_SECRET").empty()) return azure_environment_credential();
    if (ids && !env("AZURE_FEDERATED_TOKEN_FILE").empty()) return azure_workload_identity_credential();
    return azure_managed_identity_credential();
}

} // namespace
} // namespace detail

std::shared_ptr<azure_token_credential> azure_client_secret_credential(std::string tenant_id, std::string client_id,
                                                                       std::string client_secret) {
    return std::make_shared<detail::client_secret_credential>(std::move(tenant_id), std::move(client_id),
                                                              std::move(client_secret));
}
std::shared_ptr<azure_token_credential> azure_environment_credential() {
    return std::make_shared<detail::environment_credential>();
}
std::shared_ptr<azure_token_credential> azure_workload_identity_credential() {
    return std::make_shared<detail::workload_identity_credential>();
}
std::shared_ptr<azure_token_credential> azure_managed_identity_credential(std::string client_id) {
    return std::make_shared<detail::managed_identity_credential>(std::move(client_id));
}
std::shared_ptr<azure_token_credential> azure_default_credential() {
    return std::make_shared<detail::first_configured<azure_token_credential, azure_access_token>>(
        detail::first_azure_source, "the default Azure credential");
}

} // namespace sds
