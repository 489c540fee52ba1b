// Every datastore operation runs on a strand.
//
// An operation's pieces complete concurrently: a deadline timer and the I/O
// it cuts short, the branches of a parallel group of shard reads, a caller's
// cancellation. On an io_context run by several threads they must not run at
// once, so each operation runs on a strand of its own (or on the caller's,
// when the caller already runs on a strand, or on the caller's executor when
// it belongs to an io_context whose concurrency hint lets only one thread at
// a time run it), and everything below the facade
// (retry loop, pool, connections) relies on that.
//
// The hop onto the strand forwards the caller's cancellation through state
// that outlives any handler still queued for it. Boost 1.81's co_spawn
// forwards it through a raw pointer to a signal that may be gone by the time
// the queued handler runs; sds never lets co_spawn see the caller's slot.
#pragma once

#include <sds/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace sds::detail {

/// A strand of `io` for one operation.
boost::asio::any_io_executor make_operation_strand(const boost::asio::any_io_executor& io);

/// True when handlers of `ex` never run at once: `ex` is a strand (of an
/// io_context, or of any executor), or an executor of an io_context made
/// with BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO or _UNSAFE (which Asio allows
/// only one thread at a time to run). An operation awaited from it runs on
/// it directly.
bool runs_serially(const boost::asio::any_io_executor& ex) noexcept;

namespace strand_hop {

namespace asio = boost::asio;

// What the caller's side and the strand's side share. `inner` is emitted and
// `done` read and written on the strand only.
struct bridge {
    explicit bridge(asio::any_io_executor s) : strand(std::move(s)) {}
    asio::any_io_executor strand;
    asio::cancellation_signal inner;
    bool done = false;
};

// Sits in the caller's cancellation slot. It may be invoked on any thread,
// also after the operation ended: it only hands a copy of the shared state
// to the strand.
struct forward_cancellation {
    std::shared_ptr<bridge> shared;
    void operator()(asio::cancellation_type type) const {
        asio::dispatch(shared->strand, [b = shared, type] {
            if (!b->done) b->inner.emit(type);
        });
    }
};

// Runs on the strand when the operation ends, and hands its outcome to the
// caller's executor.
template <class Handler, class Work>
struct deliver {
    std::shared_ptr<bridge> shared;
    Handler handler;
    Work work;

    template <class... Result>
    void operator()(std::exception_ptr e, Result... result) {
        shared->done = true;
        auto ex = work;
        asio::dispatch(ex, [h = std::move(handler), w = std::move(work), e, ... r = std::move(result)]() mutable {
            std::move(h)(e, std::move(r)...);
        });
    }
};

// The caller's cancellation makes the operation's waits and I/O complete
// with operation_aborted; sds reports it as sds::error(cancelled). This is
// the last line: a wait that threw Asio's own exception is reported the same.
template <class T>
asio::awaitable<T> guarded(asio::awaitable<T> op) {
    try {
        co_return co_await std::move(op);
    } catch (const sds::error&) {
        throw;
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw error(errc::cancelled, "cancelled");
        throw;
    }
}

template <class T>
asio::awaitable<T> entry(asio::awaitable<T> op) {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_return co_await guarded(std::move(op));
}

template <class T>
struct signature {
    using type = void(std::exception_ptr, T);
};
template <>
struct signature<void> {
    using type = void(std::exception_ptr);
};

struct initiate {
    template <class Handler, class T>
    void operator()(Handler handler, asio::awaitable<T> op, asio::any_io_executor strand) const {
        auto shared = std::make_shared<bridge>(strand);
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) slot.template emplace<forward_cancellation>(forward_cancellation{shared});
        auto work = asio::prefer(asio::get_associated_executor(handler, strand), asio::execution::outstanding_work.tracked);
        asio::cancellation_slot inner = shared->inner.slot();
        asio::co_spawn(strand, entry(std::move(op)),
                       asio::bind_cancellation_slot(
                           inner, deliver<Handler, decltype(work)>{std::move(shared), std::move(handler), std::move(work)}));
    }
};

} // namespace strand_hop

/// Runs `op` on a strand of `io` (or directly, when the caller already runs
/// on a strand), forwarding the caller's cancellation. Cancellation surfaces
/// as sds::error(errc::cancelled), never as Asio's operation_aborted.
template <class T>
boost::asio::awaitable<T> on_operation_strand(boost::asio::any_io_executor io, boost::asio::awaitable<T> op) {
    namespace asio = boost::asio;
    if (runs_serially(co_await asio::this_coro::executor)) {
        // The caller's own coroutine: its throw_if_cancelled setting is its
        // own, so set it for the operation and put it back.
        const bool throws = co_await asio::this_coro::throw_if_cancelled();
        co_await asio::this_coro::throw_if_cancelled(false);
        std::exception_ptr failure;
        if constexpr (std::is_void_v<T>) {
            try {
                co_await strand_hop::guarded(std::move(op));
            } catch (...) {
                failure = std::current_exception();
            }
            co_await asio::this_coro::throw_if_cancelled(throws);
            if (failure) std::rethrow_exception(failure);
            co_return;
        } else {
            std::optional<T> result;
            try {
                result.emplace(co_await strand_hop::guarded(std::move(op)));
            } catch (...) {
                failure = std::current_exception();
            }
            co_await asio::this_coro::throw_if_cancelled(throws);
            if (failure) std::rethrow_exception(failure);
            co_return std::move(*result);
        }
    }
    // Asio would throw operation_aborted from the co_await below for a caller
    // already cancelled: nothing starts, and the caller hears it in sds terms.
    const asio::cancellation_state caller_state = co_await asio::this_coro::cancellation_state;
    if (caller_state.cancelled() != asio::cancellation_type::none) throw error(errc::cancelled, "cancelled before it started");
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, typename strand_hop::signature<T>::type>(
        strand_hop::initiate{}, asio::use_awaitable, std::move(op), make_operation_strand(io));
}

} // namespace sds::detail
