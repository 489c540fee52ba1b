// The AWS credential sources (include/sds/credentials.hpp).
#include "credentials/aws_providers.hpp"

#include "credentials/first_configured.hpp"
#include "credentials/http_fetch.hpp"
#include "credentials/shared_files.hpp"
#include "credentials/text.hpp"

#include <sds/credentials.hpp>
#include <sds/error.hpp>
#include <sds/sigv4.hpp>

#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <boost/url/parse.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

namespace sds {
namespace detail {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::string_view sts_version = "2011-06-15";
constexpr auto sts_timeout = 5000ms;
constexpr auto container_timeout = 2000ms;
constexpr auto imds_timeout = 1000ms;
constexpr std::string_view imds_token_ttl = "21600";  // six hours, the SDKs' default
constexpr std::string_view container_host = "169.254.170.2";
constexpr int max_profile_depth = 8;  // role chains: source_profile hops

bool env_true(const char* name) {
    std::string v = env(name);
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v == "true" || v == "1";
}

// The whole file, or invalid_argument naming it (never its content).
std::string read_file(const std::string& source, const std::string& what, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::invalid_argument, source + ": cannot read " + what + " '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}


} // namespace

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text) {
    // 2026-11-27T09:00:00Z, optionally with fractional seconds, or +00:00.
    int y, mo, d, h, mi, s;
    char tail[40] = {};
    const std::string t(text.substr(0, 64));
    if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%39s", &y, &mo, &d, &h, &mi, &s, tail) < 6) return std::nullopt;
    std::string rest = tail;
    if (!rest.empty() && rest.front() == '.') {
        const auto end = rest.find_first_not_of("0123456789", 1);
        rest = end == std::string::npos ? std::string() : rest.substr(end);
    }
    if (!(rest == "Z" || rest == "z" || rest == "+00:00" || rest.empty())) return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::time_t when = ::timegm(&tm);
    if (when == static_cast<std::time_t>(-1)) return std::nullopt;
    // Past what the clock can hold (2262): as far as it goes.
    constexpr auto last = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max());
    if (when >= last.count()) return std::chrono::system_clock::time_point::max();
    return std::chrono::system_clock::from_time_t(when);
}

aws_credentials credentials_from_json(const std::string& source, std::string_view body, std::string_view token_field) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    const auto* o = !ec && v.is_object() ? &v.get_object() : nullptr;
    if (!o) throw error(errc::protocol_error, source + ": the answer is not a JSON object");
    auto field = [&](std::string_view name) -> std::string {
        const auto* f = o->if_contains(name);
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
    };
    if (const auto code = field("Code"); !code.empty() && code != "Success")
        throw error(errc::auth_failed, source + ": the answer's Code is '" + code + "'");
    aws_credentials c{field("AccessKeyId"), field("SecretAccessKey"), field(token_field), std::nullopt};
    if (c.access_key_id.empty() || c.secret_access_key.empty())
        throw error(errc::protocol_error, source + ": the answer holds no AccessKeyId and SecretAccessKey");
    if (const auto expiration = field("Expiration"); !expiration.empty()) {
        c.expiration = parse_iso8601(expiration);
        if (!c.expiration) throw error(errc::protocol_error, source + ": the answer's Expiration is not a date");
    }
    return c;
}

namespace {

// Whether XML nests deeper than `limit` elements (the parser recurses once
// per level): counted from the tags, roughly, before parsing.
bool nests_deeper_than(std::string_view xml, int limit) {
    int depth = 0;
    for (std::size_t i = 0; i + 1 < xml.size(); ++i) {
        if (xml[i] == '<') {
            const char next = xml[i + 1];
            if (next == '/') --depth;
            else if (next != '?' && next != '!' && ++depth > limit) return true;
        } else if (xml[i] == '/' && xml[i + 1] == '>') {
            --depth;
        }
    }
    return false;
}

constexpr std::size_t max_sts_answer = 64 * 1024;  // an STS answer is about 2 KB
constexpr int max_sts_depth = 32;

} // namespace

