#include "modelslim/core/analyze_service.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/range_param.hpp"
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

bool only_star(const std::vector<std::string>& patterns) {
  return std::all_of(patterns.begin(), patterns.end(), [](const std::string& p) { return p == "*"; });
}

// Fails before any forward on a pattern that matches no linear. Costs one extra read of every block, so
// only when the caller narrowed the selection.
void require_matches(ModelAdapter& model, const std::vector<std::string>& patterns, const std::string& flag) {
  if (patterns.empty()) throw Error(ErrorCode::kSchemaValidate, flag + ": no patterns given");
  if (only_star(patterns)) return;
  NameFilter filter(patterns, {});
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    for (const Linear* linear : block->linears()) filter.selects(linear->name());
  }
  const std::vector<std::string> unmatched = filter.unmatched_patterns();
  if (!unmatched.empty()) {
    throw Error(ErrorCode::kSchemaValidate,
                flag + " '" + unmatched.front() + "' matches no linear of the model",
                "linear names look like model.layers.0.self_attn.q_proj; `*` also crosses dots, e.g. "
                "'*down_proj'");
  }
}

// One linear's input statistic: an observer feeding it and the score it ends with.
struct InputStatistic {
  Linear::InputObserver observe;
  std::function<double()> score;
};

InputStatistic make_statistic(const std::string& metric) {
  if (metric == "range_parm") {
    // linear_quant's disable_level ranking: the first kRangeParamSamples samples, as the reference.
    auto range = std::make_shared<RangeParamAccumulator>();
    return {[range](const at::Tensor& input) {
              if (range->batches() < kRangeParamSamples) range->update(input);
            },
            [range] { return range->value(); }};
  }
  if (metric == "quantile") {
    auto sampler = std::make_shared<QuantileSampler>();
    return {[sampler](const at::Tensor& input) { sampler->update(input); },
            [sampler] { return sampler->score(); }};
  }
  auto moments = std::make_shared<MomentAccumulator>();
  const bool kurtosis = metric == "kurtosis";
  return {[moments](const at::Tensor& input) { moments->update(input); },
          [moments, kurtosis] { return kurtosis ? moments->kurtosis() : moments->stddev(); }};
}

std::vector<std::string> selected_names(Block& block, NameFilter& filter) {
  std::vector<std::string> names;
  for (const Linear* linear : block.linears()) {
    if (filter.selects(linear->name())) names.push_back(linear->name());
  }
  return names;
}

// One statistic per distinct input: the linears after one norm (q/k/v, gate/up) read the same tensor, so
// they share a statistic fed by one observer instead of each sorting or summing the same values again.
std::map<std::string, std::shared_ptr<InputStatistic>> observe_inputs(
    Block& block, const std::vector<std::string>& selected, const std::string& metric) {
  const std::set<std::string> wanted(selected.begin(), selected.end());
  std::map<std::string, std::shared_ptr<InputStatistic>> statistics;
  const auto observe = [&](const std::vector<Linear*>& readers) {
    std::shared_ptr<InputStatistic> statistic;
    for (Linear* linear : readers) {
      if (!wanted.count(linear->name()) || statistics.count(linear->name())) continue;
      if (!statistic) {
        statistic = std::make_shared<InputStatistic>(make_statistic(metric));
        linear->add_observer(statistic->observe);
      }
      statistics[linear->name()] = statistic;
    }
  };
  for (const NormLinearSubgraph& subgraph : block.norm_linear_subgraphs()) observe(subgraph.linears);
  for (Linear* linear : block.linears()) observe({linear});
  return statistics;
}

ConfigNode probe_config(const std::string& probe_qconfig, const std::vector<std::string>& quant_modules) {
  // JSON strings are YAML flow scalars; the quotes keep a leading `*` from reading as a YAML alias.
  return parse_yaml_string("{type: linear_quant, qconfig: " + probe_qconfig +
                               ", include: " + nlohmann::json(quant_modules).dump() + "}",
                           "(analysis probe)");
}

// Fake-quantizes the probe's linears of `block`, calibrated on `inputs`.
void quantize_block(Block& block, const std::vector<BlockInput>& inputs, const PluginRegistry& registry,
                    const ConfigNode& probe) {
  const std::unique_ptr<Processor> quantizer = registry.create_processor(probe);
  BlockRequest request{block.name(), block, inputs, {}, 0};
  quantizer->preprocess(request);
  quantizer->process(request);
  quantizer->postprocess(request);
}

// The block's tokens per routed expert so far (nothing for a block without routed experts).
void record_expert_tokens(Block& block, std::vector<ExpertTokenCounts>* out) {
  ExpertRouting* routing = out == nullptr ? nullptr : expert_routing(block);
  if (routing == nullptr) return;
  const std::vector<RoutedExpert> experts = routing->routed_experts();
  if (experts.empty()) return;
  ExpertTokenCounts counts{block.name(), {}, routing->routed_token_counts()};
  for (const RoutedExpert& expert : experts) counts.experts.push_back(expert.name);
  out->push_back(std::move(counts));
}

std::vector<at::Tensor> forward_all(Block& block, const std::vector<BlockInput>& inputs) {
  std::vector<at::Tensor> outputs;
  outputs.reserve(inputs.size());
  for (const BlockInput& input : inputs) outputs.push_back(block.forward(input.hidden, *input.context));
  return outputs;
}

// Mean over samples of the per-sample MSE, in float64.
double mean_mse(const std::vector<at::Tensor>& actual, const std::vector<at::Tensor>& expected) {
  if (actual.empty()) return 0.0;
  double total = 0.0;
  for (std::size_t s = 0; s < actual.size(); ++s) {
    total += (actual[s].to(at::kDouble) - expected[s].to(at::kDouble)).pow(2).mean().item<double>();
  }
  return total / static_cast<double>(actual.size());
}

