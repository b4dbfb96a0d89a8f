// plant_outliers: rewrites a Llama-family checkpoint so it computes the SAME function but shows what real
// LLMs show and what makes per-tensor activation quantization fail:
//   norm outliers — a few channels of an RMSNorm weight multiplied by `factor`, the same input columns of the
//                   linears it feeds divided by `factor` (so those channels arrive tens of times larger);
//   down outliers — a few rows of up_proj multiplied by `factor`, the same input columns of down_proj
//   divided,
//                   so down_proj sees a few huge inputs.
// Writes the new checkpoint and planted.json naming the linears whose inputs now carry outliers.
//
//   plant_outliers --model_path IN --output OUT [--factor 100] [--channels 4] [--seed 7]
//                  [--norm model.layers.1.input_layernorm,model.layers.3.post_attention_layernorm]
//                  [--down model.layers.2]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/generated_dir.hpp"
#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// The linears an RMSNorm feeds in a Llama decoder layer.
std::vector<std::string> consumers_of(const std::string& norm) {
  const auto dot = norm.rfind('.');
  const std::string layer = norm.substr(0, dot);
  const std::string kind = norm.substr(dot + 1);
  if (kind == "input_layernorm") {
    return {layer + ".self_attn.q_proj", layer + ".self_attn.k_proj", layer + ".self_attn.v_proj"};
  }
  if (kind == "post_attention_layernorm") return {layer + ".mlp.gate_proj", layer + ".mlp.up_proj"};
  throw modelslim::Error(
      modelslim::ErrorCode::kSchemaValidate,
      "--norm " + norm + ": expected <layer>.input_layernorm or .post_attention_layernorm");
}

int plant(std::map<std::string, std::string>& flags) {
  const fs::path input = flags["--model_path"];
  // Checked before anything is read: the input is never the output, and a user's directory is never replaced.
  modelslim::tools::GeneratedDir output(flags["--output"], "plant_outliers", {{"--model_path", input}});
  const double factor = std::stod(flags["--factor"]);
  const std::int64_t channels = std::stoll(flags["--channels"]);

  const auto checkpoint = modelslim::SafetensorsCheckpoint::open_dir(input);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : checkpoint.names()) tensors[name] = checkpoint.load(name);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(std::stoull(flags["--seed"]));
  nlohmann::json planted = {{"factor", factor},
                            {"norm", nlohmann::json::object()},
                            {"down", nlohmann::json::object()},
                            {"linears", nlohmann::json::array()}};

  for (const std::string& norm : split(flags["--norm"])) {
    at::Tensor& gamma = tensors.at(norm + ".weight");
    const at::Tensor picked = at::randperm(gamma.size(0), generator, at::kLong).narrow(0, 0, channels);
    gamma.index_copy_(0, picked, gamma.index_select(0, picked) * factor);
    for (const std::string& linear : consumers_of(norm)) {
      at::Tensor& weight = tensors.at(linear + ".weight");
      weight.index_copy_(1, picked, weight.index_select(1, picked) / factor);
      planted["linears"].push_back(linear);
    }
    planted["norm"][norm] = std::vector<std::int64_t>(picked.data_ptr<std::int64_t>(),
                                                      picked.data_ptr<std::int64_t>() + picked.numel());
  }
  for (const std::string& layer : split(flags["--down"])) {
    at::Tensor& up = tensors.at(layer + ".mlp.up_proj.weight");
    at::Tensor& down = tensors.at(layer + ".mlp.down_proj.weight");
    const at::Tensor picked = at::randperm(up.size(0), generator, at::kLong).narrow(0, 0, channels);
    up.index_copy_(0, picked, up.index_select(0, picked) * factor);
    down.index_copy_(1, picked, down.index_select(1, picked) / factor);
    planted["linears"].push_back(layer + ".mlp.down_proj");
    planted["down"][layer] = std::vector<std::int64_t>(picked.data_ptr<std::int64_t>(),
                                                       picked.data_ptr<std::int64_t>() + picked.numel());
  }

  const fs::path& staging = output.staging();
  for (const auto& entry : fs::directory_iterator(input)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".safetensors" || name == "model.safetensors.index.json" ||
        name == "planted.json" || name == modelslim::tools::kGeneratedMarker) {
      continue;
    }
    if (entry.is_regular_file()) fs::copy_file(entry.path(), staging / name);
  }
  std::vector<std::pair<std::string, at::Tensor>> ordered(tensors.begin(), tensors.end());
  modelslim::save_safetensors(staging / "model.safetensors", ordered, {{"format", "pt"}});
  modelslim::write_file_atomic(staging / "planted.json", planted.dump(2) + "\n");
  output.commit();
  std::cout << "planted outliers into " << planted["linears"].size() << " linears; wrote "
            << output.output().string() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"--factor", "100"},
      {"--channels", "4"},
      {"--seed", "7"},
      {"--norm", "model.layers.1.input_layernorm,model.layers.3.post_attention_layernorm"},
      {"--down", "model.layers.2"}};
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag != "--model_path" && flag != "--output" && !flags.count(flag)) {
      std::cerr << "plant_outliers: unknown flag " << flag << "\n";
      return 2;
    }
    if (i + 1 >= argc) {
      std::cerr << "plant_outliers: " << flag << " needs a value\n";
      return 2;
    }
    flags[flag] = argv[i + 1];
  }
  if (!flags.count("--model_path") || !flags.count("--output")) {
    std::cerr << "plant_outliers: --model_path and --output are required\n";
    return 2;
  }
  try {
    return plant(flags);
  } catch (const std::exception& error) {
    std::cerr << "plant_outliers: " << error.what() << "\n";
    return 1;
  }
}
