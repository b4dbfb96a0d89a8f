// The plugin loader: in-tree plugins load through the handshake; incompatible libraries are refused with a
// message naming the file and both versions; duplicates name both files.
#include "support/doctest.hpp"

#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/version.hpp"
#include "support/test_support.hpp"

using modelslim::Error;
using modelslim::PluginKind;
using modelslim::core::PluginRegistry;
namespace test = modelslim::test;

namespace {
std::filesystem::path plugin_dir() {
  return test::build_dir() / "lib" / "modelslim" / "plugins";
}
std::filesystem::path test_plugin_dir(const std::string& name) {
  return test::build_dir() / "test-plugins" / name;
}

std::string load_error(PluginRegistry& registry, const std::filesystem::path& dir) {
  try {
    registry.load_directory(dir);
  } catch (const Error& error) {
    CHECK(error.code() == modelslim::ErrorCode::kPlugin);
    return error.what();
  }
  FAIL("expected the plugin in " << dir << " to be refused");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("in-tree plugins register their types") {
  PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const auto processors = registry.types(PluginKind::kProcessor);
  CHECK(std::find(processors.begin(), processors.end(), "linear_quant") != processors.end());
  const auto savers = registry.types(PluginKind::kSaver);
  CHECK(std::find(savers.begin(), savers.end(), "ascendv1_saver") != savers.end());
  for (const auto& entry : registry.entries()) {
    CHECK_FALSE(entry.plugin.empty());
    CHECK(std::filesystem::exists(entry.file));
  }
}

TEST_CASE("loading the same directory twice is harmless") {
  PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const auto count = registry.entries().size();
  registry.load_directory(plugin_dir());
  CHECK(registry.entries().size() == count);
}

TEST_CASE("a plugin built for another SDK ABI is refused naming both versions") {
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("other_abi"));
  CHECK(contains(message, "libother_abi_plugin.so"));
  CHECK(contains(message, "SDK ABI 99.0"));
  CHECK(contains(message, "SDK ABI " + std::to_string(modelslim::kSdkAbiMajor) + "." +
                              std::to_string(modelslim::kSdkAbiMinor)));
}

TEST_CASE("a plugin built against another LibTorch is refused naming both versions") {
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("other_torch"));
  CHECK(contains(message, "LibTorch 0.4.1"));
  CHECK(contains(message, std::string("LibTorch ") + modelslim::host_torch_version()));
}

TEST_CASE("a library without the entry symbol is refused") {
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("no_entry"));
  CHECK(contains(message, "libno_entry_plugin.so"));
  CHECK(contains(message, "modelslim_plugin_info"));
}

TEST_CASE("a duplicate type names both files") {
  PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const std::string message = load_error(registry, test_plugin_dir("duplicate"));
  CHECK(contains(message, "duplicate processor type 'linear_quant'"));
  CHECK(contains(message, "libmodelslim_linear_quant.so"));
  CHECK(contains(message, "libduplicate_type_plugin.so"));
}

TEST_CASE("a file that is not a loadable library reports the loader's message") {
  test::TempDir dir("garbage-plugin");
  test::write_text(dir / "libgarbage.so", std::string(4096, 'x'));  // long enough for the ELF check
  PluginRegistry registry;
  const std::string message = load_error(registry, dir.path());
  CHECK(contains(message, "libgarbage.so"));
  CHECK(contains(message, "cannot be loaded"));
  CHECK(contains(message, "invalid ELF header"));  // dlerror's own words
}

TEST_CASE("unknown processor types list the known ones with the field path") {
  PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const auto config = modelslim::parse_yaml_string("process:\n  - {type: no_such_thing}\n", "cfg.yaml");
  try {
    registry.create_processor(config["process"].at(0));
    FAIL("expected an error");
  } catch (const Error& error) {
    const std::string message = error.what();
    CHECK(contains(message, "cfg.yaml:2:"));
    CHECK(contains(message, "process.0.type"));
    CHECK(contains(message, "unknown processor type 'no_such_thing'"));
    CHECK(contains(message, "linear_quant"));
  }
}
