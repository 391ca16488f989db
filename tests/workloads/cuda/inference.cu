// The GPU half of inference_server.py: a shared library (cudart linked into it statically, as in
// libtorch_cuda.so) whose predict() runs one request's GPU work on the calling thread.
#include <cuda_runtime.h>

#include <vector>

namespace model {
__global__ void relu(float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && x[i] < 0) x[i] = 0;
}
}  // namespace model

// Returns the first failing call's cudaError_t (0 when everything succeeded).
extern "C" int predict(int elements) {
  std::vector<float> host(static_cast<size_t>(elements), -1.0f);
  float* dev = nullptr;
  int first = 0;
  auto note = [&](cudaError_t e) {
    if (e != cudaSuccess && first == 0) first = static_cast<int>(e);
  };
  note(cudaMalloc(&dev, host.size() * sizeof(float)));
  note(cudaMemcpy(dev, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  model::relu<<<(elements + 255) / 256, 256>>>(dev, elements);
  note(cudaGetLastError());
  note(cudaMemcpy(host.data(), dev, host.size() * sizeof(float), cudaMemcpyDeviceToHost));
  note(cudaDeviceSynchronize());
  note(cudaFree(dev));
  return first;
}
