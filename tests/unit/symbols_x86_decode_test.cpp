// The x86-64 prologue decoder (symbols/x86_decode.h) on byte fixtures: real prologues (Debian's
// libssl3 3.0.19, Node 20, a Go function), instruction lengths checked one by one, truncated and
// random input. Inputs live in exactly sized heap buffers, so a read past the end is an ASan error.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "symbols/x86_decode.h"

namespace zt::symbols::x86 {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A copy in a heap block of exactly its size: ASan reports the first byte read past the end.
class Exact {
 public:
  explicit Exact(const Bytes& b) : size_(b.size()), data_(new std::uint8_t[b.empty() ? 1 : b.size()]) {
    std::copy(b.begin(), b.end(), data_.get());
  }
  std::span<const std::uint8_t> span() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<std::uint8_t[]> data_;
};

ProbeCost cost(const Bytes& b) { return probe_cost(Exact(b).span()); }
std::optional<std::size_t> length(const Bytes& b) { return instruction_length(Exact(b).span()); }
std::optional<std::uint64_t> call_target(const Bytes& b, std::uint64_t vaddr) {
  return first_call_target(Exact(b).span(), vaddr);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Debian libssl3 3.0.19: SSL_read_ex at 0x35500 and SSL_read at 0x35470 both call 0x352d0
// (ssl_read_internal, `push %r13`); SSL_read checks `num < 0` first (test; js).
const Bytes kDebianSslReadEx = {0x48, 0x83, 0xec, 0x08,                     // sub $0x8,%rsp
                                0xe8, 0xc7, 0xfd, 0xff, 0xff,               // call 352d0
                                0x31, 0xd2, 0x85, 0xc0, 0x0f, 0x48, 0xc2};  // xor; test; cmovs
const Bytes kDebianSslRead = {0x48, 0x83, 0xec, 0x18,                       // sub $0x18,%rsp
                              0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0,  // mov %fs:0x28,%rax
                              0x48, 0x89, 0x44, 0x24, 0x08,                 // mov %rax,0x8(%rsp)
                              0x31, 0xc0,                                   // xor %eax,%eax
                              0x85, 0xd2,                                   // test %edx,%edx
                              0x78, 0x2f,                                   // js (error exit)
                              0x48, 0x89, 0xe1,                             // mov %rsp,%rcx
                              0x48, 0x63, 0xd2,                             // movslq %edx,%rdx
                              0xe8, 0x3d, 0xfe, 0xff, 0xff};                // call 352d0
// Node 20's SSL_read (OpenSSL inlined by LTO): its first call is 74 bytes in.
const Bytes kNodeSslRead = {0x55, 0x48, 0x89, 0xe5, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x48, 0x83, 0xec, 0x48,
                            0x85, 0xd2, 0x0f, 0x88, 0x37, 0x01, 0x00, 0x00, 0x48, 0x83, 0x7f, 0x30, 0x00, 0x49,
                            0x89, 0xfd, 0x0f, 0x84, 0x60, 0x01, 0x00, 0x00, 0x44, 0x8b, 0x67, 0x44, 0x41, 0x83,
                            0xe4, 0x02, 0x0f, 0x85, 0xae, 0x00, 0x00, 0x00, 0x8b, 0x87, 0x84, 0x00, 0x00, 0x00,
                            0x83, 0xf8, 0x01, 0x74, 0x63, 0x83, 0xf8, 0x08, 0x74, 0x5e, 0x49, 0x89, 0xf6, 0x31,
                            0xf6, 0x4c, 0x63, 0xe2, 0xe8, 0xa1, 0x25, 0x03, 0x00};
// A Go function: stack check against the goroutine's limit, jbe to morestack, then the frame.
const Bytes kGoPrologue = {0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55};
const Bytes kEndbrPush = {0xf3, 0x0f, 0x1e, 0xfa, 0x55};

TEST(X86ProbeCostTest, RealPrologues) {
  EXPECT_EQ(cost(kDebianSslReadEx), ProbeCost::SingleStepped);
  EXPECT_EQ(cost(kDebianSslRead), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x41, 0x55, 0x41, 0x54}), ProbeCost::Emulated);  // ssl_read_internal: push %r13
  EXPECT_EQ(cost(kNodeSslRead), ProbeCost::Emulated);              // push %rbp
  EXPECT_EQ(cost(kGoPrologue), ProbeCost::SingleStepped);          // cmp 0x10(%r14),%rsp
  EXPECT_EQ(cost(kEndbrPush), ProbeCost::SingleStepped);           // endbr64 itself
  EXPECT_EQ(probe_cost(Exact(kEndbrPush).span().subspan(4)), ProbeCost::Emulated);
}

