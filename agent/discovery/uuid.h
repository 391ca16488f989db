// Name-based UUIDs (RFC 9562 version 5): the same namespace and name always give the same UUID.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace zt::discovery {

using Uuid = std::array<std::uint8_t, 16>;

// OpenTelemetry's namespace for service.instance.id (semantic conventions, service attributes):
// 4d63009a-8d0f-11ee-aad7-4c796ed8e320.
inline constexpr Uuid kServiceInstanceIdNamespace = {0x4d, 0x63, 0x00, 0x9a, 0x8d, 0x0f, 0x11, 0xee,
                                                     0xaa, 0xd7, 0x4c, 0x79, 0x6e, 0xd8, 0xe3, 0x20};

// SHA-1 of the namespace's bytes followed by the name, with version and variant bits set, in the
// lowercase 8-4-4-4-12 text form; what Python's uuid.uuid5(namespace, name) returns.
std::string uuid_v5(const Uuid& name_space, std::string_view name);

}  // namespace zt::discovery
