// The savers' layout guess for the parameters outside the blocks (SDK parameter_specs.hpp) reads the
// checkpoint headers when the adapter is a NonBlockParameterSpecs: the MoE and DeepSeek adapters must be,
// and their specs must describe exactly what non_block_parameters() returns (names, dtypes, shapes, order):
// bf16 untied, float32 tied, and after a rotation made the tensors the processed float32 ones.
#include "support/doctest.hpp"

#include "deepseek_adapter.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/parameter_specs.hpp"
#include "moe_adapter.hpp"
#include "support/moe_models.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<ModelAdapter> open_model(const fs::path& dir, bool deepseek) {
  const auto config = read_json_file(dir / "config.json");
  const ModelLoadRequest request{dir, config, config["model_type"], at::kCPU, false, {}};
  return deepseek ? deepseek::create_deepseek_adapter(request) : moe::create_moe_adapter(request);
}

// The number of specs, each checked against the tensor non_block_parameters() returns.
std::size_t check_specs(ModelAdapter& adapter) {
  const auto* query = dynamic_cast<const NonBlockParameterSpecs*>(&adapter);
  REQUIRE(query != nullptr);
  const std::vector<TensorSpec> specs = query->non_block_parameter_specs();
  const std::vector<NamedTensor> tensors = adapter.non_block_parameters();
  REQUIRE(specs.size() == tensors.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    CAPTURE(tensors[i].name);
    CHECK(specs[i].name == tensors[i].name);
    CHECK((specs[i].dtype == tensors[i].tensor.scalar_type()));
    CHECK(specs[i].shape == tensors[i].tensor.sizes().vec());
  }
  return specs.size();
}

fs::path make_deepseek(const test::TempDir& dir, const std::string& name, const std::string& flags) {
  const fs::path model = dir / name;
  const auto made = test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() +
                                      " --style v2-lite --seed 5 --output " + model.string() + " " + flags);
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  return model;
}

}  // namespace

TEST_CASE("moe adapter: non-block parameter specs match the tensors (bf16 untied, f32 tied, rotated)") {
  test::TempDir dir("moe-specs");
  const fs::path untied = test::make_moe_model(dir, "qwen3_moe", "untied", "--dtype bfloat16");
  CHECK(check_specs(*open_model(untied, false)) == 3);
  const fs::path tied = test::make_moe_model(dir, "qwen3_moe", "tied", "--set tie_word_embeddings=true");
  const auto adapter = open_model(tied, false);
  CHECK(check_specs(*adapter) == 2);
  adapter->rotation_points();  // the processed (float32, untied) tensors from now on
  CHECK(check_specs(*adapter) == 3);
}

TEST_CASE("deepseek adapter: non-block parameter specs match the tensors (bf16 untied, f32 tied, rotated)") {
  test::TempDir dir("deepseek-specs");
  CHECK(check_specs(*open_model(make_deepseek(dir, "untied", "--weights bfloat16"), true)) == 3);
  const auto adapter =
      open_model(make_deepseek(dir, "tied", "--weights float32 --set tie_word_embeddings=true"), true);
  CHECK(check_specs(*adapter) == 2);
  adapter->rotation_points();
  CHECK(check_specs(*adapter) == 3);
}
