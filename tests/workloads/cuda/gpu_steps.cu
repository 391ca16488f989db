// A CUDA program for the end-to-end tests: the steps of a typical inference call (allocate, copy
// in, launch two kernels - one with <<<>>>, one through cudaLaunchKernel - copy out, set,
// synchronise, free), repeated on demand.
//
//   gpu_steps [ROUNDS] [LAUNCHES]
// prints "ready", then for every line read on stdin runs ROUNDS rounds (default 1), each launching
// vecAdd LAUNCHES times (default 1), and prints one line per CUDA call with its result, e.g.
// "cudaMemcpy cudaErrorInsufficientDriver", and "launch_ns N", the mean time of a vecAdd launch.
// EOF ends it. Without a GPU every call fails with the driver's error and the tests check that the
// error is reported; with one, they succeed.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace demo {
template <typename T>
__global__ void scale(T* x, T a, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}
}  // namespace demo

__global__ void vecAdd(const float* a, const float* b, float* c, int n) {
  extern __shared__ float scratch[];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    scratch[threadIdx.x] = a[i];
    c[i] = scratch[threadIdx.x] + b[i];
  }
}

static void report(const char* call, cudaError_t e) { std::printf("%s %s\n", call, cudaGetErrorName(e)); }

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 1;
  const int launches = argc > 2 ? std::atoi(argv[2]) : 1;
  constexpr int n = 1 << 20;  // 4 MiB of floats
  std::vector<float> host(n, 1.0f);
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    for (int r = 0; r < rounds; ++r) {
      float* dev = nullptr;
      report("cudaMalloc", cudaMalloc(&dev, n * sizeof(float)));
      report("cudaMemcpy", cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
      const auto t0 = std::chrono::steady_clock::now();
      for (int l = 0; l < launches; ++l) vecAdd<<<dim3(4096, 2, 1), dim3(256, 1, 1), 1024>>>(dev, dev, dev, n);
      const auto t1 = std::chrono::steady_clock::now();
      report("vecAdd", cudaGetLastError());
      // What a launch cost the calling thread (bench/cuda_overhead.sh compares traced and not).
      std::printf("launch_ns %.1f\n",
                  std::chrono::duration<double, std::nano>(t1 - t0).count() / (launches > 0 ? launches : 1));
      // The runtime API called directly with the kernel's host function, as PyTorch launches.
      float factor = 2.0f;
      int count = n;
      void* args[] = {&dev, &factor, &count};
      report("cudaLaunchKernel", cudaLaunchKernel(reinterpret_cast<const void*>(&demo::scale<float>), dim3(64, 1, 1),
                                                  dim3(128, 1, 1), args, 0, nullptr));
      report("cudaMemset", cudaMemset(dev, 0, 4096));
      report("cudaMemcpy", cudaMemcpy(host.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost));
      report("cudaDeviceSynchronize", cudaDeviceSynchronize());
      report("cudaFree", cudaFree(dev));
    }
    std::printf("done\n");
    std::fflush(stdout);
  }
  return 0;
}
