#include "symbols/proc_maps.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace zt::symbols {

namespace {

// The next space-separated field of `line`, advancing it.
std::string_view next_field(std::string_view& line) {
  const auto begin = line.find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(begin);
  const auto end = std::min(line.find(' '), line.size());
  const std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

template <typename T>
bool parse_number(std::string_view s, T& out, int base) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// "start-end" or "major:minor": two hex numbers around one separator.
template <typename T>
bool parse_pair(std::string_view s, char sep, T& a, T& b) {
  const auto at = s.find(sep);
  return at != std::string_view::npos && parse_number(s.substr(0, at), a, 16) && parse_number(s.substr(at + 1), b, 16);
}

}  // namespace

std::vector<Mapping> parse_maps(std::string_view text) {
  std::vector<Mapping> out;
  while (!text.empty()) {
    const auto nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));

    Mapping m;
    const std::string_view range = next_field(line);
    const std::string_view perms = next_field(line);
    const std::string_view offset = next_field(line);
    const std::string_view dev = next_field(line);
    const std::string_view inode = next_field(line);
    if (!parse_pair(range, '-', m.start, m.end) || m.end < m.start || perms.size() != 4 ||
        !parse_number(offset, m.offset, 16) || !parse_pair(dev, ':', m.dev_major, m.dev_minor) ||
        !parse_number(inode, m.inode, 10)) {
      continue;
    }
    m.perms = std::string(perms);
    // The path is the rest after the padding; it may itself contain spaces.
    const auto path_begin = line.find_first_not_of(' ');
    if (path_begin != std::string_view::npos) {
      std::string_view path = line.substr(path_begin);
      constexpr std::string_view kDeleted = " (deleted)";
      if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
        path.remove_suffix(kDeleted.size());
        m.deleted = true;
      }
      m.path = std::string(path);
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<Mapping>> read_maps(std::uint32_t pid, const std::string& proc_root) {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/maps";
  std::ifstream in(path);
  if (!in) return make_error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(path + ": read error");
  return parse_maps(text.str());
}

std::vector<Mapping> executable_mappings(const std::vector<Mapping>& maps) {
  std::vector<Mapping> out;
  for (const auto& m : maps) {
    if (m.executable() && m.file_backed()) out.push_back(m);
  }
  return out;
}

std::string path_in_process(std::uint32_t pid, const std::string& path, const std::string& proc_root) {
  std::string out = proc_root + "/" + std::to_string(pid) + "/root";
  if (path.empty() || path[0] != '/') out += '/';
  return out + path;
}

std::optional<std::uint64_t> runtime_to_vaddr(const Mapping& m, const ElfFile& elf, std::uint64_t runtime_addr) {
  if (runtime_addr < m.start || runtime_addr >= m.end) return std::nullopt;
  const std::uint64_t delta = runtime_addr - m.start;
  if (m.offset > UINT64_MAX - delta) return std::nullopt;
  return elf.offset_to_vaddr(m.offset + delta);
}

}  // namespace zt::symbols
