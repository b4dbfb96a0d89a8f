#include "modelslim/core/analyze_service.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/sensitivity.hpp"

namespace modelslim::core {
namespace {

std::vector<SensitivityScore> sorted(std::vector<SensitivityScore> scores) {
  std::stable_sort(scores.begin(), scores.end(),
                   [](const SensitivityScore& a, const SensitivityScore& b) { return a.score > b.score; });
  return scores;
}

std::vector<BlockInput> embed_all(ModelAdapter& model, const std::vector<at::Tensor>& token_ids) {
  std::vector<BlockInput> inputs;
  for (const at::Tensor& ids : token_ids) inputs.push_back(model.embed(ids));
  return inputs;
}

}  // namespace

std::vector<SensitivityScore> analyze_linears(ModelAdapter& model, const std::vector<at::Tensor>& token_ids,
                                              const std::string& metric) {
  if (metric != "kurtosis" && metric != "std") {
    throw Error(ErrorCode::kSchemaValidate,
                "--metrics " + metric + ": linear scope supports kurtosis and std");
  }
  std::vector<BlockInput> states = embed_all(model, token_ids);
  std::vector<SensitivityScore> scores;
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    std::map<std::string, std::shared_ptr<MomentAccumulator>> moments;
    for (Linear* linear : block->linears()) {
      auto accumulator = std::make_shared<MomentAccumulator>();
      moments[linear->name()] = accumulator;
      linear->add_observer([accumulator](const at::Tensor& input) { accumulator->update(input); });
    }
    for (BlockInput& state : states) state.hidden = block->forward(state.hidden, *state.context);
    for (Linear* linear : block->linears()) {
      const MomentAccumulator& m = *moments.at(linear->name());
      scores.push_back({linear->name(), metric == "kurtosis" ? m.kurtosis() : m.stddev()});
    }
  }
  return sorted(std::move(scores));
}

std::vector<SensitivityScore> analyze_blocks(ModelAdapter& model, const PluginRegistry& registry,
                                             const std::vector<at::Tensor>& token_ids,
                                             const std::string& probe_qconfig,
                                             const std::vector<std::string>& quant_modules) {
  std::string include;
  for (const auto& pattern : quant_modules) include += (include.empty() ? "" : ", ") + nlohmann::json(pattern).dump();
  const ConfigNode probe = parse_yaml_string(
      "{type: linear_quant, qconfig: " + probe_qconfig + ", include: [" + include + "]}", "(analysis probe)");
  std::vector<BlockInput> states = embed_all(model, token_ids);
  std::vector<SensitivityScore> scores;
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    // Float outputs first, from the untouched block: the reference's flaw was comparing against a copy
    // that already had its quantized modules swapped in.
    std::vector<at::Tensor> reference;
    for (const BlockInput& state : states) reference.push_back(block->forward(state.hidden, *state.context));
    const std::unique_ptr<Processor> quantizer = registry.create_processor(probe);
    BlockRequest request{block->name(), *block, states, {}, 0};
    quantizer->preprocess(request);
    quantizer->process(request);
    quantizer->postprocess(request);
    double total = 0.0;
    for (std::size_t s = 0; s < states.size(); ++s) {
      const at::Tensor quantized = block->forward(states[s].hidden, *states[s].context);
      total += (quantized.to(at::kDouble) - reference[s].to(at::kDouble)).pow(2).mean().item<double>();
    }
    scores.push_back({block->name(), states.empty() ? 0.0 : total / static_cast<double>(states.size())});
    for (std::size_t s = 0; s < states.size(); ++s) states[s].hidden = reference[s];
  }
  return sorted(std::move(scores));
}

}  // namespace modelslim::core
