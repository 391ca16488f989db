// The generic uprobe attacher on a fake /proc: which files it probes, how many attachments it asks
// for (uprobe_multi or one link per function), and when it lets them go.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "probes/uprobe_attacher.h"
#include "symbols/elf_file.h"

namespace zt::probes {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLib = "/usr/lib/libzt_elf_versioned.so";
constexpr const char* kProg = "/usr/bin/prog";

// A /proc with the processes a test makes: maps files, and the processes' files under root/.
class FakeProc {
 public:
  FakeProc() : root_(fs::temp_directory_path() / ("zt-uprobes-" + std::to_string(::getpid()) + "-" + next())) {
    fs::create_directories(root_);
  }
  ~FakeProc() { fs::remove_all(root_); }
  std::string root() const { return root_.string(); }

  // A file of process `pid` at `path` (its own root), linked to `target`.
  void file(std::uint32_t pid, const std::string& path, const std::string& target) {
    const fs::path at = root_ / std::to_string(pid) / "root" / path.substr(1);
    fs::create_directories(at.parent_path());
    fs::create_symlink(target, at);
  }
  void maps(std::uint32_t pid, const std::string& text) {
    fs::create_directories(root_ / std::to_string(pid));
    std::ofstream(root_ / std::to_string(pid) / "maps") << text;
  }
  fs::path dir(std::uint32_t pid) const { return root_ / std::to_string(pid); }
  // An open socket of process `pid` (its fd links to "socket:[inode]", as /proc shows them).
  void socket(std::uint32_t pid, int fd) {
    fs::create_directories(root_ / std::to_string(pid) / "fd");
    fs::create_symlink("socket:[" + std::to_string(4000 + fd) + "]",
                       root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  void open_file(std::uint32_t pid, int fd, const std::string& target) {
    fs::create_directories(root_ / std::to_string(pid) / "fd");
    fs::create_symlink(target, root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }

 private:
  static std::string next() {
    static int n = 0;
    return std::to_string(n++);
  }
  fs::path root_;
};

// The maps of a process running `prog` with the versioned library loaded (inode tells files apart).
std::string maps_with_lib(const char* lib_path = kLib, bool deleted = false) {
  return std::string("555555554000-555555556000 r--p 00000000 fd:01 100 ") + kProg + "\n" +
         "555555556000-555555557000 r-xp 00002000 fd:01 100 " + kProg + "\n" +
         "7f0000000000-7f0000001000 r--p 00000000 fd:01 200 " + lib_path + (deleted ? " (deleted)" : "") + "\n" +
         "7f0000001000-7f0000002000 r-xp 00001000 fd:01 200 " + lib_path + (deleted ? " (deleted)" : "") + "\n" +
         "7f0000002000-7f0000003000 rw-p 00002000 fd:01 200 " + lib_path + (deleted ? " (deleted)" : "") + "\n" +
         "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";
}
std::string maps_without_lib() {
  return std::string("555555556000-555555557000 r-xp 00002000 fd:01 100 ") + kProg + "\n";
}

UprobeFamily versioned_family() {
  UprobeFamily f;
  f.name = "test";
  f.display_name = "TEST";
  f.library.file_names = {"libzt_elf_versioned.so*"};
  f.probes.push_back({{"zt_lib_func"}, true, "enter", "exit", 1, false});
  // Both versions of one function, each probed.
  f.probes.push_back({{"zt_versioned@@VER_2", "zt_versioned@VER_1"}, true, "enter", "exit", 2, false});
  f.probes.push_back({{"zt_not_there"}, true, "enter", "exit", 3, false});
  f.probes.push_back({{"zt_lib_data"}, true, "enter", "", 4, false});  // an object: never probed
  return f;
}

std::uint64_t offset_of(const std::string& file, const std::string& name) {
  auto elf = symbols::ElfFile::open(file);
  EXPECT_TRUE(elf) << file;
  const auto sym = (*elf)->find_function(name);
  EXPECT_TRUE(sym) << name;
  return *(*elf)->file_offset(*sym);
}

// Records what would be attached; links count themselves so tests see detaches.
class Recorder {
 public:
  struct Link : UprobeLink {
    explicit Link(int& live) : live_(live) { ++live_; }
    ~Link() override { --live_; }
    int& live_;
  };
  AttachUprobe fn() {
    return [this](const UprobeRequest& r) -> Result<UprobeLinkPtr> {
      requests.push_back(r);
      if (reject && reject(r)) return make_error("refused by the test");
      return UprobeLinkPtr(new Link(live));
    };
  }
  std::vector<UprobeRequest> requests;
  std::function<bool(const UprobeRequest&)> reject;
  int live = 0;
};

UprobeAttacherOptions options(const FakeProc& proc, bool multi) {
  UprobeAttacherOptions o;
  o.proc_root = proc.root();
  o.uprobe_multi = multi;
  return o;
}

TEST(UprobeAttacher, OneMultiAttachmentPerProgramForEachFileAndProcess) {
  FakeProc proc;
  Recorder rec;
  for (std::uint32_t pid : {100u, 101u}) {
    proc.maps(pid, maps_with_lib());
    proc.file(pid, kLib, ZT_ELF_VERSIONED);
    proc.file(pid, kProg, ZT_ELF_PIE);
  }
  symbols::SymbolCache cache;
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true), &cache);
  EXPECT_EQ(attacher.scan(100), 3u);  // zt_lib_func, zt_versioned@@VER_2, zt_versioned@VER_1
  ASSERT_EQ(rec.requests.size(), 2u);
  const std::vector<std::uint64_t> offsets = {offset_of(ZT_ELF_VERSIONED, "zt_lib_func"),
                                              offset_of(ZT_ELF_VERSIONED, "zt_versioned@@VER_2"),
                                              offset_of(ZT_ELF_VERSIONED, "zt_versioned@VER_1")};
  ASSERT_EQ(std::set<std::uint64_t>(offsets.begin(), offsets.end()).size(), 3u);
  for (const auto& r : rec.requests) {
    EXPECT_EQ(r.family, "test");
    EXPECT_EQ(r.pid, 100u);
    // Reached through the process's own root, so a container's library is its own.
    EXPECT_EQ(r.path, proc.root() + "/100/root" + kLib);
    EXPECT_EQ(r.offsets, offsets);
    EXPECT_EQ(r.cookies, (std::vector<std::uint64_t>{1, 2, 2}));
  }
  EXPECT_EQ(rec.requests[0].program, "enter");
  EXPECT_FALSE(rec.requests[0].retprobe);
  EXPECT_EQ(rec.requests[1].program, "exit");
  EXPECT_TRUE(rec.requests[1].retprobe);
  // The program does not match the family's file names: not even parsed.
  EXPECT_EQ(cache.stats().misses, 1u);

  // Nothing new in the process: nothing attached again.
  EXPECT_EQ(attacher.scan(100), 0u);
  EXPECT_EQ(rec.requests.size(), 2u);
  // The same file in another process: probed for that process, parsed once.
  EXPECT_EQ(attacher.scan(101), 3u);
  EXPECT_EQ(rec.requests.size(), 4u);
  EXPECT_EQ(rec.requests[3].pid, 101u);
  EXPECT_EQ(cache.stats().misses, 1u);

  EXPECT_EQ(rec.live, 4);
  EXPECT_EQ(attacher.probed_processes(), 2u);
  EXPECT_EQ(attacher.probed_processes("test"), 2u);
  EXPECT_EQ(attacher.probed_processes("other"), 0u);
  const auto& s = attacher.family_stats("test");
  EXPECT_EQ(s.files_probed, 2u);
  EXPECT_EQ(s.functions_attached, 6u);
  EXPECT_EQ(s.links, 4u);
  EXPECT_EQ(s.functions_failed, 0u);
  EXPECT_EQ(attacher.stats().scans, 3u);
}

TEST(UprobeAttacher, WithoutUprobeMultiOneLinkPerFunctionAndProgram) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, false));
  EXPECT_EQ(attacher.scan(100), 3u);
  ASSERT_EQ(rec.requests.size(), 6u);
  std::map<std::string, int> per_program;
  for (const auto& r : rec.requests) {
    EXPECT_EQ(r.offsets.size(), 1u);
    EXPECT_EQ(r.cookies.size(), 1u);
    ++per_program[r.program];
  }
  EXPECT_EQ(per_program, (std::map<std::string, int>{{"enter", 3}, {"exit", 3}}));
  EXPECT_EQ(rec.live, 6);
  EXPECT_EQ(attacher.family_stats("test").links, 6u);
  EXPECT_EQ(attacher.stats().multi_fallbacks, 0u);
}

