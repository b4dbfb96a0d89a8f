// The reference's range_parm (v0 Calibrator: get_features / LayerSelector std method) against a float64
// recomputation with plain loops, and linear_quant's hybrid activation method (v0 act_method 3): histogram
// when range_parm <= 50 over the first 5 samples, else min-max.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "linear_quant_processor.hpp"
#include "modelslim/core/analyze_service.hpp"
#include "modelslim/core/pipeline.hpp"
#include "modelslim/error.hpp"
#include "modelslim/histogram_observer.hpp"
#include "modelslim/range_param.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;
using linear_quant::LinearQuantProcessor;

namespace {

// One batch [tokens][channels] → (max, min, unbiased std of x − (max_c + min_c)).
struct BatchStats {
  double max;
  double min;
  double std;
};

BatchStats batch_stats(const at::Tensor& input) {
  const at::Tensor x2 = input.to(at::kDouble).reshape({-1, input.size(-1)}).contiguous();
  const std::int64_t rows = x2.size(0);
  const std::int64_t cols = x2.size(1);
  const double* x = x2.data_ptr<double>();
  BatchStats stats{x[0], x[0], 0.0};
  std::vector<double> shift(static_cast<std::size_t>(cols));
  for (std::int64_t c = 0; c < cols; ++c) {
    double mx = x[c];
    double mn = x[c];
    for (std::int64_t r = 0; r < rows; ++r) {
      mx = std::max(mx, x[r * cols + c]);
      mn = std::min(mn, x[r * cols + c]);
    }
    shift[static_cast<std::size_t>(c)] = mx + mn;
    stats.max = std::max(stats.max, mx);
    stats.min = std::min(stats.min, mn);
  }
  const double n = static_cast<double>(rows * cols);
  double sum = 0.0;
  for (std::int64_t i = 0; i < rows * cols; ++i) sum += x[i] - shift[static_cast<std::size_t>(i % cols)];
  const double mean = sum / n;
  double squares = 0.0;
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    const double d = x[i] - shift[static_cast<std::size_t>(i % cols)] - mean;
    squares += d * d;
  }
  stats.std = std::sqrt(squares / (n - 1.0));
  return stats;
}

double expected_range_parm(const std::vector<at::Tensor>& batches) {
  BatchStats all = batch_stats(batches.front());
  for (const at::Tensor& batch : batches) {
    const BatchStats b = batch_stats(batch);
    all.max = std::max(all.max, b.max);
    all.min = std::min(all.min, b.min);
    all.std = std::max(all.std, b.std);
  }
  return std::max(std::abs(all.max), std::abs(all.min)) / all.std;
}

// A sample whose range_parm is about sqrt(tokens): one token far from many quiet ones in every channel.
at::Tensor spiky(std::int64_t tokens, std::int64_t channels) {
  at::Tensor x = at::randn({1, tokens, channels}) * 1e-3;
  x.select(1, 0).add_(1.0);
  return x;
}

const char* const kHybrid = R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: int8, symmetric: false, method: hybrid}
      weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}
    include: ['*up_proj']
)";

// Runs the hybrid processor over `samples` (block inputs, the up_proj input) → up_proj's input scale.
double hybrid_input_scale(const std::vector<at::Tensor>& samples) {
  test::ToyBlock block("model.layers.0", 32, 16, 5);
  const auto context = std::make_shared<test::ToyContext>();
  std::vector<BlockInput> inputs;
  for (const at::Tensor& sample : samples) inputs.push_back({sample, context});
  LinearQuantProcessor processor(parse_yaml_string(kHybrid, "p.yaml")["process"].at(0));
  BlockRequest request{block.name(), block, inputs, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
  REQUIRE(block.up().quantized() != nullptr);
  return block.up().quantized()->input_scale.item<double>();
}

double minmax_scale(const std::vector<at::Tensor>& samples) {
  double mn = 0.0;
  double mx = 0.0;
  for (const at::Tensor& s : samples) {
    mn = std::min(mn, s.min().item<double>());
    mx = std::max(mx, s.max().item<double>());
  }
  return (mx - mn) / 255.0;
}

double histogram_scale(const std::vector<at::Tensor>& samples) {
  HistogramObserver histogram;
  for (const at::Tensor& s : samples) histogram.update(s);
  const ClipRange clip = histogram.search_clip(8, false);
  return (std::max(clip.max, 0.0) - std::min(clip.min, 0.0)) / 255.0;
}

}  // namespace

