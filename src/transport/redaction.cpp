#include "transport/redaction.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace sds::detail {
namespace {

constexpr std::size_t shortest_secret = 8;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decoded(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

void add(std::vector<std::string>& out, std::string_view value) {
    if (value.size() >= shortest_secret) out.emplace_back(value);
}

} // namespace

std::vector<std::string> secrets_in(const http_request& req) {
    std::vector<std::string> out;
    if (const auto it = req.find(http::field::authorization); it != req.end()) {
        const std::string_view auth(it->value().data(), it->value().size());
        add(out, auth);
        // SigV4: "... Signature=<hex>"; SharedKey: "SharedKey <account>:<base64>".
        if (const auto p = auth.rfind("Signature="); p != std::string_view::npos) {
            const std::string_view sig = auth.substr(p + 10);
            add(out, sig.substr(0, sig.find(',')));
        } else if (const auto c = auth.rfind(':'); c != std::string_view::npos) {
            add(out, auth.substr(c + 1));
        }
    }
    if (const auto it = req.find("X-Amz-Security-Token"); it != req.end())
        add(out, std::string_view(it->value().data(), it->value().size()));

    const std::string_view target(req.target().data(), req.target().size());
    if (const auto q = target.find('?'); q != std::string_view::npos) {
        std::string_view query = target.substr(q + 1);
        while (!query.empty()) {
            const std::string_view param = query.substr(0, query.find('&'));
            query.remove_prefix(std::min(query.size(), param.size() + 1));
            const auto eq = param.find('=');
            if (eq == std::string_view::npos) continue;
            const std::string_view name = param.substr(0, eq), value = param.substr(eq + 1);
            if (iequals(name, "sig") || iequals(name, "X-Amz-Signature") || iequals(name, "X-Amz-Security-Token")) {
                add(out, value);
                add(out, percent_decoded(value));
            }
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void redact(std::string& text, const std::vector<std::string>& secrets) {
    constexpr std::string_view mark = "[redacted]";
    // Longest first, so that a secret containing another is replaced whole.
    std::vector<const std::string*> order;
    for (const auto& s : secrets) order.push_back(&s);
    std::stable_sort(order.begin(), order.end(), [](const std::string* a, const std::string* b) { return a->size() > b->size(); });
    for (const std::string* secret : order) {
        const std::string& s = *secret;
        if (s.empty()) continue;
        for (std::size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + mark.size()))
            text.replace(p, s.size(), mark);
    }
}

} // namespace sds::detail
