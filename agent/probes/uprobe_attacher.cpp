#include "probes/uprobe_attacher.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include <spdlog/spdlog.h>

#include "symbols/process_symbols.h"

namespace zt::probes {
namespace {

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

UprobeAttacher::UprobeAttacher(std::vector<UprobeFamily> families, AttachUprobe attach, UprobeAttacherOptions options,
                               symbols::SymbolCache* cache)
    : families_(std::move(families)),
      attach_(std::move(attach)),
      options_(std::move(options)),
      own_cache_(cache ? nullptr : std::make_unique<symbols::SymbolCache>()),
      cache_(cache ? cache : own_cache_.get()),
      family_stats_(families_.size()) {}

void UprobeAttacher::request_scan(std::uint32_t pid, std::uint64_t due_ns) {
  if (pid == options_.self_pid && pid != 0) return;
  auto [it, fresh] = due_.emplace(pid, due_ns);
  if (!fresh) it->second = std::min(it->second, due_ns);
}

void UprobeAttacher::on_exec(std::uint32_t pid, std::uint64_t now_ns) {
  auto it = processes_.find(pid);
  if (it != processes_.end() && it->second.keep_at_exec) {
    it->second.keep_at_exec = false;
  } else {
    processes_.erase(pid);
  }
  request_scan(pid, now_ns);
}

std::vector<std::string> UprobeAttacher::prearm_candidates(const std::string& program,
                                                           const std::vector<std::string>& library_dirs) const {
  std::vector<std::string> out;
  std::set<std::string> unique;
  const auto add = [&](const std::string& path) {
    std::error_code ec;
    const auto real = std::filesystem::canonical(path, ec);
    if (ec || !std::filesystem::is_regular_file(real, ec)) return;
    if (unique.insert(real.string()).second) out.push_back(real.string());
  };
  const bool any_file = std::any_of(families_.begin(), families_.end(),
                                    [](const UprobeFamily& f) { return f.library.any_file_defining; });
  if (any_file && !program.empty()) {
    if (program.find('/') != std::string::npos) {
      add(program);
    } else if (const char* path = std::getenv("PATH")) {
      std::string_view dirs(path);
      while (!dirs.empty()) {
        const auto colon = dirs.find(':');
        const std::string dir(dirs.substr(0, colon));
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
        std::error_code ec;
        const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate, ec)) {
          add(candidate.string());
          break;
        }
      }
    }
  }
  for (const auto& dir : library_dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      for (const auto& family : families_) {
        const bool match =
            std::any_of(family.library.file_names.begin(), family.library.file_names.end(),
                        [&](const std::string& p) { return ::fnmatch(p.c_str(), name.c_str(), 0) == 0; });
        if (match) add(entry.path().string());
      }
    }
  }
  return out;
}

std::size_t UprobeAttacher::prearm(std::uint32_t pid, const std::vector<std::string>& files) {
  if (pid == options_.self_pid && pid != 0) return 0;
  Process& p = processes_[pid];
  p.keep_at_exec = true;
  p.sockets = true;  // a command is prepared for before it runs: its first calls must be seen
  std::size_t attached = 0;
  for (const auto& path : files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    if (!p.seen.insert(FileId{st.st_dev, st.st_ino}).second) continue;
    p.prearmed_paths.insert(path);
    auto elf = cache_->get(path);
    if (!elf) {
      ++stats_.files_unreadable;
      continue;
    }
    for (std::size_t f = 0; f < families_.size(); ++f) {
      if (candidate(families_[f], path)) attached += probe_file(pid, p, f, path, path, *elf.value());
    }
  }
  return attached;
}

void UprobeAttacher::on_exit(std::uint32_t pid) {
  processes_.erase(pid);
  due_.erase(pid);
  rechecks_.erase(pid);
}

void UprobeAttacher::on_socket_activity(std::uint32_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end() || it->second.sockets) return;
  it->second.sockets = true;
  probe_deferred(pid, it->second);
}

