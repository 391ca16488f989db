// The CUDA functions zerotrace probes (enum zt_cuda_api in bpf/include/zerotrace/cuda_abi.h):
// their names, the symbols that implement them, and how to read their arguments.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "zerotrace/cuda_abi.h"

namespace zt::cuda {

enum class ApiFamily : std::uint8_t { Launch, Memcpy, Memset, Malloc, Free, Synchronize, Naming, Cupti };

struct ApiInfo {
  zt_cuda_api api;
  std::string_view name;      // the public name, as users know it: "cudaLaunchKernel", "cuMemcpyHtoD"
  ApiFamily family;
  bool driver;                // libcuda (true) or libcudart (false)
  bool async;
  // Symbols to probe for it, in the order to try; every one that exists is probed (the _ptsz/_ptds
  // variants are what code compiled with --default-stream per-thread calls).
  std::vector<std::string_view> symbols;
};

// Every probed API, runtime first.
const std::vector<ApiInfo>& all_apis();
// nullptr for an unknown value.
const ApiInfo* api_info(std::uint32_t api);
// "cudaMemcpy", or "cuda_api_<n>" for an unknown value.
std::string_view api_name(std::uint32_t api);
// "HtoD", "DtoH", "DtoD", "HtoH", "Default"; "" for other values.
std::string_view memcpy_kind_name(std::uint32_t kind);

}  // namespace zt::cuda
