// An optional capability of evaluators: where the host keeps what one evaluation leaves behind (an engine's
// log, per-sample outputs). An evaluator class that also derives from EvaluationContextSink is told, before
// each evaluate(), which model it measures and a directory of its own under the run's output (tune:
// <save_path>/history/evaluations/<candidate id>). Evaluators that do not derive from it are never told;
// hosts that do not know it never tell (the Evaluator interface is unchanged).
#pragma once

#include <filesystem>
#include <string>

#include "modelslim/export.hpp"

namespace modelslim {

struct EvaluationContext {
  std::string label;               // "float", a candidate id, "quant_model"
  std::filesystem::path work_dir;  // created by the host; the evaluator's files for this evaluation
};

class MODELSLIM_SDK_API EvaluationContextSink {
 public:
  virtual ~EvaluationContextSink();
  virtual void set_evaluation_context(const EvaluationContext& context) = 0;
};

}  // namespace modelslim
