// Secrets never appear in what an error tells: its what(), its summary, its
// diagnostics. Every error path reachable from a datastore is driven with
// known, distinctive secrets (an AWS secret access key and session token, an
// Azure account key, a SAS, connection strings holding them, endpoints that
// carry them) and a server that echoes everything it was sent (as AWS does
// with the canonical request of a refused signature, and Azure with the
// signature it found). All the output is searched for each secret in raw,
// hex (both cases), base64 (every alignment) and URL-encoded form, and for
// the signatures the requests carried.
#include <catch2/catch.hpp>

#include "datastore_access.hpp"
#include "support/expect_error.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"
#include "support/secret_search.hpp"
#include "transport/redaction.hpp"

#include <sds/azure_table_config.hpp>
#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using sds::errc;
using sds::test::base64_decode;
using sds::test::check_clean;
using sds::test::everything_in;
using sds::test::expect_error;
using sds::test::fake_transport;
using sds::test::forms_of;
using sds::test::secret;
using sds::test::url_encode;

namespace {

// ---------------------------------------------------------------- the secrets

const std::string aws_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYsdsSECRETkey";
const std::string aws_token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsdsTESTtoken+never/print==";
// 64 bytes, as Azure's account keys are.
const std::string azure_key =
    "xdcUhPjPm/S3b0eQRzCAS54yJanxM7XeoWj04oUfBy/MAPyqfKYgYXF6SOUuKaP6N5qVP6pok+MuxaJ7lF5gXw==";
const std::string sas_sig = "pU3KGCUwux1tEyze1iN7LtkeP3IfyxlxF0SU1kk8nVw=";

const std::string sas_token = "sv=2019-02-02&ss=t&srt=sco&sp=rwdlacu&se=2030-01-01T00:00:00Z&spr=https&sig=" +
                              url_encode(sas_sig);

// The secrets every test searches for.
std::vector<secret> known_secrets() {
    return {{"the AWS secret access key", aws_secret},
            {"the AWS session token", aws_token},
            {"the Azure account key", azure_key},
            {"the Azure account key's bytes", base64_decode(azure_key)},
            {"the SAS signature", sas_sig},
            {"the SAS signature's bytes", base64_decode(sas_sig)},
            {"the SAS", sas_token}};
}

// ---------------------------------------------------------------- configurations

sds::dynamodb_config dynamodb_config_with_secrets() {
    sds::dynamodb_config c;
    c.region = "us-east-1";
    c.credentials = {"AKIDSECRETSTEST", aws_secret, aws_token};
    c.retry.max_attempts = 2;
    c.retry.base_delay = 1ms;
    c.retry.throttle_base_delay = 1ms;
    c.retry.max_backoff = 2ms;
    c.retry.retry_quota = false;
    c.table_poll_interval = 1ms;
    return c;
}

sds::azure_table_config azure_config_with_key() {
    sds::azure_table_config c;
    c.account_name = "devstoreaccount1";
    c.account_key = azure_key;
    c.retry.max_attempts = 2;
    c.retry.base_delay = 1ms;
    c.retry.throttle_base_delay = 1ms;
    c.retry.max_backoff = 2ms;
    c.retry.retry_quota = false;
    c.table_poll_interval = 1ms;
    c.table_wait_timeout = 50ms;
    return c;
}

sds::azure_table_config azure_config_with_sas() {
    auto c = azure_config_with_key();
    c.account_key.clear();
    c.sas_token = sas_token;
    c.http.allow_plain_http = true;  // the fake servers are plain http
    return c;
}

// ---------------------------------------------------------------- operations

enum class op { create_table, delete_table, list_tables, update_throughput, set_text, set_bytes, get_data, get_value,
                delete_data, incr, incr_sharded, get_count, delete_counter };
constexpr op all_ops[] = {op::create_table, op::delete_table, op::list_tables, op::update_throughput,
                          op::set_text,     op::set_bytes,    op::get_data,    op::get_value,
                          op::delete_data,  op::incr,         op::incr_sharded, op::get_count,
                          op::delete_counter};

const char* name_of(op o) {
    switch (o) {
    case op::create_table: return "create_table";
    case op::delete_table: return "delete_table";
    case op::list_tables: return "list_tables";
    case op::update_throughput: return "update_throughput";
    case op::set_text: return "set_data(text)";
    case op::set_bytes: return "set_data(bytes)";
    case op::get_data: return "get_data";
    case op::get_value: return "get_value";
    case op::delete_data: return "delete_data";
    case op::incr: return "incr";
    case op::incr_sharded: return "incr of 5 shards";
    case op::get_count: return "get_count";
    case op::delete_counter: return "delete_counter";
    }
    return "?";
}

asio::awaitable<void> perform(sds::datastore& db, op o) {
    sds::operation_options plain;
    plain.timeout = 30000ms;
    sds::read_options read;
    read.timeout = 30000ms;
    sds::incr_options inc;
    inc.timeout = 30000ms;
    switch (o) {
    case op::create_table: {
        sds::table_options t;
        t.timeout = 30000ms;
        co_await db.create_table("tbl", t);
        break;
    }
    case op::delete_table: co_await db.delete_table("tbl", plain); break;
    case op::list_tables: {
        const auto names = co_await db.list_tables(plain);
        (void)names;
        break;
    }
    case op::update_throughput: co_await db.update_throughput("tbl", 5, 5, plain); break;
    case op::set_text: co_await db.set_data("tbl", "k", std::string("v"), plain); break;
    case op::set_bytes: {
        const sds::bytes data{1, 2, 3};
        co_await db.set_data("tbl", "k", data, plain);
        break;
    }
    case op::get_data: {
        const auto v = co_await db.get_data("tbl", "k", read);
        (void)v;
        break;
    }
    case op::get_value: {
        const auto v = co_await db.get_value("tbl", "k", read);
        (void)v;
        break;
    }
    case op::delete_data: co_await db.delete_data("tbl", "k", plain); break;
    case op::incr: {
        const auto n = co_await db.incr("tbl", "hits", inc);
        (void)n;
        break;
    }
    case op::incr_sharded: {
        inc.shard_count = 5;
        const auto n = co_await db.incr("tbl", "hits", inc);
        (void)n;
        break;
    }
    case op::get_count: {
        const auto n = co_await db.get_count("tbl", "hits", read);
        (void)n;
        break;
    }
    case op::delete_counter: co_await db.delete_counter("tbl", "hits", plain); break;
    }
}

template <class Config>
asio::awaitable<void> run_on(Config config, std::shared_ptr<fake_transport> fake, op o) {
    const auto ex = co_await asio::this_coro::executor;
    sds::datastore db = sds::detail::datastore_access::make(ex, std::move(config), fake);
    co_await perform(db, o);
}

// The outcome of one operation: all its error told, and the requests sent.
struct outcome {
    std::optional<sds::error> error;
    std::string text;  // everything the error (or another exception) told
    std::vector<sds::detail::http_request> requests;
};

template <class Config>
outcome attempt(const Config& config, op o, const std::function<void(fake_transport&)>& script) {
    constexpr bool azure = std::is_same_v<Config, sds::azure_table_config>;
    auto fake = std::make_shared<fake_transport>(azure ? "http://127.0.0.1:10002/devstoreaccount1"
                                                       : "http://127.0.0.1:8000");
    script(*fake);
    outcome out;
    try {
        sds::test::run([&](auto&) { return run_on(config, fake, o); });
    } catch (const sds::error& e) {
        out.error = e;
        out.text = everything_in(e);
    } catch (const std::exception& e) {
        out.text = e.what();
    }
    out.requests = fake->requests();
    return out;
}

std::string header(const sds::detail::http_request& r, std::string_view name) {
    const auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string() : std::string(it->value());
}

// The signatures the requests carried: secrets too (a signature authorizes
// its request until it expires).
std::vector<secret> signatures_of(const std::vector<sds::detail::http_request>& requests) {
    std::vector<secret> out;
    for (const auto& r : requests) {
        const std::string auth = header(r, "Authorization");
        if (const auto p = auth.find("Signature="); p != std::string::npos)
            out.push_back({"a SigV4 signature sent", auth.substr(p + 10)});
        else if (const auto c = auth.rfind(':'); c != std::string::npos)
            out.push_back({"a SharedKey signature sent", auth.substr(c + 1)});
    }
    return out;
}

// All of a request as text: what a server that echoes its input could say.
std::string dump(const sds::detail::http_request& r) {
    std::string s = std::string(r.method_string()) + " " + std::string(r.target()) + "\n";
    for (const auto& f : r) s += std::string(f.name_string()) + ":" + std::string(f.value()) + "\n";
    // Query values decoded, as a server would quote them.
    const std::string target(r.target());
    if (const auto q = target.find('?'); q != std::string::npos) {
        std::string decoded;
        for (std::size_t i = q + 1; i < target.size(); ++i) {
            if (target[i] == '%' && i + 2 < target.size()) {
                decoded.push_back(static_cast<char>(std::stoi(target.substr(i + 1, 2), nullptr, 16)));
                i += 2;
            } else {
                decoded.push_back(target[i]);
            }
        }
        s += "query:" + decoded + "\n";
    }
    return s + r.body();
}

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

// How an echoing server answers.
enum class echo { auth_failed, validation, server_error, throttled, not_found, not_json };

const char* name_of(echo e) {
    switch (e) {
    case echo::auth_failed: return "403 echoing the request";
    case echo::validation: return "400 echoing the request";
    case echo::server_error: return "503 echoing the request";
    case echo::throttled: return "throttling echoing the request";
    case echo::not_found: return "404 echoing the request";
    case echo::not_json: return "200 whose body is the request";
    }
    return "?";
}

// A DynamoDB that echoes the request in its error's message, code and
// request id, as AWS quotes the canonical request of a refused signature.
fake_transport::step dynamodb_echo(echo how, const sds::detail::http_request& r) {
    const std::string all = dump(r);
    const std::string line = one_line(all);
    std::string type;
    unsigned status = 400;
    switch (how) {
    case echo::auth_failed: type = "InvalidSignatureException"; status = 403; break;
    case echo::validation: type = "ValidationException"; break;
    case echo::server_error: type = "InternalServerError"; status = 503; break;
    case echo::throttled: type = "ThrottlingException"; break;
    case echo::not_found: type = "ResourceNotFoundException"; break;
    case echo::not_json: return fake_transport::response(200, all, {{"x-amzn-RequestId", line}});
    }
    const std::string message =
        "The request signature we calculated does not match the signature you provided.\n\nThe Canonical String "
        "for this request should have been\n'" + all + "'\n";
    json::object body{{"__type", "com.amazon.coral.service#" + type}, {"message", message}};
    // A second error carries the echo in its code (the part of __type before ':' is the code).
    if (how == echo::validation) body["__type"] = "com.amazon.coral.service#" + header(r, "X-Amz-Security-Token");
    return fake_transport::response(status, json::serialize(body),
                                    {{"x-amzn-RequestId", line}, {"x-amzn-ErrorType", type + ":" + line}});
}

// An Azure Table service that echoes the request: the first line of its
// message quotes the signature it found and the URL with its SAS, as the
// service's AuthenticationFailed does; the code and request id headers echo too.
fake_transport::step azure_echo(echo how, const sds::detail::http_request& r) {
    const std::string line = one_line(dump(r));
    std::string code;
    unsigned status = 400;
    switch (how) {
    case echo::auth_failed: code = "AuthenticationFailed"; status = 403; break;
    case echo::validation: code = line; break;
    case echo::server_error: code = "InternalError"; status = 503; break;
    case echo::throttled: code = "ServerBusy"; status = 503; break;
    case echo::not_found: code = "TableNotFound"; status = 404; break;
    case echo::not_json: return fake_transport::response(200, dump(r), {{"x-ms-request-id", line}, {"ETag", line}});
    }
    const std::string message = "Server failed to authenticate the request. The MAC signature found in the HTTP "
                                "request is not the same as any computed signature: " + line + "\nRequestId:x\nTime:y";
    json::object body{{"odata.error", {{"code", code}, {"message", {{"lang", "en-US"}, {"value", message}}}}}};
    return fake_transport::response(status, json::serialize(body),
                                    {{"x-ms-request-id", line}, {"x-ms-error-code", code}});
}

// Counts the answers that carried a secret back, to prove the echo happened.
struct echo_count {
    std::size_t with_secret = 0;
};

// Whether a response to `r` carries one of the secrets, or the signature of `r`.
bool holds_a_secret(const fake_transport::step& answer, const sds::detail::http_request& r) {
    std::string text = answer.result.response.body();
    for (const auto& h : answer.result.response) text += std::string(h.value());
    auto secrets = known_secrets();
    for (auto& s : signatures_of({r})) secrets.push_back(std::move(s));
    for (const auto& s : secrets)
        for (const auto& f : forms_of(s.value))
            if (f.size() >= 12 && text.find(f) != std::string::npos) return true;
    return false;
}

} // namespace