TEST(X86ProbeCostTest, WhatTheKernelEmulates) {
  for (std::uint8_t r = 0x50; r <= 0x57; ++r) {
    EXPECT_EQ(cost({r}), ProbeCost::Emulated) << int(r);
    EXPECT_EQ(cost({0x41, r}), ProbeCost::Emulated) << int(r);
  }
  EXPECT_EQ(cost({0x90}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0xe8, 1, 2, 3, 4}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0xe9, 1, 2, 3, 4}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0xeb, 0x10}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0x74, 0x10}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0x0f, 0x84, 1, 0, 0, 0}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0x0f, 0x1f, 0x44, 0x00, 0x00}), ProbeCost::Nop5);
}

TEST(X86ProbeCostTest, SingleSteppedAndUnknown) {
  // push with another REX than 0x41 (the kernel takes only that one), pops, the common prologue.
  EXPECT_EQ(cost({0x40, 0x55}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x48, 0x55}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x5d}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x48, 0x89, 0xe5}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x48, 0x8d, 0x05, 0, 0, 0, 0}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x0f, 0x1f, 0x40, 0x00}), ProbeCost::SingleStepped);  // 4-byte nopl
  EXPECT_EQ(cost({0x66, 0x90}), ProbeCost::SingleStepped);              // prefixed: not emulated
  EXPECT_EQ(cost({0xc3}), ProbeCost::SingleStepped);
  EXPECT_EQ(cost({0x41, 0x89, 0xf4}), ProbeCost::SingleStepped);
  // Too short to tell, or not an instruction a function starts with.
  EXPECT_EQ(cost({}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0x41}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0xe8, 1, 2}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0x74}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0x0f}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0x0f, 0x84, 1}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0x0f, 0x1f, 0x44, 0x00}), ProbeCost::Unknown);
  EXPECT_EQ(cost({0xcc}), ProbeCost::Unknown);  // a breakpoint: the real byte is elsewhere
  EXPECT_EQ(cost({0x06}), ProbeCost::Unknown);  // push %es: not in 64-bit mode
  EXPECT_STREQ(to_string(ProbeCost::Emulated), "emulated");
  EXPECT_STREQ(to_string(ProbeCost::SingleStepped), "single-stepped");
}

TEST(X86DecodeTest, Endbr64AndTheReturnAddress) {
  EXPECT_EQ(endbr64_skip(Exact(kEndbrPush).span()), 4u);
  EXPECT_EQ(endbr64_skip(Exact({0xf3, 0x0f, 0x1e}).span()), 0u);
  EXPECT_EQ(endbr64_skip(Exact({0xf3, 0x0f, 0x1e, 0xfb}).span()), 0u);  // endbr32
  EXPECT_EQ(endbr64_skip(Exact(kNodeSslRead).span()), 0u);
  EXPECT_EQ(endbr64_skip({}), 0u);

  EXPECT_TRUE(return_address_on_stack(Exact(kEndbrPush).span(), 0));
  EXPECT_TRUE(return_address_on_stack(Exact(kEndbrPush).span(), 4));
  EXPECT_FALSE(return_address_on_stack(Exact(kEndbrPush).span(), 5));  // after the push
  EXPECT_FALSE(return_address_on_stack(Exact(kNodeSslRead).span(), 1));
  EXPECT_FALSE(return_address_on_stack(Exact(kNodeSslRead).span(), 4));      // no endbr64 to skip
  EXPECT_FALSE(return_address_on_stack(Exact(kDebianSslReadEx).span(), 4));  // after sub $8,%rsp
}

