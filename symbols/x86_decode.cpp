#include "symbols/x86_decode.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>

namespace zt::symbols::x86 {

namespace {

constexpr std::array<std::uint8_t, 4> kEndbr64{0xf3, 0x0f, 0x1e, 0xfa};
constexpr std::array<std::uint8_t, 5> kNop5{0x0f, 0x1f, 0x44, 0x00, 0x00};

bool starts_with(std::span<const std::uint8_t> code, std::span<const std::uint8_t> prefix) {
  return code.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), code.begin());
}

// Whether `code` is a proper prefix of `pattern`: the bytes ended before they could tell.
bool cut_short_of(std::span<const std::uint8_t> code, std::span<const std::uint8_t> pattern) {
  return code.size() < pattern.size() && std::equal(code.begin(), code.end(), pattern.begin());
}

// One-byte opcodes that do not exist in 64-bit mode (push/pop of segment registers, BCD
// arithmetic, far call/jmp, pusha/popa, into, salc): code never starts with them.
constexpr std::array<std::uint8_t, 20> kInvalidIn64BitMode{0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37,
                                                           0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea};

enum class Flow { Next, Call, Jump, CondJump, Stop };

struct Decoded {
  std::size_t length = 0;
  Flow flow = Flow::Next;
  std::int64_t rel = 0;  // branch displacement from the end of the instruction
};

std::int64_t rel8(std::span<const std::uint8_t> code, std::size_t at) { return static_cast<std::int8_t>(code[at]); }

std::int64_t rel32(std::span<const std::uint8_t> code, std::size_t at) {
  const std::uint32_t v = static_cast<std::uint32_t>(code[at]) | static_cast<std::uint32_t>(code[at + 1]) << 8 |
                          static_cast<std::uint32_t>(code[at + 2]) << 16 |
                          static_cast<std::uint32_t>(code[at + 3]) << 24;
  return static_cast<std::int32_t>(v);
}

// Bytes of a ModRM operand at `at` (ModRM, SIB, displacement; 64-bit addressing), or nullopt when
// the ModRM or SIB byte is not there. The displacement is only counted: the caller checks that the
// whole instruction fits.
std::optional<std::size_t> modrm_length(std::span<const std::uint8_t> code, std::size_t at) {
  if (at >= code.size()) return std::nullopt;
  const unsigned mod = code[at] >> 6;
  const unsigned rm = code[at] & 7;
  if (mod == 3) return 1;
  std::size_t n = 1;
  if (rm == 4) {  // SIB follows; base 5 with mod 0 means disp32 without a base register
    if (at + 1 >= code.size()) return std::nullopt;
    n += 1;
    if (mod == 0 && (code[at + 1] & 7) == 5) n += 4;
  } else if (mod == 0 && rm == 5) {
    n += 4;  // RIP-relative
  }
  if (mod == 1) n += 1;
  if (mod == 2) n += 4;
  return n;
}

