#include "discovery/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

namespace zt::discovery {
namespace {

constexpr std::array kTopLevelKeys = {"select",           "capture_bytes", "outputs",        "log_level", "otlp",
                                      "assembly_wait_ms", "cuda",          "kernel_control", "tls"};
constexpr std::array kOtlpKeys = {"endpoint",           "traces_endpoint", "protocol",    "headers",
                                  "compression",        "timeout",         "certificate", "client_key",
                                  "client_certificate", "insecure",        "batch"};
constexpr std::array kBatchKeys = {"max_queue_size", "max_export_batch_size", "schedule_delay", "export_timeout"};

// Percent-encodes what the OTEL_EXPORTER_OTLP_HEADERS syntax reserves, so that a YAML mapping of
// headers can travel as one settings string.
std::string encode_header_part(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (c == ',' || c == '=' || c == '%') {
      out += {'%', kHex[static_cast<unsigned char>(c) >> 4], kHex[c & 0xf]};
    } else {
      out.push_back(c);
    }
  }
  return out;
}
constexpr std::array kRuleKeys = {"exe_name", "exe_path", "port", "pid"};
constexpr std::array kLogLevels = {"trace", "debug", "info", "warn", "error"};
constexpr std::int64_t kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit kernels

template <std::size_t N>
std::string join(const std::array<const char*, N>& words, std::string_view separator) {
  std::string joined;
  for (const char* word : words) {
    if (!joined.empty()) joined += separator;
    joined += word;
  }
  return joined;
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// How a wrong value is shown back to the user: the text itself, or what kind of node it was.
std::string describe(const YAML::Node& node) {
  constexpr std::size_t kMaxShown = 60;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  return "\"" + (text.size() > kMaxShown ? text.substr(0, kMaxShown) + "..." : text) + "\"";
}

std::optional<std::int64_t> as_integer(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  const std::string& text = node.Scalar();
  std::int64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_power_of_two(std::int64_t value) { return value > 0 && (value & (value - 1)) == 0; }

using KeyHandler =
    std::function<Result<void>(const std::string& key, const YAML::Node& value, const std::string& path)>;

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view origin) : origin_(origin) {}

  Result<Config> parse(const YAML::Node& root) const {
    Config config;
    if (root.IsNull()) return config;
    if (!root.IsMap()) {
      return error_at("", "expected a mapping of settings (" + join(kTopLevelKeys, ", ") + "), got " + describe(root));
    }
    const KeyHandler read_setting = [&](const std::string& key, const YAML::Node& value, const std::string& path) {
      if (key == "select") return parse_select(value, path, config.select);
      if (key == "capture_bytes") return parse_capture_bytes(value, path, config.capture_bytes);
      if (key == "outputs") return parse_outputs(value, path, config.outputs);
      if (key == "otlp") return parse_otlp(value, path, config.otlp);
      if (key == "cuda") return parse_cuda(value, path, config.cuda);
      if (key == "tls") return parse_tls(value, path, config.tls);
      if (key == "kernel_control") {
        if (!value.IsScalar() || !YAML::convert<bool>::decode(value, config.kernel_control)) {
          return Result<void>(error_at(path, "expected true or false, got " + describe(value)));
        }
        return Result<void>{};
      }
      if (key == "assembly_wait_ms") {
        const auto ms = as_integer(value);
        if (!ms || *ms < 0 || *ms > 60000)
          return Result<void>(error_at(path, "expected milliseconds 0..60000, got " + describe(value)));
        config.assembly_wait_ms = static_cast<std::uint32_t>(*ms);
        return Result<void>{};
      }
      return parse_log_level(value, path, config.log_level);
    };
    auto parsed = for_each_key(root, "", kTopLevelKeys, read_setting);
    if (!parsed) return parsed.error();
    // An otlp section is a request to export there, unless outputs says otherwise.
    if (!config.otlp.empty() && config.outputs.empty()) config.outputs.push_back("otlp");
    return config;
  }

 private:
  Error error_at(const std::string& path, std::string_view message) const {
    return make_error(origin_ + ": " + (path.empty() ? "" : path + ": ") + std::string(message));
  }

  // Checks every key of `mapping` is accepted and appears once, then hands it to `handle`.
  template <std::size_t N>
  Result<void> for_each_key(const YAML::Node& mapping, const std::string& path,
                            const std::array<const char*, N>& accepted, const KeyHandler& handle) const {
    std::set<std::string> seen;
    for (const auto& entry : mapping) {
      if (!entry.first.IsScalar()) return error_at(path, "keys must be plain names, got " + describe(entry.first));
      const std::string& key = entry.first.Scalar();
      const std::string key_path = child_path(path, key);
      if (std::find(accepted.begin(), accepted.end(), key) == accepted.end()) {
        return error_at(key_path, "unknown key; accepted keys are " + join(accepted, ", "));
      }
      if (!seen.insert(key).second) return error_at(key_path, "duplicate key");
      auto handled = handle(key, entry.second, key_path);
      if (!handled) return handled;
    }
    return {};
  }

  Result<void> parse_select(const YAML::Node& node, const std::string& path, std::vector<SelectorRule>& rules) const {
    if (node.IsNull()) return {};
    if (!node.IsSequence()) return error_at(path, "expected a list of rules, got " + describe(node));
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto rule = parse_rule(node[i], path + "[" + std::to_string(i) + "]");
      if (!rule) return rule.error();
      rules.push_back(std::move(rule).value());
    }
    return {};
  }

