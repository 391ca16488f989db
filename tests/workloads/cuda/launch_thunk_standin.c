/* A stand-in for CUDA 13's <<<>>> launch path as it behaves with a driver (GPU review, finding 1),
 * for tests on machines without a GPU: __cudaGetKernel gives a kernel handle that is not the host
 * function (without a driver the real one stores the host function there, which hid the bug), and
 * __cudaLaunchKernel is the same 10-byte thunk as in libcudart 13 (push %rbp; mov %rsp,%rbp;
 * pop %rbp; jmp cudaLaunchKernel): the second entry probe sees the first one's stack pointer.
 *
 *   launch_thunk_standin [LAUNCHES]   prints "ready", and at a line on stdin launches "vecAdd"
 *                                     LAUNCHES times (default 3) and prints "done LAUNCHED FAILED";
 *                                     exits when stdin closes
 *
 * Plain C, x86-64 only (the thunk is assembly). The symbols are named as nvcc's output names them,
 * so that zerotrace's CUDA probe family finds them in this executable (as in a static cudart). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  unsigned x, y, z;
} dim3;

static char kernel_objects[64];
static volatile int launched;

/* The kernel's host function, under the name nvcc gives `__global__ void vecAdd(float *)`. */
__attribute__((noinline, used)) void _Z6vecAddPf(float* x) { (void)x; }

__attribute__((noinline, used)) int __cudaGetKernel(void** handle, const void* host_function) {
  /* A handle of the runtime's own, unrelated to the host function's address. */
  *handle = &kernel_objects[((uintptr_t)host_function >> 4) & 31];
  return 0;
}

__attribute__((noinline, used)) int cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args,
                                                     size_t shared_mem, void* stream) {
  (void)grid;
  (void)block;
  (void)args;
  (void)shared_mem;
  (void)stream;
  launched = launched + 1;
  return func ? 0 : 1;
}

__asm__(
    ".text\n"
    ".globl __cudaLaunchKernel\n"
    ".type __cudaLaunchKernel, @function\n"
    "__cudaLaunchKernel:\n"
    "  push %rbp\n"
    "  mov %rsp, %rbp\n"
    "  pop %rbp\n"
    "  jmp cudaLaunchKernel\n"
    ".size __cudaLaunchKernel, .-__cudaLaunchKernel\n");
int __cudaLaunchKernel(const void* handle, dim3 grid, dim3 block, void** args, size_t shared_mem, void* stream);

/* What nvcc's stub does for vecAdd<<<grid, block, shmem>>>(x). */
__attribute__((noinline)) static int launch_vec_add(float* x) {
  static void* handle;
  if (!handle) __cudaGetKernel(&handle, (const void*)&_Z6vecAddPf);
  void* args[] = {&x};
  const dim3 grid = {40, 2, 1};
  const dim3 block = {128, 1, 1};
  return __cudaLaunchKernel(handle, grid, block, args, 256, NULL);
}

int main(int argc, char** argv) {
  const int launches = argc > 1 ? atoi(argv[1]) : 3;
  float x = 0;
  int failed = 0;
  printf("ready\n");
  fflush(stdout);
  for (int c = getchar(); c != EOF; c = getchar()) {
    if (c != '\n') continue;
    for (int i = 0; i < launches; ++i) failed += launch_vec_add(&x) != 0;
    printf("done %d %d\n", launched, failed);
    fflush(stdout);
  }
  return failed != 0;
}
