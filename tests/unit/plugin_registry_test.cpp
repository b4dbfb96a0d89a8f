// The plugin loader: in-tree plugins load through the handshake; incompatible libraries are refused with a
// message naming the file and both versions; duplicates name both files; symbols are bound at load; a
// plugin's factories are registered all or none; a factory returning nothing is an error; foreign libraries
// in a plugin directory are skipped.
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

bool has_type(const PluginRegistry& registry, PluginKind kind, const std::string& type) {
  const auto types = registry.types(kind);
  return std::find(types.begin(), types.end(), type) != types.end();
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

TEST_CASE("a library without the entry symbol in a plugin directory is skipped, and refused when named") {
  PluginRegistry registry;
  registry.load_directory(test_plugin_dir("no_entry"));  // a foreign library does not stop every command
  registry.load_directory(plugin_dir());
  REQUIRE(registry.skipped().size() == 1);
  CHECK(registry.skipped().front().filename() == "libno_entry_plugin.so");
  CHECK(has_type(registry, PluginKind::kProcessor, "linear_quant"));
  for (const auto& entry : registry.entries()) CHECK(entry.file.filename() != "libno_entry_plugin.so");

  PluginRegistry explicit_load;
  try {
    explicit_load.load_library(test_plugin_dir("no_entry") / "libno_entry_plugin.so");
    FAIL("expected a library named explicitly without the entry symbol to be refused");
  } catch (const Error& error) {
    CHECK(contains(error.what(), "libno_entry_plugin.so"));
    CHECK(contains(error.what(), "modelslim_plugin_info"));
  }
}

TEST_CASE("a plugin with an unresolved symbol is refused at load, naming the file and the symbol") {
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("unresolved_symbol"));
  CHECK(contains(message, "libunresolved_symbol_plugin.so"));
  CHECK(contains(message, "modelslim_test_symbol_nobody_defines"));
  CHECK_FALSE(has_type(registry, PluginKind::kProcessor, "unresolved_processor"));
}

TEST_CASE("a factory that returns no object is an error naming the plugin, the kind and the type") {
  PluginRegistry registry;
  registry.load_directory(test_plugin_dir("null_factory"));
  const auto message = [](const auto& create) -> std::string {
    try {
      create();
    } catch (const Error& error) {
      CHECK(error.code() == modelslim::ErrorCode::kPlugin);
      return error.what();
    }
    FAIL("expected a factory returning no object to be an error");
    return {};
  };
  const auto config = [](const std::string& type) {
    return modelslim::parse_yaml_string("{type: " + type + "}", "cfg.yaml");
  };
  const std::vector<std::pair<std::string, std::string>> made{
      {"processor", message([&] { return registry.create_processor(config("null_processor")); })},
      {"saver", message([&] { return registry.create_saver(config("null_saver")); })},
      {"strategy", message([&] { return registry.create_strategy(config("null_strategy")); })},
      {"evaluator", message([&] { return registry.create_evaluator(config("null_evaluator")); })},
      {"model_adapter", message([&] {
         modelslim::ModelLoadRequest request;
         request.model_type = "null_model";
         return registry.create_model_adapter("null_adapter", request);
       })}};
  for (const auto& [kind, text] : made) {
    const std::string type = kind == "model_adapter" ? "null_adapter" : "null_" + kind;
    CHECK_MESSAGE(contains(text, "plugin 'null_factory'"), text);
    CHECK_MESSAGE(contains(text, "libnull_factory_plugin.so"), text);
    CHECK_MESSAGE(contains(text, kind + " factory for type '" + type + "' returned no object"), text);
  }
}

TEST_CASE("a register function that throws leaves nothing of its plugin registered") {
  PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const auto before = registry.entries().size();
  const std::string message = load_error(registry, test_plugin_dir("throwing_register"));
  CHECK(contains(message, "libthrowing_register_plugin.so"));
  CHECK(contains(message, "plugin 'throwing_register'"));
  CHECK(contains(message, "cannot find my_backend.so"));  // the plugin's own words
  CHECK(contains(message, "nothing from it was registered"));
  CHECK(registry.entries().size() == before);
  CHECK_FALSE(has_type(registry, PluginKind::kProcessor, "half_registered_processor"));
  CHECK_FALSE(has_type(registry, PluginKind::kSaver, "half_registered_saver"));
  // The registry still works: the earlier plugins' factories are intact.
  const auto config = modelslim::parse_yaml_string("{type: no_such_saver}", "cfg.yaml");
  CHECK_THROWS_WITH_AS(registry.create_saver(config), doctest::Contains("ascendv1_saver"), Error);
}

TEST_CASE("a plugin registering an empty factory is refused, naming the type") {
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("empty_factory"));
  CHECK(contains(message, "libempty_factory_plugin.so"));
  CHECK(contains(message, "empty factory for processor type 'empty_processor'"));
  CHECK_FALSE(has_type(registry, PluginKind::kProcessor, "empty_processor"));
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
