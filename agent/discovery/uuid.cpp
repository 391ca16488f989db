#include "discovery/uuid.h"

#include <uuid/uuid.h>

#include <algorithm>

namespace zt::discovery {

std::string uuid_v5(const Uuid& name_space, std::string_view name) {
  static_assert(sizeof(uuid_t) == sizeof(Uuid));
  uuid_t ns;
  std::copy(name_space.begin(), name_space.end(), ns);
  uuid_t out;
  // libuuid hashes the namespace then the name with SHA-1 and sets the version and variant bits.
  uuid_generate_sha1(out, ns, name.data(), name.size());
  char text[37];
  uuid_unparse_lower(out, text);
  return std::string(text, 36);
}

}  // namespace zt::discovery