TEST(UprobeAttacher, ARefusedMultiLinkIsRetriedPerFunction) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  // One function cannot be probed: the other two still are.
  const std::uint64_t bad = offset_of(ZT_ELF_VERSIONED, "zt_lib_func");
  rec.reject = [bad](const UprobeRequest& r) {
    return std::find(r.offsets.begin(), r.offsets.end(), bad) != r.offsets.end();
  };
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true));
  EXPECT_EQ(attacher.scan(100), 2u);
  EXPECT_EQ(attacher.stats().multi_fallbacks, 1u);
  EXPECT_EQ(attacher.family_stats("test").functions_failed, 1u);
  EXPECT_EQ(attacher.family_stats("test").functions_attached, 2u);
  EXPECT_EQ(rec.live, 4);  // entry and return of the two good functions; the refused group released
}

TEST(UprobeAttacher, AllAttachmentsRefusedAreCountedNotFatal) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  rec.reject = [](const UprobeRequest& r) { return r.retprobe; };  // entries work, returns do not
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, false));
  EXPECT_EQ(attacher.scan(100), 0u);
  EXPECT_EQ(attacher.family_stats("test").functions_failed, 3u);
  EXPECT_EQ(attacher.probed_processes(), 0u);
  EXPECT_EQ(rec.live, 0);  // an entry without its return is not kept
}

