// A default chain: the first source the environment configures, chosen at
// the first fetch and kept for the chain's life (as the AWS SDKs and
// DefaultAzureCredential keep theirs). A failed choice (nothing
// configured) is made again at the next fetch.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace sds::detail {

/// `Source` is aws_credentials_provider or azure_token_credential; `Value`
/// what its fetch() gives.
template <class Source, class Value>
class first_configured final : public Source {
public:
    /// `choose` returns the source to use or throws an sds::error saying
    /// what to set; `unchosen` names the chain until a source is chosen.
    first_configured(std::function<std::shared_ptr<Source>()> choose, std::string unchosen)
        : choose_(std::move(choose)), unchosen_(std::move(unchosen)) {}

    boost::asio::awaitable<Value> fetch() override {
        std::shared_ptr<Source> chosen;
        {
            std::lock_guard lock(mutex_);
            if (!chosen_) chosen_ = choose_();
            chosen = chosen_;
        }
        co_return co_await chosen->fetch();
    }

    std::string name() const override {
        std::lock_guard lock(mutex_);
        return chosen_ ? chosen_->name() : unchosen_;
    }

private:
    const std::function<std::shared_ptr<Source>()> choose_;
    const std::string unchosen_;
    mutable std::mutex mutex_;
    std::shared_ptr<Source> chosen_;
};

} // namespace sds::detail
