#include "standing_high.hpp"

#include <algorithm>

#include "practice_builder.hpp"

namespace modelslim::tuning {
namespace {

std::string chain_label(const YAML::Node& chain) {
  std::string label;
  for (const auto& processor : chain) {
    label += (label.empty() ? "" : "+") + processor["type"].as<std::string>();
  }
  return label.empty() ? "none" : label;
}

}  // namespace

StandingHighSpec parse_standing_high(const ConfigNode& config, const HostServices& host) {
  config.check_keys({"type", "anti_outlier_strategies", "template", "metadata"});
  StandingHighSpec spec;
  if (!config.has("anti_outlier_strategies")) config.fail("missing required field 'anti_outlier_strategies'");
  const ConfigNode strategies = config["anti_outlier_strategies"];
  strategies.require_sequence();
  if (strategies.size() == 0) {
    strategies.fail("needs at least one outlier-suppression chain ([] stands for none)");
  }
  for (const ConfigNode& chain : strategies.items()) {
    validate_processor_list(chain, host);
    spec.anti_outlier_strategies.push_back(YAML::Clone(chain.yaml()));
  }
  if (!config.has("template")) config.fail("missing required field 'template'");
  validate_template_spec(config["template"], host);
  spec.template_spec = YAML::Clone(config["template"].yaml());
  if (config.has("metadata")) {
    const ConfigNode metadata = config["metadata"];
    metadata.require_map();
    metadata.check_keys({"config_id", "label"});
    spec.config_id = metadata.get_string("config_id", spec.config_id);
    if (metadata.has("label")) spec.label = YAML::Clone(metadata["label"].yaml());
  }
  return spec;
}

StandingHigh::StandingHigh(StandingHighSpec spec) : spec_(std::move(spec)) {}

Candidate StandingHigh::build(std::size_t anti, std::size_t level) {
  std::vector<std::string> fallback;
  for (std::size_t i = 0; i < level && i < ranked_blocks_.size(); ++i) {
    fallback.push_back(fallback_pattern(ranked_blocks_[i]));
  }
  // Outlier suppression first, then the template's processors with the fallback merged into every
  // linear_quant's exclude list.
  YAML::Node process(YAML::NodeType::Sequence);
  for (const auto& processor : spec_.anti_outlier_strategies[anti]) process.push_back(YAML::Clone(processor));
  for (const auto& processor : spec_.template_spec["process"]) {
    const bool is_linear_quant = processor["type"].as<std::string>() == "linear_quant";
    process.push_back(is_linear_quant ? with_excludes(processor, fallback) : YAML::Clone(processor));
  }
  YAML::Node spec = YAML::Clone(spec_.template_spec);
  spec["process"] = process;
  Candidate candidate;
  candidate.id = spec_.config_id + "_" + std::to_string(counter_++);
  candidate.practice = make_practice(spec, candidate.id, spec_.label);
  candidate.fallback = std::move(fallback);
  candidate.anti_outlier = chain_label(spec_.anti_outlier_strategies[anti]);
  return candidate;
}

std::optional<Candidate> StandingHigh::run(TuningSession& session) {
  counter_ = 0;
  Candidate zero = build(0, 0);
  if (session.evaluate(zero).passed) return zero;

  const YAML::Node& process = spec_.template_spec["process"];
  const std::string dataset =
      spec_.template_spec["dataset"] ? spec_.template_spec["dataset"].as<std::string>() : std::string();
  ranked_blocks_.clear();
  for (const auto& rank :
       session.rank_blocks(dataset, linear_quant_includes(process), first_linear_quant_qconfig(process))) {
    ranked_blocks_.push_back(rank.name);
  }
  if (ranked_blocks_.empty()) return zero;  // nothing can fall back

  // The smallest level that passes with the first chain; level N (everything float) is assumed to pass.
  std::size_t lo = 1;
  std::size_t hi = ranked_blocks_.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (session.evaluate(build(0, mid)).passed) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }

  std::size_t level = lo;
  Candidate best = build(0, level);
  std::size_t step = 1;
  std::size_t memory = 0;  // the chain that last passed is tried first
  const std::size_t chains = spec_.anti_outlier_strategies.size();
  while (level >= step) {
    bool lowered = false;
    for (std::size_t tried = 0; tried < chains; ++tried) {
      Candidate candidate = build(memory, level - step);
      if (session.evaluate(candidate).passed) {
        best = std::move(candidate);
        level -= step;
        step = std::max<std::size_t>(std::min(step * 2, level), 1);
        lowered = true;
        break;
      }
      memory = (memory + 1) % chains;
    }
    if (lowered) continue;
    if (step == 1) return best;
    step = 1;
  }
  return best;
}

}  // namespace modelslim::tuning