// The first instruction of `code`, when it is one we size (see instruction_length).
std::optional<Decoded> decode(std::span<const std::uint8_t> code) {
  if (starts_with(code, kEndbr64)) return Decoded{4, Flow::Next, 0};

  // Prefixes seen in prologues: operand size, and %fs/%gs for the stack protector's canary.
  std::size_t i = 0;
  bool operand16 = false;
  while (i < code.size() && i < 3 && (code[i] == 0x66 || code[i] == 0x64 || code[i] == 0x65)) {
    operand16 |= code[i] == 0x66;
    ++i;
  }
  const bool prefixed = i > 0;
  std::uint8_t rex = 0;
  if (i < code.size() && (code[i] & 0xf0) == 0x40) rex = code[i++];
  if (i >= code.size()) return std::nullopt;
  const bool rex_w = rex & 8;
  const std::uint8_t op = code[i++];
  const std::size_t imm_z = operand16 ? 2 : 4;  // "Iz": 16 or 32 bits, never 64

  // Fixed-length tail after the opcode: `modrm` says whether a ModRM operand comes first.
  const auto finish = [&](bool modrm, std::size_t immediate) -> std::optional<Decoded> {
    std::size_t length = i;
    if (modrm) {
      const auto m = modrm_length(code, i);
      if (!m) return std::nullopt;
      length += *m;
    }
    length += immediate;
    if (length > code.size()) return std::nullopt;
    return Decoded{length, Flow::Next, 0};
  };
  // A branch is only understood bare: a 66 prefix changes its operand size, REX.W nothing useful.
  const auto branch = [&](Flow flow, std::size_t displacement) -> std::optional<Decoded> {
    if (prefixed || rex) return std::nullopt;
    const std::size_t length = i + displacement;
    if (length > code.size()) return std::nullopt;
    return Decoded{length, flow, displacement == 1 ? rel8(code, i) : rel32(code, i)};
  };

  if (op < 0x40 && (op & 7) < 4) return finish(true, 0);        // add/or/adc/sbb/and/sub/xor/cmp r/m, r
  if (op < 0x40 && (op & 7) == 4) return finish(false, 1);      // ... al, imm8
  if (op < 0x40 && (op & 7) == 5) return finish(false, imm_z);  // ... eax, imm32
  if (op >= 0x50 && op <= 0x5f) return finish(false, 0);        // push/pop r64
  if (op >= 0x70 && op <= 0x7f) return branch(Flow::CondJump, 1);
  if (op == 0x63 || (op >= 0x84 && op <= 0x8b)) return finish(true, 0);  // movsxd, test, xchg, mov
  if (op == 0x80 || op == 0x83) return finish(true, 1);                  // add/sub/cmp/... r/m, imm8
  if (op == 0x81) return finish(true, imm_z);
  if (op == 0x8d) {  // lea: a register operand is invalid
    if (i < code.size() && code[i] >> 6 == 3) return std::nullopt;
    return finish(true, 0);
  }
  if (op == 0x90) return finish(false, 0);
  if (op == 0xa8) return finish(false, 1);  // test al/eax, imm
  if (op == 0xa9) return finish(false, imm_z);
  if (op == 0xc2 || op == 0xc3) {  // ret imm16, ret: the end, whatever the prefixes
    const std::size_t length = op == 0xc2 ? i + 2 : i;
    if (length > code.size()) return std::nullopt;
    return Decoded{length, Flow::Stop, 0};
  }
  if (op == 0xc6 || op == 0xc7) {  // mov r/m, imm (/0); /7 is xabort/xbegin, not sized here
    if (i >= code.size() || ((code[i] >> 3) & 7) != 0) return std::nullopt;
    return finish(true, op == 0xc6 ? 1 : imm_z);
  }
  if (op == 0xe8) return branch(Flow::Call, 4);
  if (op == 0xe9) return branch(Flow::Jump, 4);
  if (op == 0xeb) return branch(Flow::Jump, 1);
  if (op == 0xf6 || op == 0xf7) {  // test r/m, imm (/0, /1); not/neg/mul/div (/2-/7) have no immediate
    if (i >= code.size()) return std::nullopt;
    const bool has_imm = ((code[i] >> 3) & 7) < 2;
    return finish(true, has_imm ? (op == 0xf6 ? 1 : imm_z) : 0);
  }
  if (op >= 0xb0 && op <= 0xb7) return finish(false, 1);                  // mov r8, imm8
  if (op >= 0xb8 && op <= 0xbf) return finish(false, rex_w ? 8 : imm_z);  // mov r, imm
  if (op != 0x0f) return std::nullopt;

  if (i >= code.size()) return std::nullopt;
  const std::uint8_t op2 = code[i++];
  if (op2 >= 0x80 && op2 <= 0x8f) return branch(Flow::CondJump, 4);
  if (op2 == 0x1f) return finish(true, 0);                 // nopl
  if (op2 >= 0x40 && op2 <= 0x4f) return finish(true, 0);  // cmovcc
  if (op2 >= 0x90 && op2 <= 0x9f) return finish(true, 0);  // setcc
  if (op2 == 0xaf || op2 == 0xb6 || op2 == 0xb7 || op2 == 0xbe || op2 == 0xbf)
    return finish(true, 0);  // imul, movzx, movsx
  return std::nullopt;
}

}  // namespace

const char* to_string(ProbeCost cost) {
  switch (cost) {
    case ProbeCost::Nop5:
      return "nop5";
    case ProbeCost::Emulated:
      return "emulated";
    case ProbeCost::SingleStepped:
      return "single-stepped";
    case ProbeCost::Unknown:
      return "unknown";
  }
  return "unknown";
}

