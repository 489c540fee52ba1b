// Azure Storage connection strings
// (azure_table_config::from_connection_string): a config or
// sds::error(invalid_argument), with a message that does not depend on the
// key or the SAS (support/other_secret.hpp). A config that comes out is
// taken as far as a datastore takes it: its endpoint is parsed and an engine
// is made over it (a key that does not decode is invalid_argument there).
//
// Input: the connection string.
#include "azure/azure_engine.hpp"
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "support/other_secret.hpp"
#include "support/scripted_transport.hpp"

#include <sds/azure_table_config.hpp>
#include <sds/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using sds::fuzz::finding;

// `cs` with the values of AccountKey and SharedAccessSignature replaced by
// other secrets of the same shape.
std::string with_other_secrets(std::string_view cs) {
    std::string out(cs);
    for (std::size_t pos = 0; pos <= cs.size();) {
        const std::size_t end = std::min(cs.find(';', pos), cs.size());
        const std::string_view part = cs.substr(pos, end - pos);
        const std::size_t eq = part.find('=');
        if (eq != std::string_view::npos) {
            std::string name;
            for (char c : part.substr(0, eq))
                if (!std::isspace(static_cast<unsigned char>(c)))
                    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
            if (name == "accountkey" || name == "sharedaccesssignature")
                out.replace(pos + eq + 1, part.size() - eq - 1, sds::fuzz::other_secret(part.substr(eq + 1)));
        }
        pos = end + 1;
    }
    return out;
}

// Everything a datastore does with a connection string before it sends
// anything: the error message, or nothing when it all works.
std::optional<std::string> take(std::string_view cs) {
    try {
        const auto config = sds::azure_table_config::from_connection_string(cs);
        if (config.endpoint.empty()) finding("a config without an endpoint");
        if (config.account_key.empty() && config.sas_token.empty()) finding("a config without credentials");
        if (!config.sas_token.empty() && config.sas_token.front() == '?') finding("a SAS kept its '?'");
        auto transport = std::make_shared<sds::fuzz::scripted_transport>(
            std::deque<std::string_view>{}, false, config.http.max_response_body, config.endpoint);
        (void)sds::detail::make_azure_engine(transport, config);
    } catch (const sds::error& e) {
        if (e.condition() != sds::errc::invalid_argument) finding(std::string("unexpected error: ") + e.what());
        return e.what();
    }
    return std::nullopt;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = sds::fuzz::text_of(data, size);
    const auto message = take(input);
    if (!message) return 0;
    // The same string with other secrets, where it fails too, fails alike.
    const auto other = take(with_other_secrets(input));
    if (other && *other != *message) finding("an error shows the key or the SAS");
    return 0;
}