TEST_CASE("an error answered by a server that echoes the request carries no secret, on DynamoDB", "[secrets]") {
    for (const echo how : {echo::auth_failed, echo::validation, echo::server_error, echo::throttled, echo::not_found,
                           echo::not_json}) {
        auto echoed = std::make_shared<echo_count>();
        for (const op o : all_ops) {
            INFO(name_of(how) << ", " << name_of(o));
            const auto out = attempt(dynamodb_config_with_secrets(), o, [&](fake_transport& f) {
                f.answer_with([how, echoed](const sds::detail::http_request& r) {
                    auto s = dynamodb_echo(how, r);
                    if (holds_a_secret(s, r)) ++echoed->with_secret;
                    return s;
                });
            });
            REQUIRE_FALSE(out.requests.empty());
            INFO(out.text);
            auto secrets = known_secrets();
            for (auto& s : signatures_of(out.requests)) secrets.push_back(std::move(s));
            check_clean(out.text, secrets);
        }
        CHECK(echoed->with_secret > 0);  // the server did echo a secret
    }
}

TEST_CASE("an error answered by a server that echoes the request carries no secret, on Azure with a key or a SAS",
          "[secrets]") {
    for (const bool with_sas : {false, true}) {
        for (const echo how : {echo::auth_failed, echo::validation, echo::server_error, echo::throttled,
                               echo::not_found, echo::not_json}) {
            auto echoed = std::make_shared<echo_count>();
            for (const op o : all_ops) {
                if (o == op::update_throughput) continue;  // refused before sending on Azure
                INFO((with_sas ? "SAS, " : "key, ") << name_of(how) << ", " << name_of(o));
                const auto out = attempt(with_sas ? azure_config_with_sas() : azure_config_with_key(), o,
                                         [&](fake_transport& f) {
                                             f.answer_with([how, echoed](const sds::detail::http_request& r) {
                                                 auto s = azure_echo(how, r);
                                                 if (holds_a_secret(s, r)) ++echoed->with_secret;
                                                 return s;
                                             });
                                         });
                REQUIRE_FALSE(out.requests.empty());
                INFO(out.text);
                auto secrets = known_secrets();
                for (auto& s : signatures_of(out.requests)) secrets.push_back(std::move(s));
                check_clean(out.text, secrets);
            }
            CHECK(echoed->with_secret > 0);  // the signature or the SAS went out, and came back
        }
    }
}

