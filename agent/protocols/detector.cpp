#include "protocols/detector.h"

namespace zt::protocols {

std::unique_ptr<ConnectionParser> detect_protocol(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  for (const Detector detect : Protocols::kDetectors) {
    if (auto parser = detect(dir, chunk, role, midstream)) return parser;
  }
  return nullptr;
}

}  // namespace zt::protocols
