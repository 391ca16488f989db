// C++ view of the records the BPF programs emit (bpf/include/zerotrace/abi.h).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/common.h"
#include "zerotrace/abi.h"

namespace zt::pipeline {

// The layout is a contract with the kernel side: any change must be deliberate.
static_assert(sizeof(zt_tuple) == 40);
static_assert(sizeof(zt_event_header) == 24);
static_assert(sizeof(zt_data_event) == 112);
static_assert(sizeof(zt_conn_event) == 96);
static_assert(sizeof(zt_proc_event) == 56);
static_assert(offsetof(zt_data_event, tuple) == 72);

// Decoded endpoints of a socket, as the traced process sees them.
using protocols::Endpoint;

Endpoint local_endpoint(const zt_tuple& t);
Endpoint remote_endpoint(const zt_tuple& t);

// Reads a record of `size` bytes as T when it is large enough to hold one.
template <typename T>
std::optional<T> read_record(const void* data, std::size_t size) {
  if (size < sizeof(T)) return std::nullopt;
  T out;
  std::memcpy(&out, data, sizeof(T));
  return out;
}

}  // namespace zt::pipeline