TEST_CASE("transport failures carry no secret", "[secrets]") {
    const std::vector<std::pair<boost::system::error_code, bool>> failures{
        {asio::error::connection_refused, false},
        {asio::error::connection_reset, true},
        {asio::error::host_not_found, false},
        {boost::beast::error::timeout, false},
        {boost::beast::error::timeout, true},
        {asio::ssl::error::stream_truncated, true},
        {boost::system::error_code(336134278, asio::error::get_ssl_category()), false},
        {boost::beast::http::error::body_limit, true},
        {boost::beast::http::error::bad_field, true},
    };
    for (const auto& [ec, written] : failures) {
        for (const op o : all_ops) {
            INFO(ec.message() << ", " << name_of(o));
            auto script = [&, ec = ec, written = written](fake_transport& f) {
                for (int i = 0; i < 4; ++i) f.fail(ec, written);
            };
            auto out = attempt(dynamodb_config_with_secrets(), o, script);
            check_clean(out.text, known_secrets());
            if (o == op::update_throughput) continue;
            out = attempt(azure_config_with_key(), o, script);
            check_clean(out.text, known_secrets());
            out = attempt(azure_config_with_sas(), o, script);
            check_clean(out.text, known_secrets());
        }
    }
}

TEST_CASE("signing failures and missing credentials carry no secret", "[secrets]") {
    for (const op o : all_ops) {
        INFO(name_of(o));
        auto d = dynamodb_config_with_secrets();
        d.credentials.session_token = aws_token + " \n";  // blanks: refused by the signer
        auto out = attempt(d, o, [](fake_transport&) {});
        CHECK(out.requests.empty());
        check_clean(out.text, known_secrets());

        d = dynamodb_config_with_secrets();
        d.credentials.access_key_id = "AKID/" + aws_secret;
        out = attempt(d, o, [](fake_transport&) {});
        CHECK(out.requests.empty());
        check_clean(out.text, known_secrets());

        d = dynamodb_config_with_secrets();
        d.credentials.access_key_id.clear();
        out = attempt(d, o, [](fake_transport&) {});
        CHECK(out.requests.empty());
        check_clean(out.text, known_secrets());

        d = dynamodb_config_with_secrets();
        d.region = "us/" + aws_secret;  // the region is in the credential scope
        out = attempt(d, o, [](fake_transport&) {});
        CHECK(out.requests.empty());
        check_clean(out.text, known_secrets());

        if (o == op::update_throughput) continue;
        auto a = azure_config_with_key();
        a.account_name = "Not_A_Valid_Name";  // refused by the SharedKey signer
        out = attempt(a, o, [](fake_transport&) {});
        CHECK(out.requests.empty());
        check_clean(out.text, known_secrets());
    }
}