aws_credentials credentials_from_sts(const std::string& source, std::string_view action, const fetch_response& r,
                                     std::string_view withheld) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    bool parsed = r.body.size() <= max_sts_answer && !nests_deeper_than(r.body, max_sts_depth);
    if (parsed) {
        try {
            std::istringstream in{std::string(r.body)};
            pt::read_xml(in, tree);
        } catch (const pt::ptree_error&) {
            parsed = false;
        }
    }
    if (r.status != 200) {
        const std::string code = parsed ? tree.get<std::string>("ErrorResponse.Error.Code", "") : "";
        const std::string message = parsed ? tree.get<std::string>("ErrorResponse.Error.Message", "") : "";
        const errc kind = r.status >= 500 ? errc::service_error : errc::auth_failed;
        std::string what = source + ": STS " + std::string(action) + " answered HTTP " + std::to_string(r.status);
        if (!code.empty()) what += " " + code;
        // STS messages name roles and ARNs; one that quotes what was sent
        // (the token, as it is or as the form carried it) is withheld.
        if (!message.empty())
            what += ": " + (quotes(message, withheld) ? std::string("(message withheld: it quotes the request)")
                                                      : message.substr(0, 300));
        throw error(kind, what);
    }
    if (!parsed) throw error(errc::protocol_error, source + ": STS " + std::string(action) + " answered with malformed XML");
    const std::string base = std::string(action) + "Response." + std::string(action) + "Result.Credentials.";
    aws_credentials c{trimmed(tree.get<std::string>(base + "AccessKeyId", "")),
                      trimmed(tree.get<std::string>(base + "SecretAccessKey", "")),
                      trimmed(tree.get<std::string>(base + "SessionToken", "")), std::nullopt};
    if (c.access_key_id.empty() || c.secret_access_key.empty() || c.session_token.empty())
        throw error(errc::protocol_error, source + ": STS " + std::string(action) + " answered without credentials");
    c.expiration = parse_iso8601(trimmed(tree.get<std::string>(base + "Expiration", "")));
    if (!c.expiration) throw error(errc::protocol_error, source + ": STS " + std::string(action) + " answered without an Expiration");
    return c;
}

std::string sts_endpoint(const std::string& region) {
    if (auto e = env("AWS_ENDPOINT_URL_STS"); !e.empty()) return e;
    if (auto e = env("AWS_ENDPOINT_URL"); !e.empty()) return e;
    std::string r = region;
    if (r.empty()) r = env("AWS_REGION");
    if (r.empty()) r = env("AWS_DEFAULT_REGION");
    if (r.empty()) r = "us-east-1";
    for (const char ch : r)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            throw error(errc::invalid_argument, "region '" + r + "' is not a valid AWS region name");
    return "https://sts." + r + ".amazonaws.com";
}

// The region STS signs with, from its endpoint when it names one.
std::string sts_signing_region(const std::string& region) {
    if (!region.empty()) return region;
    if (auto r = env("AWS_REGION"); !r.empty()) return r;
    if (auto r = env("AWS_DEFAULT_REGION"); !r.empty()) return r;
    return "us-east-1";
}

std::string default_session_name() {
    return "sds-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
}

