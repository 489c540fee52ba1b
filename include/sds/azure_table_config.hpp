// Configuration of the Azure Table Storage engine.
#pragma once

#include <sds/credentials.hpp>
#include <sds/http_options.hpp>
#include <sds/retry_options.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sds {

struct azure_table_config {
    /// Storage account name, e.g. "myaccount" ("devstoreaccount1" for the
    /// emulator). Signs every request.
    std::string account_name;
    /// The account key as Azure hands it out (base64). Decoded once, when
    /// the datastore is made. Never appears in errors or logs.
    std::string account_key;
    /// Table service endpoint. Empty: https://<account_name>.table.core.windows.net.
    /// Path-style emulator endpoints carry the account: http://127.0.0.1:10002/devstoreaccount1.
    std::string endpoint;
    /// A shared access signature (the query string, without '?'). When set,
    /// it is appended to every request and no Authorization header is sent.
    /// Like a password, it is sent over https only, unless
    /// http.allow_plain_http is set (an emulator on plain http); otherwise the
    /// datastore's constructor throws errc::invalid_argument.
    std::string sas_token;
    /// Entra ID bearer tokens (<sds/credentials.hpp>), used when there is
    /// neither an account key nor a SAS. HTTPS endpoints only.
    std::shared_ptr<azure_token_credential> token_credential;
    /// Sign with SharedKeyLite instead of SharedKey.
    bool shared_key_lite = false;
    /// How create_table waits out a table of the same name that is still
    /// being deleted (TableBeingDeleted): poll interval and the longest wait.
    std::chrono::milliseconds table_poll_interval{1000};
    std::chrono::milliseconds table_wait_timeout{std::chrono::minutes(2)};
    /// Point reads in flight at once when get_count reads a counter's shards.
    std::size_t max_concurrent_reads = 64;
    /// Rounds a counter or value write may lose to other writers (HTTP 412,
    /// ETag conflicts) before incr or set_data gives up with
    /// errc::condition_failed.
    unsigned max_write_conflicts = 100;
    http_options http;
    retry_options retry;

    /// Reads an Azure Storage connection string: "UseDevelopmentStorage=true"
    /// (the emulator at http://127.0.0.1:10002/devstoreaccount1), or
    /// DefaultEndpointsProtocol, AccountName, AccountKey, TableEndpoint,
    /// EndpointSuffix (default core.windows.net) and SharedAccessSignature,
    /// separated by ';' (names case-insensitive). Throws
    /// sds::error(errc::invalid_argument) naming the field for a malformed
    /// string; the key is never echoed.
    static azure_table_config from_connection_string(std::string_view connection_string);

    /// The configuration the Azure tools would use: AZURE_STORAGE_CONNECTION_STRING,
    /// else AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (or AZURE_STORAGE_SAS_TOKEN),
    /// else AZURE_STORAGE_ACCOUNT with Entra ID tokens from azure_default_credential();
    /// SDS_AZURE_TABLE_ENDPOINT overrides the endpoint. Reads the environment
    /// only; opens nothing. Missing credentials are reported by the first
    /// operation, not here.
    static azure_table_config from_env();
};

} // namespace sds