TEST(X86DecodeTest, InstructionLengths) {
  const std::vector<std::pair<Bytes, std::size_t>> cases = {
      {{0xf3, 0x0f, 0x1e, 0xfa}, 4},                                // endbr64
      {{0x55}, 1},                                                  // push %rbp
      {{0x41, 0x54}, 2},                                            // push %r12
      {{0x5d}, 1},                                                  // pop %rbp
      {{0x48, 0x89, 0xe5}, 3},                                      // mov %rsp,%rbp
      {{0x48, 0x83, 0xec, 0x08}, 4},                                // sub $0x8,%rsp
      {{0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00}, 7},              // sub $0x100,%rsp
      {{0x48, 0x83, 0xc4, 0x08}, 4},                                // add $0x8,%rsp
      {{0x31, 0xc0}, 2},                                            // xor %eax,%eax
      {{0x85, 0xd2}, 2},                                            // test %edx,%edx
      {{0x48, 0x89, 0x44, 0x24, 0x08}, 5},                          // mov %rax,0x8(%rsp): SIB, disp8
      {{0x48, 0x8b, 0x84, 0x24, 0x00, 0x01, 0x00, 0x00}, 8},        // SIB, disp32
      {{0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00}, 8},        // SIB without base: disp32
      {{0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00}, 9},  // mov %fs:0x28,%rax
      {{0x48, 0x8b, 0x05, 0x10, 0x20, 0x30, 0x00}, 7},              // RIP-relative
      {{0x48, 0x8b, 0x45, 0xf8}, 4},                                // disp8
      {{0x48, 0x8b, 0x85, 0xf8, 0xfe, 0xff, 0xff}, 7},              // disp32
      {{0x41, 0x8b, 0x44, 0x25, 0x00}, 5},                          // r13 base needs disp8
      {{0x4c, 0x8d, 0x64, 0x24, 0x10}, 5},                          // lea 0x10(%rsp),%r12
      {{0x48, 0x63, 0xd2}, 3},                                      // movslq %edx,%rdx
      {{0x49, 0x3b, 0x66, 0x10}, 4},                                // cmp 0x10(%r14),%rsp
      {{0x48, 0x83, 0x7f, 0x30, 0x00}, 5},                          // cmpq $0x0,0x30(%rdi)
      {{0x41, 0x83, 0xe4, 0x02}, 4},                                // and $0x2,%r12d
      {{0x83, 0xf8, 0x01}, 3},                                      // cmp $0x1,%eax
      {{0x3d, 0x00, 0x01, 0x00, 0x00}, 5},                          // cmp $0x100,%eax
      {{0x66, 0x3d, 0x00, 0x01}, 4},                                // cmp $0x100,%ax
      {{0xa8, 0x01}, 2},                                            // test $0x1,%al
      {{0xf7, 0xc2, 0x00, 0x01, 0x00, 0x00}, 6},                    // test $0x100,%edx
      {{0xf6, 0xc2, 0x01}, 3},                                      // test $0x1,%dl
      {{0xf7, 0xd8}, 2},                                            // neg %eax: no immediate
      {{0xc7, 0x44, 0x24, 0x08, 0x00, 0x00, 0x00, 0x00}, 8},        // movl $0,0x8(%rsp)
      {{0xc6, 0x07, 0x00}, 3},                                      // movb $0,(%rdi)
      {{0xb8, 0x01, 0x00, 0x00, 0x00}, 5},                          // mov $1,%eax
      {{0x66, 0xb8, 0x01, 0x00}, 4},                                // mov $1,%ax
      {{0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, 10},                   // movabs
      {{0xb0, 0x01}, 2},                                            // mov $1,%al
      {{0x90}, 1},                                                  // nop
      {{0x66, 0x90}, 2},                                            // xchg %ax,%ax
      {{0x0f, 0x1f, 0x44, 0x00, 0x00}, 5},                          // nopl 0x0(%rax,%rax,1)
      {{0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00}, 7},              // nopl 0x0(%rax)
      {{0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}, 9},  // nopw 0x0(%rax,%rax,1)
      {{0x41, 0x0f, 0xb6, 0xc0}, 4},                                // movzbl %r8b,%eax
      {{0x0f, 0x48, 0xc2}, 3},                                      // cmovs %edx,%eax
      {{0x0f, 0x94, 0xc0}, 3},                                      // sete %al
      {{0xe8, 0x00, 0x00, 0x00, 0x00}, 5},                          // call
      {{0xe9, 0x00, 0x00, 0x00, 0x00}, 5},                          // jmp rel32
      {{0xeb, 0x00}, 2},                                            // jmp rel8
      {{0x78, 0x2f}, 2},                                            // js rel8
      {{0x0f, 0x88, 0x37, 0x01, 0x00, 0x00}, 6},                    // js rel32
      {{0xc3}, 1},                                                  // ret
      {{0xc2, 0x08, 0x00}, 3},                                      // ret $8
  };
  for (const auto& [bytes, expected] : cases) {
    const auto got = length(bytes);
    ASSERT_TRUE(got) << ::testing::PrintToString(bytes);
    EXPECT_EQ(*got, expected) << ::testing::PrintToString(bytes);
    // Every shorter prefix is cut inside the instruction: not sized.
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(length(Bytes(bytes.begin(), bytes.begin() + n)))
          << ::testing::PrintToString(bytes) << " cut to " << n;
    }
  }
  // What this decoder does not size.
  for (const Bytes& b : std::vector<Bytes>{{0xff, 0xd0},              // call *%rax
                                           {0xff, 0x25, 0, 0, 0, 0},  // jmp *rel(%rip): a PLT stub
                                           {0x48, 0x8d, 0xc0},        // lea with a register operand
                                           {0xc7, 0xf8, 0, 0, 0, 0},  // xbegin
                                           {0x67, 0x8b, 0x00},        // 32-bit addressing
                                           {0xc5, 0xf8, 0x77},        // vzeroupper (VEX)
                                           {0xcc},                    // int3
                                           {0x48, 0x41, 0x55},        // two REX prefixes
                                           {0x66, 0xe8, 0, 0, 0, 0},  // call with a 66 prefix
                                           {0x48}}) {
    EXPECT_FALSE(length(b)) << ::testing::PrintToString(b);
  }
}

