// The OData details of the Table service's REST protocol: key literals in
// URLs, typed entity properties in JSON, and the service's size rules.
// Pure functions, no I/O.
#pragma once

#include <sds/value.hpp>

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sds::detail::odata {

/// A key as an OData string literal inside a URL path: single quotes
/// doubled, then every byte outside A-Z a-z 0-9 - . _ ~ ' percent-encoded
/// (UTF-8), so that any key the validator accepts round-trips. Without the
/// surrounding quotes.
std::string key_literal(std::string_view key);

/// "/<table>(PartitionKey='<key>',RowKey='')", the address of the entity
/// holding `key` (sds keeps RowKey empty).
std::string entity_path(std::string_view table, std::string_view key);

/// Percent-encodes a query parameter value (continuation tokens are opaque
/// and may hold '+', '/' or '=').
std::string query_value(std::string_view value);

/// UTF-16 code units of UTF-8 `text` (the service counts strings in UTF-16).
std::size_t utf16_units(std::string_view utf8) noexcept;

/// The annotation name of a property: "data" -> "data@odata.type".
std::string type_annotation(std::string_view property);

/// Sets an Edm.Int64 property (written as a JSON string, as the service requires).
void set_int64(boost::json::object& entity, std::string_view name, std::int64_t value);

/// Sets an Edm.Binary property (base64).
void set_binary(boost::json::object& entity, std::string_view name, std::string_view bytes);

/// An Edm.Int64 (or Edm.Int32) property of an entity read with
/// odata=minimalmetadata; nullopt when absent. Throws errc::protocol_error
/// for a property of another type or a malformed number.
std::optional<std::int64_t> int64_property(const boost::json::object& entity, std::string_view name);

/// The value of property `name`: Edm.String as text, Edm.Binary as bytes,
/// and a number (a counter shard read as data) as its decimal text; nullopt
/// when absent. Throws errc::protocol_error for other types.
std::optional<value> value_property(const boost::json::object& entity, std::string_view name);

} // namespace sds::detail::odata