TEST_CASE("malformed keys, SAS tokens and endpoints that hold secrets are refused without echoing them",
          "[secrets]") {
    asio::io_context io;
    std::vector<std::string> texts;
    auto refused = [&](const auto& config) {
        try {
            sds::datastore db(io.get_executor(), config);
            FAIL("the configuration was accepted");
        } catch (const sds::error& e) {
            CHECK(e.condition() == errc::invalid_argument);
            texts.push_back(everything_in(e));
        }
    };
    for (const std::string& url : {"https://AKIDSECRETSTEST:" + url_encode(aws_secret) + "@dynamodb.us-east-1.amazonaws.com/",
                                   "https://" + url_encode(aws_secret) + "@127.0.0.1:9/",
                                   "https://127.0.0.1:9/?X-Amz-Security-Token=" + url_encode(aws_token),
                                   "https://127.0.0.1:9/#" + aws_secret, "ftp://user:" + url_encode(aws_secret) + "@host/",
                                   "not a url " + aws_secret, "http://127.0.0.1:9/ " + aws_token,
                                   "http://127.0.0.1:9/?" + sas_token, "https://devstoreaccount1:" + url_encode(azure_key) + "@127.0.0.1:9/"}) {
        INFO(url);
        auto d = dynamodb_config_with_secrets();
        d.endpoint = url;
        refused(d);
        auto a = azure_config_with_key();
        a.endpoint = url;
        refused(a);
        auto s = azure_config_with_sas();
        s.endpoint = url;
        refused(s);
    }
    for (const std::string& key : {azure_key + "*", "*" + azure_key, azure_key.substr(0, 87) + "A=", azure_key + azure_key,
                                   azure_key.substr(0, 86) + " " + azure_key.substr(86)}) {
        auto a = azure_config_with_key();
        a.account_key = key;
        refused(a);
    }
    for (const std::string& sas : {sas_token + " ", sas_token + "\r\nX: y", sas_token + "#frag", "sig=" + sas_sig + "%G1"}) {
        auto a = azure_config_with_sas();
        a.sas_token = sas;
        refused(a);
    }
    // Connection strings: refused by the field, or accepted and then refused by the datastore.
    for (const std::string& cs : {
             "AccountName=Bad_Name;AccountKey=" + azure_key,
             "AccountKey=" + azure_key,
             "AccountName=myaccount;AccountKey=" + azure_key + ";AccountKey=" + azure_key,
             "AccountName=myaccount;" + azure_key.substr(0, 86),
             "AccountName=myaccount;AccountKey=" + azure_key + "*",
             "DefaultEndpointsProtocol=ftp;AccountName=myaccount;AccountKey=" + azure_key,
             "UseDevelopmentStorage=true;AccountKey=" + azure_key,
             "UseDevelopmentStorage=true;SharedAccessSignature=" + sas_token,
             "TableEndpoint=https://x.table.core.windows.net;SharedAccessSignature=" + sas_token + ";SharedAccessSignature=" + sas_token,
             "AccountName=myaccount;AccountKey=" + azure_key + ";TableEndpoint=https://u:" + url_encode(azure_key) + "@127.0.0.1:9",
             "AccountName=myaccount;AccountKey=" + azure_key + ";TableEndpoint=http://127.0.0.1:9/?" + sas_token,
             "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;SharedAccessSignature=" + sas_token + " x",
             "AccountName=myaccount;AccountKey=" + azure_key + ";EndpointSuffix=",
         }) {
        INFO(cs);
        try {
            const auto config = sds::azure_table_config::from_connection_string(cs);
            refused(config);
        } catch (const sds::error& e) {
            CHECK(e.condition() == errc::invalid_argument);
            texts.push_back(everything_in(e));
        }
    }
    CHECK(texts.size() > 40);
    for (const auto& t : texts) check_clean(t, known_secrets());
}

