// Tiny random mixture-of-experts checkpoints for tests, made by tools/make_random_model from the fake_llama
// config (vocab 29, hidden 128, 3 layers) with the MoE families' config keys set:
//   qwen3_moe: 4 experts, top 2, renormalised, layer 1 dense (mlp_only_layers), q/k norm;
//   qwen2_moe: 4 experts, top 2, not renormalised, shared expert, only layer 1 sparse (decoder_sparse_step
//   2); mixtral:   4 experts, top 2, sliding window 5, every layer sparse.
#pragma once

#include <filesystem>
#include <string>

#include "support/doctest.hpp"
#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

namespace modelslim::test {

inline std::string moe_family_flags(const std::string& family) {
  if (family == "qwen3_moe") {
    return "--set model_type=qwen3_moe --set 'architectures=[\"Qwen3MoeForCausalLM\"]' --set num_experts=4 "
           "--set num_experts_per_tok=2 --set moe_intermediate_size=64 --set norm_topk_prob=true "
           "--set 'mlp_only_layers=[1]' --set decoder_sparse_step=1";
  }
  if (family == "qwen2_moe") {
    return "--set model_type=qwen2_moe --set 'architectures=[\"Qwen2MoeForCausalLM\"]' --set num_experts=4 "
           "--set num_experts_per_tok=2 --set moe_intermediate_size=64 --set "
           "shared_expert_intermediate_size=96 "
           "--set decoder_sparse_step=2";
  }
  return "--set model_type=mixtral --set 'architectures=[\"MixtralForCausalLM\"]' --set num_local_experts=4 "
         "--set num_experts_per_tok=2 --set intermediate_size=64 --set sliding_window=5";
}

// The generator command line for `family` (without --output).
inline std::string moe_model_generator(const std::string& family, const std::string& extra = "") {
  const std::filesystem::path fake = shared_dir() / "data" / "fake_llama";
  return (build_dir() / "bin" / "make_random_model").string() + " --config " + fake.string() +
         " --tokenizer-from " + fake.string() + " --seed 7 --scale 0.2 " + moe_family_flags(family) + " " +
         extra;
}

// Writes the checkpoint to `dir / name` and returns its path.
inline std::filesystem::path make_moe_model(const TempDir& dir, const std::string& family,
                                            const std::string& name = "model",
                                            const std::string& extra = "") {
  const std::filesystem::path model = dir / name;
  const auto result = run_command(moe_model_generator(family, extra) + " --output " + model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return model;
}

// The same checkpoint, made once per test process (shared_generated): for cases that only read it.
inline std::filesystem::path shared_moe_model(const std::string& family, const std::string& extra = "") {
  return shared_generated(moe_model_generator(family, extra));
}

}  // namespace modelslim::test