TEST(UprobeAttacher, LifecycleForkExecExit) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true));

  // Becoming traced: scanned at the next tick that is due.
  attacher.on_traced(100, 1000);
  attacher.tick(999);
  EXPECT_EQ(rec.live, 0);
  attacher.tick(1000);
  EXPECT_EQ(rec.live, 2);

  // A forked child is probed on its own (a process-bound probe does not follow fork).
  proc.maps(200, maps_with_lib());
  proc.file(200, kLib, ZT_ELF_VERSIONED);
  attacher.on_fork(200, 2000);
  attacher.tick(2000);
  EXPECT_EQ(rec.live, 4);
  EXPECT_EQ(rec.requests.back().pid, 200u);

  // exec: the old image's probes go; the new image has no library until it maps one.
  proc.maps(200, maps_without_lib());
  attacher.on_exec(200, 3000);
  EXPECT_EQ(rec.live, 2);
  attacher.tick(3000);
  EXPECT_EQ(rec.live, 2);
  EXPECT_EQ(attacher.probed_processes(), 1u);

  // dlopen: the exec-mapping event schedules a scan after the mapping is complete.
  proc.maps(200, maps_with_lib());
  attacher.on_exec_mapping(200, 4000);
  attacher.tick(4000);
  EXPECT_EQ(rec.live, 2);
  attacher.tick(4000 + UprobeAttacherOptions{}.exec_mapping_delay_ns);
  EXPECT_EQ(rec.live, 4);

  // Exit detaches, and a scan still due is dropped.
  attacher.on_exec_mapping(100, 5000);
  attacher.on_exit(100);
  attacher.on_exit(200);
  EXPECT_EQ(rec.live, 0);
  const auto before = rec.requests.size();
  attacher.tick(UINT64_MAX);
  EXPECT_EQ(rec.requests.size(), before);
  EXPECT_EQ(attacher.probed_processes(), 0u);
}

