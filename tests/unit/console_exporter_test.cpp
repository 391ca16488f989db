#include "exporters/console_exporter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace zt::exporters {
namespace {

using trace::Span;
using trace::SpanKind;
using trace::StatusCode;

constexpr std::uint64_t kBase = 1'714'564'800'000'000'000ull;  // 2024-05-01T12:00:00Z
constexpr std::uint64_t kMs = 1'000'000;

trace::TraceId trace_id(std::uint8_t last) {
  trace::TraceId id{};
  id[0] = 0xab;
  id[15] = last;
  return id;
}

trace::SpanId span_id(std::uint8_t last) {
  trace::SpanId id{};
  id[7] = last;
  return id;
}

std::shared_ptr<const trace::Resource> service(std::string name, std::uint32_t pid) {
  auto resource = std::make_shared<trace::Resource>();
  resource->pid = pid;
  resource->service_name = std::move(name);
  return resource;
}

Span make_span(std::uint8_t trace, std::uint8_t id, std::uint8_t parent, std::string name, std::uint64_t start_ms,
               std::uint64_t duration_ns, SpanKind kind = SpanKind::Server) {
  Span span;
  span.trace_id = trace_id(trace);
  span.span_id = span_id(id);
  if (parent != 0) span.parent_span_id = span_id(parent);
  span.name = std::move(name);
  span.kind = kind;
  span.start_unix_ns = kBase + start_ms * kMs;
  span.end_unix_ns = span.start_unix_ns + duration_ns;
  span.resource = service("checkout", 1234);
  return span;
}

const TreeStyle kPlain{.color = false, .show_attributes = true};

TEST(FormatDuration, PicksTheUnitAndThreeSignificantDigits) {
  EXPECT_EQ(format_duration(0), "0ns");
  EXPECT_EQ(format_duration(850), "850ns");
  EXPECT_EQ(format_duration(999), "999ns");
  EXPECT_EQ(format_duration(1000), "1.00us");
  EXPECT_EQ(format_duration(12'340), "12.3us");
  EXPECT_EQ(format_duration(123'400), "123us");
  EXPECT_EQ(format_duration(999'400), "999us");
  EXPECT_EQ(format_duration(999'700), "1.00ms");
  EXPECT_EQ(format_duration(1'250'000), "1.25ms");
  EXPECT_EQ(format_duration(45'600'000), "45.6ms");
  EXPECT_EQ(format_duration(3'000'000'000), "3.00s");
  EXPECT_EQ(format_duration(4'321'000'000'000), "4321s");
}

TEST(RenderTraceTree, NestsChildrenUnderParentsInStartOrder) {
  Span root = make_span(1, 1, 0, "GET /users/{id}", 0, 12'300'000);
  root.status = StatusCode::Ok;
  root.attributes = {{"url.path", std::string("/users/42")},
                     {"http.response.status_code", std::int64_t{200}},
                     {"http.request.method", std::string("GET")}};
  Span later_child = make_span(1, 3, 1, "SELECT users", 5, 2'100'000, SpanKind::Client);
  Span earlier_child = make_span(1, 2, 1, "GET /auth", 1, 950'000, SpanKind::Client);
  Span grandchild = make_span(1, 4, 2, "resolve", 2, 850, SpanKind::Internal);
  grandchild.resource = service("auth", 77);

  // Arrival order is deliberately not tree order: children usually finish before their parent.
  const std::string text = render_trace_tree({grandchild, later_child, root, earlier_child}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000001  2024-05-01T12:00:00.000000Z  4 spans\n"
            "SERVER GET /users/{id}  12.3ms  OK  checkout (pid 1234)\n"
            "│  http.request.method=GET http.response.status_code=200 url.path=/users/42\n"
            "├── CLIENT GET /auth  950us  UNSET  checkout (pid 1234)\n"
            "│   └── INTERNAL resolve  850ns  UNSET  auth (pid 77)\n"
            "└── CLIENT SELECT users  2.10ms  UNSET  checkout (pid 1234)\n");
}

TEST(RenderTraceTree, ShowsOrphansUnderTheRootWithAMarker) {
  Span root = make_span(2, 1, 0, "GET /", 0, 5 * kMs);
  Span orphan = make_span(2, 9, 8, "POST /charge", 1, 1 * kMs, SpanKind::Client);
  orphan.status = StatusCode::Error;
  orphan.status_message = "connection reset";

  const std::string text = render_trace_tree({orphan, root}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000002  2024-05-01T12:00:00.000000Z  2 spans\n"
            "SERVER GET /  5.00ms  UNSET  checkout (pid 1234)\n"
            "└── CLIENT POST /charge  1.00ms  ERROR \"connection reset\"  checkout (pid 1234)"
            "  [orphan: parent 0000000000000008 not seen]\n");
}

TEST(RenderTraceTree, WithoutARootOrphansAreTopLevel) {
  const std::string text =
      render_trace_tree({make_span(3, 2, 7, "b", 2, 1000), make_span(3, 1, 7, "a", 1, 1000)}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000003  2024-05-01T12:00:00.001000Z  2 spans\n"
            "SERVER a  1.00us  UNSET  checkout (pid 1234)  [orphan: parent 0000000000000007 not seen]\n"
            "SERVER b  1.00us  UNSET  checkout (pid 1234)  [orphan: parent 0000000000000007 not seen]\n");
}

TEST(RenderTraceTree, PrintsEverySpanOnceWhenParentLinksLoop) {
  Span root = make_span(4, 1, 0, "root", 0, 1000);
  Span a = make_span(4, 2, 3, "a", 1, 1000);
  Span b = make_span(4, 3, 2, "b", 2, 1000);

  const std::string text = render_trace_tree({root, a, b}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000004  2024-05-01T12:00:00.000000Z  3 spans\n"
            "SERVER root  1.00us  UNSET  checkout (pid 1234)\n"
            "└── SERVER a  1.00us  UNSET  checkout (pid 1234)  [orphan: parent 0000000000000003 is its own "
            "descendant]\n"
            "    └── SERVER b  1.00us  UNSET  checkout (pid 1234)\n");
}

TEST(RenderTraceTree, FormatsAttributeValuesCompactlyAndSafely) {
  Span span = make_span(5, 1, 0, "x", 0, 1000);
  span.resource = nullptr;
  span.attributes = {{"z.bool", true},
                     {"a.text", std::string("two words")},
                     {"b.empty", std::string()},
                     {"c.ratio", 0.25},
                     {"d.escape", std::string("\x1b[31mred\n")},
                     {"e.invalid", std::string("ok\xff\xfe")},
                     {"f.quote", std::string("say \"hi\"")},
                     {"g.utf8", std::string("caf\xc3\xa9")}};

  const std::string text = render_trace_tree({span}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000005  2024-05-01T12:00:00.000000Z  1 span\n"
            "SERVER x  1.00us  UNSET  ? (pid ?)\n"
            "   a.text=\"two words\" b.empty=\"\" c.ratio=0.25 d.escape=\"\\x1b[31mred\\n\" "
            "e.invalid=ok\xef\xbf\xbd\xef\xbf\xbd f.quote=\"say \\\"hi\\\"\" g.utf8=caf\xc3\xa9 z.bool=true\n");
}

TEST(RenderTraceTree, EscapesControlCharactersInNamesAndRejectsOverlongUtf8) {
  Span span = make_span(6, 1, 0, "GET /\x1b]0;pwned\x07", 0, 1000);
  span.attributes = {{"k", std::string("\xc0\xaf")}};  // overlong encoding of '/'

  const std::string text = render_trace_tree({span}, kPlain);

  EXPECT_NE(text.find("SERVER GET /\\x1b]0;pwned\\x07  "), std::string::npos) << text;
  EXPECT_NE(text.find("k=\xef\xbf\xbd\xef\xbf\xbd\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST(RenderTraceTree, ColorsOnlyWhenAsked) {
  Span span = make_span(7, 1, 0, "x", 0, 1000);
  span.status = StatusCode::Error;
  EXPECT_EQ(render_trace_tree({span}, kPlain).find('\x1b'), std::string::npos);
  const std::string colored = render_trace_tree({span}, TreeStyle{.color = true, .show_attributes = true});
  EXPECT_NE(colored.find("\x1b[31mERROR\x1b[0m"), std::string::npos) << colored;
}

TEST(RenderTraceTree, AttributeLinesCanBeTurnedOff) {
  Span span = make_span(8, 1, 0, "x", 0, 1000);
  span.attributes = {{"k", std::string("v")}};
  const std::string text = render_trace_tree({span}, TreeStyle{.color = false, .show_attributes = false});
  EXPECT_EQ(text.find("k=v"), std::string::npos);
}

trace::Link link_to(std::uint8_t trace, std::uint8_t id, std::vector<trace::Attribute> attributes = {}) {
  trace::Link link;
  link.trace_id = trace_id(trace);
  link.span_id = span_id(id);
  link.attributes = std::move(attributes);
  return link;
}

TEST(RenderTraceTree, ShowsLinksBelowTheSpanWithinAndAcrossTraces) {
  Span root = make_span(9, 1, 0, "GET /orders", 0, 10 * kMs);
  root.attributes = {{"http.route", std::string("/orders")}};
  root.links = {link_to(0x21, 6)};
  Span produce = make_span(9, 2, 1, "send orders", 1, 1 * kMs, SpanKind::Producer);
  Span consume = make_span(9, 3, 1, "poll orders", 3, 2 * kMs, SpanKind::Consumer);
  consume.links = {link_to(9, 2),  // a span of this trace, printed here
                   link_to(9, 7),  // of this trace, not among the printed spans
                   link_to(0x20, 5, {{"zerotrace.link.source", std::string("kafka")},
                                     {"messaging.kafka.offset", std::int64_t{42}}})};
  consume.dropped_links = 2;

  const std::string text = render_trace_tree({consume, produce, root}, kPlain);

  EXPECT_EQ(text,
            "trace ab000000000000000000000000000009  2024-05-01T12:00:00.000000Z  3 spans\n"
            "SERVER GET /orders  10.0ms  UNSET  checkout (pid 1234)\n"
            "│  http.route=/orders\n"
            "│  ↳ link ab000000000000000000000000000021/0000000000000006\n"
            "├── PRODUCER send orders  1.00ms  UNSET  checkout (pid 1234)\n"
            "└── CONSUMER poll orders  2.00ms  UNSET  checkout (pid 1234)\n"
            "       ↳ link 0000000000000002 (this trace: PRODUCER send orders)\n"
            "       ↳ link 0000000000000007 (this trace)\n"
            "       ↳ link ab000000000000000000000000000020/0000000000000005  "
            "messaging.kafka.offset=42 zerotrace.link.source=kafka\n"
            "       ↳ 2 links dropped\n");
}

TEST(RenderTraceTree, LinkLinesStayWithoutAttributesAndAreTerminalSafe) {
  Span span = make_span(10, 1, 0, "x", 0, 1000);
  span.links = {link_to(0x30, 4, {{"k", std::string("\x1b[2J")}})};
  span.dropped_links = 1;

  const std::string plain = render_trace_tree({span}, TreeStyle{.color = false, .show_attributes = false});
  EXPECT_NE(plain.find("   ↳ link ab000000000000000000000000000030/0000000000000004\n"), std::string::npos) << plain;
  EXPECT_NE(plain.find("   ↳ 1 link dropped\n"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("k="), std::string::npos);

  const std::string full = render_trace_tree({span}, kPlain);
  EXPECT_NE(full.find("/0000000000000004  k=\"\\x1b[2J\"\n"), std::string::npos) << full;
  EXPECT_EQ(full.find('\x1b'), std::string::npos);
}

class FakeClock {
 public:
  MonotonicClock clock() {
    return [this] { return now_ns; };
  }
  void advance_ms(std::uint64_t ms) { now_ns += ms * kMs; }
  std::uint64_t now_ns = 1'000 * kMs;
};

class ConsoleExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConsoleExporter> make(ExporterOptions opts = {}) {
    return std::make_unique<ConsoleExporter>(out_, opts, ConsoleTiming{fake_.clock(), false});
  }
  std::size_t trees_printed() const {
    const std::string text = out_.str();
    std::size_t count = 0;
    for (std::size_t at = text.find("trace "); at != std::string::npos; at = text.find("\ntrace ", at + 1)) ++count;
    return count;
  }
  std::ostringstream out_;
  FakeClock fake_;
};

TEST_F(ConsoleExporterTest, HoldsATraceUntilItHasBeenQuietForTheHoldTime) {
  auto exporter = make(ExporterOptions{.console_hold_ms = 1000});
  exporter->export_spans({make_span(1, 2, 1, "child", 1, 1000)});
  fake_.advance_ms(800);
  exporter->export_spans({make_span(1, 1, 0, "parent", 0, 5000)});
  fake_.advance_ms(800);
  exporter->print_expired();
  EXPECT_EQ(out_.str(), "") << "the parent's arrival restarted the hold";

  fake_.advance_ms(200);
  exporter->print_expired();
  EXPECT_EQ(out_.str(),
            "trace ab000000000000000000000000000001  2024-05-01T12:00:00.000000Z  2 spans\n"
            "SERVER parent  5.00us  UNSET  checkout (pid 1234)\n"
            "└── SERVER child  1.00us  UNSET  checkout (pid 1234)\n"
            "\n");
  EXPECT_EQ(exporter->pending_trace_count(), 0u);
}

TEST_F(ConsoleExporterTest, PrintsTheLeastRecentlyActiveTraceEarlyWhenFull) {
  auto exporter = make(ExporterOptions{.console_hold_ms = 60'000, .console_max_pending_traces = 2});
  exporter->export_spans({make_span(1, 1, 0, "first", 0, 1000)});
  exporter->export_spans({make_span(2, 1, 0, "second", 0, 1000)});
  exporter->export_spans({make_span(1, 2, 1, "first-child", 0, 1000)});  // trace 1 is now the most recent
  EXPECT_EQ(out_.str(), "");

  exporter->export_spans({make_span(3, 1, 0, "third", 0, 1000)});

  EXPECT_EQ(trees_printed(), 1u);
  EXPECT_NE(out_.str().find("SERVER second"), std::string::npos) << out_.str();
  EXPECT_EQ(exporter->pending_trace_count(), 2u);
}

TEST_F(ConsoleExporterTest, PrintsATraceAtOnceWhenItReachesTheSpanLimit) {
  auto exporter = make(ExporterOptions{.console_hold_ms = 60'000, .console_max_spans_per_trace = 3});
  exporter->export_spans({make_span(1, 1, 0, "a", 0, 1000), make_span(1, 2, 1, "b", 1, 1000)});
  EXPECT_EQ(out_.str(), "");
  exporter->export_spans({make_span(1, 3, 1, "c", 2, 1000), make_span(1, 4, 1, "d", 3, 1000)});

  EXPECT_EQ(trees_printed(), 1u);
  EXPECT_NE(out_.str().find("3 spans"), std::string::npos) << out_.str();
  EXPECT_EQ(exporter->pending_trace_count(), 1u) << "the fourth span starts a new hold";
}

TEST_F(ConsoleExporterTest, FlushPrintsEverythingPendingInOrderOfActivity) {
  auto exporter = make();
  exporter->export_spans({make_span(1, 1, 0, "one", 0, 1000), make_span(2, 1, 0, "two", 0, 1000)});
  exporter->flush();
  const std::string text = out_.str();
  EXPECT_EQ(trees_printed(), 2u);
  EXPECT_LT(text.find("SERVER one"), text.find("SERVER two"));
  EXPECT_EQ(exporter->pending_trace_count(), 0u);
}

TEST_F(ConsoleExporterTest, ShutdownFlushesOnceAndDropsLaterSpans) {
  auto exporter = make();
  exporter->export_spans({make_span(1, 1, 0, "before", 0, 1000)});
  exporter->shutdown();
  exporter->shutdown();
  exporter->export_spans({make_span(2, 1, 0, "after", 0, 1000)});
  exporter->flush();
  EXPECT_EQ(trees_printed(), 1u);
  EXPECT_NE(out_.str().find("SERVER before"), std::string::npos);
  EXPECT_EQ(out_.str().find("after"), std::string::npos);
}

TEST(ConsoleExporterBackground, PrintsExpiredTracesWithoutFurtherSpans) {
  std::ostringstream out;
  {
    ConsoleExporter exporter(out, ExporterOptions{.console_hold_ms = 20});
    exporter.export_spans({make_span(1, 1, 0, "lonely", 0, 1000)});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (exporter.pending_trace_count() != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(exporter.pending_trace_count(), 0u);
  }
  EXPECT_NE(out.str().find("SERVER lonely"), std::string::npos) << out.str();
}

TEST(MakeExporter, BuildsConsoleAndJsonlFromSpecs) {
  const auto dir = std::filesystem::temp_directory_path() / ("zt_console_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string console_file = (dir / "console.txt").string();
  const std::string jsonl_file = (dir / "spans.jsonl").string();

  auto console = make_exporter("console=" + console_file, ExporterOptions{.color = true});
  ASSERT_TRUE(console) << console.error().message;
  EXPECT_EQ(console.value()->name(), "console");
  console.value()->export_spans({make_span(1, 1, 0, "to-file", 0, 1000)});
  console.value()->shutdown();
  std::ifstream written(console_file);
  const std::string text((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("SERVER to-file"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "no colors in a file";

  auto jsonl = make_exporter("jsonl=" + jsonl_file, ExporterOptions{});
  ASSERT_TRUE(jsonl) << jsonl.error().message;
  EXPECT_EQ(jsonl.value()->name(), "jsonl");

  auto to_stdout = make_exporter("jsonl=-", ExporterOptions{});
  ASSERT_TRUE(to_stdout) << to_stdout.error().message;
  EXPECT_EQ(to_stdout.value()->name(), "jsonl");
  std::filesystem::remove_all(dir);
}

TEST(MakeExporter, RejectsBadSpecsWithTheAcceptedForms) {
  for (const char* spec : {"kafka", "jsonl", "jsonl=", "console=", "", "Console", "otlp="}) {
    auto exporter = make_exporter(spec, ExporterOptions{});
    ASSERT_FALSE(exporter) << spec;
    EXPECT_NE(exporter.error().message.find("accepted forms: console, console=FILE, jsonl=FILE"), std::string::npos)
        << exporter.error().message;
  }
  EXPECT_EQ(make_exporter("kafka", ExporterOptions{}).error().message,
            "output \"kafka\": unknown exporter \"kafka\"; accepted forms: console, console=FILE, jsonl=FILE, "
            "chrome=FILE (FILE \"-\" is standard output), otlp, otlp=ENDPOINT, zipkin, zipkin=URL");
  // OTLP settings are checked when the output is made, each named.
  ExporterOptions bad;
  bad.read_environment = false;
  bad.otlp_settings = {{"protocol", "thrift"}};
  EXPECT_EQ(make_exporter("otlp", bad).error().message,
            "output \"otlp\": otlp protocol: expected grpc, http/protobuf or http/json, got \"thrift\"");
  EXPECT_EQ(make_exporter("zipkin=ftp://x", ExporterOptions{}).error().message,
            "output \"zipkin=ftp://x\": zipkin: expected an http:// or https:// URL, got \"ftp://x\"");
}

TEST(MakeExporter, ReportsAFileThatCannotBeOpened) {
  auto exporter = make_exporter("jsonl=/nonexistent-dir/spans.jsonl", ExporterOptions{});
  ASSERT_FALSE(exporter);
  EXPECT_EQ(exporter.error().message, "jsonl: cannot open /nonexistent-dir/spans.jsonl: No such file or directory");
}

}  // namespace
}  // namespace zt::exporters