std::size_t UprobeAttacher::probe_deferred(std::uint32_t pid, Process& p) {
  auto deferred = std::move(p.deferred);
  p.deferred.clear();
  std::size_t attached = 0;
  for (const auto& d : deferred) {
    auto elf = cache_->get(d.path);
    if (!elf) {
      ++stats_.files_unreadable;
      continue;
    }
    attached += probe_file(pid, p, d.family, d.module, d.path, *elf.value());
  }
  return attached;
}

namespace {

// Whether the process holds a socket of any kind (a server's listening one, a client's
// connection): one readlink per open file, only for processes with a family that waits for them.
bool holds_socket(std::uint32_t pid, const std::string& proc_root) {
  std::error_code ec;
  const std::filesystem::path fds = std::filesystem::path(proc_root) / std::to_string(pid) / "fd";
  for (const auto& entry : std::filesystem::directory_iterator(fds, ec)) {
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string().starts_with("socket:[")) return true;
  }
  return false;
}

}  // namespace

void UprobeAttacher::tick(std::uint64_t now_ns) {
  last_tick_ns_ = now_ns;
  static constexpr std::uint64_t kRecheckAfterNs[] = {20'000'000, 100'000'000, 300'000'000, 1'000'000'000,
                                                      3'000'000'000};
  for (auto it = rechecks_.begin(); it != rechecks_.end();) {
    if (it->second.due_ns > now_ns) {
      ++it;
      continue;
    }
    const std::uint32_t pid = it->first;
    auto p = processes_.find(pid);
    if (p == processes_.end() || p->second.sockets || p->second.deferred.empty()) {
      it = rechecks_.erase(it);
      continue;
    }
    ++stats_.socket_rechecks;
    if (holds_socket(pid, options_.proc_root)) {
      p->second.sockets = true;
      probe_deferred(pid, p->second);
      it = rechecks_.erase(it);
      continue;
    }
    if (++it->second.done >= std::size(kRecheckAfterNs)) {
      it = rechecks_.erase(it);
      continue;
    }
    it->second.due_ns = now_ns + kRecheckAfterNs[it->second.done];
    ++it;
  }
  for (auto it = due_.begin(); it != due_.end();) {
    if (it->second > now_ns) {
      ++it;
      continue;
    }
    const std::uint32_t pid = it->first;
    it = due_.erase(it);
    scan(pid);
  }
}

bool UprobeAttacher::candidate(const UprobeFamily& family, const std::string& module) const {
  if (family.library.any_file_defining) return true;
  const std::string name = file_name(module);
  return std::any_of(family.library.file_names.begin(), family.library.file_names.end(),
                     [&](const std::string& pattern) { return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0; });
}

std::size_t UprobeAttacher::scan(std::uint32_t pid) {
  if (pid == options_.self_pid && pid != 0) return 0;
  auto maps = symbols::read_maps(pid, options_.proc_root);
  if (!maps) return 0;  // gone already
  ++stats_.scans;
  if (options_.on_maps) options_.on_maps(pid, maps.value());
  Process& p = processes_[pid];
  std::size_t attached = 0;
  for (const auto& m : symbols::executable_mappings(maps.value())) {
    if (!p.seen.insert(FileId{makedev(m.dev_major, m.dev_minor), m.inode}).second) continue;
    if (p.prearmed_paths.contains(m.path)) continue;
    ++stats_.files_examined;
    std::vector<std::size_t> wanted;
    for (std::size_t f = 0; f < families_.size(); ++f) {
      if (candidate(families_[f], m.path)) wanted.push_back(f);
    }
    if (wanted.empty()) continue;
    const std::string path = symbols::mapping_file_path(pid, m, options_.proc_root);
    auto elf = cache_->get(path);
    if (!elf) {
      ++stats_.files_unreadable;
      spdlog::debug("pid {}: {} not examined for uprobes: {}", pid, m.path, elf.error().message);
      continue;
    }
    for (std::size_t f : wanted) {
      if (options_.wait_for_sockets && families_[f].only_with_sockets && !p.sockets) {
        p.sockets = holds_socket(pid, options_.proc_root);
        if (!p.sockets) {
          p.deferred.push_back({f, m.path, path});
          ++stats_.deferred;
          rechecks_.try_emplace(pid, Recheck{last_tick_ns_ + 20'000'000, 0});
          spdlog::trace("pid {}: {} waits for the process's sockets ({})", pid, m.path, families_[f].display_name);
          continue;
        }
        // The files an earlier scan left waiting (a library loaded before the server bound its
        // socket) are probed now too: no socket activity will ask for them again.
        attached += probe_deferred(pid, p);
      }
      attached += probe_file(pid, p, f, m.path, path, *elf.value());
    }
  }
  return attached;
}

std::size_t UprobeAttacher::probe_file(std::uint32_t pid, Process& p, std::size_t f, const std::string& module,
                                       const std::string& path, const symbols::ElfFile& elf) {
  const UprobeFamily& family = families_[f];
  UprobeFamilyStats& fs = family_stats_[f];
  const FoundSites found = find_sites(family, elf);
  if (found.sites.empty()) return 0;
  if (!found.missing_required.empty()) {
    ++fs.files_incomplete;
    spdlog::info("pid {}: {} not probed for {}: it lacks {}", pid, module, family.display_name, found.missing_required);
    return 0;
  }

  // Sites grouped by their program pair: a group is attached whole (entry and return together).
  std::map<std::pair<std::string, std::string>, std::vector<const UprobeSite*>> groups;
  for (const auto& site : found.sites) {
    const UprobeSpec& spec = family.probes[site.spec];
    if (spec.entry_program.empty() && spec.return_program.empty()) continue;
    groups[{spec.entry_program, spec.return_program}].push_back(&site);
  }

  std::size_t total = 0;
  for (const auto& [programs, sites] : groups) total += sites.size();
  Probed probed{f, module, {}};
  std::size_t ok = 0;
  std::string first_error;
  // Attaches `sites` with both programs of a group, or nothing.
  auto attach_group = [&](const std::string& entry, const std::string& ret,
                          const std::vector<const UprobeSite*>& sites) -> bool {
    std::vector<UprobeLinkPtr> links;
    for (const auto* program : {&entry, &ret}) {
      if (program->empty()) continue;
      UprobeRequest req{family.name, *program, program == &ret, pid, path, {}, {}};
      for (const auto* site : sites) {
        req.offsets.push_back(site->offset);
        req.cookies.push_back(site->cookie ? site->cookie : family.probes[site->spec].cookie);
      }
      auto link = attach_(req);
      if (!link) {
        if (first_error.empty()) first_error = link.error().message;
        return false;
      }
      links.push_back(std::move(link.value()));
    }
    fs.links += links.size();
    for (auto& l : links) probed.links.push_back(std::move(l));
    return true;
  };
  for (const auto& [programs, sites] : groups) {
    const auto& [entry, ret] = programs;
    if (options_.uprobe_multi && attach_group(entry, ret, sites)) {
      ok += sites.size();
      continue;
    }
    // One link per function: without uprobe_multi, or to keep the functions that can be probed
    // when one of them cannot.
    if (options_.uprobe_multi) ++stats_.multi_fallbacks;
    for (const auto* site : sites) {
      if (attach_group(entry, ret, {site})) {
        ++ok;
      } else {
        ++fs.functions_failed;
      }
    }
  }
  fs.functions_attached += ok;
  if (ok) {
    ++fs.files_probed;
    spdlog::info("pid {}: probing {} {} functions in {}", pid, ok, family.display_name, module);
    p.probed.push_back(std::move(probed));
  }
  if (ok < total) {
    spdlog::warn("pid {}: {} of {} {} probes in {} failed: {}", pid, total - ok, total, family.display_name, module,
                 first_error);
  }
  return ok;
}

std::size_t UprobeAttacher::probed_processes(const std::string& family) const {
  std::size_t n = 0;
  for (const auto& [pid, p] : processes_) {
    n += std::any_of(p.probed.begin(), p.probed.end(),
                     [&](const Probed& pr) { return family.empty() || families_[pr.family].name == family; });
  }
  return n;
}

const UprobeFamilyStats& UprobeAttacher::family_stats(const std::string& family) const {
  static const UprobeFamilyStats kNone;
  for (std::size_t f = 0; f < families_.size(); ++f) {
    if (families_[f].name == family) return family_stats_[f];
  }
  return kNone;
}

}  // namespace zt::probes
