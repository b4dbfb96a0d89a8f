// `awq` (the guide's m3, for W8A16 / W4A16 / W4A8): per subgraph, the activation-aware scale search of
// awq_search.hpp, evaluated with `weight_qconfig`, then the function-preserving fusion of the best scales
// (norm γ / s or source rows / s, readers W·diag(s)), in the order up-down, ov, linear-linear, norm-linear.
// The inspected output, as in the reference, is that of the lowest common ancestor of the scaled linears by
// name: a linear alone (o_proj, down_proj) is replayed on its recorded inputs; for several readers
// (q/k/v → "self_attn", gate/up → "mlp") the block is run and the ancestor's output is the output of its
// last linear that is not scaled (o_proj, down_proj); without one, or when the ancestor is a mixture of
// experts (router + experts → "mlp", whose output is the routed mix), the block's output is compared.
//
//   - {type: awq, weight_qconfig: {scope: per_channel, dtype: int8, symmetric: true, method: minmax},
//      n_grid: 20, enable_subgraph_type: [norm-linear, linear-linear, ov, up-down], include: ["*"],
//      exclude: []}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "awq_search.hpp"
#include "input_recorder.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/processor.hpp"
#include "search_quantizer.hpp"
#include "subgraph_selection.hpp"

namespace modelslim::awq {

class AwqProcessor final : public Processor {
 public:
  explicit AwqProcessor(const ConfigNode& config);

  bool is_data_free() const override { return false; }
  bool block_local() const override { return true; }
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  std::vector<std::string> warnings() const override;

  struct Decision {
    std::string source;
    std::string type;
    double ratio = 0.0;
    double loss = 0.0;
  };
  const std::vector<Decision>& decisions() const { return decisions_; }

 private:
  struct Pending {
    smoothing_search::SmoothSubgraph subgraph;
    std::unique_ptr<smoothing_search::InputRecorder> recorder;
    Linear* output_linear = nullptr;  // several readers: the ancestor's last unscaled linear
  };
  std::vector<at::Tensor> inspect(const Pending& entry, BlockRequest& request) const;
  double candidate_loss(const Pending& entry, BlockRequest& request, const std::vector<at::Tensor>& golden,
                        const at::Tensor& scales) const;
  void process_subgraph(Pending& entry, BlockRequest& request);

  std::string config_path_;
  smoothing_search::SubgraphSelection selection_;
  smoothing_search::QuantizerSpec weight_spec_;
  int n_grid_ = 20;
  std::vector<Pending> pending_;
  std::vector<Decision> decisions_;
};

std::unique_ptr<Processor> make_awq(const ConfigNode& config);

// The lowest common ancestor of module names by dotted segments ("a.b.q", "a.b.k" → "a.b"; one name →
// itself).
std::string common_ancestor(const std::vector<std::string>& names);

}  // namespace modelslim::awq
