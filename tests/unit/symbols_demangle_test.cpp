#include <gtest/gtest.h>

#include <string>

#include "symbols/demangle.h"

using zt::symbols::demangle;
using zt::symbols::short_function_name;

TEST(DemangleTest, ItaniumNames) {
  EXPECT_EQ(demangle("_Z6vecAddPKfS0_Pfi"), "vecAdd(float const*, float const*, float*, int)");
  EXPECT_EQ(demangle("_ZN2zt7fixture5scaleEdi"), "zt::fixture::scale(double, int)");
  EXPECT_EQ(demangle("_ZN12_GLOBAL__N_11kEi"), "(anonymous namespace)::k(int)");
  EXPECT_EQ(demangle("_Z3fooIiEvT_"), "void foo<int>(int)");
}

TEST(DemangleTest, NotMangledOrBrokenComesBackUnchanged) {
  EXPECT_EQ(demangle("cudaLaunchKernel"), "cudaLaunchKernel");
  EXPECT_EQ(demangle(""), "");
  EXPECT_EQ(demangle("_Z"), "_Z");
  EXPECT_EQ(demangle("_Zxyz"), "_Zxyz");
  EXPECT_EQ(demangle("_ZN3foo"), "_ZN3foo");
  const std::string with_nul("_Z3f\0oi", 7);
  EXPECT_EQ(demangle(with_nul), with_nul);
}

TEST(DemangleTest, HostileInputNeverCrashes) {
  // Deep nesting and huge lengths: refused by size, or rejected by the demangler.
  std::string deep = "_Z";
  for (int i = 0; i < 200000; ++i) deep += "PP";
  deep += "i";
  EXPECT_EQ(demangle(deep), deep);
  std::string templates = "_Z1f";
  for (int i = 0; i < 3000; ++i) templates += "I";
  EXPECT_EQ(demangle(templates), templates);
  std::string subs = "_Z1fv";
  for (int i = 0; i < 2000; ++i) subs += "S_";
  EXPECT_FALSE(demangle(subs).empty());
  for (int len = 0; len < 64; ++len) demangle(std::string("_ZN") + std::string(len, 'S'));
}

TEST(DemangleTest, ShortFunctionName) {
  EXPECT_EQ(short_function_name("void ns::k<float>(float*, int)"), "ns::k<float>");
  EXPECT_EQ(short_function_name("vecAdd(float const*, float const*, float*, int)"), "vecAdd");
  EXPECT_EQ(short_function_name("(anonymous namespace)::k(int)"), "(anonymous namespace)::k");
  EXPECT_EQ(short_function_name("void (anonymous namespace)::k(int)"), "(anonymous namespace)::k");
  EXPECT_EQ(short_function_name("ns::Functor::operator()(int) const"), "ns::Functor::operator()");
  EXPECT_EQ(short_function_name("bool operator<(A const&, A const&)"), "operator<");
  EXPECT_EQ(short_function_name("std::ostream& operator<<(std::ostream&, A const&)"), "operator<<");
  EXPECT_EQ(short_function_name("ns::It::operator->() const"), "ns::It::operator->");
  EXPECT_EQ(short_function_name("operator new(unsigned long)"), "operator new");
  EXPECT_EQ(short_function_name("A::operator int() const"), "A::operator int");
  EXPECT_EQ(short_function_name("void f<(anonymous namespace)::T>(int)"), "f<(anonymous namespace)::T>");
  EXPECT_EQ(short_function_name("auto g()::{lambda(int, int)#1}::operator()(int, int) const"),
            "g()::{lambda(int, int)#1}::operator()");
  EXPECT_EQ(short_function_name("void k<(int)3>(int)"), "k<(int)3>");
  EXPECT_EQ(short_function_name("ns::variable"), "ns::variable");
  EXPECT_EQ(short_function_name(""), "");
}

TEST(DemangleTest, ShortFunctionNameHostileInput) {
  for (const char* s : {"(", ")", "((((", "))))", "<<<<(", ">>>>)", "operator", "operator(", " (", "a (b)",
                        "operator<<<<<<(", "{{{{ (", "}])"}) {
    (void)short_function_name(s);
  }
  const std::string long_name(1 << 20, '(');
  EXPECT_EQ(short_function_name(long_name), long_name);
}
