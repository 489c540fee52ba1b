#include "command_line.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <system_error>

namespace sds::cli {

const std::string_view usage =
    R"(usage: sds [--engine dynamodb|azure] [--endpoint URL] [--timeout MS] COMMAND ARGS...

commands:
  create-table TABLE [--read N --write N | --on-demand]
  delete-table TABLE
  list-tables                 prints one table name per line
  set TABLE KEY VALUE [--binary]
                              VALUE "-" reads standard input, all of it, as text;
                              --binary stores the value as bytes
  get TABLE KEY               prints the value; exit 1 if there is none
  delete TABLE KEY
  incr TABLE COUNTER [--amount N] [--shards N] [--exactly-once | --no-exactly-once]
                              prints the value incr returned; exactly once
                              is the default (--no-exactly-once: a plain
                              DynamoDB ADD, ambiguous if its outcome is unknown)
  count TABLE COUNTER         prints the counter's total
  delete-counter TABLE COUNTER

options:
  --engine NAME    dynamodb or azure (default: $SDS_ENGINE, else dynamodb)
  --endpoint URL   the service endpoint (dynamodb: $AWS_ENDPOINT_URL_DYNAMODB,
                   else $AWS_ENDPOINT_URL, else the profile's, else AWS's
                   endpoint for the region;
                   azure: the connection string's, else $SDS_AZURE_TABLE_ENDPOINT,
                   else https://$AZURE_STORAGE_ACCOUNT.table.core.windows.net)
  --timeout MS     a deadline for the operation, retries included
  --help           print this help
  --               ends the options (for a VALUE that starts with "--")

Credentials: dynamodb from AWS's default chain, as the AWS CLI finds them:
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else
the AWS_PROFILE profile of ~/.aws/credentials and ~/.aws/config, else web
identity, the container endpoint or instance metadata. The region:
AWS_REGION, else AWS_DEFAULT_REGION, else the profile's, else us-east-1 with
an endpoint named, else the instance's (instance metadata). azure from
AZURE_STORAGE_CONNECTION_STRING, else
AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN
(https only), else with Entra ID tokens (AZURE_TENANT_ID, AZURE_CLIENT_ID
and AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, else a managed
identity). https endpoints trust the system's CA store (SSL_CERT_FILE).
Table names containing '%' are UTC strftime patterns.

Exit status: 0 ok, 1 not found, 2 usage or invalid argument,
3 service or network error.
)";

namespace {

struct option_spec {
    std::string_view name;
    bool takes_value;
};

constexpr std::array<option_spec, 12> known_options{{
    {"engine", true},
    {"endpoint", true},
    {"timeout", true},
    {"help", false},
    {"read", true},
    {"write", true},
    {"on-demand", false},
    {"binary", false},
    {"amount", true},
    {"shards", true},
    {"exactly-once", false},
    {"no-exactly-once", false},
}};

// Options every command accepts.
constexpr std::array<std::string_view, 3> global_options{"engine", "endpoint", "timeout"};

struct command_spec {
    std::string_view name;
    command what;
    std::vector<std::string_view> operands;
    std::vector<std::string_view> options;
};

const std::vector<command_spec>& known_commands() {
    static const std::vector<command_spec> commands{
        {"create-table", command::create_table, {"TABLE"}, {"read", "write", "on-demand"}},
        {"delete-table", command::delete_table, {"TABLE"}, {}},
        {"list-tables", command::list_tables, {}, {}},
        {"set", command::set, {"TABLE", "KEY", "VALUE"}, {"binary"}},
        {"get", command::get, {"TABLE", "KEY"}, {}},
        {"delete", command::delete_data, {"TABLE", "KEY"}, {}},
        {"incr", command::incr, {"TABLE", "COUNTER"}, {"amount", "shards", "exactly-once", "no-exactly-once"}},
        {"count", command::count, {"TABLE", "COUNTER"}, {}},
        {"delete-counter", command::delete_counter, {"TABLE", "COUNTER"}, {}},
    };
    return commands;
}

template <typename Names>
bool contains(const Names& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

struct given_option {
    std::string_view name;
    std::string value;
};

// The longest deadline --timeout accepts: one day, far below where adding it
// to a clock's time point could overflow.
constexpr std::int64_t max_timeout_ms = 24 * 60 * 60 * 1000;

} // namespace

std::int64_t parse_integer(std::string_view text, std::string_view what, std::int64_t min, std::int64_t max) {
    std::int64_t n = 0;
    const char* const end = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), end, n);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && stop == end && (n < min || n > max)))
        throw usage_error(std::string(what) + ": " + std::string(text) + " is out of range (" + std::to_string(min) +
                          " to " + std::to_string(max) + ")");
    if (ec != std::errc{} || stop != end)
        throw usage_error(std::string(what) + ": '" + std::string(text) + "' is not an integer");
    return n;
}