namespace {

constexpr std::string_view form_content_type = "application/x-www-form-urlencoded; charset=utf-8";

// A POST of a form to the STS endpoint, its path "/" when it names none.
fetch_request sts_request(const std::string& source, const std::string& region, std::string body) {
    fetch_request req;
    req.verb = http::verb::post;
    req.url = sts_endpoint(region);
    const auto url = boost::urls::parse_absolute_uri(req.url);
    if (!url || !url->has_authority() || url->has_query())
        throw error(errc::invalid_argument, source + ": the STS endpoint is not a usable URL (AWS_ENDPOINT_URL_STS, "
                                                     "AWS_ENDPOINT_URL: an absolute URL without a query)");
    if (url->encoded_path().empty()) req.url += "/";
    req.timeout = sts_timeout;
    req.headers.emplace_back("Content-Type", std::string(form_content_type));
    req.headers.emplace_back("Accept", "text/xml");
    req.body = std::move(body);
    return req;
}

fetch_request web_identity_request(const std::string& source, const web_identity_params& p, const std::string& token) {
    if (p.role_arn.empty()) throw error(errc::invalid_argument, source + ": no role ARN to assume");
    if (token.empty())
        throw error(errc::invalid_argument, source + ": the web identity token file '" + p.token_file + "' is empty");
    return sts_request(source, p.region,
                       "Action=AssumeRoleWithWebIdentity&Version=" + std::string(sts_version) +
                           "&RoleArn=" + form_encode(p.role_arn) + "&RoleSessionName=" +
                           form_encode(p.session_name.empty() ? default_session_name() : p.session_name) +
                           "&WebIdentityToken=" + form_encode(token));
}

// AssumeRole, signed with `with` (service "sts").
fetch_request assume_role_request(const std::string& source, const aws_credentials& with, const assume_role_params& p) {
    std::string body = "Action=AssumeRole&Version=" + std::string(sts_version) + "&RoleArn=" + form_encode(p.role_arn) +
                       "&RoleSessionName=" + form_encode(p.session_name.empty() ? default_session_name() : p.session_name);
    if (!p.external_id.empty()) body += "&ExternalId=" + form_encode(p.external_id);
    if (p.duration_seconds > 0) body += "&DurationSeconds=" + std::to_string(p.duration_seconds);
    fetch_request req = sts_request(source, p.region, std::move(body));
    const auto url = boost::urls::parse_absolute_uri(req.url);
    const std::string host(url->encoded_host_and_port());
    const std::string path(url->encoded_path());
    const sigv4::header headers[] = {{"Host", host}, {"Content-Type", form_content_type}};
    sigv4::signing_params params;
    const std::string region = sts_signing_region(p.region);
    params.region = region;
    params.service = "sts";
    params.time = std::chrono::system_clock::now();
    const sigv4::credentials creds{with.access_key_id, with.secret_access_key, with.session_token};
    try {
        const auto s = sigv4::sign_headers({"POST", path, "", headers, req.body}, creds, params);
        req.headers.emplace_back("Host", host);
        for (const auto& f : s.fields) req.headers.emplace_back(f.name, f.value);
    } catch (const sigv4::signing_error& e) {
        throw error(errc::invalid_argument, source + ": cannot sign AssumeRole: " + e.what());
    }
    return req;
}

} // namespace

boost::asio::awaitable<aws_credentials> assume_role_with_web_identity(std::string source, web_identity_params p) {
    const std::string token = trimmed(read_file(source, "the web identity token file", p.token_file));
    fetch_request req = web_identity_request(source, p, token);
    const fetch_response r = co_await fetch_url(source, std::move(req));
    co_return credentials_from_sts(source, "AssumeRoleWithWebIdentity", r, token);
}

boost::asio::awaitable<aws_credentials> assume_role(std::string source, aws_credentials with, assume_role_params p) {
    fetch_request req = assume_role_request(source, with, p);
    const fetch_response r = co_await fetch_url(source, std::move(req));
    co_return credentials_from_sts(source, "AssumeRole", r, with.session_token);
}

