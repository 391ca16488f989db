// Finds the files of uprobe families (uprobe_family.h) in traced processes and probes them, per
// (file, process): every function a family has in a file is covered by one attachment, a
// uprobe_multi link per program where the kernel has them (6.6+), one link per function elsewhere.
//
// A process is scanned when it becomes traced, after exec and fork, and shortly after it maps a
// file executable (ZT_EV_EXEC_MAPPING: dlopen). A scan reads /proc/PID/maps once for every family;
// files already examined in that process are skipped, new ones are parsed once for all processes
// (symbols::SymbolCache, keyed by device/inode/size/mtime and build-id). Files are opened through
// /proc/PID/root (the process's own mount namespace) or, once deleted, /proc/PID/map_files.
// Probes are bound to one process: a forked child is probed on its own. Single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "probes/uprobe_family.h"
#include "probes/uprobe_link.h"
#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"

namespace zt::probes {

struct UprobeAttacherOptions {
  std::string proc_root = "/proc";
  bool uprobe_multi = false;   // the loader loaded uprobe_multi programs (BpfLoader::uprobe_multi())
  std::uint32_t self_pid = 0;  // never probed (the agent itself: its exporters use libssl)
  std::uint64_t exec_mapping_delay_ns = 20'000'000;  // the mmap is still in progress at the event
  // Families marked only_with_sockets wait for a process's sockets (node mode: every process of
  // the node, most of them short-lived). Off (attach, exec: the user named the processes), they
  // are probed at once: a connection's first exchange, which a late attach would miss, matters
  // (HTTP/2's header compression state is learnt from it).
  bool wait_for_sockets = false;
  // Called with the maps of every scan, for symbolizers that must know a process's files before
  // it exits (its records are read after).
  std::function<void(std::uint32_t pid, const std::vector<symbols::Mapping>& maps)> on_maps;
};

// Counted per family; the attacher's own counters are in UprobeAttacherStats.
struct UprobeFamilyStats {
  std::uint64_t files_probed = 0;      // (file, process) pairs with at least one function attached
  std::uint64_t files_incomplete = 0;  // files lacking a required function (not probed)
  std::uint64_t functions_attached = 0;
  std::uint64_t functions_failed = 0;  // attach errors (counted, logged, the rest go on)
  std::uint64_t links = 0;             // kernel links created
};

struct UprobeAttacherStats {
  std::uint64_t scans = 0;             // maps read
  std::uint64_t files_examined = 0;    // new (process, file) pairs looked at
  std::uint64_t files_unreadable = 0;  // could not be opened or parsed (counted, skipped)
  std::uint64_t multi_fallbacks = 0;   // uprobe_multi attachments retried one function at a time
  std::uint64_t deferred = 0;          // files left for a process's first socket activity
  std::uint64_t socket_rechecks = 0;   // later looks at a waiting process's descriptors
};

class UprobeAttacher {
 public:
  // `cache`, when given, outlives the attacher; otherwise it has its own.
  UprobeAttacher(std::vector<UprobeFamily> families, AttachUprobe attach, UprobeAttacherOptions options = {},
                 symbols::SymbolCache* cache = nullptr);

  // Lifecycle events of a traced process. `now_ns` is CLOCK_MONOTONIC; scans run in tick().
  void on_traced(std::uint32_t pid, std::uint64_t now_ns) { request_scan(pid, now_ns); }
  void on_fork(std::uint32_t child, std::uint64_t now_ns) { request_scan(child, now_ns); }
  // A new program image: the old probes go with it.
  void on_exec(std::uint32_t pid, std::uint64_t now_ns);
  void on_exec_mapping(std::uint32_t pid, std::uint64_t now_ns) {
    request_scan(pid, now_ns + options_.exec_mapping_delay_ns);
  }
  // Exited, or no longer traced: its probes are detached.
  void on_exit(std::uint32_t pid);
  // The process opened or used a connection: families that wait for sockets are probed now in
  // the files its scans found.
  void on_socket_activity(std::uint32_t pid);

