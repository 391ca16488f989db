#include "cuda/cuda_source.h"

#include <unistd.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "cuda/cupti_wire.h"
#include "symbols/elf_file.h"

namespace zt::cuda {

bool is_injection_library(const std::string& path) {
  auto elf = symbols::ElfFile::open(path, "");
  if (!elf) return false;
  const auto entry = elf.value()->find_function("InitializeInjection");
  return entry && entry->global;
}

std::string find_cupti_library() {
  // ZEROTRACE_CUPTI_INJECTION names zerotrace's library; ZEROTRACE_CUPTI_LIBRARY is libcupti, for
  // the injection library inside the program (GPU review, finding 6: one name for both made the
  // troubleshooting advice disable CUPTI).
  if (const char* env = std::getenv("ZEROTRACE_CUPTI_INJECTION"); env && *env) {
    if (access(env, R_OK) != 0) {
      spdlog::warn("ZEROTRACE_CUPTI_INJECTION={}: not readable; CUDA is traced by uprobes alone", env);
      return "";
    }
    if (!is_injection_library(env)) {
      spdlog::warn(
          "ZEROTRACE_CUPTI_INJECTION={}: not a CUDA injection library (no InitializeInjection; libcupti "
          "goes in ZEROTRACE_CUPTI_LIBRARY); CUDA is traced by uprobes alone",
          env);
      return "";
    }
    return env;
  }
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<std::size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* rel :
       {"/libzerotrace_cupti.so", "/cuda/injection/libzerotrace_cupti.so", "/../lib/zerotrace/libzerotrace_cupti.so"}) {
    const std::string candidate = dir + rel;
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return "";
}

CudaSource::CudaSource(CudaSourceOptions options, symbols::SymbolCache& cache, ResourceLookup resources,
                       ParentLookup parents, const MonotonicToRealtime* clock, SpanSink sink)
    : options_(std::move(options)), naming_(cache, options_.proc_root) {
  spans_ = std::make_unique<CudaSpanBuilder>(
      options_.spans, std::move(resources),
      [this](std::uint32_t pid, std::uint32_t api, std::uint64_t function) {
        return naming_.kernel_name(pid, api, function);
      },
      std::move(parents), clock, std::move(sink));
}

std::vector<std::pair<std::string, std::string>> CudaSource::child_environment() const {
  // GPU-side timings come from the CUPTI injection library, which the CUDA driver loads at cuInit
  // from CUDA_INJECTION64_PATH. A value the user set is theirs: it is left alone.
  if (!options_.cupti) return {};
  if (const char* existing = std::getenv("CUDA_INJECTION64_PATH"); existing && *existing) {
    spdlog::info("CUDA_INJECTION64_PATH is already set ({}): zerotrace's CUPTI library is not loaded", existing);
    return {};
  }
  const std::string injection = find_cupti_library();
  if (injection.empty()) {
    spdlog::debug(
        "no CUPTI injection library found (built only with the CUDA toolkit): CUDA is traced by uprobes alone");
    return {};
  }
  spdlog::debug("CUDA_INJECTION64_PATH={}", injection);
  return {{"CUDA_INJECTION64_PATH", injection}};
}

void CudaSource::on_exit(std::uint32_t pid) {
  // Before the process's resource is forgotten: the flushed spans need it.
  spans_->on_process_exit(pid);
  naming_.on_exit(pid);
}

bool CudaSource::on_call(const zt_cuda_call_event& event) {
  zt_cuda_call_event ev = event;
  if (ev.api == ZT_CUDA_LAUNCH_KERNEL_HANDLE) {
    // Name a handle launch by its host function, as cudaLaunchKernel calls are.
    if (auto host = naming_.host_function(ev)) {
      ev.api = ZT_CUDA_LAUNCH_KERNEL;
      ev.function = *host;
    }
  }
  spans_->on_call(ev);
  return true;
}

bool CudaSource::on_symbol(const zt_cuda_symbol_event& ev) {
  naming_.on_symbol(ev);
  return true;
}

bool CudaSource::on_cupti_batch(const void* data, std::size_t size) {
  if (size < sizeof(zt_cupti_batch_event)) return false;
  const auto* ev = static_cast<const zt_cupti_batch_event*>(data);
  if (sizeof(zt_cupti_batch_event) + ev->bytes > size) return false;
  ++cupti_.batches;
  if (ev->flags & ZT_CUPTI_F_TRUNCATED) ++cupti_.truncated;
  const std::uint32_t pid = ev->hdr.pid;
  // The batch comes from inside a traced process: untrusted bytes, validated before use.
  const auto* bytes = static_cast<const std::uint8_t*>(data) + sizeof(zt_cupti_batch_event);
  auto batch = parse_batch(bytes, ev->bytes);
  if (!batch) {
    ++cupti_.malformed;
    spdlog::debug("pid {}: CUPTI batch rejected: {}", pid, batch.error().message);
    return true;  // a well-formed ring record carrying a bad batch: counted here, not as a record
  }
  if (batch->header.flags & ZT_CUPTI_BATCH_F_COLLECTING) spans_->on_cupti_collecting(pid);
  batch->for_each([&](const zt_cupti_record_header&, std::span<const std::byte> whole) {
    ++cupti_.records;
    // The builder reads the record in place (header and body); the ring buffer keeps records
    // 8-byte aligned and parse_batch checked the bounds.
    spans_->on_cupti_record(pid, *reinterpret_cast<const zt_cupti_record_header*>(whole.data()));
  });
  return true;
}

void CudaSource::tick(std::uint64_t now_ns) { spans_->tick(now_ns); }

void CudaSource::shutdown() { spans_->shutdown(); }

void CudaSource::report(StatsSnapshot& out) const {
  const auto& c = naming_.stats();
  const auto& b = spans_->stats();
  out.set("cuda.names_learned", c.names_learned);
  out.set("cuda.names_from_memory", c.names_from_memory);
  out.set("cuda.names_from_stack", c.names_from_stack);
  out.set("cuda.names_unknown", c.names_unknown);
  out.set("cuda.spans", b.spans);
  out.set("cuda.folded_launches", b.folded_launches);
  out.set("cuda.folded_spans", b.folded_spans);
  out.set("cuda.waits_timed_out", b.waits_timed_out);
  out.set("cuda.cupti_batches", cupti_.batches);
  out.set("cuda.cupti_records", cupti_.records);
  out.set("cuda.cupti_malformed", cupti_.malformed);
  out.set("cuda.cupti_truncated", cupti_.truncated);
}

}  // namespace zt::cuda
