#include "transport/json_body.hpp"

#include <boost/json/parse.hpp>

namespace sds::detail {

boost::json::value json_body(std::string_view operation, const call_result& answer, boost::json::storage_ptr storage) {
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(answer.response.body(), ec, std::move(storage));
    if (ec) throw error(errc::protocol_error, std::string(operation) + ": response is not JSON", answer.diag);
    return parsed;
}

} // namespace sds::detail
