#include "binary_fallback.hpp"

#include "modelslim/error.hpp"
#include "practice_builder.hpp"

namespace modelslim::tuning {

BinaryFallbackSpec parse_binary_fallback(const ConfigNode& config, const HostServices& host) {
  config.check_keys({"type", "template", "rollback_path", "rollback_candidates", "analysis_dataset"});
  if (!config.has("template")) config.fail("missing required field 'template'");
  const ConfigNode practice = config["template"];
  practice.require_map();
  const std::string apiversion = practice.get_string("apiversion", "");
  if (apiversion != "modelslim_v1") {
    (practice.has("apiversion") ? practice["apiversion"] : practice)
        .fail("binary_fallback needs a modelslim_v1 template (apiversion: modelslim_v1), got '" + apiversion +
              "'");
  }
  if (!practice.has("spec")) practice.fail("missing required field 'spec'");
  const ConfigNode spec = practice["spec"];
  spec.require_map();
  if (!spec.has("process")) spec.fail("missing required field 'process'");
  validate_processor_list(spec["process"], host);
  if (spec.has("save")) {
    spec["save"].require_sequence();
    for (const ConfigNode& saver : spec["save"].items()) host.create_saver(saver);
  }
  if (!config.has("rollback_path")) config.fail("missing required field 'rollback_path'");
  BinaryFallbackSpec out;
  out.rollback_path = config["rollback_path"].as_string();
  require_list_at(practice, out.rollback_path, config["rollback_path"]);
  out.rollback_candidates = config.get_string_list("rollback_candidates", {});
  out.analysis_dataset = config.get_string("analysis_dataset", spec.get_string("dataset", ""));
  out.template_practice = YAML::Clone(practice.yaml());
  return out;
}

BinaryFallback::BinaryFallback(BinaryFallbackSpec spec) : spec_(std::move(spec)) {}

Candidate BinaryFallback::build(const std::vector<std::string>& rollback) {
  std::vector<std::string> patterns;
  patterns.reserve(rollback.size());
  for (const std::string& name : rollback) patterns.push_back(fallback_pattern(name));
  Candidate candidate;
  candidate.practice = replace_list_at(spec_.template_practice, spec_.rollback_path, patterns);
  const YAML::Node metadata = candidate.practice["metadata"];
  const std::string base = metadata && metadata["config_id"] ? metadata["config_id"].as<std::string>()
                                                             : std::string("binary_fallback");
  candidate.id = base + "_" + std::to_string(counter_++);
  candidate.practice["metadata"]["config_id"] = candidate.id;
  candidate.fallback = std::move(patterns);
  candidate.anti_outlier = "template";
  return candidate;
}

std::optional<Candidate> BinaryFallback::run(TuningSession& session) {
  counter_ = 0;
  Candidate zero = build({});
  if (session.evaluate(zero).passed) return zero;

  std::vector<std::string> candidates = spec_.rollback_candidates;
  if (candidates.empty()) {
    const YAML::Node& process = spec_.template_practice["spec"]["process"];
    for (const auto& rank :
         session.rank_blocks(spec_.analysis_dataset, {"*"}, first_linear_quant_qconfig(process))) {
      candidates.push_back(rank.name);
    }
  }
  if (candidates.empty()) {
    throw Error(ErrorCode::kSpec,
                "the accuracy demand is not met with zero rollback and there are no rollback candidates",
                "list rollback_candidates, or use a model whose blocks the sensitivity analysis can rank");
  }
  const auto prefix = [&](std::size_t n) {
    return std::vector<std::string>(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n));
  };
  std::size_t lo = 1;
  std::size_t hi = candidates.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (session.evaluate(build(prefix(mid))).passed) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  Candidate last = build(prefix(lo));
  if (!session.evaluate(last).passed) {
    throw Error(ErrorCode::kSpec,
                "the accuracy demand is not met even with maximum rollback (" + std::to_string(lo) +
                    " candidates in float)",
                "relax the expectations, or extend rollback_candidates");
  }
  return last;
}

}  // namespace modelslim::tuning
