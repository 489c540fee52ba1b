// The Azure Table Storage engine: the Table service's REST protocol (OData
// JSON, x-ms-version 2019-02-02), SharedKey / SharedKeyLite signed or with a
// SAS, over the pooled transport.
//
// Data layout (a documented contract, see README "Data layout"): every
// entity has RowKey ""; a value is PartitionKey K with `data` (Edm.String or
// Edm.Binary); counter shard n of C is PartitionKey "C_shard_n" with `data`
// (Edm.Int64) and the write record `seq` (Edm.Int64) and `ops` (Edm.String,
// src/counters/write_record.hpp); the shard count is PartitionKey "C_shards"
// with `shards` (Edm.Int64).
#pragma once

#include "engine.hpp"

#include <sds/azure_table_config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace sds::detail {

class transport;

/// An Azure Table engine on the production transport. Throws
/// errc::invalid_argument for a malformed endpoint or account key; opens nothing.
std::shared_ptr<engine> make_azure_engine(boost::asio::any_io_executor ex, azure_table_config config);

/// The same over any transport (unit tests pass a scripted fake).
std::shared_ptr<engine> make_azure_engine(std::shared_ptr<transport> t, azure_table_config config);

} // namespace sds::detail