namespace {

// ---------------------------------------------------------------- static and environment

class static_provider final : public aws_credentials_provider {
public:
    explicit static_provider(aws_credentials c) : c_(std::move(c)) {}
    boost::asio::awaitable<aws_credentials> fetch() override {
        if (c_.access_key_id.empty() || c_.secret_access_key.empty())
            throw error(errc::invalid_argument, "static credentials: the access key id or the secret is empty");
        co_return c_;
    }
    std::string name() const override { return "static credentials"; }

private:
    aws_credentials c_;
};

class environment_provider final : public aws_credentials_provider {
public:
    boost::asio::awaitable<aws_credentials> fetch() override {
        aws_credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN"), std::nullopt};
        if (c.access_key_id.empty() || c.secret_access_key.empty())
            throw error(errc::invalid_argument, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
        co_return c;
    }
    std::string name() const override { return "environment"; }
};

// ---------------------------------------------------------------- web identity

class web_identity_provider final : public aws_credentials_provider {
public:
    boost::asio::awaitable<aws_credentials> fetch() override {
        web_identity_params p{env("AWS_ROLE_ARN"), env("AWS_ROLE_SESSION_NAME"), env("AWS_WEB_IDENTITY_TOKEN_FILE"), {}};
        if (p.token_file.empty() || p.role_arn.empty())
            throw error(errc::invalid_argument, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set");
        co_return co_await assume_role_with_web_identity(name(), std::move(p));
    }
    std::string name() const override { return "web identity"; }
};

// ---------------------------------------------------------------- container

bool allowed_container_host(const boost::urls::url_view& u) {
    if (u.scheme() == "https") return true;
    if (u.scheme() != "http") return false;
    std::string host(u.encoded_host());
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (host == "localhost" || host == "::1" || host == "169.254.170.2" || host == "169.254.170.23" ||
        host == "fd00:ec2::23")
        return true;
    return host.starts_with("127.") && u.host_type() == boost::urls::host_type::ipv4;
}

class container_provider final : public aws_credentials_provider {
public:
    boost::asio::awaitable<aws_credentials> fetch() override {
        const std::string source = name();
        fetch_request req;
        req.timeout = container_timeout;
        req.headers.emplace_back("Accept", "application/json");
        if (const auto relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !relative.empty()) {
            if (relative.front() != '/')
                throw error(errc::invalid_argument, source + ": AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
            req.url = "http://" + std::string(container_host) + relative;
            req.allow_plain_http = true;
        } else if (const auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI"); !full.empty()) {
            const auto u = boost::urls::parse_absolute_uri(full);
            if (!u) throw error(errc::invalid_argument, source + ": AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
            if (!allowed_container_host(*u))
                throw error(errc::invalid_argument,
                            source + ": AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address, "
                                     "169.254.170.2, 169.254.170.23 or fd00:ec2::23");
            req.url = full;
            req.allow_plain_http = u->scheme() == "http";
        } else {
            throw error(errc::invalid_argument, source + ": neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
                                                         "AWS_CONTAINER_CREDENTIALS_FULL_URI is set");
        }
        std::string token;
        if (const auto file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty())
            token = trimmed(read_file(source, "the authorization token file", file));
        else
            token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        for (const char c : token)
            if (c == '\r' || c == '\n' || c == '\0')
                throw error(errc::invalid_argument, source + ": the authorization token holds a line break");
        if (!token.empty()) req.headers.emplace_back("Authorization", token);
        const fetch_response r = co_await fetch_url(source, std::move(req));
        if (r.status == 401 || r.status == 403)
            throw error(errc::auth_failed, source + ": the endpoint refused the request (HTTP " + std::to_string(r.status) + ")");
        if (r.status != 200)
            throw error(r.status >= 500 ? errc::service_error : errc::protocol_error,
                        source + ": the endpoint answered HTTP " + std::to_string(r.status));
        co_return credentials_from_json(source, r.body, "Token");
    }
    std::string name() const override { return "container credentials"; }
};

// ---------------------------------------------------------------- instance metadata

// An IMDS session: the endpoint, and the IMDSv2 token (empty: IMDSv1).
struct imds_session {
    std::string base;
    std::string token;
};

boost::asio::awaitable<imds_session> imds_open(std::string source) {
    if (env_true("AWS_EC2_METADATA_DISABLED"))
        throw error(errc::invalid_argument, source + ": off (AWS_EC2_METADATA_DISABLED)");
    imds_session s;
    s.base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (s.base.empty()) {
        std::string mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        for (auto& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (mode.empty() || mode == "ipv4") s.base = "http://169.254.169.254";
        else if (mode == "ipv6") s.base = "http://[fd00:ec2::254]";
        else throw error(errc::invalid_argument, source + ": AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6");
    }
    while (s.base.ends_with("/")) s.base.pop_back();
    // IMDSv2: a session token first.
    fetch_request req;
    req.verb = http::verb::put;
    req.url = s.base + "/latest/api/token";
    req.timeout = imds_timeout;
    req.allow_plain_http = true;
    req.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", std::string(imds_token_ttl));
    const fetch_response r = co_await fetch_url(source, std::move(req));
    if (r.status == 200) {
        s.token = trimmed(r.body);
        if (s.token.empty()) throw error(errc::protocol_error, source + ": the session token is empty");
        for (const char c : s.token)
            if (c < 0x21 || c > 0x7e) throw error(errc::protocol_error, source + ": the session token is not printable");
    } else if (r.status == 403 || r.status == 404 || r.status == 405) {
        if (env_true("AWS_EC2_METADATA_V1_DISABLED"))
            throw error(errc::auth_failed, source + ": the token request was refused (HTTP " + std::to_string(r.status) +
                                               ") and IMDSv1 is off (AWS_EC2_METADATA_V1_DISABLED)");
        // IMDSv1: the same requests without a token.
    } else {
        throw error(r.status >= 500 ? errc::service_error : errc::protocol_error,
                    source + ": the token request answered HTTP " + std::to_string(r.status));
    }
    co_return s;
}

// A GET of `path` in the session; 404 is `missing` (invalid_argument).
boost::asio::awaitable<fetch_response> imds_get(std::string source, imds_session s, std::string path,
                                                std::string missing) {
    fetch_request req;
    req.url = s.base + path;
    req.timeout = imds_timeout;
    req.allow_plain_http = true;
    if (!s.token.empty()) req.headers.emplace_back("X-aws-ec2-metadata-token", s.token);
    fetch_response r = co_await fetch_url(source, std::move(req));
    if (r.status == 404) throw error(errc::invalid_argument, source + ": " + missing + " (HTTP 404)");
    if (r.status == 401 || r.status == 403)
        throw error(errc::auth_failed, source + ": the request was refused (HTTP " + std::to_string(r.status) + ")");
    if (r.status != 200)
        throw error(r.status >= 500 ? errc::service_error : errc::protocol_error,
                    source + ": answered HTTP " + std::to_string(r.status));
    co_return r;
}

class imds_provider final : public aws_credentials_provider {
public:
    boost::asio::awaitable<aws_credentials> fetch() override {
        const std::string source = name();
        const imds_session s = co_await imds_open(source);
        const fetch_response roles =
            co_await imds_get(source, s, "/latest/meta-data/iam/security-credentials/", "the instance has no IAM role");
        std::string role = trimmed(roles.body.substr(0, roles.body.find('\n')));
        if (role.empty() || role.find_first_of("/?#% \t") != std::string::npos)
            throw error(errc::protocol_error, source + ": the role name is empty or not a path segment");
        const fetch_response creds = co_await imds_get(source, s, "/latest/meta-data/iam/security-credentials/" + role,
                                                       "the instance's role has no credentials");
        co_return credentials_from_json(source, creds.body, "Token");
    }
    std::string name() const override { return "instance metadata"; }
};

// ---------------------------------------------------------------- shared files

class profile_provider final : public aws_credentials_provider {
public:
    explicit profile_provider(std::string profile) : profile_(std::move(profile)) {}

    boost::asio::awaitable<aws_credentials> fetch() override {
        const shared_files files = shared_files::load();
        const std::string profile = profile_.empty() ? files.selected_profile() : profile_;
        co_return co_await resolve(files, profile, 0);
    }
    std::string name() const override {
        return "profile '" + (profile_.empty() ? shared_files::selected_profile_name() : profile_) + "'";
    }

private:
    static boost::asio::awaitable<aws_credentials> resolve(const shared_files& files, std::string profile, int depth) {
        const std::string source = "profile '" + profile + "'";
        if (depth > max_profile_depth)
            throw error(errc::invalid_argument, source + ": source_profile chain is longer than " +
                                                    std::to_string(max_profile_depth) + " (a cycle?)");
        const auto p = files.profile(profile);
        if (!p) throw error(errc::invalid_argument, source + ": not found in " + files.describe());
        const auto value = [&](const char* key) { return p->get(key); };
        const std::string role_arn = value("role_arn");
        const std::string region = value("region");
        if (role_arn.empty()) {
            aws_credentials c{value("aws_access_key_id"), value("aws_secret_access_key"), value("aws_session_token"),
                              std::nullopt};
            if (c.access_key_id.empty() || c.secret_access_key.empty())
                throw error(errc::invalid_argument, source + ": no aws_access_key_id and aws_secret_access_key, and no "
                                                             "role_arn");
            co_return c;
        }
        if (const auto token_file = value("web_identity_token_file"); !token_file.empty()) {
            web_identity_params w{role_arn, value("role_session_name"), token_file, region};
            co_return co_await assume_role_with_web_identity(source, std::move(w));
        }
        aws_credentials base;
        if (const auto source_profile = value("source_profile"); !source_profile.empty()) {
            if (source_profile == profile) {
                // A profile that is its own source: its keys assume its role.
                base = aws_credentials{value("aws_access_key_id"), value("aws_secret_access_key"),
                                       value("aws_session_token"), std::nullopt};
                if (base.access_key_id.empty() || base.secret_access_key.empty())
                    throw error(errc::invalid_argument, source + ": is its own source_profile but has no keys");
            } else {
                base = co_await resolve(files, source_profile, depth + 1);
            }
        } else if (const auto credential_source = value("credential_source"); !credential_source.empty()) {
            std::shared_ptr<aws_credentials_provider> from;
            if (credential_source == "Environment") from = aws_environment_credentials();
            else if (credential_source == "Ec2InstanceMetadata") from = aws_instance_metadata_credentials();
            else if (credential_source == "EcsContainer") from = aws_container_credentials();
            else
                throw error(errc::invalid_argument, source + ": credential_source must be Environment, "
                                                             "Ec2InstanceMetadata or EcsContainer");
            base = co_await from->fetch();
        } else {
            throw error(errc::invalid_argument,
                        source + ": role_arn needs source_profile, credential_source or web_identity_token_file");
        }
        assume_role_params a{role_arn, value("role_session_name"), value("external_id"), region, 0};
        if (const auto d = value("duration_seconds"); !d.empty()) {
            try {
                a.duration_seconds = std::stoi(d);
            } catch (const std::exception&) {
                throw error(errc::invalid_argument, source + ": duration_seconds is not a number");
            }
        }
        co_return co_await assume_role(source, std::move(base), std::move(a));
    }

    std::string profile_;
};

// ---------------------------------------------------------------- the default chain

// The first source that is configured, in the SDKs' order.
std::shared_ptr<aws_credentials_provider> first_aws_source() {
    if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty())
        return aws_environment_credentials();
    // A profile that holds only settings (a region, say) is no source:
    // the chain goes on, as the SDKs' does.
    if (const auto p = shared_files::load().profile(shared_files::selected_profile_name());
        p && (!p->get("aws_access_key_id").empty() || !p->get("role_arn").empty() ||
              !p->get("credential_source").empty() || !p->get("web_identity_token_file").empty()))
        return aws_profile_credentials();
    if (!env("AWS_WEB_IDENTITY_TOKEN_FILE").empty() && !env("AWS_ROLE_ARN").empty())
        return aws_web_identity_credentials();
    if (!env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() || !env("AWS_CONTAINER_CREDENTIALS_FULL_URI").empty())
        return aws_container_credentials();
    if (!env_true("AWS_EC2_METADATA_DISABLED")) return aws_instance_metadata_credentials();
    throw error(errc::invalid_argument,
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in ~/.aws "
                "(AWS_PROFILE), AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or the container credentials "
                "variables (instance metadata is off: AWS_EC2_METADATA_DISABLED)");
}

} // namespace
} // namespace detail

std::shared_ptr<aws_credentials_provider> aws_static_credentials(aws_credentials credentials) {
    return std::make_shared<detail::static_provider>(std::move(credentials));
}
std::shared_ptr<aws_credentials_provider> aws_environment_credentials() {
    return std::make_shared<detail::environment_provider>();
}
std::shared_ptr<aws_credentials_provider> aws_profile_credentials(std::string profile) {
    return std::make_shared<detail::profile_provider>(std::move(profile));
}
std::shared_ptr<aws_credentials_provider> aws_web_identity_credentials() {
    return std::make_shared<detail::web_identity_provider>();
}
std::shared_ptr<aws_credentials_provider> aws_container_credentials() {
    return std::make_shared<detail::container_provider>();
}
std::shared_ptr<aws_credentials_provider> aws_instance_metadata_credentials() {
    return std::make_shared<detail::imds_provider>();
}
std::shared_ptr<aws_credentials_provider> aws_default_credentials_chain() {
    return std::make_shared<detail::first_configured<aws_credentials_provider, aws_credentials>>(
        detail::first_aws_source, "the default credentials chain");
}

boost::asio::awaitable<std::string> aws_instance_metadata_region() {
    const std::string source = "instance metadata";
    const detail::imds_session s = co_await detail::imds_open(source);
    const detail::fetch_response r =
        co_await detail::imds_get(source, s, "/latest/meta-data/placement/region", "no region");
    const std::string region = detail::trimmed(r.body);
    if (region.empty() || region.size() > 64 ||
        region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        throw error(errc::protocol_error, source + ": the region is not a region name");
    co_return region;
}

} // namespace sds
