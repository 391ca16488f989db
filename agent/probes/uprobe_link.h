// What the uprobe attacher asks of the BPF loader, and what it gets back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace zt::probes {

// One program on functions of one file, for one process. With uprobe_multi (kernel 6.6+) every
// offset shares one link; otherwise a request carries one offset.
struct UprobeRequest {
  std::string family;   // the BPF object holding the program (UprobeFamily::name)
  std::string program;  // the program's name in bpf/<family>.bpf.c
  bool retprobe = false;
  std::uint32_t pid = 0;               // the probe fires in this process only
  std::string path;                    // the file, as the kernel should open it (/proc/PID/root/..., map_files)
  std::vector<std::uint64_t> offsets;  // file offsets of the functions' first instructions
  std::vector<std::uint64_t> cookies;  // one per offset
};

// Attached probes; destroying the owner detaches them.
class UprobeLink {
 public:
  virtual ~UprobeLink() = default;
};
using UprobeLinkPtr = std::unique_ptr<UprobeLink>;

using AttachUprobe = std::function<Result<UprobeLinkPtr>(const UprobeRequest&)>;

}  // namespace zt::probes
