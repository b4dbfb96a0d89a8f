// `quarot`: offline rotation of the residual stream (QuaRot). Data-free. Norms are fused into the linears
// that read them (γ → 1; RMSNorm commutes with an orthogonal R), then the embedding and every reader take
// W·R, every writer Rᵀ·W, and the final norm + lm_head W·diag(γ)·R. v_proj / o_proj also get a per-head
// rotation. The float function is unchanged; outliers are spread over all channels, which makes per-tensor
// activation quantization far more accurate. R is exported as optional/quarot.safetensors (global_rotation)
// so deployments that need it (speculative heads, online rotations) can read it.
//
//   - {type: quarot, online: false, block_size: -1, max_tp_size: 4, down_proj_online_layers: [],
//      export_extra_info: true}
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "rotation.hpp"

namespace {

using modelslim::quarot::rotate_input;
using modelslim::quarot::rotate_output;

constexpr std::uint64_t kGlobalSeed = 1234;  // the reference's fixed seed: runs are reproducible
constexpr std::uint64_t kHeadSeed = 4321;

bool is_power_of_two(std::int64_t value) {
  return value > 0 && (value & (value - 1)) == 0;
}

// W ← W·diag(γ), b ← b + W·β for every linear reading the norm; then γ ← 1, β ← 0.
void fuse_norm(modelslim::NormLinearSubgraph& norm) {
  const bool has_bias = norm.norm_bias != nullptr && norm.norm_bias->defined();
  for (modelslim::Linear* linear : norm.linears) {
    if (has_bias) {
      const at::Tensor folded = at::mv(linear->weight(), *norm.norm_bias);
      if (linear->bias()) {
        linear->bias()->add_(folded);
      } else {
        linear->bias() = folded;
      }
    }
    linear->weight().mul_(norm.norm_weight.unsqueeze(0));
  }
  norm.norm_weight.fill_(1.0);
  if (has_bias) *norm.norm_bias = at::Tensor();
}

class QuaRot final : public modelslim::Processor {
 public:
  explicit QuaRot(const modelslim::ConfigNode& config) : config_path_(config.path()) {
    config.check_keys(
        {"type", "online", "block_size", "max_tp_size", "down_proj_online_layers", "export_extra_info"});
    if (config.get_bool("online", false)) {
      config["online"].fail(
          "online rotation needs runtime kernels no saver here can describe; use online: false");
    }
    block_size_ = config.get_int("block_size", -1);
    if (block_size_ != -1 && !is_power_of_two(block_size_)) {
      config["block_size"].fail("expected -1 (the whole hidden size) or a power of two, got " +
                                std::to_string(block_size_));
    }
    const std::int64_t max_tp = config.get_int("max_tp_size", 4);
    if (!is_power_of_two(max_tp)) {
      config["max_tp_size"].fail("expected a power of two, got " + std::to_string(max_tp));
    }
    if (!config.get_string_list("down_proj_online_layers", {}).empty()) {
      config["down_proj_online_layers"].fail(
          "online down_proj rotation is not supported (needs online: true)");
    }
    export_extra_info_ = config.get_bool("export_extra_info", true);
  }

  bool is_data_free() const override { return true; }
  bool support_distributed() const override { return true; }

  void pre_run(modelslim::RunContext& context) override {
    auto points = context.model.rotation_points();
    if (!points) {
      throw modelslim::Error(modelslim::ErrorCode::kUnsupported,
                             config_path_ + ": the " + context.model.model_type() +
                                 " model adapter describes no rotation points, so quarot cannot run on it");
    }
    const std::int64_t hidden = points->embedding.size(1);
    rotation_ = modelslim::quarot::random_hadamard_rotation(hidden, block_size_, kGlobalSeed);
    rotate_input(points->embedding, rotation_);
    points->lm_head.mul_(points->final_norm.to(points->lm_head.scalar_type()).unsqueeze(0));
    points->final_norm.fill_(1.0);
    rotate_input(points->lm_head, rotation_);
    if (export_extra_info_ && context.artifacts != nullptr) {
      context.artifacts->optional.push_back({"quarot", "rotation_map", {{"global_rotation", rotation_}}});
    }
  }

  void preprocess(modelslim::BlockRequest& request) override {
    auto points = request.block.rotation_points();
    if (!points) {
      throw modelslim::Error(modelslim::ErrorCode::kUnsupported,
                             config_path_ + ": block " + request.name + " describes no rotation points");
    }
    for (auto& norm : points->norms) fuse_norm(norm);
    for (modelslim::Linear* reader : points->readers) rotate_input(reader->weight(), rotation_);
    for (modelslim::Linear* writer : points->writers) {
      rotate_output(writer->weight(), rotation_);
      if (writer->bias()) rotate_output(*writer->bias(), rotation_);
    }
    if (points->value != nullptr && points->attention_output != nullptr) rotate_heads(*points);
  }

 private:
  // v_proj output rows per kv head ← R_hᵀ·W_h; o_proj input columns per attention head ← W_h·R_h.
  void rotate_heads(modelslim::BlockRotationPoints& points) {
    if (!head_rotation_.defined()) {
      head_rotation_ = modelslim::quarot::random_hadamard_rotation(points.head_dim, -1, kHeadSeed);
    }
    const at::Tensor value_rotation = at::block_diag(
        std::vector<at::Tensor>(static_cast<std::size_t>(points.num_kv_heads), head_rotation_));
    const at::Tensor output_rotation =
        at::block_diag(std::vector<at::Tensor>(static_cast<std::size_t>(points.num_heads), head_rotation_));
    rotate_output(points.value->weight(), value_rotation);
    if (points.value->bias()) rotate_output(*points.value->bias(), value_rotation);
    rotate_input(points.attention_output->weight(), output_rotation);
  }

  std::string config_path_;
  std::int64_t block_size_ = -1;
  bool export_extra_info_ = true;
  at::Tensor rotation_;
  at::Tensor head_rotation_;
};

void register_quarot(modelslim::Registrar& registrar) {
  registrar.add_processor("quarot", [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
    return std::make_unique<QuaRot>(config);
  });
}

}  // namespace

MODELSLIM_PLUGIN("quarot", MODELSLIM_PLUGIN_VERSION, register_quarot)
