// An optional capability of evaluators (since ABI 4.2): reuse work across the evaluations of one session.
// A host that evaluates many related models (tune: one quantized candidate after another, same float
// checkpoint, same datasets) tells an evaluator that also derives from EvaluationReuse how much it may keep
// and where it may spill. The evaluator must return exactly the metrics it would without reuse; what it keeps
// is keyed by the content it depends on. Evaluators that do not derive from it are never told; a host that
// does not call it gets no reuse (the Evaluator interface is unchanged).
#pragma once

#include <cstddef>
#include <filesystem>

#include "modelslim/export.hpp"

namespace modelslim {

struct ReuseBudget {
  std::size_t memory_bytes = std::size_t{1} << 30;  // kept in memory; least recently used spills past it
  std::size_t disk_bytes = std::size_t{4} << 30;  // spilled to spill_dir; least recently used dropped past it
  std::filesystem::path spill_dir;                // created by the evaluator; empty: no spilling (dropped)
};

class MODELSLIM_SDK_API EvaluationReuse {
 public:
  virtual ~EvaluationReuse();
  // Called once, before the first evaluate(); a budget of 0 memory and 0 disk turns reuse off again.
  virtual void enable_reuse(const ReuseBudget& budget) = 0;
};

}  // namespace modelslim
