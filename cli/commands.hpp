// Runs one parsed sds command against a datastore.
#pragma once

#include "command_line.hpp"

#include <sds/datastore.hpp>

#include <boost/asio/awaitable.hpp>

#include <ostream>

namespace sds::cli {

/// The exit statuses of `sds`, a contract with the scripts that call it.
namespace exit_status {
inline constexpr int ok = 0;
inline constexpr int not_found = 1;      ///< get found no value; the table does not exist
inline constexpr int usage = 2;          ///< a usage error or errc::invalid_argument
inline constexpr int service_error = 3;  ///< any other failure: the service, the network, the output
} // namespace exit_status

/// Runs `cmd` and writes its output to `out`; returns the exit status
/// (ok, or not_found when get finds no value). Failures throw sds::error.
/// For `set`, cmd.args[2] already holds the value (main reads "-" from
/// standard input before anything is sent).
boost::asio::awaitable<int> run_command(sds::datastore& db, const command_line& cmd, std::ostream& out);

} // namespace sds::cli
