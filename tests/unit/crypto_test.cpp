#include <catch2/catch.hpp>

#include "sds_crypto.hpp"

#include <string>
#include <thread>
#include <vector>

using namespace sds::crypto;

TEST_CASE("SHA-256 of the empty string is the well-known digest", "[crypto]") {
    CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test cases 2 and 6", "[crypto]") {
    CHECK(hex(hmac_sha256(bytes_of("Jefe"), "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Case 6: a 131-byte key, longer than the block size, is hashed first.
    const std::string key(131, '\xaa');
    CHECK(hex(hmac_sha256(bytes_of(key), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("HMAC gives the same tags from many threads at once", "[crypto]") {
    const std::string expected = hex(hmac_sha256(bytes_of("key"), "data"));
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i)
                if (hex(hmac_sha256(bytes_of("key"), "data")) != expected) ++mismatches[t];
        });
    for (auto& th : threads) th.join();
    CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("a keyed HMAC with its pads hashed once matches RFC 4231 and the one-shot HMAC", "[crypto]") {
    CHECK(hex(hmac_sha256_key(bytes_of("Jefe")).tag("what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const std::string long_key(131, '\xaa');
    CHECK(hex(hmac_sha256_key(bytes_of(long_key)).tag("Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    // Keys around the 64-byte block, and messages of several blocks, tagged
    // again and again with the same object.
    for (const std::size_t key_size : {0u, 1u, 32u, 63u, 64u, 65u, 200u}) {
        std::string key(key_size, '\0');
        for (std::size_t i = 0; i < key_size; ++i) key[i] = static_cast<char>(i * 7 + 3);
        const hmac_sha256_key keyed(bytes_of(key));
        for (const std::size_t data_size : {0u, 1u, 55u, 64u, 100u, 1000u}) {
            const std::string data(data_size, static_cast<char>('a' + data_size % 26));
            INFO("key " << key_size << " bytes, data " << data_size << " bytes");
            CHECK(keyed.tag(data) == hmac_sha256(bytes_of(key), data));
            CHECK(keyed.tag(data) == hmac_sha256(bytes_of(key), data));
        }
    }
}

TEST_CASE("a keyed HMAC gives the same tags from many threads at once", "[crypto]") {
    const hmac_sha256_key keyed(bytes_of("key"));
    const std::string expected = hex(hmac_sha256(bytes_of("key"), "data"));
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i)
                if (hex(keyed.tag("data")) != expected) ++mismatches[t];
        });
    for (auto& th : threads) th.join();
    CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("base64 round-trips every length and accepts omitted padding", "[crypto]") {
    std::string data;
    for (int n = 0; n < 20; ++n) {
        const std::string encoded = base64_encode(bytes_of(data));
        const auto decoded = base64_decode(encoded);
        REQUIRE(decoded);
        CHECK(std::string(decoded->begin(), decoded->end()) == data);
        std::string unpadded = encoded;
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
        const auto decoded2 = base64_decode(unpadded);
        REQUIRE(decoded2);
        CHECK(*decoded2 == *decoded);
        data.push_back(static_cast<char>(n * 37 + 11));
    }
    CHECK(base64_encode(bytes_of("foobar")) == "Zm9vYmFy");
}

TEST_CASE("base64 decoding rejects text that is not base64", "[crypto]") {
    CHECK_FALSE(base64_decode("abc!"));
    CHECK_FALSE(base64_decode("a"));         // one character cannot carry a byte
    CHECK_FALSE(base64_decode("ab=c"));      // padding in the middle
    CHECK_FALSE(base64_decode("ab==="));     // too much padding
    CHECK_FALSE(base64_decode("abc=="));     // padding that does not complete a group
    CHECK_FALSE(base64_decode("Zm9v YmFy")); // whitespace
}

TEST_CASE("base64 with non-zero bits after the last byte is refused", "[crypto]") {
    CHECK(base64_decode("YQ=="));
    CHECK_FALSE(base64_decode("YR=="));  // would also decode to "a"
    CHECK(base64_decode("YWI="));
    CHECK_FALSE(base64_decode("YWJ="));
    CHECK_FALSE(base64_decode("YWJ"));
}
