// Just enough x86-64 decoding to choose uprobe sites: what a probe on an instruction costs, and
// where a thin wrapper function hands over to the function that does the work. Not a
// disassembler: it sizes the instructions compilers put in function prologues and answers "don't
// know" for the rest, which callers treat as "probe the exported entry".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace zt::symbols::x86 {

// What a uprobe on an instruction costs, by how the kernel (arch/x86/kernel/uprobes.c) resumes the
// program after the breakpoint. Measured per hit on the project's VMs (research/tls.md, 2.1):
// ~2 us, ~9-15 us and ~30-65 us.
enum class ProbeCost {
  Nop5,           // 0f 1f 44 00 00: rewritten (6.18+) into a call to a trampoline after the first hit
  Emulated,       // push r64 (no REX or REX 0x41), call rel32, jmp/jcc rel8/rel32, nop 0x90: no single step
  SingleStepped,  // anything else: copied out of line and single-stepped, a second trap
  Unknown,        // nothing to look at, cut short before the answer, or not an instruction start
};

const char* to_string(ProbeCost cost);

// The cost of a probe on the first instruction of `code`. Only the unprefixed forms count as
// emulated (the kernel rejects some prefixed ones); int3 is Unknown: the byte it replaced is
// someone else's secret.
ProbeCost probe_cost(std::span<const std::uint8_t> code);

// 4 when `code` starts with endbr64 (f3 0f 1e fa), else 0. A probe past it still sees the return
// address at [rsp]: endbr64 touches no register or memory.
std::size_t endbr64_skip(std::span<const std::uint8_t> code);

// The length of the first instruction when it is one of the prologue instructions this decoder
// sizes (endbr64, push/pop, mov/lea/add/sub/xor/test/cmp with ModRM, immediates, the stack
// protector's %fs load, nops, movzx/movsx/cmov/setcc) or a direct branch, call or ret; nullopt for
// anything else or when the bytes end inside it.
std::optional<std::size_t> instruction_length(std::span<const std::uint8_t> code);

// How far into a wrapper the first call may start: a wrapper that does more before calling is not
// a thin wrapper.
inline constexpr std::size_t kMaxWrapperPrologue = 48;

// Where control first leaves a wrapper function whose code starts at `vaddr_of_code`: a direct
// call, or a direct jump that is a tail call. Walks the instructions instruction_length sizes,
// along the fall-through side of forward conditional branches (argument checks that jump to an
// error exit, as Debian's SSL_read does: `test %edx,%edx; js`). Gives up (nullopt) on anything it
// cannot size, a backward branch, a ret or an indirect branch before the transfer, or a transfer
// starting kMaxWrapperPrologue bytes or more into the code. Never reads past `code`.
struct Transfer {
  enum Kind { Call, Jump };
  Kind kind = Call;
  std::uint64_t target = 0;  // absolute, in the address space of vaddr_of_code
};
std::optional<Transfer> first_transfer(std::span<const std::uint8_t> code, std::uint64_t vaddr_of_code);
// The target of the first call (e8 rel32) as above; nullopt when a jump comes first.
std::optional<std::uint64_t> first_call_target(std::span<const std::uint8_t> code, std::uint64_t vaddr_of_code);

// Whether a probe `offset` bytes into a function whose code starts with `function_code` runs with
// the caller's return address at [rsp], which a uretprobe needs (it replaces that address): only
// the first instruction, or the one after a leading endbr64. After a push or a sub it is not.
bool return_address_on_stack(std::span<const std::uint8_t> function_code, std::uint64_t offset);

// Every `ret` instruction of a whole function whose code (all of it: a linear sweep from the
// start, right for compilers that put no data in text, as Go's does not) starts at
// `vaddr_of_code`, as addresses; decoded by Capstone. nullopt when some bytes are not an
// instruction, or a jump leaves the function other than by a call (a tail jump: a return a probe
// on `ret` would not see). Go functions return only by `ret`: uretprobes must never go on Go code
// (goroutine stacks move, and the runtime walks them).
std::optional<std::vector<std::uint64_t>> return_sites(std::span<const std::uint8_t> code, std::uint64_t vaddr_of_code);

}  // namespace zt::symbols::x86
