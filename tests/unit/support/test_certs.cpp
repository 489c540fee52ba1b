#include "test_certs.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace sds::test {

namespace {

// Wide enough that clock skew between the test and OpenSSL's own "now" never
// matters, short enough that a leaked file is useless.
constexpr long valid_before_now_seconds = 60L * 60;
constexpr long valid_after_now_seconds = 24L * 60 * 60;

struct openssl_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
template <class T>
using owned = std::unique_ptr<T, openssl_free>;

[[noreturn]] void fail(std::string_view what) {
    std::string message = "make_test_pki: ";
    message += what;
    char text[256];
    while (const unsigned long err = ERR_get_error()) {
        ERR_error_string_n(err, text, sizeof text);
        message += ": ";
        message += text;
    }
    throw std::runtime_error(message);
}

/// OpenSSL functions return 1 (or a positive length) on success.
void check(int result, std::string_view what) {
    if (result <= 0) fail(what);
}

owned<EVP_PKEY> make_p256_key() {
    owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
    if (!key) fail("EVP_EC_gen(P-256)");
    return key;
}

/// A positive, non-zero 63-bit serial: unique enough that no verifier sees
/// two of our certificates with the same issuer and serial.
void set_random_serial(X509* cert) {
    std::uint64_t serial = 0;
    while (serial == 0) {
        unsigned char bytes[sizeof serial];
        check(RAND_bytes(bytes, sizeof bytes), "RAND_bytes");
        std::memcpy(&serial, bytes, sizeof serial);
        serial &= 0x7fff'ffff'ffff'ffffULL;
    }
    check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial), "ASN1_INTEGER_set_uint64");
}

using extension_list = std::initializer_list<std::pair<int, const char*>>;

/// Builds a v3 certificate for `key`. With a null `issuer` it is self-signed;
/// otherwise `issuer`/`issuer_key` sign it. Extensions are added in order, so
/// subjectKeyIdentifier must come before authorityKeyIdentifier (a
/// self-signed certificate is its own issuer and needs its SKID to exist).
owned<X509> make_certificate(const char* common_name, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                             extension_list extensions) {
    owned<X509> cert(X509_new());
    if (!cert) fail("X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
    set_random_serial(cert.get());
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -valid_before_now_seconds) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), valid_after_now_seconds))
        fail("X509_gmtime_adj");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    const auto add_name_entry = [&](const char* field, const char* value) {
        check(X509_NAME_add_entry_by_txt(subject, field, MBSTRING_ASC, reinterpret_cast<const unsigned char*>(value),
                                         -1, -1, 0),
              "X509_NAME_add_entry_by_txt");
    };
    add_name_entry("O", "sds tests");
    add_name_entry("CN", common_name);
    check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject), "X509_set_issuer_name");
    check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    for (const auto& [nid, value] : extensions) {
        owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
        if (!ext) fail(std::string("X509V3_EXT_conf_nid ") + OBJ_nid2sn(nid) + "=" + value);
        check(X509_add_ext(cert.get(), ext.get(), -1), "X509_add_ext");
    }

    check(X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()), "X509_sign");
    return cert;
}

owned<X509> make_ca(const char* common_name, EVP_PKEY* key) {
    return make_certificate(common_name, key, nullptr, nullptr,
                            {{NID_basic_constraints, "critical,CA:TRUE"},
                             {NID_key_usage, "critical,keyCertSign,cRLSign"},
                             {NID_subject_key_identifier, "hash"},
                             {NID_authority_key_identifier, "keyid:always"}});
}

owned<BIO> open_for_writing(const std::filesystem::path& path) {
    owned<BIO> bio(BIO_new_file(path.c_str(), "w"));
    if (!bio) fail("BIO_new_file " + path.string());
    return bio;
}

void flush(BIO* bio, const std::filesystem::path& path) {
    check(BIO_flush(bio), "BIO_flush " + path.string());
}

void write_certificate(const std::filesystem::path& path, X509* cert) {
    const owned<BIO> bio = open_for_writing(path);
    check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509 " + path.string());
    flush(bio.get(), path);
}

/// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), which every TLS library loads.
void write_private_key(const std::filesystem::path& path, EVP_PKEY* key) {
    const owned<BIO> bio = open_for_writing(path);
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey " + path.string());
    flush(bio.get(), path);
}

std::filesystem::path make_temp_directory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sds-test-pki-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
        throw std::system_error(errno, std::generic_category(), "make_test_pki: mkdtemp " + pattern);
    return pattern;
}

} // namespace

test_pki::~test_pki() {
    if (dir.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
}

std::unique_ptr<test_pki> make_test_pki() {
    // Errors left on this thread's queue by earlier, unrelated calls would be
    // reported as ours.
    ERR_clear_error();

    auto pki = std::make_unique<test_pki>();
    pki->dir = make_temp_directory();
    pki->ca_cert = pki->dir / "ca.pem";
    pki->server_cert = pki->dir / "server.pem";
    pki->server_key = pki->dir / "server-key.pem";
    pki->other_ca_cert = pki->dir / "other-ca.pem";

    const owned<EVP_PKEY> ca_key = make_p256_key();
    const owned<X509> ca = make_ca("sds test CA", ca_key.get());

    const owned<EVP_PKEY> server_key = make_p256_key();
    const owned<X509> server = make_certificate("localhost", server_key.get(), ca.get(), ca_key.get(),
                                                {{NID_basic_constraints, "critical,CA:FALSE"},
                                                 {NID_key_usage, "critical,digitalSignature"},
                                                 {NID_ext_key_usage, "serverAuth"},
                                                 {NID_subject_alt_name, "DNS:localhost"},
                                                 {NID_subject_key_identifier, "hash"},
                                                 {NID_authority_key_identifier, "keyid:always"}});

    const owned<EVP_PKEY> other_ca_key = make_p256_key();
    const owned<X509> other_ca = make_ca("sds unrelated test CA", other_ca_key.get());

    write_certificate(pki->ca_cert, ca.get());
    write_certificate(pki->server_cert, server.get());
    write_private_key(pki->server_key, server_key.get());
    write_certificate(pki->other_ca_cert, other_ca.get());
    return pki;
}

} // namespace sds::test