TEST(X86FirstCallTest, DebianWrappers) {
  EXPECT_EQ(call_target(kDebianSslReadEx, 0x35500), 0x352d0u);
  EXPECT_EQ(call_target(kDebianSslRead, 0x35470), 0x352d0u);  // across the forward js
  // With an endbr64 in front (a CET build), the same call 4 bytes later.
  const Bytes cet = cat({{0xf3, 0x0f, 0x1e, 0xfa}, kDebianSslReadEx});
  EXPECT_EQ(call_target(cet, 0x354fc), 0x352d0u);
}

TEST(X86FirstCallTest, NoThinWrapper) {
  // Node: the call is past kMaxWrapperPrologue.
  EXPECT_FALSE(call_target(kNodeSslRead, 0x1a6b180));
  // Go: ends after the push without a call.
  EXPECT_FALSE(call_target(kGoPrologue, 0x1000));
  // Go, longer: the jbe to morestack is a forward branch; the call after the frame setup counts.
  const Bytes go = cat({kGoPrologue, {0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0xe8, 0x00, 0x01, 0x00, 0x00}});
  EXPECT_EQ(call_target(go, 0x1000), 0x1000u + go.size() + 0x100);

  const Bytes call = {0xe8, 0x10, 0x00, 0x00, 0x00};
  EXPECT_FALSE(call_target(cat({{0xeb, 0x05}, call}), 0));        // jmp first
  EXPECT_FALSE(call_target(cat({{0xc3}, call}), 0));              // ret first
  EXPECT_FALSE(call_target(cat({{0x75, 0xfe}, call}), 0));        // backward jcc: a loop
  EXPECT_FALSE(call_target(cat({{0xff, 0xd0}, call}), 0));        // indirect call first
  EXPECT_FALSE(call_target(cat({{0x0f, 0x0b}, call}), 0));        // ud2: not sized
  EXPECT_FALSE(call_target(cat({{0x48, 0x8d, 0xc0}, call}), 0));  // invalid lea
  // A tail call is a transfer, not a call.
  const auto jump = first_transfer(Exact(cat({{0x48, 0x89, 0xe5, 0xe9, 0x00, 0x01, 0x00, 0x00}})).span(), 0x2000);
  ASSERT_TRUE(jump);
  EXPECT_EQ(jump->kind, Transfer::Jump);
  EXPECT_EQ(jump->target, 0x2000u + 8 + 0x100);
}

TEST(X86FirstCallTest, PrologueLimit) {
  const Bytes call = {0xe8, 0x00, 0x00, 0x00, 0x00};
  const Bytes nops47(kMaxWrapperPrologue - 1, 0x90);
  EXPECT_EQ(call_target(cat({nops47, call}), 0x100), 0x100u + kMaxWrapperPrologue + 4);
  const Bytes nops48(kMaxWrapperPrologue, 0x90);
  EXPECT_FALSE(call_target(cat({nops48, call}), 0x100));
}

