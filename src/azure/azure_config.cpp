// azure_table_config::from_connection_string and from_env.
#include <sds/azure_table_config.hpp>
#include <sds/error.hpp>

#include "sds_crypto.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

namespace sds {
namespace {

// The emulator's well-known account (public, documented by Microsoft).
constexpr std::string_view dev_account = "devstoreaccount1";
constexpr std::string_view dev_key =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
constexpr std::string_view dev_table_endpoint = "http://127.0.0.1:10002/devstoreaccount1";
constexpr std::string_view default_suffix = "core.windows.net";

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

[[noreturn]] void refuse(const std::string& why) {
    throw error(errc::invalid_argument, "Azure connection string: " + why);
}

// Account names: 3 to 24 lowercase letters and digits.
void check_account_name(std::string_view name) {
    const bool ok = name.size() >= 3 && name.size() <= 24 &&
                    std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
    if (!ok) refuse("AccountName must be 3 to 24 lowercase letters and digits");
}

} // namespace

azure_table_config azure_table_config::from_connection_string(std::string_view connection_string) {
    std::optional<std::string> protocol, account, key, endpoint, suffix, sas;
    bool development = false;
    std::size_t part_number = 0;
    for (std::size_t pos = 0; pos <= connection_string.size();) {
        const std::size_t end = std::min(connection_string.find(';', pos), connection_string.size());
        const std::string_view part = trim(connection_string.substr(pos, end - pos));
        pos = end + 1;
        if (part.empty()) continue;
        ++part_number;
        const std::size_t eq = part.find('=');
        // The part itself may hold the key: it is never echoed.
        if (eq == std::string_view::npos) refuse("part " + std::to_string(part_number) + " is not name=value");
        const std::string name = lower(trim(part.substr(0, eq)));
        const std::string value(trim(part.substr(eq + 1)));
        auto set = [&](std::optional<std::string>& field, const char* shown) {
            if (field) refuse(std::string(shown) + " is given twice");
            field = value;
        };
        if (name == "usedevelopmentstorage") {
            if (lower(value) != "true") refuse("UseDevelopmentStorage must be true");
            development = true;
        } else if (name == "defaultendpointsprotocol") {
            set(protocol, "DefaultEndpointsProtocol");
        } else if (name == "accountname") {
            set(account, "AccountName");
        } else if (name == "accountkey") {
            set(key, "AccountKey");
        } else if (name == "tableendpoint") {
            set(endpoint, "TableEndpoint");
        } else if (name == "endpointsuffix") {
            set(suffix, "EndpointSuffix");
        } else if (name == "sharedaccesssignature") {
            set(sas, "SharedAccessSignature");
        }
        // Other services' endpoints (BlobEndpoint, QueueEndpoint, ...) are not ours.
    }

    azure_table_config c;
    if (development) {
        if (account || key || sas) refuse("UseDevelopmentStorage=true takes no AccountName, AccountKey or SharedAccessSignature");
        c.account_name = dev_account;
        c.account_key = dev_key;
        c.endpoint = endpoint ? *endpoint : std::string(dev_table_endpoint);
        return c;
    }
    if (protocol && lower(*protocol) != "http" && lower(*protocol) != "https")
        refuse("DefaultEndpointsProtocol must be http or https");
    if (account) check_account_name(*account);
    if (key) {
        if (key->empty() || !crypto::base64_decode(*key)) refuse("AccountKey is not valid base64");
        if (!account) refuse("AccountKey needs an AccountName");
    }
    if (sas) {
        if (!sas->empty() && sas->front() == '?') sas->erase(0, 1);
        if (sas->empty()) refuse("SharedAccessSignature is empty");
    }
    if (!key && !sas) refuse("it has neither AccountKey nor SharedAccessSignature");
    if (suffix && suffix->empty()) refuse("EndpointSuffix is empty");
    if (endpoint) {
        if (endpoint->empty()) refuse("TableEndpoint is empty");
        c.endpoint = *endpoint;
    } else {
        if (!account) refuse("it has neither TableEndpoint nor AccountName");
        c.endpoint = (protocol ? lower(*protocol) : std::string("https")) + "://" + *account + ".table." +
                     (suffix ? *suffix : std::string(default_suffix));
    }
    if (account) c.account_name = *account;
    if (key) c.account_key = *key;
    if (sas) c.sas_token = *sas;
    return c;
}

azure_table_config azure_table_config::from_env() {
    auto env = [](const char* name) -> std::string {
        const char* v = std::getenv(name);
        return v ? std::string(v) : std::string();
    };
    azure_table_config c;
    if (const auto cs = env("AZURE_STORAGE_CONNECTION_STRING"); !cs.empty()) {
        c = from_connection_string(cs);
    } else {
        c.account_name = env("AZURE_STORAGE_ACCOUNT");
        c.account_key = env("AZURE_STORAGE_KEY");
        c.sas_token = env("AZURE_STORAGE_SAS_TOKEN");
        if (!c.sas_token.empty() && c.sas_token.front() == '?') c.sas_token.erase(0, 1);
        if (!c.account_name.empty() && c.account_key.empty() && c.sas_token.empty())
            c.token_credential = azure_default_credential();
    }
    if (const auto e = env("SDS_AZURE_TABLE_ENDPOINT"); !e.empty()) c.endpoint = e;
    return c;
}

} // namespace sds