std::vector<BlockInput> with_hidden(std::vector<BlockInput> states, const std::vector<at::Tensor>& hidden) {
  for (std::size_t s = 0; s < states.size(); ++s) states[s].hidden = hidden[s];
  return states;
}

std::vector<SensitivityScore> layer_wise(ModelAdapter& model, const PluginRegistry& registry,
                                         std::vector<BlockInput> states, const ConfigNode& probe,
                                         std::vector<ExpertTokenCounts>* expert_tokens) {
  std::vector<SensitivityScore> scores;
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    // Float outputs first, from the untouched block: the reference's flaw was comparing against a copy
    // that already had its quantized modules swapped in.
    const std::vector<at::Tensor> reference = forward_all(*block, states);
    record_expert_tokens(*block, expert_tokens);
    quantize_block(*block, states, registry, probe);
    scores.push_back({block->name(), mean_mse(forward_all(*block, states), reference)});
    states = with_hidden(std::move(states), reference);
  }
  return scores;
}

std::vector<SensitivityScore> model_wise(ModelAdapter& model, const PluginRegistry& registry,
                                         std::vector<BlockInput> states, const ConfigNode& probe,
                                         std::vector<ExpertTokenCounts>* expert_tokens) {
  const std::size_t num_blocks = model.num_blocks();
  // Float inputs of every block: block k's ablation is calibrated on and starts from them.
  std::vector<std::vector<BlockInput>> float_inputs;
  float_inputs.reserve(num_blocks);
  for (std::size_t index = 0; index < num_blocks; ++index) {
    float_inputs.push_back(states);
    const std::unique_ptr<Block> block = model.load_block(index);
    const std::vector<at::Tensor> outputs = forward_all(*block, states);
    record_expert_tokens(*block, expert_tokens);
    states = with_hidden(std::move(states), outputs);
  }
  std::vector<at::Tensor> float_final;
  for (const BlockInput& state : states) float_final.push_back(state.hidden);

  std::vector<SensitivityScore> scores;
  for (std::size_t k = 0; k < num_blocks; ++k) {
    std::vector<BlockInput> ablated = float_inputs[k];
    std::string name;
    for (std::size_t index = k; index < num_blocks; ++index) {
      const std::unique_ptr<Block> block = model.load_block(index);  // fresh float weights
      if (index == k) {
        name = block->name();
        quantize_block(*block, ablated, registry, probe);
      }
      const std::vector<at::Tensor> outputs = forward_all(*block, ablated);
      ablated = with_hidden(std::move(ablated), outputs);
    }
    std::vector<at::Tensor> final_hidden;
    for (const BlockInput& state : ablated) final_hidden.push_back(state.hidden);
    scores.push_back({name, mean_mse(final_hidden, float_final)});
  }
  return scores;
}

}  // namespace

std::vector<SensitivityScore> analyze_linears(ModelAdapter& model, const std::vector<at::Tensor>& token_ids,
                                              const std::string& metric,
                                              const std::vector<std::string>& patterns,
                                              std::vector<ExpertTokenCounts>* expert_tokens) {
  if (metric != "kurtosis" && metric != "std" && metric != "quantile" && metric != "range_parm") {
    throw Error(ErrorCode::kSchemaValidate,
                "--metrics " + metric + ": linear scope supports kurtosis, std, quantile and range_parm");
  }
  require_matches(model, patterns, "--pattern");
  NameFilter filter(patterns, {});
  std::vector<BlockInput> states = embed_all(model, token_ids);
  std::vector<SensitivityScore> scores;
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    const std::vector<std::string> selected = selected_names(*block, filter);
    const std::map<std::string, std::shared_ptr<InputStatistic>> statistics =
        observe_inputs(*block, selected, metric);
    // Mixture of experts: every expert's statistic from every token (the block output keeps the routing).
    if (ExpertRouting* routing = expert_routing(*block)) routing->set_calibrate_all_experts(true);
    for (BlockInput& state : states) state.hidden = block->forward(state.hidden, *state.context);
    record_expert_tokens(*block, expert_tokens);
    for (const std::string& name : selected) scores.push_back({name, statistics.at(name)->score()});
  }
  return sorted(std::move(scores));
}

std::vector<SensitivityScore> analyze_blocks(ModelAdapter& model, const PluginRegistry& registry,
                                             const std::vector<at::Tensor>& token_ids,
                                             const std::string& probe_qconfig,
                                             const std::vector<std::string>& quant_modules,
                                             const std::string& metric,
                                             std::vector<ExpertTokenCounts>* expert_tokens) {
  if (metric != "mse_layer_wise" && metric != "mse_model_wise") {
    throw Error(ErrorCode::kSchemaValidate,
                "--metrics " + metric + ": layer scope supports mse_layer_wise and mse_model_wise");
  }
  require_matches(model, quant_modules, "--quant_modules");
  const ConfigNode probe = probe_config(probe_qconfig, quant_modules);
  std::vector<BlockInput> states = embed_all(model, token_ids);
  return sorted(metric == "mse_layer_wise"
                    ? layer_wise(model, registry, std::move(states), probe, expert_tokens)
                    : model_wise(model, registry, std::move(states), probe, expert_tokens));
}

std::vector<SensitivityGroup> group_ties(const std::vector<SensitivityScore>& ranking) {
  std::vector<SensitivityGroup> groups;
  for (const SensitivityScore& entry : ranking) {
    if (groups.empty() || groups.back().score != entry.score) groups.push_back({{}, entry.score});
    groups.back().names.push_back(entry.name);
  }
  return groups;
}

}  // namespace modelslim::core
