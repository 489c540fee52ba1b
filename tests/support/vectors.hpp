// Locating and reading the signing conformance vectors (../shared/vectors).
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sds::test {

/// The vectors folder: SDS_VECTORS_DIR in the environment, else the CMake cache value.
std::filesystem::path vectors_dir();

/// A file's bytes, exactly. Fails the current test if it is missing.
std::string read_file(const std::filesystem::path& p);

/// A JSON file, parsed.
boost::json::value read_json(const std::filesystem::path& p);

/// The string member `key` of `o`, or "" when it is null or absent.
std::string string_or_empty(const boost::json::object& o, std::string_view key);

/// "2015-08-30T12:36:00Z" or "20150830T123600Z" as a time point.
std::chrono::system_clock::time_point parse_utc(std::string_view text);

/// An HTTP request in the test suites' text form: request line, headers
/// (continuation lines unfolded with a space), blank line, body.
struct raw_request {
    std::string method;
    std::string path;
    std::string query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::vector<std::string> head_lines;  ///< request line and header lines, verbatim
};
raw_request parse_raw_request(const std::string& text);

} // namespace sds::test
