// Linear weights kept in the checkpoint's dtype (modelslim/stored_dtype_weights.hpp): the runner asks the
// adapter only when every processor and saver reads such weights and no calibration forward runs
// (MODELSLIM_STORED_DTYPE_WEIGHTS overrides), and restores float32 loading afterwards; a float forward of a
// bfloat16 weight equals the float32 one bit for bit.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cstdlib>
#include <optional>

#include "modelslim/core/pipeline.hpp"
#include "modelslim/error.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;
using namespace modelslim::core;

namespace {

// Records the mode at every load_block; blocks carry bfloat16 weights while it is on.
class ModeAdapter final : public ModelAdapter, public StoredDtypeBlocks {
 public:
  std::string model_type() const override { return "toy"; }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor& ids) override {
    return {at::cos(ids.to(at::kFloat)).unsqueeze(-1).expand({1, ids.size(1), 8}).contiguous(),
            std::make_shared<test::ToyContext>()};
  }
  std::size_t num_blocks() const override { return 2; }
  std::string block_name(std::size_t i) const override { return "model.layers." + std::to_string(i); }
  std::unique_ptr<Block> load_block(std::size_t i) override {
    modes.push_back(keep_);
    auto block = std::make_unique<test::ToyBlock>(block_name(i), 8, 8, 7 + i);
    if (keep_) {
      for (Linear* linear : block->linears()) linear->weight() = linear->weight().to(at::kBFloat16);
    }
    return block;
  }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override { return {}; }
  at::ScalarType checkpoint_dtype() const override { return at::kBFloat16; }
  nlohmann::json hf_config() const override { return nlohmann::json::object(); }
  void keep_stored_dtype_weights(bool keep) override { keep_ = keep; }
  bool keeping() const { return keep_; }
  std::vector<bool> modes;

 private:
  bool keep_ = false;
};

class ReadingProcessor final : public Processor, public StoredDtypeWeightReader {
 public:
  explicit ReadingProcessor(bool reads) : reads_(reads) {}
  bool is_data_free() const override { return true; }
  bool reads_stored_dtype_weights() const override { return reads_; }
  void postprocess(BlockRequest& request) override {
    for (Linear* linear : request.block.linears()) dtypes.push_back(linear->weight().scalar_type());
  }
  std::vector<at::ScalarType> dtypes;

 private:
  bool reads_;
};

class PlainProcessor final : public Processor {
 public:
  bool is_data_free() const override { return true; }
};

class ReadingSaver final : public Saver, public StoredDtypeWeightReader {
 public:
  explicit ReadingSaver(bool reads) : reads_(reads) {}
  void begin(const SaveContext&) override {}
  void save_block(Block&) override {}
  void finish(const std::vector<NamedTensor>&) override {}
  bool reads_stored_dtype_weights() const override { return reads_; }

 private:
  bool reads_;
};

class StoredDtypeScopedEnv {
 public:
  StoredDtypeScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~StoredDtypeScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  StoredDtypeScopedEnv(const StoredDtypeScopedEnv&) = delete;
  StoredDtypeScopedEnv& operator=(const StoredDtypeScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

struct Setup {
  bool processor_reads = true;
  bool plain_processor = false;
  bool saver_reads = true;
  bool data = false;
  RunnerKind runner = RunnerKind::kLayerWise;
};

// The mode at each load, after checking it is off again once the run ends.
std::vector<bool> loads_kept(const Setup& setup) {
  ModeAdapter adapter;
  Pipeline pipeline;
  auto processor = std::make_unique<ReadingProcessor>(setup.processor_reads);
  ReadingProcessor& reader = *processor;
  pipeline.processors.push_back(std::move(processor));
  if (setup.plain_processor) pipeline.processors.push_back(std::make_unique<PlainProcessor>());
  pipeline.savers.push_back(std::make_unique<ReadingSaver>(setup.saver_reads));
  std::vector<at::Tensor> tokens;
  if (setup.data) tokens.push_back(at::arange(4).reshape({1, 4}));
  const SaveContext save{"/nonexistent", "/nonexistent", adapter};
  run_pipeline(adapter, pipeline, tokens, setup.runner, save, nullptr);
  CHECK_FALSE(adapter.keeping());
  REQUIRE(adapter.modes.size() == 2);
  // The processor saw what the adapter loaded.
  REQUIRE(reader.dtypes.size() == 4);
  for (const at::ScalarType dtype : reader.dtypes)
    CHECK((dtype == (adapter.modes[0] ? at::kBFloat16 : at::kFloat)));
  return adapter.modes;
}

const std::vector<bool> kKept = {true, true};
const std::vector<bool> kFloat = {false, false};

}  // namespace

TEST_CASE("stored-dtype weights: only when every processor and saver reads them and no forward runs") {
  const StoredDtypeScopedEnv unset("MODELSLIM_STORED_DTYPE_WEIGHTS", nullptr);
  CHECK(loads_kept({}) == kKept);
  CHECK(loads_kept({true, false, true, false, RunnerKind::kModelWise}) == kKept);
  CHECK(loads_kept({false}) == kFloat);                    // a processor that says no
  CHECK(loads_kept({true, true}) == kFloat);               // a processor without the interface
  CHECK(loads_kept({true, false, false}) == kFloat);       // a saver that says no
  CHECK(loads_kept({true, false, true, true}) == kFloat);  // a calibration forward would widen per call
}

TEST_CASE("MODELSLIM_STORED_DTYPE_WEIGHTS: 0 never, 1 also with a forward, anything else refused") {
  {
    const StoredDtypeScopedEnv off("MODELSLIM_STORED_DTYPE_WEIGHTS", "0");
    CHECK(loads_kept({}) == kFloat);
  }
  {
    const StoredDtypeScopedEnv force("MODELSLIM_STORED_DTYPE_WEIGHTS", "1");
    CHECK(loads_kept({true, false, true, true}) == kKept);
    CHECK(loads_kept({true, true}) == kFloat);  // still only when everyone agrees
  }
  const StoredDtypeScopedEnv typo("MODELSLIM_STORED_DTYPE_WEIGHTS", "yes");
  CHECK_THROWS_WITH_AS(stored_dtype_weights_setting(),
                       doctest::Contains("MODELSLIM_STORED_DTYPE_WEIGHTS='yes'"), Error);
}

TEST_CASE("Linear::float_forward widens a bfloat16 weight and bias: the float32 result bit for bit") {
  at::manual_seed(12);
  const at::Tensor weight = (at::randn({24, 40}) * 0.2).to(at::kBFloat16);
  const at::Tensor bias = at::randn({24}).to(at::kBFloat16);
  const at::Tensor x = at::randn({1, 5, 40});
  const Linear stored("l", weight, bias);
  const Linear widened("l", weight.to(at::kFloat), bias.to(at::kFloat));
  const at::Tensor got = stored.float_forward(x);
  CHECK((got.scalar_type() == at::kFloat));
  CHECK(at::equal(got, widened.float_forward(x)));
  // Independent: float64 from the same values, to float32 rounding.
  const at::Tensor reference = at::linear(x.to(at::kDouble), weight.to(at::kDouble), bias.to(at::kDouble));
  CHECK(at::allclose(got.to(at::kDouble), reference, 1e-5, 1e-5));
}
