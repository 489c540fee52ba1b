// The JSON body of a service's answer, read the same way by every engine.
#pragma once

#include "transport/request_executor.hpp"

#include <boost/json/value.hpp>

#include <string_view>

namespace sds::detail {

/// The body of `answer` as JSON. Throws errc::protocol_error (with the
/// answer's diagnostics) when it is not JSON. The value's memory comes from
/// `storage` (default: the heap).
boost::json::value json_body(std::string_view operation, const call_result& answer,
                             boost::json::storage_ptr storage = {});

} // namespace sds::detail