TEST(UprobeAttacher, ADeletedLibraryIsReachedThroughMapFiles) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib(kLib, true));
  // Gone from the file system; the kernel keeps it reachable through the mapping.
  const fs::path link = proc.dir(100) / "map_files" / "7f0000001000-7f0000002000";
  fs::create_directories(link.parent_path());
  fs::create_symlink(ZT_ELF_VERSIONED, link);
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true));
  EXPECT_EQ(attacher.scan(100), 3u);
  ASSERT_FALSE(rec.requests.empty());
  EXPECT_EQ(rec.requests.front().path, link.string());
  EXPECT_EQ(attacher.stats().files_unreadable, 0u);
}

TEST(UprobeAttacher, UnreadableAndHostileFilesAreCountedAndSkipped) {
  FakeProc proc;
  Recorder rec;
  const fs::path garbage = fs::path(proc.root()) / "garbage.so";
  {
    std::ofstream out(garbage);
    out << "\x7f"
           "ELF\x02\x01\x01"
        << std::string(200, '\xff');  // an ELF header, then nonsense
  }
  proc.maps(100, maps_with_lib() +
                     "7f1000000000-7f1000001000 r-xp 00000000 fd:01 300 /usr/lib/libzt_elf_versioned.so.9\n"
                     "7f2000000000-7f2000001000 r-xp 00000000 fd:01 301 /usr/lib/libzt_elf_versioned.so.gone\n");
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  proc.file(100, "/usr/lib/libzt_elf_versioned.so.9", garbage.string());
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true));
  EXPECT_EQ(attacher.scan(100), 3u);  // the good library is still probed
  EXPECT_EQ(attacher.stats().files_unreadable, 2u);
  EXPECT_EQ(attacher.stats().files_examined, 4u);
  for (const auto& r : rec.requests) EXPECT_EQ(r.path, proc.root() + "/100/root" + kLib);
}

TEST(UprobeAttacher, AFileLackingARequiredFunctionIsNotProbed) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  auto family = versioned_family();
  family.probes[2].required = true;  // zt_not_there
  auto o = options(proc, true);
  o.wait_for_sockets = true;
  UprobeAttacher attacher({family}, rec.fn(), o);
  EXPECT_EQ(attacher.scan(100), 0u);
  EXPECT_TRUE(rec.requests.empty());
  EXPECT_EQ(attacher.family_stats("test").files_incomplete, 1u);
}

TEST(UprobeAttacher, StaticLinkingAnyFileDefiningTheFunctionsAndFirstVariantOnly) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  proc.file(100, kProg, ZT_ELF_PIE);
  UprobeFamily f;
  f.name = "static";
  f.display_name = "STATIC";
  f.library.any_file_defining = true;
  f.probes.push_back({{"zt_fixture_global"}, true, "enter", "", 7, false});
  f.probes.push_back({{"zt_fixture_ifunc"}, true, "enter", "", 8, false});  // an IFUNC: never probed
  f.probes.push_back({{"zt_versioned@VER_1", "zt_versioned@@VER_2"}, false, "enter", "", 9, false});
  UprobeAttacher attacher({f}, rec.fn(), options(proc, true));
  EXPECT_EQ(attacher.scan(100), 2u);
  ASSERT_EQ(rec.requests.size(), 2u);
  EXPECT_EQ(rec.requests[0].path, proc.root() + "/100/root" + kProg);
  EXPECT_EQ(rec.requests[0].offsets, std::vector<std::uint64_t>{offset_of(ZT_ELF_PIE, "zt_fixture_global")});
  EXPECT_EQ(rec.requests[0].cookies, std::vector<std::uint64_t>{7});
  EXPECT_EQ(rec.requests[1].path, proc.root() + "/100/root" + kLib);
  EXPECT_EQ(rec.requests[1].offsets, std::vector<std::uint64_t>{offset_of(ZT_ELF_VERSIONED, "zt_versioned@VER_1")});
}

