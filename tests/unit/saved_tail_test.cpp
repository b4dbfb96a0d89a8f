// The savers' layout guess for the parameters outside the blocks comes from NonBlockParameterSpecs (the
// adapter's headers) when the adapter has it, so begin() reads no tensor data and finish() reads the
// tensors once; adapters without it are read as before. saved_tail / saved_tail_specs agree.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "ascendv1_saver.hpp"
#include "compressed_tensors_saver.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "saved_tail.hpp"
#include "support/saver_rules_support.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

std::vector<NamedTensor> tail_parameters(bool with_head) {
  at::manual_seed(4);
  std::vector<NamedTensor> parameters = {{"model.embed_tokens.weight", at::randn({29, 8}, at::kBFloat16)},
                                         {"model.norm.weight", at::ones({8}, at::kBFloat16)}};
  if (with_head) parameters.push_back({"lm_head.weight", at::randn({29, 8}, at::kBFloat16)});
  return parameters;
}

// Counts the calls that read tensor data; optionally answers the spec query from the same tensors.
template <bool kSpecs>
class CountingAdapter final : public ModelAdapter, public NonBlockParameterSpecs {
 public:
  CountingAdapter(nlohmann::json config, std::vector<NamedTensor> parameters)
      : config_(std::move(config)), parameters_(std::move(parameters)) {}
  std::string model_type() const override { return "llama"; }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor&) override { throw Error(ErrorCode::kToDo, "no embed"); }
  std::size_t num_blocks() const override { return 1; }
  std::string block_name(std::size_t) const override { return "model.layers.0"; }
  std::unique_ptr<Block> load_block(std::size_t) override { throw Error(ErrorCode::kToDo, "no blocks"); }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override {
    ++reads;
    return parameters_;
  }
  std::vector<TensorSpec> non_block_parameter_specs() const override {
    if (!kSpecs) throw Error(ErrorCode::kToDo, "not asked: the test adapter's specs are off");
    std::vector<TensorSpec> specs;
    for (const NamedTensor& p : parameters_)
      specs.push_back({p.name, p.tensor.scalar_type(), p.tensor.sizes().vec()});
    return specs;
  }
  at::ScalarType checkpoint_dtype() const override { return at::kBFloat16; }
  nlohmann::json hf_config() const override { return config_; }
  int reads = 0;

 private:
  nlohmann::json config_;
  std::vector<NamedTensor> parameters_;
};

// Plain ModelAdapter (no spec query): the fallback reads the tensors.
class PlainAdapter final : public ModelAdapter {
 public:
  explicit PlainAdapter(std::vector<NamedTensor> parameters) : parameters_(std::move(parameters)) {}
  std::string model_type() const override { return "llama"; }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor&) override { throw Error(ErrorCode::kToDo, "no embed"); }
  std::size_t num_blocks() const override { return 1; }
  std::string block_name(std::size_t) const override { return "model.layers.0"; }
  std::unique_ptr<Block> load_block(std::size_t) override { throw Error(ErrorCode::kToDo, "no blocks"); }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override {
    ++reads;
    return parameters_;
  }
  at::ScalarType checkpoint_dtype() const override { return at::kFloat; }
  nlohmann::json hf_config() const override { return nlohmann::json::object(); }
  int reads = 0;

 private:
  std::vector<NamedTensor> parameters_;
};

fs::path model_dir(const test::TempDir& dir, const nlohmann::json& hf) {
  const fs::path model = dir / "model";
  fs::create_directories(model);
  test::write_text(model / "config.json", hf.dump());
  fs::create_directories(dir / "out");
  return model;
}

template <typename SaverType>
void check_saver_reads_tail_once(const std::string& yaml, bool tied) {
  test::TempDir dir("saved-tail");
  const nlohmann::json hf = test::llama_config({{"tie_word_embeddings", tied}});
  const fs::path model = model_dir(dir, hf);
  const std::vector<NamedTensor> parameters = tail_parameters(!tied);
  CountingAdapter<true> adapter(hf, parameters);
  SaverType saver(parse_yaml_string(yaml, "s.yaml"));
  saver.begin({dir / "out", model, adapter, nullptr});
  CHECK(adapter.reads == 0);  // the layout guess came from the specs
  test::LlamaNamedBlock block;
  saver.save_block(block);
  saver.finish(adapter.non_block_parameters());
  CHECK(adapter.reads == 1);
  const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
  for (const NamedTensor& p : parameters) CHECK(at::equal(saved.load(p.name), p.tensor));
}

}  // namespace

TEST_CASE("non_block_parameter_specs: the adapter's answer, else the tensors' specs") {
  CountingAdapter<true> with(nlohmann::json::object(), tail_parameters(true));
  const std::vector<TensorSpec> specs = non_block_parameter_specs(with);
  CHECK(with.reads == 0);
  REQUIRE(specs.size() == 3);
  CHECK(specs[2].name == "lm_head.weight");
  CHECK(specs[2].shape == std::vector<std::int64_t>{29, 8});
  CHECK((specs[2].dtype == at::kBFloat16));

  PlainAdapter without(tail_parameters(false));
  const std::vector<TensorSpec> fallback = non_block_parameter_specs(without);
  CHECK(without.reads == 1);
  REQUIRE(fallback.size() == 2);
  CHECK(fallback[1].name == "model.norm.weight");
  CHECK(fallback[1].shape == std::vector<std::int64_t>{8});
  CHECK((fallback[1].dtype == at::kBFloat16));
}

TEST_CASE("saved_tail_specs describe exactly what saved_tail writes, tied or not") {
  for (const bool tied : {false, true}) {
    for (const bool with_head : {false, true}) {
      const std::vector<NamedTensor> parameters = tail_parameters(with_head);
      std::vector<TensorSpec> input_specs;
      for (const NamedTensor& p : parameters) input_specs.push_back(tensor_spec(p.name, p.tensor));
      const std::vector<NamedTensor> tail = saver_rules::saved_tail(parameters, at::kFloat, tied);
      const std::vector<TensorSpec> specs = saver_rules::saved_tail_specs(input_specs, at::kFloat, tied);
      // A tied model without its own lm_head gets the embedding's values under that name.
      CHECK(tail.size() == parameters.size() + (tied && !with_head ? 1 : 0));
      REQUIRE(specs.size() == tail.size());
      for (std::size_t i = 0; i < tail.size(); ++i) {
        CHECK(specs[i].name == tail[i].name);
        CHECK((specs[i].dtype == tail[i].tensor.scalar_type()));
        CHECK(specs[i].shape == tail[i].tensor.sizes().vec());
        CHECK((tail[i].tensor.scalar_type() == at::kFloat));
      }
      if (tied && !with_head) CHECK(at::equal(tail.back().tensor, parameters[0].tensor.to(at::kFloat)));
    }
  }
}

TEST_CASE("ascendv1 and compressed_tensors savers read the non-block tensors once (finish), not in begin") {
  check_saver_reads_tail_once<ascendv1::AscendV1Saver>("{type: ascendv1_saver}", false);
  check_saver_reads_tail_once<ascendv1::AscendV1Saver>("{type: ascendv1_saver}", true);
  check_saver_reads_tail_once<compressed_tensors::CompressedTensorsSaver>("{type: compressed_tensors}",
                                                                          false);
}
