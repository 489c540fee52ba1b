// A datastore over any transport: unit tests drive the whole facade (its
// checks, the engine, the counters) over a scripted fake transport, and so
// can prove that a refused operation sent nothing.
#pragma once

#include <sds/datastore.hpp>

#include <memory>

namespace sds::detail {

class transport;

struct datastore_access {
    /// A datastore on DynamoDB over `t`. The configuration is checked as the
    /// public constructor checks it, except for the endpoint, which `t` stands for.
    static datastore make(boost::asio::any_io_executor ex, dynamodb_config config, std::shared_ptr<transport> t);
    /// The same on Azure Table Storage.
    static datastore make(boost::asio::any_io_executor ex, azure_table_config config, std::shared_ptr<transport> t);
};

} // namespace sds::detail
