// Names of CUDA result codes, for span status messages and `error.type`.
#pragma once

#include <string>
#include <string_view>

namespace zt::cuda {

// cudaError_t (runtime API): "cudaErrorInsufficientDriver"; "cudaError(<n>)" for a code not in the
// table. The table holds the codes a traced program can meet in practice (driver_types.h, CUDA 12/13).
std::string runtime_error_name(int code);
// CUresult (driver API): "CUDA_ERROR_NO_DEVICE"; "CUresult(<n>)" for a code not in the table.
std::string driver_error_name(int code);

}  // namespace zt::cuda
