// The sds command line, parsed: the engine, the command, its arguments and flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sds::cli {

/// What `sds --help` prints, and what follows every usage error.
extern const std::string_view usage;

/// A mistake on the command line (unknown flag, missing argument, a number
/// that is not one): reported with the usage, exit status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class command {
    create_table,
    delete_table,
    list_tables,
    set,
    get,
    delete_data,
    incr,
    count,
    delete_counter,
};

struct command_line {
    /// --help was given: print the usage and do nothing else.
    bool help = false;
    /// --engine; empty when not given (SDS_ENGINE, else dynamodb, applies).
    std::string engine;
    /// --endpoint: overrides the endpoint the environment names.
    std::optional<std::string> endpoint;
    /// --timeout MS: a deadline for the operation, retries included.
    std::optional<std::chrono::milliseconds> timeout;

    command what = command::list_tables;
    /// The command's positional arguments: TABLE, KEY, VALUE, COUNTER.
    std::vector<std::string> args;

    // create-table
    std::optional<std::int64_t> read;
    std::optional<std::int64_t> write;
    bool on_demand = false;
    // set
    bool binary = false;
    // incr
    std::int64_t amount = 1;
    std::uint32_t shards = 1;
    std::optional<bool> exactly_once;  ///< --exactly-once / --no-exactly-once; unset: the default (on)
};

/// Parses the arguments after the program name. Options may come before or
/// after the command; `--` ends them (for a VALUE that starts with "--").
/// Throws usage_error.
command_line parse(std::span<const char* const> args);

/// Parses a whole decimal integer in [min, max]: no sign other than a
/// leading '-', no spaces, no trailing characters. Throws usage_error naming
/// `what` otherwise.
std::int64_t parse_integer(std::string_view text, std::string_view what, std::int64_t min, std::int64_t max);

} // namespace sds::cli
