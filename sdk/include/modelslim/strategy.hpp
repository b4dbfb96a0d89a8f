// Tuning strategies search for a quantization practice that meets an accuracy demand. A strategy is plain
// sequential code: it proposes candidates to the host's TuningSession, which quantizes and evaluates each one
// (or answers from its history, so a rerun after a crash resumes) and says whether it met the demand.
//
//   class MyStrategy : public modelslim::Strategy {
//     std::optional<Candidate> run(TuningSession& session) override {
//       Candidate zero = ...;                         // a full modelslim_v1 practice
//       if (session.evaluate(zero).passed) return zero;
//       for (const auto& block : session.rank_blocks(dataset, quant_modules, probe)) { ... }
//     }
//   };
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/evaluator.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

struct Candidate {
  std::string id;                     // "<config_id>_<n>"
  YAML::Node practice;                // a full modelslim_v1 PracticeConfig (apiversion, metadata, spec)
  std::vector<std::string> fallback;  // patterns kept in float by this candidate (for reports and "best")
  std::string anti_outlier;           // short label of the outlier suppression used, e.g. "iter_smooth"
};

struct Verdict {
  bool passed = false;        // met every expectation of the accuracy demand
  bool from_history = false;  // answered from an earlier evaluation of the same spec
  EvaluationResult result;
};

// A decoder block or linear with its quantization-sensitivity score (higher = falls back first).
struct SensitivityRank {
  std::string name;
  double score = 0.0;
};

// Thrown by TuningSession::evaluate when the time or candidate budget is spent. Strategies let it pass;
// the host then saves the best candidate that passed so far.
class MODELSLIM_SDK_API TuningStopped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  TuningStopped(const TuningStopped&) = default;
  TuningStopped& operator=(const TuningStopped&) = default;
  ~TuningStopped() override;  // key function, defined in sdk/src (see export.hpp)
};

// What the host offers a running strategy.
class MODELSLIM_SDK_API TuningSession {
 public:
  virtual ~TuningSession();  // key function, defined in sdk/src (see export.hpp)
  virtual Verdict evaluate(const Candidate& candidate) = 0;
  // Decoder blocks ("model.layers.3") ranked by mse_layer_wise: the block's linears matching
  // `quant_modules` are fake-quantized with `probe_qconfig` (a linear_quant qconfig) and compared with a
  // float copy on `dataset` (a path or a dataset name). Highest first; computed once and kept in the history.
  virtual std::vector<SensitivityRank> rank_blocks(const std::string& dataset,
                                                   const std::vector<std::string>& quant_modules,
                                                   const YAML::Node& probe_qconfig) = 0;
  virtual const std::string& model_type() const = 0;
};

class MODELSLIM_SDK_API Strategy {
 public:
  virtual ~Strategy();  // key function, defined in sdk/src (see export.hpp)
  // Runs the search and returns the practice it settles on. Throws Error(kSpec) when the demand cannot be
  // met by construction (e.g. binary_fallback at maximum rollback); the host reports the closest candidate.
  virtual std::optional<Candidate> run(TuningSession& session) = 0;
};

}  // namespace modelslim
