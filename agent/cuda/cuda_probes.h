// The CUDA uprobe family: the runtime (libcudart, or cudart linked statically into an executable
// or a library such as libtorch_cuda.so), the driver (libcuda) and the CUPTI injection library's
// hand-off function, probed by bpf/cuda.bpf.c. probes::UprobeAttacher finds and attaches them;
// cuda::KernelNaming (kernel_naming.h) names the kernels that launches refer to.
#pragma once

#include "probes/uprobe_family.h"

namespace zt::cuda {

// Every API of cuda_api.h with all its symbol variants, the attach cookie carrying the API (enum
// zt_cuda_api); entry and return programs, the CUPTI hand-off entry only. Any executable file may
// carry them (static cudart), every function is optional.
const probes::UprobeFamily& probe_family();

}  // namespace zt::cuda