  // Probes `files` for `pid` before the process maps them: a command about to exec, whose
  // libraries are not mapped yet, would otherwise run its first calls before the scan that
  // follows its exec (a kernel uprobe bound to a process is armed when the file is mapped later).
  // The next exec keeps these probes; files probed here are not probed again when mapped.
  // Returns the number of functions attached.
  std::size_t prearm(std::uint32_t pid, const std::vector<std::string>& files);
  // Files a command about to run may map that some family probes: its executable (`program`,
  // resolved on PATH like execvp) for families that look in any file, and the files matching a
  // family's name patterns in `library_dirs`.
  std::vector<std::string> prearm_candidates(const std::string& program,
                                             const std::vector<std::string>& library_dirs) const;

  // Scans the processes whose scan is due; looks again at the descriptors of processes whose files
  // wait for sockets (20 ms, 100 ms, 300 ms, 1 s and 3 s after the wait began; then only their
  // first connection probes them).
  void tick(std::uint64_t now_ns);
  // Scans `pid` now; returns the number of functions attached by this scan.
  std::size_t scan(std::uint32_t pid);

  // Processes with at least one probe of `family` (of any family when empty).
  std::size_t probed_processes(const std::string& family = {}) const;
  const UprobeAttacherStats& stats() const { return stats_; }
  // Zeroes for a family not given to the constructor.
  const UprobeFamilyStats& family_stats(const std::string& family) const;
  const std::vector<UprobeFamily>& families() const { return families_; }
  // The parsed files; shared with whoever symbolizes the same processes.
  symbols::SymbolCache& symbol_cache() { return *cache_; }

 private:
  struct FileId {
    std::uint64_t dev = 0;
    std::uint64_t inode = 0;
    auto operator<=>(const FileId&) const = default;
  };
  struct Probed {  // one family in one file of one process
    std::size_t family = 0;
    std::string module;
    std::vector<UprobeLinkPtr> links;
  };
  struct Process {
    std::set<FileId> seen;
    std::set<std::string> prearmed_paths;  // probed before exec, by path (stat and maps may name
                                           // an overlay's file by different devices)
    bool keep_at_exec = false;             // prearmed: the coming exec is the one prepared for
    bool sockets = false;                  // the process was seen using a socket
    struct Deferred {                      // a file of a family waiting for the process's sockets
      std::size_t family;
      std::string module;
      std::string path;
    };
    std::vector<Deferred> deferred;
    std::vector<Probed> probed;
  };

  void request_scan(std::uint32_t pid, std::uint64_t due_ns);
  bool candidate(const UprobeFamily& family, const std::string& module) const;
  // Probes the files left waiting for the process's sockets.
  std::size_t probe_deferred(std::uint32_t pid, Process& p);
  std::size_t probe_file(std::uint32_t pid, Process& p, std::size_t family, const std::string& module,
                         const std::string& path, const symbols::ElfFile& elf);

  std::vector<UprobeFamily> families_;
  AttachUprobe attach_;
  UprobeAttacherOptions options_;
  std::unique_ptr<symbols::SymbolCache> own_cache_;  // when none is given
  symbols::SymbolCache* cache_;
  std::map<std::uint32_t, Process> processes_;
  std::map<std::uint32_t, std::uint64_t> due_;  // pid -> when to scan
  // Processes with files waiting for sockets: when to look at their descriptors again, and how many
  // looks so far (a server binds after it loads its TLS library, without another mapping).
  struct Recheck {
    std::uint64_t due_ns = 0;
    std::size_t done = 0;
  };
  std::map<std::uint32_t, Recheck> rechecks_;
  std::uint64_t last_tick_ns_ = 0;
  UprobeAttacherStats stats_;
  std::vector<UprobeFamilyStats> family_stats_;
};

}  // namespace zt::probes