ProbeCost probe_cost(std::span<const std::uint8_t> code) {
  if (code.empty()) return ProbeCost::Unknown;
  if (starts_with(code, kNop5)) return ProbeCost::Nop5;
  if (cut_short_of(code, kNop5)) return ProbeCost::Unknown;
  const std::uint8_t b = code[0];
  // What the kernel emulates (push_setup_xol_ops, branch_setup_xol_ops), in the forms compilers emit.
  if ((b >= 0x50 && b <= 0x57) || b == 0x90) return ProbeCost::Emulated;
  if (b == 0x41) {
    if (code.size() < 2) return ProbeCost::Unknown;
    return code[1] >= 0x50 && code[1] <= 0x57 ? ProbeCost::Emulated : ProbeCost::SingleStepped;
  }
  if (b == 0xe8 || b == 0xe9) return code.size() >= 5 ? ProbeCost::Emulated : ProbeCost::Unknown;
  if (b == 0xeb || (b >= 0x70 && b <= 0x7f)) return code.size() >= 2 ? ProbeCost::Emulated : ProbeCost::Unknown;
  if (b == 0x0f) {
    if (code.size() < 2) return ProbeCost::Unknown;
    if (code[1] >= 0x80 && code[1] <= 0x8f) return code.size() >= 6 ? ProbeCost::Emulated : ProbeCost::Unknown;
    return ProbeCost::SingleStepped;
  }
  if (b == 0xcc || std::find(kInvalidIn64BitMode.begin(), kInvalidIn64BitMode.end(), b) != kInvalidIn64BitMode.end())
    return ProbeCost::Unknown;
  return ProbeCost::SingleStepped;
}

std::size_t endbr64_skip(std::span<const std::uint8_t> code) { return starts_with(code, kEndbr64) ? 4 : 0; }

std::optional<std::size_t> instruction_length(std::span<const std::uint8_t> code) {
  const auto d = decode(code);
  if (!d) return std::nullopt;
  return d->length;
}

std::optional<Transfer> first_transfer(std::span<const std::uint8_t> code, std::uint64_t vaddr_of_code) {
  std::size_t at = 0;
  while (at < code.size() && at < kMaxWrapperPrologue) {
    const auto d = decode(code.subspan(at));
    if (!d) return std::nullopt;
    // Unsigned arithmetic: a hostile displacement wraps around the address space, like the CPU's.
    const std::uint64_t next = vaddr_of_code + at + d->length;
    switch (d->flow) {
      case Flow::Next:
        break;
      case Flow::Call:
        return Transfer{Transfer::Call, next + static_cast<std::uint64_t>(d->rel)};
      case Flow::Jump:
        return Transfer{Transfer::Jump, next + static_cast<std::uint64_t>(d->rel)};
      case Flow::CondJump:
        if (d->rel < 0) return std::nullopt;  // a loop, not an early exit
        break;
      case Flow::Stop:
        return std::nullopt;
    }
    at += d->length;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> first_call_target(std::span<const std::uint8_t> code, std::uint64_t vaddr_of_code) {
  const auto t = first_transfer(code, vaddr_of_code);
  if (!t || t->kind != Transfer::Call) return std::nullopt;
  return t->target;
}

bool return_address_on_stack(std::span<const std::uint8_t> function_code, std::uint64_t offset) {
  return offset == 0 || (offset == 4 && endbr64_skip(function_code) == 4);
}

}  // namespace zt::symbols::x86

namespace zt::symbols::x86 {

std::optional<std::vector<std::uint64_t>> return_sites(std::span<const std::uint8_t> code,
                                                       std::uint64_t vaddr_of_code) {
  csh handle = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return std::nullopt;
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = cs_malloc(handle);
  const std::uint8_t* at = code.data();
  std::size_t left = code.size();
  std::uint64_t address = vaddr_of_code;
  const std::uint64_t end = vaddr_of_code + code.size();
  std::vector<std::uint64_t> out;
  bool ok = insn != nullptr;
  while (ok && left > 0) {
    const std::uint64_t here = address;
    if (!cs_disasm_iter(handle, &at, &left, &address, insn)) {
      ok = false;
      break;
    }
    if (insn->id == X86_INS_RET) {
      out.push_back(here);
      continue;
    }
    // A direct jump out of the function is a tail call: that return would go unseen.
    if (cs_insn_group(handle, insn, X86_GRP_JUMP) && insn->detail->x86.op_count == 1 &&
        insn->detail->x86.operands[0].type == X86_OP_IMM) {
      const auto target = static_cast<std::uint64_t>(insn->detail->x86.operands[0].imm);
      if (target < vaddr_of_code || target >= end) ok = false;
    }
  }
  if (insn) cs_free(insn, 1);
  cs_close(&handle);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace zt::symbols::x86
