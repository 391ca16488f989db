#include "cuda/cuda_api.h"

namespace zt::cuda {

const std::vector<ApiInfo>& all_apis() {
  using F = ApiFamily;
  static const std::vector<ApiInfo> apis = {
      {ZT_CUDA_LAUNCH_KERNEL, "cudaLaunchKernel", F::Launch, false, true, {"cudaLaunchKernel", "cudaLaunchKernel_ptsz"}},
      {ZT_CUDA_LAUNCH_KERNEL_HANDLE, "cudaLaunchKernel", F::Launch, false, true,
       {"__cudaLaunchKernel", "__cudaLaunchKernel_ptsz"}},
      {ZT_CUDA_LAUNCH_KERNEL_EXC, "cudaLaunchKernelExC", F::Launch, false, true,
       {"cudaLaunchKernelExC", "cudaLaunchKernelExC_ptsz"}},
      {ZT_CUDA_MEMCPY, "cudaMemcpy", F::Memcpy, false, false, {"cudaMemcpy", "cudaMemcpy_ptds"}},
      {ZT_CUDA_MEMCPY_ASYNC, "cudaMemcpyAsync", F::Memcpy, false, true, {"cudaMemcpyAsync", "cudaMemcpyAsync_ptsz"}},
      {ZT_CUDA_MEMSET, "cudaMemset", F::Memset, false, false, {"cudaMemset", "cudaMemset_ptds"}},
      {ZT_CUDA_MEMSET_ASYNC, "cudaMemsetAsync", F::Memset, false, true, {"cudaMemsetAsync", "cudaMemsetAsync_ptsz"}},
      {ZT_CUDA_MALLOC, "cudaMalloc", F::Malloc, false, false, {"cudaMalloc"}},
      {ZT_CUDA_FREE, "cudaFree", F::Free, false, false, {"cudaFree"}},
      {ZT_CUDA_DEVICE_SYNCHRONIZE, "cudaDeviceSynchronize", F::Synchronize, false, false, {"cudaDeviceSynchronize"}},
      {ZT_CUDA_STREAM_SYNCHRONIZE, "cudaStreamSynchronize", F::Synchronize, false, false,
       {"cudaStreamSynchronize", "cudaStreamSynchronize_ptsz"}},
      {ZT_CUDA_EVENT_SYNCHRONIZE, "cudaEventSynchronize", F::Synchronize, false, false, {"cudaEventSynchronize"}},
      {ZT_CUDA_GET_KERNEL, "__cudaGetKernel", F::Naming, false, false, {"__cudaGetKernel"}},

      {ZT_CU_LAUNCH_KERNEL, "cuLaunchKernel", F::Launch, true, true, {"cuLaunchKernel", "cuLaunchKernel_ptsz"}},
      {ZT_CU_LAUNCH_KERNEL_EX, "cuLaunchKernelEx", F::Launch, true, true, {"cuLaunchKernelEx", "cuLaunchKernelEx_ptsz"}},
      {ZT_CU_MEMCPY, "cuMemcpy", F::Memcpy, true, false, {"cuMemcpy", "cuMemcpy_ptds"}},
      {ZT_CU_MEMCPY_ASYNC, "cuMemcpyAsync", F::Memcpy, true, true, {"cuMemcpyAsync", "cuMemcpyAsync_ptsz"}},
      {ZT_CU_MEMCPY_HTOD, "cuMemcpyHtoD", F::Memcpy, true, false, {"cuMemcpyHtoD_v2", "cuMemcpyHtoD_v2_ptds"}},
      {ZT_CU_MEMCPY_DTOH, "cuMemcpyDtoH", F::Memcpy, true, false, {"cuMemcpyDtoH_v2", "cuMemcpyDtoH_v2_ptds"}},
      {ZT_CU_MEMCPY_DTOD, "cuMemcpyDtoD", F::Memcpy, true, false, {"cuMemcpyDtoD_v2", "cuMemcpyDtoD_v2_ptds"}},
      {ZT_CU_MEMCPY_HTOD_ASYNC, "cuMemcpyHtoDAsync", F::Memcpy, true, true,
       {"cuMemcpyHtoDAsync_v2", "cuMemcpyHtoDAsync_v2_ptsz"}},
      {ZT_CU_MEMCPY_DTOH_ASYNC, "cuMemcpyDtoHAsync", F::Memcpy, true, true,
       {"cuMemcpyDtoHAsync_v2", "cuMemcpyDtoHAsync_v2_ptsz"}},
      {ZT_CU_MEMCPY_DTOD_ASYNC, "cuMemcpyDtoDAsync", F::Memcpy, true, true,
       {"cuMemcpyDtoDAsync_v2", "cuMemcpyDtoDAsync_v2_ptsz"}},
      {ZT_CU_MEMSET_D8, "cuMemsetD8", F::Memset, true, false, {"cuMemsetD8_v2", "cuMemsetD8_v2_ptds"}},
      {ZT_CU_MEMSET_D16, "cuMemsetD16", F::Memset, true, false, {"cuMemsetD16_v2", "cuMemsetD16_v2_ptds"}},
      {ZT_CU_MEMSET_D32, "cuMemsetD32", F::Memset, true, false, {"cuMemsetD32_v2", "cuMemsetD32_v2_ptds"}},
      {ZT_CU_MEMSET_D8_ASYNC, "cuMemsetD8Async", F::Memset, true, true, {"cuMemsetD8Async", "cuMemsetD8Async_ptsz"}},
      {ZT_CU_MEMSET_D16_ASYNC, "cuMemsetD16Async", F::Memset, true, true, {"cuMemsetD16Async", "cuMemsetD16Async_ptsz"}},
      {ZT_CU_MEMSET_D32_ASYNC, "cuMemsetD32Async", F::Memset, true, true, {"cuMemsetD32Async", "cuMemsetD32Async_ptsz"}},
      {ZT_CU_CTX_SYNCHRONIZE, "cuCtxSynchronize", F::Synchronize, true, false, {"cuCtxSynchronize"}},
      {ZT_CU_STREAM_SYNCHRONIZE, "cuStreamSynchronize", F::Synchronize, true, false,
       {"cuStreamSynchronize", "cuStreamSynchronize_ptsz"}},
      {ZT_CU_EVENT_SYNCHRONIZE, "cuEventSynchronize", F::Synchronize, true, false, {"cuEventSynchronize"}},
      {ZT_CU_MODULE_GET_FUNCTION, "cuModuleGetFunction", F::Naming, true, false, {"cuModuleGetFunction"}},
      {ZT_CU_LIBRARY_GET_KERNEL, "cuLibraryGetKernel", F::Naming, true, false, {"cuLibraryGetKernel"}},
      {ZT_CUPTI_DELIVER, "zerotrace_cupti_deliver", F::Cupti, false, false, {"zerotrace_cupti_deliver"}},
  };
  return apis;
}

const ApiInfo* api_info(std::uint32_t api) {
  for (const auto& a : all_apis()) {
    if (static_cast<std::uint32_t>(a.api) == api) return &a;
  }
  return nullptr;
}

std::string_view api_name(std::uint32_t api) {
  if (const auto* a = api_info(api)) return a->name;
  return "cuda_api_unknown";
}

std::string_view memcpy_kind_name(std::uint32_t kind) {
  switch (kind) {
    case ZT_MEMCPY_HOST_TO_HOST: return "HtoH";
    case ZT_MEMCPY_HOST_TO_DEVICE: return "HtoD";
    case ZT_MEMCPY_DEVICE_TO_HOST: return "DtoH";
    case ZT_MEMCPY_DEVICE_TO_DEVICE: return "DtoD";
    case ZT_MEMCPY_DEFAULT: return "Default";
    default: return "";
  }
}

}  // namespace zt::cuda