TEST(X86FirstCallTest, DisplacementsWrapLikeTheCpu) {
  EXPECT_EQ(call_target({0xe8, 0x00, 0x00, 0x00, 0x80}, 0x10), 0x15u - 0x80000000ull);  // wraps below 0
  EXPECT_EQ(call_target({0xe8, 0xfb, 0xff, 0xff, 0xff}, 0x1000), 0x1000u);              // call to itself
  EXPECT_EQ(call_target({0xe8, 0x00, 0x00, 0x00, 0x00}, ~0ull - 2), 2u);                // wraps above 2^64
}

TEST(X86FirstCallTest, TruncatedInputs) {
  // Every prefix of the wrappers ending before the call's last byte: nothing found, nothing read past.
  for (const Bytes* b : {&kDebianSslRead, &kDebianSslReadEx, &kNodeSslRead}) {
    const std::size_t call_end = b == &kDebianSslRead ? kDebianSslRead.size() : b == &kDebianSslReadEx ? 9 : 0;
    for (std::size_t n = 0; n < b->size(); ++n) {
      const Bytes cut(b->begin(), b->begin() + n);
      const auto t = call_target(cut, 0x1000);
      EXPECT_EQ(t.has_value(), call_end != 0 && n >= call_end) << n;
      (void)cost(cut);
      (void)endbr64_skip(Exact(cut).span());
      (void)length(cut);
    }
  }
}

TEST(X86FirstCallTest, RandomBytes) {
  std::mt19937 rng(7);
  int found = 0;
  for (int round = 0; round < 20000; ++round) {
    Bytes b(rng() % 80);
    for (auto& x : b) {
      // Mostly bytes that start prologue instructions, so that walks get somewhere.
      static constexpr std::uint8_t kCommon[] = {0x48, 0x89, 0x8b, 0x83, 0x55, 0x41,
                                                 0xe8, 0x24, 0x85, 0x0f, 0x74, 0x64};
      x = rng() % 2 ? kCommon[rng() % sizeof kCommon] : static_cast<std::uint8_t>(rng());
    }
    const Exact e(b);
    if (const auto len = instruction_length(e.span())) {
      EXPECT_LE(*len, b.size());
    }
    const auto t = first_transfer(e.span(), 0x400000);
    found += t.has_value();
    (void)probe_cost(e.span());
    (void)endbr64_skip(e.span());
  }
  EXPECT_GT(found, 0);  // the walk does reach calls in this mix
}

}  // namespace
}  // namespace zt::symbols::x86

namespace zt::symbols::x86 {
namespace {

// Every `ret` of a whole function, by a linear sweep (Capstone).
TEST(X86ReturnSites, EveryRetOfTheFunctionIsFound) {
  // 0x1000: push %rbp; test %eax,%eax; je +3; pop %rbp; ret; mov $1,%eax; pop %rbp; ret
  const Exact code({0x55, 0x85, 0xc0, 0x74, 0x02, 0x5d, 0xc3, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x5d, 0xc3});
  const auto rets = return_sites(code.span(), 0x1000);
  ASSERT_TRUE(rets);
  EXPECT_EQ(*rets, (std::vector<std::uint64_t>{0x1006, 0x100d}));
}

TEST(X86ReturnSites, AJumpOutOfTheFunctionIsATailCallAndRefused) {
  // push %rbp; pop %rbp; jmp 0x2000 (e9 rel32): a return this function's `ret`s would not see.
  const Exact tail({0x55, 0x5d, 0xe9, 0xf9, 0x0f, 0x00, 0x00});
  EXPECT_FALSE(return_sites(tail.span(), 0x1000));
  // A jump back into the function (Go's stack growth path) is fine.
  const Exact loop({0x55, 0x5d, 0xc3, 0xeb, 0xfb});
  const auto rets = return_sites(loop.span(), 0x1000);
  ASSERT_TRUE(rets);
  EXPECT_EQ(*rets, (std::vector<std::uint64_t>{0x1002}));
}

TEST(X86ReturnSites, BytesThatAreNoInstructionAreRefusedNotGuessed) {
  // A truncated mov $imm32 (b8 + 2 bytes): the sweep cannot end on an instruction boundary.
  const Exact cut({0x55, 0xc3, 0xb8, 0x01, 0x00});
  EXPECT_FALSE(return_sites(cut.span(), 0x1000));
  const Exact empty({});
  const auto none = return_sites(empty.span(), 0x1000);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  // Random bytes never crash it (ASan checks the reads).
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 64);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    const Exact e(b);
    (void)return_sites(e.span(), 0x400000);
  }
}

}  // namespace
}  // namespace zt::symbols::x86
