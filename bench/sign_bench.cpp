// Signing throughput: how many signatures per second one thread produces for
// a typical DynamoDB GetItem (SigV4, with and without the signing key cache)
// and a typical Azure Table point read (SharedKey, with the account key
// decoded once or on every call).
//
//   sds_sign_bench [--seconds S] [--json]
#include <sds/sharedkey.hpp>
#include <sds/sigv4.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct result {
    std::string name;
    double per_second;
    double micros;
    std::size_t checksum;
};

// Runs `op` in batches until `seconds` have passed; the checksum keeps the
// compiler from discarding the work.
result measure(const std::string& name, double seconds, const std::function<std::size_t()>& op) {
    std::size_t checksum = 0;
    for (int i = 0; i < 1000; ++i) checksum += op();  // warm-up
    std::uint64_t n = 0;
    const auto start = clock_type::now();
    const auto until = start + std::chrono::duration<double>(seconds);
    auto now = start;
    while (now < until) {
        for (int i = 0; i < 256; ++i) checksum += op();
        n += 256;
        now = clock_type::now();
    }
    const double elapsed = std::chrono::duration<double>(now - start).count();
    return {name, n / elapsed, elapsed * 1e6 / n, checksum};
}

} // namespace

int main(int argc, char* argv[]) {
    double seconds = 1.0;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::stod(argv[++i]);
        else if (!std::strcmp(argv[i], "--json")) json = true;
        else {
            std::fprintf(stderr, "usage: %s [--seconds S] [--json]\n", argv[0]);
            return 2;
        }
    }

    // The same GetItem the JavaScript peer signs (bench/peers/smithy_sign.mjs).
    const std::string body = R"({"TableName":"bench","Key":{"key":{"S":"user#12345"}},"ConsistentRead":true})";
    const std::string date = "20240101T000000Z";
    const sds::sigv4::header ddb_headers[] = {
        {"Host", "dynamodb.us-east-1.amazonaws.com"},
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "DynamoDB_20120810.GetItem"},
    };
    const sds::sigv4::request_view get_item{"POST", "/", "", ddb_headers, body};
    const sds::sigv4::credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    sds::sigv4::signing_params params;
    params.region = "us-east-1";
    params.service = "dynamodb";
    params.time = std::chrono::system_clock::from_time_t(1704067200);
    sds::sigv4::signing_key_cache cache;

    // An Azure Table point read as sds sends it.
    const std::string key_b64 =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const sds::sharedkey::credentials az_creds{"devstoreaccount1", sds::sharedkey::account_key::from_base64(key_b64)};
    const sds::sharedkey::header az_headers[] = {
        {"x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"},
        {"x-ms-version", "2019-02-02"},
        {"Accept", "application/json;odata=nometadata"},
        {"DataServiceVersion", "3.0"},
    };
    const sds::sharedkey::request_view point_read{"GET", "/devstoreaccount1/bench(PartitionKey='user%2312345',RowKey='')",
                                                  "", az_headers};

    std::vector<result> results;
    results.push_back(measure("sigv4 GetItem, key cache", seconds, [&] {
        return sds::sigv4::sign_headers(get_item, creds, params, &cache).signature.size();
    }));
    results.push_back(measure("sigv4 GetItem, no key cache", seconds, [&] {
        return sds::sigv4::sign_headers(get_item, creds, params).signature.size();
    }));
    results.push_back(measure("sharedkey point read, key decoded once", seconds, [&] {
        return sds::sharedkey::sign(sds::sharedkey::scheme::shared_key, point_read, az_creds).authorization.size();
    }));
    results.push_back(measure("sharedkey point read, key decoded per call", seconds, [&] {
        const sds::sharedkey::credentials c{"devstoreaccount1", sds::sharedkey::account_key::from_base64(key_b64)};
        return sds::sharedkey::sign(sds::sharedkey::scheme::shared_key, point_read, c).authorization.size();
    }));

    if (json) {
        std::printf("[");
        for (std::size_t i = 0; i < results.size(); ++i)
            std::printf("%s{\"name\":\"%s\",\"per_second\":%.0f,\"micros\":%.3f}", i ? "," : "", results[i].name.c_str(),
                        results[i].per_second, results[i].micros);
        std::printf("]\n");
    } else {
        for (const auto& r : results)
            std::printf("%-45s %12.0f sig/s %9.3f us/sig\n", r.name.c_str(), r.per_second, r.micros);
    }
    std::size_t sink = 0;
    for (const auto& r : results) sink += r.checksum;
    return sink == 0 ? 1 : 0;
}
