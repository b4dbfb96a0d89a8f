#include "range_ranking.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <regex>

#include "modelslim/error.hpp"
#include "modelslim/range_param.hpp"

namespace modelslim::linear_quant {

std::vector<RangeScore> range_parm_of_linears(ModelAdapter& model, const std::vector<BlockInput>& samples,
                                              const std::function<bool(const std::string&)>& wanted) {
  std::vector<BlockInput> states(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                        samples.size(), kRangeParamSamples)));
  std::vector<RangeScore> scores;
  const at::NoGradGuard no_grad;
  for (std::size_t index = 0; index < model.num_blocks(); ++index) {
    const std::unique_ptr<Block> block = model.load_block(index);
    std::vector<std::pair<std::string, std::shared_ptr<RangeParamAccumulator>>> observed;
    for (Linear* linear : block->linears()) {
      if (!wanted(linear->name())) continue;
      auto range = std::make_shared<RangeParamAccumulator>();
      linear->add_observer([range](const at::Tensor& input) { range->update(input); });
      observed.emplace_back(linear->name(), range);
    }
    for (BlockInput& state : states) state.hidden = block->forward(state.hidden, *state.context);
    for (const auto& [name, range] : observed) scores.push_back({name, range->value()});
  }
  return scores;
}

std::vector<std::string> top_by_range_parm(std::vector<RangeScore> scores, std::size_t count) {
  std::stable_sort(scores.begin(), scores.end(),
                   [](const RangeScore& a, const RangeScore& b) { return a.range_parm > b.range_parm; });
  std::vector<std::string> names;
  for (std::size_t i = 0; i < std::min(count, scores.size()); ++i) names.push_back(scores[i].name);
  return names;
}

std::size_t parse_disable_level(const std::string& level, const std::string& field) {
  if (!std::regex_match(level, std::regex("L(0|[1-9][0-9]{0,8})"))) {
    throw Error(ErrorCode::kSchemaValidate, field + ": '" + level + "' is not a disable level",
                "write Lx: L0 (no automatic rollback) or e.g. L10 (keep the 10 linears with the largest "
                "range_parm in float)");
  }
  return static_cast<std::size_t>(std::stoul(level.substr(1)));
}

}  // namespace modelslim::linear_quant