TEST(UprobeAttacher, TwoFamiliesShareOneScan) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  auto other = versioned_family();
  other.name = "other";
  UprobeAttacher attacher({versioned_family(), other}, rec.fn(), options(proc, true));
  EXPECT_EQ(attacher.scan(100), 6u);
  EXPECT_EQ(attacher.stats().scans, 1u);
  EXPECT_EQ(attacher.stats().files_examined, 2u);  // the program and the library, once each
  std::set<std::string> families;
  for (const auto& r : rec.requests) families.insert(r.family);
  EXPECT_EQ(families, (std::set<std::string>{"test", "other"}));
}

TEST(UprobeAttacher, ItselfAndGoneProcessesAreLeftAlone) {
  FakeProc proc;
  Recorder rec;
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  auto o = options(proc, true);
  o.self_pid = 100;
  UprobeAttacher attacher({versioned_family()}, rec.fn(), o);
  attacher.on_traced(100, 0);
  attacher.tick(1);
  EXPECT_EQ(attacher.scan(100), 0u);
  EXPECT_EQ(attacher.scan(4242), 0u);  // no such process
  EXPECT_TRUE(rec.requests.empty());
  EXPECT_EQ(attacher.stats().scans, 0u);
}

TEST(UprobeAttacher, AFamilyThatNeedsSocketsWaitsForTheProcessesFirstConnection) {
  FakeProc proc;
  Recorder rec;
  auto family = versioned_family();
  family.only_with_sockets = true;
  // A process with no socket: nothing attached, the file is remembered.
  proc.maps(100, maps_with_lib());
  proc.file(100, kLib, ZT_ELF_VERSIONED);
  proc.open_file(100, 0, "/dev/pts/0");
  // A server already holding its listening socket: probed at once.
  proc.maps(200, maps_with_lib());
  proc.file(200, kLib, ZT_ELF_VERSIONED);
  proc.socket(200, 3);
  auto o = options(proc, true);
  o.wait_for_sockets = true;
  UprobeAttacher attacher({family}, rec.fn(), o);
  EXPECT_EQ(attacher.scan(100), 0u);
  EXPECT_TRUE(rec.requests.empty());
  EXPECT_EQ(attacher.stats().deferred, 1u);
  EXPECT_EQ(attacher.scan(200), 3u);
  EXPECT_EQ(attacher.probed_processes("test"), 1u);

  // The first connection of process 100 brings its probes; a second changes nothing.
  attacher.on_socket_activity(100);
  EXPECT_EQ(attacher.probed_processes("test"), 2u);
  const auto requests = rec.requests.size();
  attacher.on_socket_activity(100);
  EXPECT_EQ(rec.requests.size(), requests);
  // A process the attacher never scanned is not probed by activity alone.
  attacher.on_socket_activity(4242);
  EXPECT_EQ(rec.requests.size(), requests);

  // Where the attacher does not wait for sockets, the family is probed at once.
  Recorder eager;
  UprobeAttacher at_once({family}, eager.fn(), options(proc, true));
  EXPECT_EQ(at_once.scan(100), 3u);
  EXPECT_EQ(at_once.stats().deferred, 0u);
}

// A server loads its TLS library before it binds (python: `import ssl` at the top), then maps
// another candidate once it listens: the later scan finds the socket and must probe the file the
// first scan left waiting, since no connection activity will ask for it again.
TEST(UprobeAttacher, FilesLeftWaitingAreProbedWhenALaterScanFindsASocket) {
  FakeProc proc;
  Recorder rec;
  auto family = versioned_family();
  family.only_with_sockets = true;
  proc.maps(300, maps_with_lib());
  proc.file(300, kLib, ZT_ELF_VERSIONED);
  auto o = options(proc, true);
  o.wait_for_sockets = true;
  UprobeAttacher attacher({family}, rec.fn(), o);
  EXPECT_EQ(attacher.scan(300), 0u);
  EXPECT_EQ(attacher.stats().deferred, 1u);

  // It listens, and loads a second matching file (another inode).
  proc.socket(300, 3);
  const std::string second = "/usr/lib/libzt_elf_versioned.so.2";
  proc.file(300, second, ZT_ELF_VERSIONED);
  proc.maps(300, maps_with_lib() + "7f0000010000-7f0000011000 r-xp 00001000 fd:01 300 " + second + "\n");
  EXPECT_EQ(attacher.scan(300), 6u) << "both files: the waiting one and the new one";
  std::set<std::string> paths;
  for (const auto& r : rec.requests) paths.insert(r.path);
  EXPECT_EQ(paths.size(), 2u);
  // The socket activity that follows changes nothing.
  const auto requests = rec.requests.size();
  attacher.on_socket_activity(300);
  EXPECT_EQ(rec.requests.size(), requests);
}

