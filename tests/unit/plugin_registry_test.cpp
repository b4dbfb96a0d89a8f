// The plugin loader: in-tree plugins load through the handshake; incompatible libraries are refused with a
// message naming the file and both versions; duplicates name both files; symbols are bound at load; a
// plugin's factories are registered all or none; a factory returning nothing is an error; foreign libraries
// in a plugin directory are skipped.
#include "support/doctest.hpp"

#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_handshake.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/version.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

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

using modelslim::test::contains;

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

// The C++ standard library check of the 4.1 handshake (plugin_handshake.cpp).
namespace {
// post_run's RunContext needs a model; activation_report never touches it.
class NoModel final : public modelslim::ModelAdapter {
 public:
  std::string model_type() const override { return "none"; }
  const modelslim::Tokenizer& tokenizer() const override { throw std::logic_error("unused"); }
  modelslim::BlockInput embed(const at::Tensor&) override { throw std::logic_error("unused"); }
  std::size_t num_blocks() const override { return 0; }
  std::string block_name(std::size_t) const override { return {}; }
  std::unique_ptr<modelslim::Block> load_block(std::size_t) override { return nullptr; }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<modelslim::NamedTensor> non_block_parameters() override { return {}; }
  at::ScalarType checkpoint_dtype() const override { return at::kFloat; }
  nlohmann::json hf_config() const override { return nlohmann::json::object(); }
};

ModelSlimPluginInfo host_like_info() {
  const auto host = modelslim::core::host_cxx_library();
  return ModelSlimPluginInfo{modelslim::kSdkAbiMajor,
                             modelslim::kSdkAbiMinor,
                             "forged",
                             "1.0.0",
                             modelslim::host_torch_version(),
                             [](modelslim::Registrar&) {},
                             host.cxx11_abi,
                             host.release,
                             host.date};
}

std::string handshake_error(const ModelSlimPluginInfo& info) {
  try {
    modelslim::core::check_handshake("/plugins/libforged.so", info);
  } catch (const Error& error) {
    CHECK(error.code() == modelslim::ErrorCode::kPlugin);
    return error.what();
  }
  FAIL("expected the handshake to be refused");
  return {};
}
}  // namespace

TEST_CASE("a plugin compiled with -D_GLIBCXX_USE_CXX11_ABI=0 is refused naming both markers") {
  REQUIRE(modelslim::core::host_cxx_library().cxx11_abi == 1);  // Debian's g++ default
  PluginRegistry registry;
  const std::string message = load_error(registry, test_plugin_dir("old_cxx_abi"));
  CHECK_MESSAGE(contains(message, "libold_cxx_abi_plugin.so"), message);
  CHECK_MESSAGE(contains(message, "built with _GLIBCXX_USE_CXX11_ABI=0"), message);
  CHECK_MESSAGE(contains(message, "this host uses _GLIBCXX_USE_CXX11_ABI=1"), message);
  CHECK(registry.entries().empty());
}

TEST_CASE("a handshake needing a newer libstdc++ than the host's is refused naming both versions") {
  ModelSlimPluginInfo info = host_like_info();
  modelslim::core::check_handshake("/plugins/libforged.so", info);  // the host's own values pass
  const auto host = modelslim::core::host_cxx_library();
  info.libstdcxx_release = host.release + 1;
  info.libstdcxx_date = 29991231;
  const std::string message = handshake_error(info);
  CHECK_MESSAGE(contains(message, "libforged.so"), message);
  CHECK_MESSAGE(
      contains(message, "libstdc++ " + std::to_string(host.release + 1) + " (__GLIBCXX__ 29991231)"),
      message);
  CHECK_MESSAGE(contains(message, "this host's libstdc++ " + std::to_string(host.release) + " (__GLIBCXX__ " +
                                      std::to_string(host.date) + ")"),
                message);
  info.libstdcxx_release = host.release - 1;  // an older libstdc++ is a floor the host meets
  modelslim::core::check_handshake("/plugins/libforged.so", info);
}

