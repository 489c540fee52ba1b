#include "vectors.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace sds::test {

std::filesystem::path vectors_dir() {
    if (const char* env = std::getenv("SDS_VECTORS_DIR"); env && *env) return env;
    return SDS_VECTORS_DIR;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    INFO("reading " << p.string());
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

boost::json::value read_json(const std::filesystem::path& p) { return boost::json::parse(read_file(p)); }

std::string string_or_empty(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || v->is_null()) return {};
    return std::string(v->as_string());
}

std::chrono::system_clock::time_point parse_utc(std::string_view text) {
    std::string digits;
    for (char c : text)
        if (c >= '0' && c <= '9') digits.push_back(c);
    REQUIRE(digits.size() == 14);
    std::tm tm{};
    tm.tm_year = std::stoi(digits.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(digits.substr(4, 2)) - 1;
    tm.tm_mday = std::stoi(digits.substr(6, 2));
    tm.tm_hour = std::stoi(digits.substr(8, 2));
    tm.tm_min = std::stoi(digits.substr(10, 2));
    tm.tm_sec = std::stoi(digits.substr(12, 2));
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

raw_request parse_raw_request(const std::string& text) {
    raw_request r;
    const std::size_t blank = text.find("\n\n");
    std::string head = text.substr(0, blank);
    while (!head.empty() && head.back() == '\n') head.pop_back();  // a final newline ends the head
    if (blank != std::string::npos) r.body = text.substr(blank + 2);

    std::size_t start = 0;
    while (start <= head.size()) {
        std::size_t end = head.find('\n', start);
        if (end == std::string::npos) end = head.size();
        r.head_lines.push_back(head.substr(start, end - start));
        start = end + 1;
    }
    REQUIRE(!r.head_lines.empty());

    // Request line: METHOD SP URI SP HTTP/1.1, where the URI may hold spaces.
    const std::string& line = r.head_lines.front();
    const std::size_t first = line.find(' ');
    const std::size_t last = line.rfind(' ');
    REQUIRE(first != std::string::npos);
    REQUIRE(last > first);
    r.method = line.substr(0, first);
    const std::string uri = line.substr(first + 1, last - first - 1);
    const std::size_t q = uri.find('?');
    r.path = uri.substr(0, q);
    if (q != std::string::npos) r.query = uri.substr(q + 1);

    for (std::size_t i = 1; i < r.head_lines.size(); ++i) {
        const std::string& h = r.head_lines[i];
        if (!h.empty() && (h.front() == ' ' || h.front() == '\t')) {
            REQUIRE(!r.headers.empty());
            r.headers.back().second += " " + h;  // obsolete line folding: a continuation is one space
            continue;
        }
        const std::size_t colon = h.find(':');
        REQUIRE(colon != std::string::npos);
        r.headers.emplace_back(h.substr(0, colon), h.substr(colon + 1));
    }
    return r;
}

} // namespace sds::test
