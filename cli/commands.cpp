#include "commands.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sds::cli {

// Each result is held in a named variable before it is printed: GCC 12 can
// mishandle temporaries in a full-expression that contains a co_await.
boost::asio::awaitable<int> run_command(sds::datastore& db, const command_line& cmd, std::ostream& out) {
    const std::vector<std::string>& args = cmd.args;
    const sds::operation_options op{.timeout = cmd.timeout};

    switch (cmd.what) {
    case command::create_table:
        co_await db.create_table(args[0], {.read = cmd.read,
                                           .write = cmd.write,
                                           .on_demand = cmd.on_demand,
                                           .timeout = cmd.timeout});
        break;
    case command::delete_table:
        co_await db.delete_table(args[0], op);
        break;
    case command::list_tables: {
        const std::vector<std::string> names = co_await db.list_tables(op);
        for (const std::string& name : names) out << name << '\n';
        break;
    }
    case command::set:
        if (cmd.binary)
            co_await db.set_data(args[0], args[1], sds::bytes(args[2].begin(), args[2].end()), op);
        else
            co_await db.set_data(args[0], args[1], args[2], op);
        break;
    case command::get: {
        const std::optional<sds::value> v = co_await db.get_value(args[0], args[1], {.timeout = cmd.timeout});
        if (!v) co_return exit_status::not_found;
        // Bytes go out exactly as stored; text gets a newline, as a line of output should.
        out.write(v->data.data(), static_cast<std::streamsize>(v->data.size()));
        if (!v->is_binary()) out << '\n';
        break;
    }
    case command::delete_data:
        co_await db.delete_data(args[0], args[1], op);
        break;
    case command::incr: {
        const std::int64_t value = co_await db.incr(
            args[0], args[1],
            {.amount = cmd.amount, .shard_count = cmd.shards, .exactly_once = cmd.exactly_once.value_or(true),
             .timeout = cmd.timeout});
        out << value << '\n';
        break;
    }
    case command::count: {
        const std::int64_t total = co_await db.get_count(args[0], args[1], {.timeout = cmd.timeout});
        out << total << '\n';
        break;
    }
    case command::delete_counter:
        co_await db.delete_counter(args[0], args[1], op);
        break;
    }
    co_return exit_status::ok;
}

} // namespace sds::cli