TEST_CASE("a handshake from a plugin of another standard library is refused naming both") {
  ModelSlimPluginInfo info = host_like_info();
  info.cxx11_abi = MODELSLIM_NOT_LIBSTDCXX;
  info.libstdcxx_release = MODELSLIM_NOT_LIBSTDCXX;
  const std::string message = handshake_error(info);
  CHECK_MESSAGE(contains(message, "not libstdc++"), message);
  CHECK_MESSAGE(contains(message, "this host uses _GLIBCXX_USE_CXX11_ABI=1"), message);
}

TEST_CASE("the 4.1 fields of a 4.0 handshake are not read") {
  ModelSlimPluginInfo info = host_like_info();
  info.abi_minor = 0;  // a 4.0 struct ends before these: whatever lies there must not matter
  info.cxx11_abi = 7;
  info.libstdcxx_release = 999;
  modelslim::core::check_handshake("/plugins/libforged.so", info);
  CHECK(modelslim::core::plugin_abi(info) == std::to_string(modelslim::kSdkAbiMajor) + ".0");
}

TEST_CASE("the example plugin built against earlier minor releases' headers loads and runs in this host") {
  // Each built from a copy of that release's installed headers (tests/fixtures/sdk-4.N), not from
  // sdk/include.
  std::string directory;
  std::string abi;
  SUBCASE("4.0") {
    directory = "sdk40_example";
    abi = "4.0";
  }
  SUBCASE("4.6, the previous minor release") {
    directory = "sdk46_example";
    abi = "4.6";
  }
  CAPTURE(abi);
  PluginRegistry registry;
  registry.load_directory(test_plugin_dir(directory));
  const auto entries = registry.entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries.front().type == "activation_report");
  CHECK(entries.front().sdk_abi == abi);

  // An Error thrown inside the plugin's factory (ConfigNode::fail, reached from old code) is caught here.
  const auto bad = modelslim::parse_yaml_string("{type: activation_report}\n", "cfg.yaml");
  try {
    registry.create_processor(bad);
    FAIL("expected the missing 'output' to be refused");
  } catch (const Error& error) {
    CHECK(error.code() == modelslim::ErrorCode::kSchemaValidate);
    CHECK_MESSAGE(contains(error.what(), "missing required field 'output'"), error.what());
  }

  // Its observers see the inputs of a block's linears during a calibration forward.
  test::TempDir dir("sdk4x-example");
  const auto config = modelslim::parse_yaml_string(
      "{type: activation_report, output: " + (dir / "report.json").string() + "}\n", "cfg.yaml");
  const auto processor = registry.create_processor(config);
  modelslim::test::ToyBlock block("model.layers.0", 8, 16, 3);
  const at::Tensor x = at::randn({1, 5, 8}, at::kDouble).to(at::kFloat);
  const std::vector<modelslim::BlockInput> inputs{{x, std::make_shared<modelslim::test::ToyContext>()}};
  modelslim::BlockRequest request{block.name(), block, inputs, {}, 0, nullptr};
  processor->preprocess(request);
  processor->process(request);
  processor->postprocess(request);
  CHECK(request.forward_count == 1);
  NoModel model;
  modelslim::RunContext context{model};
  processor->post_run(context);

  // Independent of the plugin: the largest |input| of up_proj is max|x|, of down_proj max|relu(up(x))|.
  const at::Tensor x64 = x.to(at::kDouble);
  const at::Tensor hidden =
      at::relu(at::matmul(x64, block.up().weight().to(at::kDouble).t()) + block.up().bias()->to(at::kDouble));
  const auto report = modelslim::read_json_file(dir / "report.json");
  REQUIRE(report.size() == 2);
  CHECK(report["model.layers.0.mlp.up_proj"].get<double>() ==
        doctest::Approx(x64.abs().max().item<double>()));
  CHECK(report["model.layers.0.mlp.down_proj"].get<double>() ==
        doctest::Approx(hidden.abs().max().item<double>()).epsilon(1e-5));
}
