// The OData helpers of the Azure engine (src/azure/odata.hpp) and the write
// record every counter shard carries (src/counters/write_record.hpp).
//
// The input is used twice:
// - as a key: key_literal and query_value must encode every byte so that it
//   decodes back exactly (a key that does not round-trip addresses another
//   entity), and utf16_units must stay within the byte count of UTF-8;
// - as an entity as the service returns it: if it parses as a JSON object,
//   its properties are read as the engine reads them (data as a value;
//   data, shards, seq as Edm.Int64; seq and ops as a write record), and the
//   record is asked what became of a write, as a writer whose outcome was
//   unknown does. Reading may fail only with errc::protocol_error.
#include "azure/odata.hpp"
#include "counters/write_record.hpp"
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "validation.hpp"

#include <sds/error.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using sds::fuzz::finding;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // sds writes uppercase hex only
}

bool unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// Undoes key_literal (quotes_doubled) or query_value; nullopt when `encoded`
// holds anything those never write.
std::optional<std::string> decode(std::string_view encoded, bool quotes_doubled) {
    std::string out;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        const char c = encoded[i];
        if (c == '%') {
            if (i + 2 >= encoded.size()) return std::nullopt;
            const int hi = hex_value(encoded[i + 1]), lo = hex_value(encoded[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '\'' && quotes_doubled) {
            if (i + 1 >= encoded.size() || encoded[i + 1] != '\'') return std::nullopt;
            out.push_back('\'');
            ++i;
        } else if (unreserved(c)) {
            out.push_back(c);
        } else {
            return std::nullopt;
        }
    }
    return out;
}

void check_key_encoding(std::string_view key) {
    using namespace sds::detail::odata;
    using sds::detail::is_utf8;
    if (decode(key_literal(key), true) != std::string(key)) finding("key_literal does not round-trip");
    if (decode(query_value(key), false) != std::string(key)) finding("query_value does not round-trip");
    // (Keys are checked to be UTF-8 before they reach the engine.)
    if (is_utf8(key) && utf16_units(key) > key.size()) finding("utf16_units counts more units than bytes");
    const std::string path = entity_path("tbl", key);
    if (!path.starts_with("/tbl(PartitionKey='") || !path.ends_with("',RowKey='')"))
        finding("entity_path has the wrong shape");
}

template <class F>
void expect_protocol_error_only(F&& read) {
    try {
        read();
    } catch (const sds::error& e) {
        if (e.condition() != sds::errc::protocol_error) finding(std::string("reading an entity failed with ") + e.what());
    }
}

void check_entity(const boost::json::object& entity) {
    using namespace sds::detail;
    expect_protocol_error_only([&] { (void)odata::value_property(entity, "data"); });
    for (const char* name : {"data", "shards", "seq"})
        expect_protocol_error_only([&] { (void)odata::int64_property(entity, name); });

    // What the engine does with a shard's write record (azure_engine.cpp).
    expect_protocol_error_only([&] {
        write_record r;
        r.seq = odata::int64_property(entity, "seq").value_or(0);
        if (const auto* ops = entity.if_contains("ops"); ops && ops->is_string())
            r.ops = write_record::decode_ops(ops->get_string());
        if (r.ops.size() > write_record::capacity) finding("decode_ops kept more than capacity op ids");
        constexpr std::string_view op = "0123456789abcdef";
        const bool already_there = r.find(op).has_value();
        (void)r.fate_of(op, r.seq);
        const write_record next = r.after(std::string(op));
        if (next.ops.size() > write_record::capacity) finding("a record grew past its capacity");
        if (!already_there && next.find(op) != next.seq) finding("a record does not find the write just added");
        if (!already_there && next.fate_of(op, next.seq) != write_record::fate::applied)
            finding("a record does not know the write just added as applied");
        (void)next.fate_of("fedcba9876543210", r.seq);
        // (An empty op id, which sds never writes, is dropped when it comes first.)
        const bool all_ids = std::none_of(next.ops.begin(), next.ops.end(), [](const std::string& id) { return id.empty(); });
        if (all_ids && write_record::decode_ops(next.encode_ops()) != next.ops)
            finding("a record's op ids do not survive encoding");
    });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = sds::fuzz::text_of(data, size);
    check_key_encoding(input);

    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(input, ec);
    if (!ec && v.is_object()) check_entity(v.get_object());
    return 0;
}
