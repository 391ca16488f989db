// zt_cupti_probe_host LIBRARY: loads the CUPTI injection library the way the CUDA driver does
// (dlopen, then InitializeInjection) in a process with no CUDA at all, and exits normally so the
// library's atexit path runs. Prints "InitializeInjection=<n>" on stdout; exit status 2 when the
// library or its entry point is missing.
#include <dlfcn.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s libzerotrace_cupti.so\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  auto* init = reinterpret_cast<int (*)()>(dlsym(lib, "InitializeInjection"));
  if (init == nullptr) {
    std::fprintf(stderr, "no InitializeInjection in %s\n", argv[1]);
    return 2;
  }
  std::printf("InitializeInjection=%d\n", init());
  return 0;
}