command_line parse(std::span<const char* const> args) {
    command_line result;
    std::optional<std::string_view> command_name;
    std::vector<given_option> options;
    bool options_ended = false;

    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (!options_ended && arg == "--") {
            options_ended = true;
            continue;
        }
        if (options_ended || !arg.starts_with("--")) {
            if (!command_name)
                command_name = arg;
            else
                result.args.emplace_back(arg);
            continue;
        }

        // --name, --name VALUE or --name=VALUE
        std::string_view name = arg.substr(2);
        std::optional<std::string> value;
        if (const auto eq = name.find('='); eq != std::string_view::npos) {
            value = std::string(name.substr(eq + 1));
            name = name.substr(0, eq);
        }
        const auto spec = std::find_if(known_options.begin(), known_options.end(),
                                       [&](const option_spec& o) { return o.name == name; });
        if (spec == known_options.end()) throw usage_error("unknown option '" + std::string(arg) + "'");
        if (spec->takes_value && !value) {
            if (i + 1 == args.size()) throw usage_error("option --" + std::string(name) + " needs a value");
            value = args[++i];
        }
        if (!spec->takes_value && value) throw usage_error("option --" + std::string(name) + " takes no value");
        if (name == "help") {
            result.help = true;
            return result;
        }
        options.push_back({spec->name, value.value_or("")});
    }

    if (!command_name) throw usage_error("no command given");
    const auto& commands = known_commands();
    const auto spec = std::find_if(commands.begin(), commands.end(),
                                   [&](const command_spec& c) { return c.name == *command_name; });
    if (spec == commands.end()) throw usage_error("unknown command '" + std::string(*command_name) + "'");
    result.what = spec->what;

    if (result.args.size() < spec->operands.size())
        throw usage_error(std::string(spec->name) + ": missing " + std::string(spec->operands[result.args.size()]));
    if (result.args.size() > spec->operands.size())
        throw usage_error(std::string(spec->name) + ": unexpected argument '" + result.args[spec->operands.size()] +
                          "'");

    for (const auto& [name, value] : options) {
        if (!contains(global_options, name) && !contains(spec->options, name))
            throw usage_error("option --" + std::string(name) + " does not apply to " + std::string(spec->name));
        const std::string flag = "--" + std::string(name);
        if (name == "engine") {
            result.engine = value;
        } else if (name == "endpoint") {
            if (value.empty()) throw usage_error("--endpoint needs a URL");
            result.endpoint = value;
        } else if (name == "timeout") {
            result.timeout = std::chrono::milliseconds(parse_integer(value, flag, 1, max_timeout_ms));
        } else if (name == "read") {
            result.read = parse_integer(value, flag, 1, std::numeric_limits<std::int64_t>::max());
        } else if (name == "write") {
            result.write = parse_integer(value, flag, 1, std::numeric_limits<std::int64_t>::max());
        } else if (name == "on-demand") {
            result.on_demand = true;
        } else if (name == "binary") {
            result.binary = true;
        } else if (name == "amount") {
            result.amount = parse_integer(value, flag, std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::max());
        } else if (name == "exactly-once" || name == "no-exactly-once") {
            const bool on = name == "exactly-once";
            if (result.exactly_once && *result.exactly_once != on)
                throw usage_error("incr: --exactly-once and --no-exactly-once exclude each other");
            result.exactly_once = on;
        } else if (name == "shards") {
            result.shards = static_cast<std::uint32_t>(
                parse_integer(value, flag, 1, std::numeric_limits<std::uint32_t>::max()));
        }
    }
    if (result.on_demand && (result.read || result.write))
        throw usage_error("create-table: --on-demand excludes --read and --write");
    return result;
}

} // namespace sds::cli