TEST_CASE("range_parm: max |x| over the running max of per-batch shifted standard deviations") {
  at::manual_seed(11);
  const std::vector<at::Tensor> batches = {at::randn({1, 9, 6}) * 2.0 + 0.5, at::randn({1, 4, 6}),
                                           spiky(40, 6)};
  RangeParamAccumulator range;
  for (const at::Tensor& batch : batches) range.update(batch);
  CHECK(range.batches() == 3);
  CHECK(range.value() == doctest::Approx(expected_range_parm(batches)).epsilon(1e-12));
  // The spike alone: roughly sqrt(tokens).
  RangeParamAccumulator spike;
  spike.update(spiky(2500, 4));
  CHECK(spike.value() == doctest::Approx(50.0).epsilon(0.05));
  CHECK(RangeParamAccumulator().value() == 0.0);
}

// update() avoids a float64 copy of its input (issue 17); the value must stay the plain float64 formula's,
// bit for bit, on float32 and bfloat16 inputs (the observers see both).
TEST_CASE("range_parm: bit-identical to the plain float64 formula on float32 and bfloat16 inputs") {
  at::manual_seed(23);
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    CAPTURE(dtype);
    const std::vector<at::Tensor> batches = {(at::randn({1, 33, 40}) * 3.0 - 1.0).to(dtype),
                                             spiky(17, 40).to(dtype), at::randn({2, 5, 40}).to(dtype)};
    RangeParamAccumulator range;
    double max = -INFINITY, min = INFINITY, std = 0.0;
    for (const at::Tensor& batch : batches) {
      range.update(batch);
      const at::Tensor x = batch.to(at::kDouble).reshape({-1, batch.size(-1)});
      const at::Tensor shift = std::get<0>(x.max(0)) + std::get<0>(x.min(0));
      std = std::max(std, (x - shift).std().item<double>());
      max = std::max(max, x.max().item<double>());
      min = std::min(min, x.min().item<double>());
    }
    CHECK(range.value() == std::max(std::abs(max), std::abs(min)) / std);
  }
}

TEST_CASE("hybrid: histogram at range_parm <= 50, min-max above, judged on the first 5 samples") {
  at::manual_seed(5);
  // Outliers in channels of their own: those channels' shift swells the standard deviation, range_parm
  // stays small, and the histogram clips them.
  at::Tensor second = at::randn({1, 625, 32});
  second[0][0][0] = 60.0;
  second[0][0][1] = -45.0;
  second[0][0][2] = 58.0;
  const std::vector<at::Tensor> quiet = {at::randn({1, 625, 32}), second};
  REQUIRE(expected_range_parm(quiet) <= 50.0);
  const double quiet_scale = hybrid_input_scale(quiet);
  CHECK(quiet_scale == doctest::Approx(histogram_scale(quiet)).epsilon(1e-6));
  CHECK(std::abs(quiet_scale - minmax_scale(quiet)) > 1e-3);  // the two observers differ here

  // +100 and -100 in one channel leave its shift near 0: range_parm near 100 / 1, min-max.
  const auto loud_sample = [] {
    at::Tensor x = at::randn({1, 4000, 32});
    x[0][0][0] = 100.0;
    x[0][1][0] = -100.0;
    return x;
  };
  const std::vector<at::Tensor> loud = {loud_sample()};
  REQUIRE(expected_range_parm(loud) > 50.0);
  const double loud_scale = hybrid_input_scale(loud);
  CHECK(loud_scale == doctest::Approx(minmax_scale(loud)).epsilon(1e-6));
  CHECK(std::abs(loud_scale - histogram_scale(loud)) > 1e-3);

  // A loud 6th sample is past the reference's 5 range_parm samples: still histogram, over all 6.
  std::vector<at::Tensor> six;
  for (int i = 0; i < 5; ++i) six.push_back(at::randn({1, 12, 32}));
  six.push_back(loud_sample());
  REQUIRE(expected_range_parm(six) > 50.0);
  const double six_scale = hybrid_input_scale(six);
  CHECK(six_scale == doctest::Approx(histogram_scale(six)).epsilon(1e-6));
  CHECK(std::abs(six_scale - minmax_scale(six)) > 1e-3);
}

