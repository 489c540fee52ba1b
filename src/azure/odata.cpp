#include "azure/odata.hpp"

#include "sds_crypto.hpp"

#include <sds/error.hpp>

#include <charconv>

namespace sds::detail::odata {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

void append_escaped(std::string& out, unsigned char c) {
    out.push_back('%');
    out.push_back(hex_digits[c >> 4]);
    out.push_back(hex_digits[c & 0xF]);
}

[[noreturn]] void malformed(std::string_view name, std::string_view why) {
    throw error(errc::protocol_error, "entity property '" + std::string(name) + "' " + std::string(why));
}

std::string_view type_of(const boost::json::object& entity, std::string_view name) {
    const auto* t = entity.if_contains(type_annotation(name));
    return t && t->is_string() ? std::string_view(t->get_string()) : std::string_view{};
}

} // namespace

std::string key_literal(std::string_view key) {
    std::string out;
    out.reserve(key.size() + key.size() / 2);
    for (const char ch : key) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\'') out += "''";  // the OData literal's own escape, kept readable as the SDKs do
        else if (unreserved(c)) out.push_back(ch);
        else append_escaped(out, c);
    }
    return out;
}

std::string entity_path(std::string_view table, std::string_view key) {
    return "/" + std::string(table) + "(PartitionKey='" + key_literal(key) + "',RowKey='')";
}

std::string query_value(std::string_view value) {
    std::string out;
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) out.push_back(ch);
        else append_escaped(out, c);
    }
    return out;
}

std::size_t utf16_units(std::string_view utf8) noexcept {
    std::size_t units = 0;
    for (const char ch : utf8) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte
        units += c >= 0xF0 ? 2 : 1;        // four-byte sequences are surrogate pairs
    }
    return units;
}

std::string type_annotation(std::string_view property) { return std::string(property) + "@odata.type"; }

void set_int64(boost::json::object& entity, std::string_view name, std::int64_t value) {
    entity[name] = std::to_string(value);
    entity[type_annotation(name)] = "Edm.Int64";
}

void set_binary(boost::json::object& entity, std::string_view name, std::string_view bytes) {
    entity[name] = crypto::base64_encode(crypto::bytes_of(bytes));
    entity[type_annotation(name)] = "Edm.Binary";
}

std::optional<std::int64_t> int64_property(const boost::json::object& entity, std::string_view name) {
    const auto* v = entity.if_contains(name);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_int64()) return v->get_int64();  // Edm.Int32, written by another client
    const std::string_view type = type_of(entity, name);
    if (!v->is_string() || type != "Edm.Int64") malformed(name, "is not an Edm.Int64");
    const std::string_view text = v->get_string();
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size()) malformed(name, "is not a 64-bit integer");
    return n;
}

std::optional<value> value_property(const boost::json::object& entity, std::string_view name) {
    const auto* v = entity.if_contains(name);
    if (!v || v->is_null()) return std::nullopt;
    const std::string_view type = type_of(entity, name);
    if (v->is_string() && type.empty()) return value{value::kind::text, std::string(v->get_string())};
    if (v->is_string() && type == "Edm.Binary") {
        auto raw = crypto::base64_decode(v->get_string());
        if (!raw) malformed(name, "is not base64");
        return value{value::kind::binary, std::string(raw->begin(), raw->end())};
    }
    if (type == "Edm.Int64" || v->is_int64()) return value{value::kind::text, std::to_string(*int64_property(entity, name))};
    malformed(name, "has an unsupported type");
}

} // namespace sds::detail::odata
