// Fuzzes a checkpoint's config.json as the model adapters read it: read_json_file, then the llama, MoE and
// DeepSeek parsers (each through HfConfigFields). It is the first file of a downloaded model modelslim
// trusts, for every shape it allocates.
#include "deepseek_config.hpp"
#include "fuzz_support.hpp"
#include "llama_config.hpp"
#include "modelslim/json_file.hpp"
#include "moe_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = modelslim::fuzz::write_scratch("config.json", data, size);
  modelslim::fuzz::expect_clean([&] {
    const nlohmann::json config = modelslim::read_json_file(file);
    const auto model_dir = file.parent_path();
    modelslim::fuzz::expect_clean([&] { modelslim::llama::parse_llama_config(config, model_dir); });
    modelslim::fuzz::expect_clean([&] { modelslim::moe::parse_moe_config(config, model_dir); });
    modelslim::fuzz::expect_clean([&] { modelslim::deepseek::parse_deepseek_config(config, model_dir); });
  });
  return 0;
}
