// What a request carries that a server may quote back (AWS quotes the
// canonical request of a signature it refused, session token included;
// Azure quotes the signature it found) and that must never reach an error:
// the request's signature, a session token, a SAS signature.
#pragma once

#include "http/connection.hpp"

#include <string>
#include <vector>

namespace sds::detail {

/// The secret values `req` carries: the Authorization header and the
/// signature in it, X-Amz-Security-Token, and the query's sig,
/// X-Amz-Signature and X-Amz-Security-Token parameters as sent and
/// percent-decoded. Values under 8 characters are left out (they could not
/// be told from ordinary text, and no real credential is that short).
std::vector<std::string> secrets_in(const http_request& req);

/// Replaces every occurrence of each of `secrets` in `text` with
/// "[redacted]", the longest first (so none is left half shown).
void redact(std::string& text, const std::vector<std::string>& secrets);

} // namespace sds::detail
