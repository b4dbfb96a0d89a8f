#include "modelslim/fp8_checkpoint.hpp"

#include <ATen/ATen.h>

#include <fstream>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/fp8.hpp"
#include "modelslim/safetensors.hpp"
#include "shape_text.hpp"

namespace modelslim {
namespace {

[[noreturn]] void invalid_config(const std::filesystem::path& file, const std::string& field,
                                 const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file.string() + ": field 'quantization_config." + field + "' " + what,
              "FP8 checkpoints are read with quant_method \"fp8\", fmt \"e4m3\" and weight_block_size [rows, "
              "cols]");
}

std::string scale_name_of(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (weight_name.size() > suffix.size() &&
      weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return weight_name + "_scale_inv";
  }
  throw Error(ErrorCode::kUnexpected, "FP8 weight '" + weight_name + "' does not end in '.weight'");
}

}  // namespace

std::optional<Fp8BlockSize> fp8_block_size(const nlohmann::json& hf_config,
                                           const std::filesystem::path& config_file) {
  if (!hf_config.is_object() || !hf_config.contains("quantization_config")) return std::nullopt;
  const nlohmann::json& config = hf_config["quantization_config"];
  if (!config.is_object() || config.value("quant_method", nlohmann::json()) != "fp8") return std::nullopt;
  if (config.contains("fmt") && config["fmt"] != "e4m3") {
    invalid_config(config_file, "fmt",
                   "is " + config["fmt"].dump() + "; only \"e4m3\" (float8_e4m3fn) is read");
  }
  Fp8BlockSize block;
  if (!config.contains("weight_block_size")) return block;
  const nlohmann::json& size = config["weight_block_size"];
  const bool valid = size.is_array() && size.size() == 2 && size[0].is_number_integer() &&
                     size[1].is_number_integer() && size[0].get<std::int64_t>() > 0 &&
                     size[1].get<std::int64_t>() > 0;
  if (!valid) {
    invalid_config(config_file, "weight_block_size",
                   "must be two positive integers [rows, cols], got " + size.dump() +
                       " (per-tensor FP8 scales are not read)");
  }
  block.rows = size[0].get<std::int64_t>();
  block.cols = size[1].get<std::int64_t>();
  return block;
}

at::Tensor dequantize_fp8_blocks(at::Tensor weight, const at::Tensor& scale_inv, const Fp8BlockSize& block,
                                 const std::string& weight_name) {
  if (weight.dim() != 2 || weight.scalar_type() != at::kFloat || !weight.is_contiguous()) {
    throw Error(ErrorCode::kInvalidModel, "FP8 weight '" + weight_name + "' has shape " +
                                              shape_text(weight.sizes()) +
                                              "; a 2-D linear weight was expected");
  }
  const std::int64_t rows = weight.size(0);
  const std::int64_t cols = weight.size(1);
  const std::vector<std::int64_t> expected = {(rows + block.rows - 1) / block.rows,
                                              (cols + block.cols - 1) / block.cols};
  if (scale_inv.sizes() != at::IntArrayRef(expected)) {
    throw Error(ErrorCode::kInvalidModel,
                "'" + scale_name_of(weight_name) + "' has shape " + shape_text(scale_inv.sizes()) +
                    " but FP8 weight '" + weight_name + "' " + shape_text(weight.sizes()) + " in " +
                    std::to_string(block.rows) + "x" + std::to_string(block.cols) + " blocks needs " +
                    shape_text(expected),
                "check quantization_config.weight_block_size in config.json");
  }
  const at::Tensor scales = scale_inv.to(at::kFloat).contiguous();
  scale_fp8_blocks(weight.data_ptr<float>(), rows, cols, scales.data_ptr<float>(), block.rows, block.cols);
  if (const auto bad = find_non_finite(weight)) {
    throw Error(ErrorCode::kInvalidModel,
                "FP8 weight '" + weight_name + "' times its weight_scale_inv holds " +
                    describe_non_finite(weight, *bad),
                "the block scales are damaged; re-export the checkpoint");
  }
  return weight;
}

at::Tensor load_float_weight(const SafetensorsCheckpoint& checkpoint, const std::string& weight_name,
                             const std::optional<Fp8BlockSize>& fp8) {
  const bool stored_fp8 = checkpoint.info(weight_name).dtype == "F8_E4M3";
  at::Tensor weight = checkpoint.load(weight_name);  // F8_E4M3 arrives decoded to float32, NaN refused
  if (!stored_fp8) return weight.to(at::kFloat);
  const std::string scale_name = scale_name_of(weight_name);
  if (!fp8) {
    throw Error(
        ErrorCode::kInvalidModel,
        "tensor '" + weight_name +
            "' is stored as F8_E4M3 but config.json has no quantization_config with quant_method \"fp8\"",
        "add the checkpoint's quantization_config (quant_method \"fp8\", weight_block_size) to config.json");
  }
  if (!checkpoint.contains(scale_name)) {
    throw Error(
        ErrorCode::kInvalidModel,
        "FP8 weight '" + weight_name + "' has no block scales: the checkpoint lacks '" + scale_name + "'",
        "FP8 checkpoints store one weight_scale_inv tensor beside each F8_E4M3 weight");
  }
  return dequantize_fp8_blocks(std::move(weight), checkpoint.load(scale_name), *fp8, weight_name);
}

void retype_as_fp8_e4m3(const std::filesystem::path& file, const std::set<std::string>& names) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= static_cast<std::uint64_t>(static_cast<unsigned char>(in.get())) << (8 * i);
  if (!in || length > (std::uint64_t{100} << 20)) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": not a safetensors file");
  }
  std::string text(length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(length));
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(text);
  for (const std::string& name : names) {
    if (!header.contains(name) || header[name].value("dtype", "") != "U8") {
      throw Error(ErrorCode::kUnexpected,
                  file.string() + ": tensor '" + name + "' must be a U8 tensor to become F8_E4M3");
    }
    header[name]["dtype"] = "F8_E4M3";
  }
  text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::filesystem::path temp = file.string() + ".retype";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    out << text << in.rdbuf();
    if (!out.flush()) throw Error(ErrorCode::kIo, temp.string() + ": write failed");
  }
  std::filesystem::rename(temp, file);
}

}  // namespace modelslim
