// How sds retries a failed request.
//
// The defaults follow the AWS SDKs' "standard" retry mode: up to 4 attempts,
// full-jitter exponential backoff with a longer base for throttling errors,
// each wait capped at 20 s, and a per-endpoint retry quota (token bucket)
// that stops retrying when most recent attempts against an endpoint failed.
// The same options apply to Azure Table Storage, whose own guidance
// (exponential backoff on 408/429/500/503, honouring Retry-After) fits them.
//
// A retry_options is a plain value: copy it freely.
#pragma once

#include <chrono>

namespace sds {

/// Retry behaviour for every request a datastore sends.
struct retry_options {
    /// Total attempts per request, including the first; 1 disables retries.
    unsigned max_attempts = 4;

    /// Base of the exponential backoff for transient and network failures
    /// (DynamoDB's SDKs use 25 ms).
    std::chrono::milliseconds base_delay{25};

    /// Base of the exponential backoff for throttling errors, which need the
    /// service's capacity to recover rather than a quick second try.
    std::chrono::milliseconds throttle_base_delay{500};

    /// Cap on a single wait between attempts, including one the server asks
    /// for with Retry-After.
    std::chrono::milliseconds max_backoff{20000};

    /// Whether retries draw from a per-endpoint token bucket (AWS standard
    /// mode). When false, every retryable failure is retried up to max_attempts.
    bool retry_quota = true;

    /// Tokens in a full bucket; the bucket starts full.
    unsigned quota_capacity = 500;
    /// Tokens one retry after a throttling or transient error takes.
    unsigned retry_cost = 5;
    /// Tokens one retry after a connection failure or timeout takes.
    unsigned timeout_retry_cost = 10;
    /// Tokens a request that succeeds on its first attempt puts back.
    unsigned no_retry_increment = 1;
};

} // namespace sds
