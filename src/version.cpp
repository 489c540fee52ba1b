#include <sds/version.hpp>

namespace sds {

std::string_view version() noexcept { return SDS_VERSION_STRING; }

} // namespace sds
