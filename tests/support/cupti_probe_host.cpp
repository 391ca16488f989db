// zt_cupti_probe_host LIBRARY [--wait]: loads the CUPTI injection library the way the CUDA driver
// does (dlopen, then InitializeInjection) in a process with no CUDA at all, and exits normally so
// the library's atexit path runs. Prints "InitializeInjection=<n>" on stdout; exit status 2 when the
// library or its entry point is missing. With --wait it prints "loaded" after the dlopen and waits
// for a line on stdin before calling InitializeInjection (so that an agent can probe the library).
#include <dlfcn.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool wait = argc == 3 && std::strcmp(argv[2], "--wait") == 0;
  if (argc != 2 && !wait) {
    std::fprintf(stderr, "usage: %s libzerotrace_cupti.so [--wait]\n", argv[0]);
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
  if (wait) {
    std::printf("loaded\n");
    std::fflush(stdout);
    char line[64];
    if (std::fgets(line, sizeof line, stdin) == nullptr) return 0;
  }
  std::printf("InitializeInjection=%d\n", init());
  return 0;
}
