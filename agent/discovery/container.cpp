#include "discovery/container.h"

#include <algorithm>
#include <array>

#include "core/text.h"

namespace zt::discovery {
namespace {

constexpr std::size_t kContainerIdLength = 64;
constexpr std::string_view kScopeSuffix = ".scope";
constexpr std::string_view kSliceSuffix = ".slice";
// systemd scope names the runtimes give a container's cgroup: "<prefix><id>.scope".
constexpr std::array<std::string_view, 4> kRuntimeScopePrefixes = {"docker-", "cri-containerd-", "crio-", "libpod-"};
// Directories whose 64-hex-digit subdirectory is a container's, best first (container.h).
constexpr std::array<std::string_view, 3> kContainerDirectories = {"containers", "overlay-containers", "sandboxes"};

bool is_container_id(std::string_view text) {
  return text.size() == kContainerIdLength && std::all_of(text.begin(), text.end(), zt::text::is_lower_hex_digit);
}

// Calls `visit` with each line, the last one with or without its '\n'.
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    visit(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
}

template <typename Visit>
void for_each_segment(std::string_view path, Visit visit) {
  for (;;) {
    const std::size_t slash = path.find('/');
    visit(path.substr(0, slash));
    if (slash == std::string_view::npos) return;
    path.remove_prefix(slash + 1);
  }
}

// "hierarchy-id:controllers:path": the path may itself hold ':'.
std::optional<std::string_view> cgroup_path_of(std::string_view line) {
  const std::size_t first = line.find(':');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = line.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  return line.substr(second + 1);
}

std::optional<std::string_view> container_id_in_segment(std::string_view segment) {
  if (is_container_id(segment)) return segment;
  if (segment.ends_with(kScopeSuffix)) segment.remove_suffix(kScopeSuffix.size());
  for (const std::string_view prefix : kRuntimeScopePrefixes) {
    // "crio-conmon-<id>" leaves "conmon-<id>", which is no id: the monitor is skipped.
    if (segment.starts_with(prefix) && is_container_id(segment.substr(prefix.size()))) {
      return segment.substr(prefix.size());
    }
  }
  return std::nullopt;
}

std::optional<std::string> pod_uid_in_path(std::string_view path) {
  std::optional<std::string> uid;
  bool under_kubepods = false;
  for_each_segment(path, [&](std::string_view segment) {
    // cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>
    if (under_kubepods && segment.starts_with("pod") && zt::text::is_uuid(segment.substr(3), zt::text::HexCase::LowerOnly)) {
      uid = std::string(segment.substr(3));
    }
    // systemd driver: kubepods[-burstable|-besteffort]-pod<uid with '_' for '-'>.slice
    if (segment.ends_with(kSliceSuffix)) {
      const std::string_view slice = segment.substr(0, segment.size() - kSliceSuffix.size());
      const std::size_t pod = slice.rfind("-pod");
      if (pod != std::string_view::npos &&
          (under_kubepods || slice.substr(0, pod).find("kubepods") != std::string_view::npos)) {
        std::string candidate(slice.substr(pod + 4));
        // systemd escapes every '-' of the uid as '_': a mix of both is not a pod slice.
        if (candidate.find('-') == std::string::npos) {
          std::replace(candidate.begin(), candidate.end(), '_', '-');
          if (zt::text::is_uuid(candidate, zt::text::HexCase::LowerOnly)) uid = std::move(candidate);
        }
      }
    }
    under_kubepods = under_kubepods || segment.find("kubepods") != std::string_view::npos;
  });
  return uid;
}

}  // namespace

std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_file) {
  std::optional<std::string> id;
  for_each_line(cgroup_file, [&](std::string_view line) {
    const auto path = cgroup_path_of(line);
    if (id || !path) return;
    for_each_segment(*path, [&](std::string_view segment) {
      if (const auto found = container_id_in_segment(segment)) id = std::string(*found);  // innermost wins
    });
  });
  return id;
}

std::optional<std::string> pod_uid_from_cgroup(std::string_view cgroup_file) {
  std::optional<std::string> uid;
  for_each_line(cgroup_file, [&](std::string_view line) {
    const auto path = cgroup_path_of(line);
    if (!uid && path) uid = pod_uid_in_path(*path);
  });
  return uid;
}

bool cgroup_path_is_namespace_root(std::string_view cgroup_file) {
  bool any = false;
  bool all_root = true;
  for_each_line(cgroup_file, [&](std::string_view line) {
    const auto path = cgroup_path_of(line);
    any = true;
    all_root = all_root && path && *path == "/";
  });
  return any && all_root;
}

std::optional<std::string> container_id_from_mountinfo(std::string_view mountinfo_file) {
  // Fields: mount id, parent id, major:minor, root, mount point, ...
  constexpr std::size_t kRootField = 3;
  std::array<std::optional<std::string_view>, kContainerDirectories.size()> found;
  for_each_line(mountinfo_file, [&](std::string_view line) {
    for (std::size_t field = 0; field < kRootField; ++field) {
      const std::size_t space = line.find(' ');
      if (space == std::string_view::npos) return;
      line.remove_prefix(space + 1);
    }
    const std::string_view root = line.substr(0, line.find(' '));
    std::string_view parent;
    for_each_segment(root, [&](std::string_view segment) {
      const auto directory = std::find(kContainerDirectories.begin(), kContainerDirectories.end(), parent);
      const auto rank = static_cast<std::size_t>(directory - kContainerDirectories.begin());
      if (directory != kContainerDirectories.end() && !found[rank] && is_container_id(segment)) found[rank] = segment;
      parent = segment;
    });
  });
  for (const auto& id : found) {
    if (id) return std::string(*id);
  }
  return std::nullopt;
}

}  // namespace zt::discovery
