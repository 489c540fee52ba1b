// Small text helpers the credential sources share.
#pragma once

#include <cstdlib>
#include <string>

namespace sds::detail {

/// The environment variable's value, empty if it is not set.
inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

/// `s` without leading and trailing blanks and line ends.
inline std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

} // namespace sds::detail
