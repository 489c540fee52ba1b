// The version of the sds library a program was linked with.
#pragma once

#include <string_view>

namespace sds {

/// "major.minor.patch" of the linked sds library.
std::string_view version() noexcept;

} // namespace sds
