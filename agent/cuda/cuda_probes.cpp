#include "cuda/cuda_probes.h"

#include "cuda/cuda_api.h"

namespace zt::cuda {

const probes::UprobeFamily& probe_family() {
  static const probes::UprobeFamily family = [] {
    probes::UprobeFamily f;
    f.name = "cuda";
    f.display_name = "CUDA";
    // Not only libcudart.so*, libcuda.so* and libzerotrace_cupti.so: nvcc links cudart statically
    // by default, and frameworks link it into their own libraries.
    f.library.any_file_defining = true;
    for (const auto& api : all_apis()) {
      probes::UprobeSpec spec;
      spec.symbols.assign(api.symbols.begin(), api.symbols.end());
      spec.every_variant = true;
      if (api.api == ZT_CUPTI_DELIVER) {
        spec.entry_program = "cupti_deliver";
      } else {
        spec.entry_program = "cuda_enter";
        spec.return_program = "cuda_exit";
      }
      spec.cookie = static_cast<std::uint64_t>(api.api);
      f.probes.push_back(std::move(spec));
    }
    return f;
  }();
  return family;
}

}  // namespace zt::cuda