namespace {

// Three ToyBlocks (width 8, hidden 24) behind a deterministic embedding: each sample's input is its own
// random [1, tokens, 8] tensor, drawn from the token count as seed.
class ToyModel final : public ModelAdapter {
 public:
  std::string model_type() const override { return "toy"; }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor& input_ids) override {
    at::manual_seed(static_cast<std::uint64_t>(input_ids.size(1)));
    return {at::randn({1, input_ids.size(1), 8}) * (1.0 + static_cast<double>(input_ids.size(1) % 3)),
            std::make_shared<test::ToyContext>()};
  }
  std::size_t num_blocks() const override { return 3; }
  std::string block_name(std::size_t i) const override { return "model.layers." + std::to_string(i); }
  std::unique_ptr<Block> load_block(std::size_t i) override {
    return std::make_unique<test::ToyBlock>(block_name(i), 8, 24, 40 + 3 * i);
  }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override { return {}; }
  at::ScalarType checkpoint_dtype() const override { return at::kFloat; }
  nlohmann::json hf_config() const override { return nlohmann::json::object(); }
};

// Records which linears a saver sees quantized.
class RangeRecordingSaver final : public Saver {
 public:
  explicit RangeRecordingSaver(std::map<std::string, bool>& quantized) : quantized_(quantized) {}
  void begin(const SaveContext&) override {}
  void save_block(Block& block) override {
    for (const Linear* linear : block.linears()) quantized_[linear->name()] = linear->quantized() != nullptr;
  }
  void finish(const std::vector<NamedTensor>&) override {}

 private:
  std::map<std::string, bool>& quantized_;
};

}  // namespace

TEST_CASE("disable_level Lx keeps exactly the x linears with the largest range_parm in float") {
  ToyModel model;
  std::vector<at::Tensor> token_ids;
  for (std::int64_t tokens : {5, 9, 4, 7, 6, 11, 3}) token_ids.push_back(at::zeros({1, tokens}, at::kLong));

  // Independent: a float forward of fresh blocks over the first 5 samples, range_parm by loops, ranked.
  std::vector<std::pair<std::string, double>> expected;
  std::vector<at::Tensor> hidden;
  for (std::size_t s = 0; s < 5; ++s) hidden.push_back(model.embed(token_ids[s]).hidden);
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    auto block = model.load_block(index);
    auto& toy = static_cast<test::ToyBlock&>(*block);
    std::vector<at::Tensor> up_inputs;
    std::vector<at::Tensor> down_inputs;
    for (at::Tensor& h : hidden) {
      up_inputs.push_back(h);
      down_inputs.push_back(at::relu(toy.up().float_forward(h)));
      h = toy.down().float_forward(down_inputs.back());
    }
    expected.emplace_back(toy.up().name(), expected_range_parm(up_inputs));
    expected.emplace_back(toy.down().name(), expected_range_parm(down_inputs));
  }
  std::stable_sort(expected.begin(), expected.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });

  // `modelslim analyze linear --metrics range_parm` reports the same ranking and values.
  const std::vector<core::SensitivityScore> analyzed = core::analyze_linears(model, token_ids, "range_parm");
  REQUIRE(analyzed.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(analyzed[i].name == expected[i].first);
    CHECK(analyzed[i].score == doctest::Approx(expected[i].second).epsilon(1e-9));
  }

  for (const std::size_t level : {std::size_t{0}, std::size_t{2}, std::size_t{4}, std::size_t{9}}) {
    CAPTURE(level);
    core::Pipeline pipeline;
    pipeline.processors.push_back(
        std::make_unique<LinearQuantProcessor>(parse_yaml_string(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}
      weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}
    disable_level: L)" + std::to_string(level) + "\n",
                                                                 "p.yaml")["process"]
                                                   .at(0)));
    std::map<std::string, bool> quantized;
    pipeline.savers.push_back(std::make_unique<RangeRecordingSaver>(quantized));
    core::run_pipeline(model, pipeline, token_ids, core::RunnerKind::kLayerWise, SaveContext{{}, {}, model},
                       {});
    std::set<std::string> expected_float;
    for (std::size_t i = 0; i < std::min(level, expected.size()); ++i)
      expected_float.insert(expected[i].first);
    std::set<std::string> actual_float;
    for (const auto& [name, is_quantized] : quantized) {
      if (!is_quantized) actual_float.insert(name);
    }
    CHECK(quantized.size() == 6);
    CHECK(actual_float == expected_float);
  }
  CHECK_THROWS_WITH_AS(LinearQuantProcessor(parse_yaml_string(R"(process:
  - type: linear_quant
    qconfig: {weight: {scope: per_channel}}
    disable_level: 10
)",
                                                              "p.yaml")["process"]
                                                .at(0)),
                       doctest::Contains("disable_level"), Error);
}
