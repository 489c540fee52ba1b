#include "http/connection_pool.hpp"

#include <sds/error.hpp>

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>

#include <algorithm>

namespace sds::detail {

std::shared_ptr<connection_pool> connection_pool::create(asio::any_io_executor ex, endpoint ep, http_options opts) {
    if (opts.max_connections == 0) throw error(errc::invalid_argument, "http_options.max_connections must be at least 1");
    return std::shared_ptr<connection_pool>(new connection_pool(std::move(ex), std::move(ep), std::move(opts)));
}

connection_pool::connection_pool(asio::any_io_executor ex, endpoint ep, http_options opts)
    : executor_(std::move(ex)), endpoint_(std::move(ep)), options_(std::move(opts)),
      permits_(options_.max_connections) {
    if (endpoint_.tls) {
        tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        boost::system::error_code ec;
        if (!options_.tls.ca_file.empty()) tls_->load_verify_file(options_.tls.ca_file, ec);
        else tls_->set_default_verify_paths(ec);
        if (ec)
            throw error(errc::invalid_argument, "cannot load CA certificates" +
                                                    (options_.tls.ca_file.empty() ? std::string(" from the system store")
                                                                                  : " from " + options_.tls.ca_file) +
                                                    ": " + ec.message());
        tls_->set_verify_mode(options_.tls.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
    }
}

connection_pool::lease& connection_pool::lease::operator=(lease&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::move(other.pool_);
        conn_ = std::move(other.conn_);
        reused_ = other.reused_;
        keep_ = other.keep_;
    }
    return *this;
}

connection_pool::lease::~lease() { release(); }

void connection_pool::lease::release() noexcept {
    if (!pool_) return;
    pool_->give_back(std::move(conn_), keep_);
    pool_.reset();
}

void connection_pool::give_back(std::unique_ptr<connection> c, bool keep) noexcept {
    if (c && keep && c->is_open()) {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(c));
    } else if (c) {
        c->close();
    }
    permits_.release();
}

std::size_t connection_pool::idle_count() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

void connection_pool::close_idle() {
    std::vector<std::unique_ptr<connection>> closing;
    {
        std::lock_guard lock(mutex_);
        closing.swap(idle_);
    }
    for (auto& c : closing) c->close();
}

void connection_pool::close_expired(steady_time now) {
    std::vector<std::unique_ptr<connection>> expired;
    {
        std::lock_guard lock(mutex_);
        for (auto& c : idle_)
            if (now - c->last_used >= options_.idle_timeout) expired.push_back(std::move(c));
        std::erase(idle_, nullptr);
    }
    for (auto& c : expired) c->close();
}

asio::awaitable<connection_pool::lease> connection_pool::acquire(bool allow_reuse, std::optional<steady_time> deadline,
                                                                 boost::system::error_code& ec, bool resendable) {
    // A permit granted in the same turn as the deadline or a cancellation
    // is ours; it is given back below.
    const bool permitted = co_await permits_.acquire(deadline);
    lease l;
    if (permitted) l.pool_ = shared_from_this();  // from here on, l gives the permit back
    // A cancellation or a deadline that arrived while we waited wins, even
    // when the permit came in the same turn: nothing goes out after either.
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) {
        ec = asio::error::operation_aborted;
        co_return lease{};
    }
    const auto now = std::chrono::steady_clock::now();
    if (!permitted || (deadline && now >= *deadline)) {
        ec = beast::error::timeout;
        co_return lease{};
    }

    close_expired(now);
    if (allow_reuse) {
        std::vector<std::unique_ptr<connection>> stale;
        {
            std::lock_guard lock(mutex_);
            // Most recently used first: the likeliest to be alive.
            while (!idle_.empty()) {
                auto c = std::move(idle_.back());
                idle_.pop_back();
                const bool fresh = resendable && now - c->last_used < unchecked_reuse_window;
                if (fresh ? c->open_and_drained() : !c->peer_closed()) {
                    l.conn_ = std::move(c);
                    l.reused_ = true;
                    break;
                }
                stale.push_back(std::move(c));
            }
        }
        for (auto& c : stale) c->close();
        if (l.conn_) co_return l;
    }

    l.conn_ = std::make_unique<connection>(executor_, tls_.get());
    const auto connect_by = now + options_.connect_timeout;
    ec = co_await l.conn_->connect(endpoint_, deadline ? std::min(*deadline, connect_by) : connect_by);
    if (ec) {
        l.conn_->close();
        co_return lease{};  // l's destructor returns the permit
    }
    opened_.fetch_add(1);
    co_return l;
}

} // namespace sds::detail