TEST_CASE("secrets_in finds the signature, the session token and SAS signatures a request carries", "[secrets]") {
    using sds::detail::http_request;
    namespace http = boost::beast::http;
    http_request aws{http::verb::post, "/", 11};
    const std::string sig(64, 'a');
    aws.set(http::field::authorization,
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + sig);
    aws.set("X-Amz-Security-Token", aws_token);
    auto found = sds::detail::secrets_in(aws);
    CHECK(std::find(found.begin(), found.end(), sig) != found.end());
    CHECK(std::find(found.begin(), found.end(), aws_token) != found.end());

    http_request azure{http::verb::get, "/devstoreaccount1/tbl()?" + sas_token + "&NextTableName=abcdefghijk", 11};
    azure.set(http::field::authorization, "SharedKey devstoreaccount1:" + sas_sig);
    found = sds::detail::secrets_in(azure);
    CHECK(std::find(found.begin(), found.end(), sas_sig) != found.end());            // decoded, and the SharedKey one
    CHECK(std::find(found.begin(), found.end(), url_encode(sas_sig)) != found.end());  // as sent
    // Other parameters are not secrets.
    CHECK(std::find(found.begin(), found.end(), "abcdefghijk") == found.end());
    CHECK(std::find(found.begin(), found.end(), "2019-02-02") == found.end());

    // Too short to tell from ordinary text: left alone.
    http_request tiny{http::verb::get, "/?sig=abc", 11};
    tiny.set("X-Amz-Security-Token", "tok");
    CHECK(sds::detail::secrets_in(tiny).empty());
}

TEST_CASE("redact replaces every occurrence, the longest secret first", "[secrets]") {
    std::string text = "token " + aws_token + " again " + aws_token + " and its head " + aws_token.substr(0, 20);
    sds::detail::redact(text, {aws_token.substr(0, 20), aws_token});  // the part first: the whole still goes
    CHECK(text == "token [redacted] again [redacted] and its head [redacted]");
    std::string untouched = "nothing to hide";
    sds::detail::redact(untouched, {aws_token});
    CHECK(untouched == "nothing to hide");
}
