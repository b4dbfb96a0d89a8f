// The runners: block order, hook order, one resident block in layer_wise, hidden states carried between
// blocks (checked against a plain forward), forwards counted, savers called per block and at the end.
#include "support/doctest.hpp"

#include "modelslim/core/pipeline.hpp"
#include "modelslim/error.hpp"
#include "support/toy_block.hpp"

#include <ATen/ATen.h>

using namespace modelslim;
using namespace modelslim::core;

namespace {

int g_alive_blocks = 0;
int g_max_alive_blocks = 0;

class CountedBlock final : public Block {
 public:
  CountedBlock(std::string name, std::uint64_t seed) : inner_(std::move(name), 8, 16, seed) {
    g_max_alive_blocks = std::max(g_max_alive_blocks, ++g_alive_blocks);
  }
  ~CountedBlock() override { --g_alive_blocks; }
  const std::string& name() const override { return inner_.name(); }
  std::vector<Linear*> linears() override { return inner_.linears(); }
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override {
    return hidden + inner_.forward(hidden, context);
  }

 private:
  test::ToyBlock inner_;
};

class ToyAdapter final : public ModelAdapter {
 public:
  std::string model_type() const override { return "toy"; }
  const Tokenizer& tokenizer() const override {
    throw Error(ErrorCode::kToDo, "toy adapter has no tokenizer");
  }
  BlockInput embed(const at::Tensor& input_ids) override {
    return {at::sin(input_ids.to(at::kFloat)).unsqueeze(-1).expand({1, input_ids.size(1), 8}).contiguous(),
            std::make_shared<test::ToyContext>()};
  }
  std::size_t num_blocks() const override { return 3; }
  std::string block_name(std::size_t i) const override { return "model.layers." + std::to_string(i); }
  std::unique_ptr<Block> load_block(std::size_t i) override {
    return std::make_unique<CountedBlock>(block_name(i), 100 + i);
  }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override { return {{"model.norm.weight", at::ones({8})}}; }
  at::ScalarType checkpoint_dtype() const override { return at::kFloat; }
  nlohmann::json hf_config() const override { return nlohmann::json::object(); }
};

class RecordingProcessor final : public Processor {
 public:
  RecordingProcessor(std::string tag, bool data_free, std::vector<std::string>& log)
      : tag_(std::move(tag)), data_free_(data_free), log_(log) {}
  void pre_run(RunContext&) override { log_.push_back(tag_ + ":pre_run"); }
  void preprocess(BlockRequest& r) override { log_.push_back(tag_ + ":preprocess:" + r.name); }
  void postprocess(BlockRequest& r) override { log_.push_back(tag_ + ":postprocess:" + r.name); }
  void post_run(RunContext&) override { log_.push_back(tag_ + ":post_run"); }
  bool is_data_free() const override { return data_free_; }

 private:
  std::string tag_;
  bool data_free_;
  std::vector<std::string>& log_;
};

class RecordingSaver final : public Saver {
 public:
  explicit RecordingSaver(std::vector<std::string>& log) : log_(log) {}
  void begin(const SaveContext&) override { log_.push_back("saver:begin"); }
  void save_block(Block& block) override { log_.push_back("saver:block:" + block.name()); }
  void finish(const std::vector<NamedTensor>& rest) override {
    log_.push_back("saver:finish:" + rest.at(0).name);
  }

 private:
  std::vector<std::string>& log_;
};

std::vector<at::Tensor> pipeline_samples() {
  return {at::arange(5).reshape({1, 5}), at::arange(3, 10).reshape({1, 7})};
}

}  // namespace

TEST_CASE("hooks run per processor in list order, savers after, in block order") {
  ToyAdapter adapter;
  std::vector<std::string> log;
  Pipeline pipeline;
  pipeline.processors.push_back(std::make_unique<RecordingProcessor>("a", false, log));
  pipeline.processors.push_back(std::make_unique<RecordingProcessor>("b", true, log));
  pipeline.savers.push_back(std::make_unique<RecordingSaver>(log));
  const SaveContext save{"/nonexistent", "/nonexistent", adapter};
  const RunStats stats =
      run_pipeline(adapter, pipeline, pipeline_samples(), RunnerKind::kLayerWise, save, nullptr);
  CHECK(stats.blocks == 3);
  CHECK(stats.block_forwards == 3 * 2);  // only `a` needs data: one forward per sample per block
  const std::vector<std::string> first_block = {"a:pre_run",
                                                "b:pre_run",
                                                "saver:begin",
                                                "a:preprocess:model.layers.0",
                                                "a:postprocess:model.layers.0",
                                                "b:preprocess:model.layers.0",
                                                "b:postprocess:model.layers.0",
                                                "saver:block:model.layers.0"};
  REQUIRE(log.size() >= first_block.size());
  for (std::size_t i = 0; i < first_block.size(); ++i) CHECK(log[i] == first_block[i]);
  CHECK(log[log.size() - 3] == "a:post_run");
  CHECK(log.back() == "saver:finish:model.norm.weight");
}

TEST_CASE("layer_wise keeps one block resident; model_wise all; both carry the same hidden states") {
  for (const RunnerKind runner : {RunnerKind::kLayerWise, RunnerKind::kModelWise}) {
    ToyAdapter adapter;
    g_max_alive_blocks = 0;
    std::vector<std::string> log;
    Pipeline pipeline;
    pipeline.processors.push_back(std::make_unique<RecordingProcessor>("a", false, log));
    const SaveContext save{"/nonexistent", "/nonexistent", adapter};
    run_pipeline(adapter, pipeline, pipeline_samples(), runner, save, nullptr);
    CHECK(g_max_alive_blocks == (runner == RunnerKind::kLayerWise ? 1 : 3));
    CHECK(g_alive_blocks == 0);
  }
}

TEST_CASE("block k receives block k-1's output even when every processor is data-free") {
  // A processor that needs data only on the last block would see wrong inputs if nothing propagated them.
  class CheckInputs final : public Processor {
   public:
    explicit CheckInputs(std::vector<at::Tensor>& seen) : seen_(seen) {}
    void preprocess(BlockRequest& r) override { seen_.push_back(r.inputs.at(0).hidden.clone()); }
    bool is_data_free() const override { return true; }

   private:
    std::vector<at::Tensor>& seen_;
  };
  ToyAdapter adapter;
  std::vector<at::Tensor> seen;
  Pipeline pipeline;
  pipeline.processors.push_back(std::make_unique<CheckInputs>(seen));
  const SaveContext save{"/nonexistent", "/nonexistent", adapter};
  run_pipeline(adapter, pipeline, pipeline_samples(), RunnerKind::kLayerWise, save, nullptr);
  REQUIRE(seen.size() == 3);
  const BlockInput first = adapter.embed(pipeline_samples()[0]);
  at::Tensor expected = first.hidden;
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(at::allclose(seen[i], expected));
    expected = adapter.load_block(i)->forward(expected, *first.context);
  }
}

TEST_CASE("runner names") {
  CHECK(resolve_runner("auto", 1) == RunnerKind::kLayerWise);
  CHECK(resolve_runner("model_wise", 1) == RunnerKind::kModelWise);
  CHECK(resolve_runner("dp_layer_wise", 2) == RunnerKind::kDpLayerWise);
  CHECK(resolve_runner("auto", 2) == RunnerKind::kDpLayerWise);
  CHECK_THROWS_AS(resolve_runner("dp_layer_wise", 1), Error);
  CHECK_THROWS_AS(resolve_runner("layer_wise", 2), Error);
}