  Result<SelectorRule> parse_rule(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) {
      return error_at(path, "expected a rule with any of " + join(kRuleKeys, ", ") + ", got " + describe(node));
    }
    SelectorRule rule;
    const KeyHandler read_field = [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
      if (key == "exe_name") return parse_glob(value, key_path, rule.exe_name);
      if (key == "exe_path") return parse_glob(value, key_path, rule.exe_path);
      if (key == "port") return parse_bounded(value, key_path, 1, 65535, rule.port);
      return parse_bounded(value, key_path, 1, kMaxPid, rule.pid);
    };
    auto parsed = for_each_key(node, path, kRuleKeys, read_field);
    if (!parsed) return parsed.error();
    if (!rule.exe_name && !rule.exe_path && !rule.port && !rule.pid) {
      return error_at(path, "a rule needs at least one of " + join(kRuleKeys, ", "));
    }
    return rule;
  }

  Result<void> parse_glob(const YAML::Node& node, const std::string& path, std::optional<std::string>& glob) const {
    if (!node.IsScalar() || node.Scalar().empty()) {
      return error_at(path, "expected a glob pattern such as \"python3*\", got " + describe(node));
    }
    glob = node.Scalar();
    return {};
  }

  template <typename Integer>
  Result<void> parse_bounded(const YAML::Node& node, const std::string& path, std::int64_t min, std::int64_t max,
                             std::optional<Integer>& target) const {
    const auto value = as_integer(node);
    if (!value || *value < min || *value > max) {
      return error_at(
          path, "expected an integer " + std::to_string(min) + ".." + std::to_string(max) + ", got " + describe(node));
    }
    target = static_cast<Integer>(*value);
    return {};
  }

  Result<void> parse_capture_bytes(const YAML::Node& node, const std::string& path,
                                   std::uint32_t& capture_bytes) const {
    const auto value = as_integer(node);
    if (!value || *value < kMinCaptureBytes || *value > kMaxCaptureBytes || !is_power_of_two(*value)) {
      return error_at(path, "expected a power of two " + std::to_string(kMinCaptureBytes) + ".." +
                                std::to_string(kMaxCaptureBytes) + ", got " + describe(node));
    }
    capture_bytes = static_cast<std::uint32_t>(*value);
    return {};
  }

  Result<void> parse_outputs(const YAML::Node& node, const std::string& path, std::vector<std::string>& outputs) const {
    if (node.IsNull()) return {};
    const std::string expected = "expected a list of outputs such as [\"console\", \"jsonl=/var/log/zerotrace.jsonl\"]";
    if (!node.IsSequence()) return error_at(path, expected + ", got " + describe(node));
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      if (!item.IsScalar() || item.Scalar().empty()) {
        return error_at(path + "[" + std::to_string(i) + "]",
                        "expected an output such as \"console\" or \"jsonl=FILE\", got " + describe(item));
      }
      outputs.push_back(item.Scalar());
    }
    return {};
  }

  Result<void> parse_otlp(const YAML::Node& node, const std::string& path,
                          std::map<std::string, std::string>& otlp) const {
    if (node.IsNull()) return {};
    if (!node.IsMap()) return error_at(path, "expected a mapping of OTLP settings, got " + describe(node));
    const KeyHandler read = [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
      if (key == "headers") {
        if (value.IsScalar()) {
          otlp["headers"] = value.Scalar();  // "k1=v1,k2=v2", as in OTEL_EXPORTER_OTLP_HEADERS
          return Result<void>{};
        }
        if (!value.IsMap())
          return Result<void>(error_at(key_path, "expected a mapping of header: value, got " + describe(value)));
        std::string joined;
        for (const auto& entry : value) {
          if (!entry.first.IsScalar() || !entry.second.IsScalar()) {
            return Result<void>(error_at(key_path, "header names and values must be plain text"));
          }
          if (!joined.empty()) joined += ',';
          joined += encode_header_part(entry.first.Scalar()) + "=" + encode_header_part(entry.second.Scalar());
        }
        otlp["headers"] = joined;
        return Result<void>{};
      }
      if (key == "batch") {
        if (!value.IsMap())
          return Result<void>(error_at(key_path, "expected a mapping of batch settings, got " + describe(value)));
        const KeyHandler read_batch = [&](const std::string& bkey, const YAML::Node& bvalue, const std::string& bpath) {
          const auto number = as_integer(bvalue);
          if (!number || *number < 0)
            return Result<void>(error_at(bpath, "expected a non-negative integer, got " + describe(bvalue)));
          otlp["bsp." + bkey] = std::to_string(*number);
          return Result<void>{};
        };
        return for_each_key(value, key_path, kBatchKeys, read_batch);
      }
      if (!value.IsScalar()) return Result<void>(error_at(key_path, "expected a single value, got " + describe(value)));
      otlp[key] = value.Scalar();
      return Result<void>{};
    };
    return for_each_key(node, path, kOtlpKeys, read);
  }

  Result<void> parse_cuda(const YAML::Node& node, const std::string& path, CudaConfig& cuda) const {
    if (node.IsNull()) return {};
    if (!node.IsMap())
      return error_at(
          path, "expected a mapping (enabled, cupti, fold_above_per_second, group_idle_ms), got " + describe(node));
    static constexpr std::array kKeys = {"enabled", "cupti", "fold_above_per_second", "group_idle_ms"};
    return for_each_key(
        node, path, kKeys, [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          if (key == "enabled" || key == "cupti") {
            bool flag = false;
            if (!value.IsScalar() || !YAML::convert<bool>::decode(value, flag)) {
              return Result<void>(error_at(key_path, "expected true or false, got " + describe(value)));
            }
            (key == "enabled" ? cuda.enabled : cuda.cupti) = flag;
            return Result<void>{};
          }
          if (key == "fold_above_per_second") {
            double rate = -1;
            if (!value.IsScalar() || !YAML::convert<double>::decode(value, rate) || !(rate >= 0) || rate > 1e9) {
              return Result<void>(error_at(key_path, "expected launches per second >= 0, got " + describe(value)));
            }
            cuda.fold_above_per_second = rate;
            return Result<void>{};
          }
          const auto ms = as_integer(value);
          if (!ms || *ms < 1 || *ms > 600000) {
            return Result<void>(error_at(key_path, "expected milliseconds 1..600000, got " + describe(value)));
          }
          cuda.group_idle_ms = static_cast<std::uint32_t>(*ms);
          return Result<void>{};
        });
  }

  Result<void> parse_tls(const YAML::Node& node, const std::string& path, TlsConfig& tls) const {
    if (node.IsNull()) return {};
    if (!node.IsMap()) {
      return error_at(path, "expected a mapping (enabled, internal_sites, handshake_spans), got " + describe(node));
    }
    static constexpr std::array kKeys = {"enabled", "internal_sites", "handshake_spans"};
    return for_each_key(
        node, path, kKeys, [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          bool flag = false;
          if (!value.IsScalar() || !YAML::convert<bool>::decode(value, flag)) {
            return Result<void>(error_at(key_path, "expected true or false, got " + describe(value)));
          }
          (key == "enabled" ? tls.enabled : key == "internal_sites" ? tls.internal_sites : tls.handshake_spans) = flag;
          return Result<void>{};
        });
  }

  Result<void> parse_log_level(const YAML::Node& node, const std::string& path, std::string& log_level) const {
    const bool known =
        node.IsScalar() && std::find(kLogLevels.begin(), kLogLevels.end(), node.Scalar()) != kLogLevels.end();
    if (!known) return error_at(path, "expected one of " + join(kLogLevels, ", ") + ", got " + describe(node));
    log_level = node.Scalar();
    return {};
  }

  std::string origin_;
};

}  // namespace

Result<Config> parse_config(std::string_view yaml_text, std::string_view origin) {
  const std::string origin_text(origin);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    return ConfigParser(origin).parse(root);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return make_error(origin_text + ": malformed YAML: " + e.msg);
    return make_error(origin_text + ": malformed YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return make_error(origin_text + ": " + e.what());
  }
}

Result<Config> load_config(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    return make_error("cannot read config " + path + ": is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) return make_error("cannot read config " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return make_error("cannot read config " + path + ": " + std::strerror(errno));
  return parse_config(text.str(), path);
}

}  // namespace zt::discovery