// A server that loads its TLS library, then binds with no further mapping: the attacher looks at
// its descriptors again on its own schedule, so it is probed before its first connection.
TEST(UprobeAttacher, AWaitingProcessIsLookedAtAgainAndProbedOnceItListens) {
  FakeProc proc;
  Recorder rec;
  auto family = versioned_family();
  family.only_with_sockets = true;
  proc.maps(400, maps_with_lib());
  proc.file(400, kLib, ZT_ELF_VERSIONED);
  proc.maps(401, maps_with_lib());
  proc.file(401, kLib, ZT_ELF_VERSIONED);
  auto o = options(proc, true);
  o.wait_for_sockets = true;
  UprobeAttacher attacher({family}, rec.fn(), o);
  constexpr std::uint64_t kMs = 1'000'000;
  attacher.tick(1000 * kMs);
  attacher.on_traced(400, 1000 * kMs);
  attacher.on_traced(401, 1000 * kMs);
  attacher.tick(1000 * kMs);
  EXPECT_EQ(attacher.stats().deferred, 2u);
  attacher.tick(1010 * kMs);
  EXPECT_EQ(attacher.stats().socket_rechecks, 0u) << "not before 20 ms";
  attacher.tick(1021 * kMs);
  EXPECT_EQ(attacher.stats().socket_rechecks, 2u);
  EXPECT_TRUE(rec.requests.empty());
  // Process 400 binds; 401 never does.
  proc.socket(400, 3);
  attacher.tick(1122 * kMs);
  EXPECT_EQ(attacher.probed_processes("test"), 1u);
  std::set<std::uint32_t> pids;
  for (const auto& r : rec.requests) pids.insert(r.pid);
  EXPECT_EQ(pids, std::set<std::uint32_t>{400});
  // 401 is looked at a bounded number of times, then left to its first connection.
  for (std::uint64_t t = 1200; t < 20000; t += 100) attacher.tick(t * kMs);
  EXPECT_EQ(attacher.stats().socket_rechecks, 2u + 1u + 4u) << "5 looks at 401, 2 at 400";
  attacher.on_socket_activity(401);
  EXPECT_EQ(attacher.probed_processes("test"), 2u);
}

TEST(UprobeAttacher, PrearmedFilesAreProbedBeforeExecAndKeptThroughIt) {
  FakeProc proc;
  Recorder rec;
  UprobeAttacher attacher({versioned_family()}, rec.fn(), options(proc, true));
  const auto candidates = attacher.prearm_candidates("", {fs::path(ZT_ELF_VERSIONED).parent_path().string()});
  ASSERT_EQ(candidates.size(), 1u) << "the library matching the family's name pattern";
  EXPECT_EQ(attacher.prearm(300, candidates), 3u);
  EXPECT_EQ(rec.live, 2);  // one link per program
  // The command execs into the image the files were probed for: its probes stay, and the scan
  // after the exec does not probe the same file again.
  attacher.on_exec(300, 0);
  EXPECT_EQ(rec.live, 2);
  const std::string real = fs::canonical(ZT_ELF_VERSIONED).string();
  proc.maps(300, maps_with_lib(real.c_str()));
  proc.file(300, real, ZT_ELF_VERSIONED);
  attacher.tick(1);
  EXPECT_EQ(rec.live, 2) << "the exec's scan found the prearmed file by path";
  // A second exec is a new image: its probes go.
  attacher.on_exec(300, 2);
  EXPECT_EQ(rec.live, 0);
}

}  // namespace
}  // namespace zt::probes
