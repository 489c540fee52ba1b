// A throwaway PKI generated at test time, so no certificate or key is ever
// checked in and none can expire in the repository.
#pragma once

#include <filesystem>
#include <memory>

namespace sds::test {

/// PEM files for a CA, a server certificate it signed, and an unrelated CA,
/// all in a fresh temporary directory that the destructor removes.
///
/// Keys are EC P-256, signatures SHA-256, validity from one hour ago to one
/// day from now. The server certificate names only `DNS:localhost`, not the
/// address 127.0.0.1, so a client that connects to 127.0.0.1 must verify the
/// host name "localhost" (and one that verifies "127.0.0.1" must fail).
struct test_pki {
    std::filesystem::path dir;           ///< removed, with everything in it, by the destructor
    std::filesystem::path ca_cert;       ///< self-signed CA (basicConstraints CA:TRUE, keyCertSign)
    std::filesystem::path server_cert;   ///< signed by the CA; SAN DNS:localhost only; serverAuth
    std::filesystem::path server_key;    ///< unencrypted PKCS#8
    std::filesystem::path other_ca_cert; ///< a self-signed CA unrelated to the server certificate

    test_pki() = default;
    test_pki(const test_pki&) = delete;
    test_pki& operator=(const test_pki&) = delete;
    ~test_pki();
};

/// Generates a new `test_pki` with the OpenSSL 3 C API.
/// Throws std::runtime_error (with OpenSSL's own message) on any failure.
std::unique_ptr<test_pki> make_test_pki();

} // namespace sds::test
