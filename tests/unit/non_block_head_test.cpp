// modelslim/non_block_head.hpp: the non-block parameters every decoder adapter reports (embedding, final
// norm, lm_head unless tied), read from safetensors files built byte by byte here, not by the SDK's writer.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/non_block_head.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kNonBlockHeadVocab = 5;
constexpr std::int64_t kNonBlockHeadHidden = 4;

struct RawTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;  // written as F32
};

// A model.safetensors in the format's own terms: 8-byte little-endian header size, JSON header, data.
void write_safetensors(const fs::path& file, const std::vector<RawTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const RawTensor& tensor : tensors) {
    const std::size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(tensor.values.data()), tensor.values.size() * sizeof(float));
    header[tensor.name] = {{"dtype", "F32"}, {"shape", tensor.shape}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string text = header.dump();
  std::uint64_t size = text.size();
  std::ofstream out(file, std::ios::binary);
  for (int byte = 0; byte < 8; ++byte) out.put(static_cast<char>((size >> (8 * byte)) & 0xff));
  out << text << data;
}

std::vector<float> counting(std::int64_t count, float start) {
  std::vector<float> values;
  for (std::int64_t i = 0; i < count; ++i) values.push_back(start + 0.5f * static_cast<float>(i));
  return values;
}

RawTensor embedding() {
  return {kEmbedTokensWeight,
          {kNonBlockHeadVocab, kNonBlockHeadHidden},
          counting(kNonBlockHeadVocab * kNonBlockHeadHidden, 1.0f)};
}
RawTensor final_norm() {
  return {kFinalNormWeight, {kNonBlockHeadHidden}, counting(kNonBlockHeadHidden, -2.0f)};
}
RawTensor lm_head() {
  return {kLmHeadWeight,
          {kNonBlockHeadVocab, kNonBlockHeadHidden},
          counting(kNonBlockHeadVocab * kNonBlockHeadHidden, 100.0f)};
}

// The tensor's values as doubles, to compare with what was written.
std::vector<double> values_of(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.to(at::kDouble).contiguous().reshape({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

std::vector<double> as_doubles(const std::vector<float>& values) {
  return {values.begin(), values.end()};
}

NonBlockHead head_of(const SafetensorsCheckpoint& checkpoint, bool tied) {
  NonBlockHead head;
  head.vocab_size = kNonBlockHeadVocab;
  head.hidden_size = kNonBlockHeadHidden;
  head.tie_word_embeddings = tied;
  head.embedding = checkpoint.load(kEmbedTokensWeight);
  return head;
}

std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kInvalidModel);
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  FAIL("no error");
  return {};
}

}  // namespace

TEST_CASE("untied lm_head: embedding, final norm and lm_head with the written values, specs alike") {
  test::TempDir dir("nbh-untied");
  write_safetensors(dir / "model.safetensors", {embedding(), final_norm(), lm_head()});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  const NonBlockHead head = head_of(checkpoint, false);

  const auto parameters =
      non_block_head_parameters(head, checkpoint_tensor_loader(checkpoint, dir.path(), "llama"));
  REQUIRE(parameters.size() == 3);
  CHECK(parameters[0].name == "model.embed_tokens.weight");
  CHECK(parameters[1].name == "model.norm.weight");
  CHECK(parameters[2].name == "lm_head.weight");
  CHECK(values_of(parameters[0].tensor) == as_doubles(embedding().values));
  CHECK(values_of(parameters[1].tensor) == as_doubles(final_norm().values));
  CHECK(values_of(parameters[2].tensor) == as_doubles(lm_head().values));

  const auto specs = non_block_head_specs(head, checkpoint_spec_reader(checkpoint, dir.path(), "llama"));
  REQUIRE(specs.size() == 3);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    CHECK(specs[i].name == parameters[i].name);
    CHECK((specs[i].dtype == at::kFloat));
    CHECK(specs[i].shape == parameters[i].tensor.sizes().vec());
  }
  CHECK(specs[2].shape == std::vector<std::int64_t>{kNonBlockHeadVocab, kNonBlockHeadHidden});
}

TEST_CASE("tied lm_head: no lm_head entry and none read") {
  test::TempDir dir("nbh-tied");
  write_safetensors(dir / "model.safetensors", {embedding(), final_norm()});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  const NonBlockHead head = head_of(checkpoint, true);
  std::vector<std::string> read;
  const auto parameters = non_block_head_parameters(head, [&](const std::string& name, const auto& shape) {
    read.push_back(name);
    return checkpoint_tensor_loader(checkpoint, dir.path(), "llama")(name, shape);
  });
  REQUIRE(parameters.size() == 2);
  CHECK(read == std::vector<std::string>{"model.norm.weight"});
  CHECK(values_of(parameters[1].tensor) == as_doubles(final_norm().values));
  const auto specs = non_block_head_specs(head, checkpoint_spec_reader(checkpoint, dir.path(), "llama"));
  REQUIRE(specs.size() == 2);
  CHECK(specs[1].shape == std::vector<std::int64_t>{kNonBlockHeadHidden});
}

TEST_CASE("a modified head reports its own tensors, lm_head untied, without reading the checkpoint") {
  test::TempDir dir("nbh-modified");
  write_safetensors(dir / "model.safetensors", {embedding(), final_norm()});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  NonBlockHead head = head_of(checkpoint, true);
  head.modified = true;
  head.final_norm = at::full({kNonBlockHeadHidden}, 3.0, at::kFloat);
  head.lm_head = at::full({kNonBlockHeadVocab, kNonBlockHeadHidden}, 7.0, at::kDouble);
  const auto never = [](const std::string& name, const std::vector<std::int64_t>&) -> at::Tensor {
    throw std::runtime_error("read " + name);
  };
  const auto parameters = non_block_head_parameters(head, never);
  REQUIRE(parameters.size() == 3);
  CHECK(parameters[1].tensor.is_same(head.final_norm));
  CHECK(parameters[2].tensor.is_same(head.lm_head));
  const auto specs = non_block_head_specs(head, [](const std::string& name, const auto&) -> TensorSpec {
    throw std::runtime_error("read " + name);
  });
  REQUIRE(specs.size() == 3);
  CHECK((specs[2].dtype == at::kDouble));
  CHECK(specs[2].name == "lm_head.weight");
}

TEST_CASE("a missing or misshapen tensor is an error naming it and the model directory") {
  test::TempDir dir("nbh-missing");
  write_safetensors(dir / "model.safetensors", {embedding(), {kFinalNormWeight, {3}, counting(3, 0.0f)}});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  const NonBlockHead head = head_of(checkpoint, false);
  const auto load = checkpoint_tensor_loader(checkpoint, dir.path(), "qwen3_moe");
  const auto spec = checkpoint_spec_reader(checkpoint, dir.path(), "qwen3_moe");

  std::string message = error_of([&] { non_block_head_parameters(head, load); });
  CHECK(message.find(dir.path().string()) != std::string::npos);
  CHECK(message.find("'model.norm.weight' has shape [3] but config.json implies [4]") != std::string::npos);

  NonBlockHead right_norm = head;
  right_norm.hidden_size = 3;
  message = error_of([&] { non_block_head_specs(right_norm, spec); });
  CHECK(message.find(dir.path().string() + ": the checkpoint has no tensor 'lm_head.weight'") !=
        std::string::npos);
  CHECK(message.find("is this a qwen3_moe checkpoint?") != std::string::npos);
  message = error_of([&] { load(kLmHeadWeight, {kNonBlockHeadVocab, 3}); });
  CHECK(message.find("no tensor 'lm_head.weight'") != std::string::npos);
}

TEST_CASE("load_non_block_head: float32 final norm and lm_head with the written values, read once") {
  test::TempDir dir("nbh-load");
  write_safetensors(dir / "model.safetensors", {embedding(), final_norm(), lm_head()});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  for (const bool tied : {false, true}) {
    CAPTURE(tied);
    NonBlockHead head = head_of(checkpoint, tied);
    head.embedding = head.embedding.to(at::kBFloat16);  // as a bf16 checkpoint's embedding is held
    std::vector<std::string> read;
    const StoredTensorLoader load = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
      read.push_back(name);
      return checkpoint_tensor_loader(checkpoint, dir.path(), "llama")(name, shape).to(at::kHalf);
    };
    load_non_block_head(head, load);
    load_non_block_head(head, load);  // the second call reads nothing
    CHECK(read == (tied ? std::vector<std::string>{"model.norm.weight"}
                        : std::vector<std::string>{"model.norm.weight", "lm_head.weight"}));
    CHECK((head.final_norm.scalar_type() == at::kFloat));
    CHECK((head.lm_head.scalar_type() == at::kFloat));
    CHECK(values_of(head.final_norm) == as_doubles(final_norm().values));  // exact in float16
    // Tied: the embedding widened (its values survive bf16: halves of small integers).
    CHECK(values_of(head.lm_head) == as_doubles(tied ? embedding().values : lm_head().values));
    CHECK_FALSE(head.modified);
  }
}

TEST_CASE("non_block_rotation_points: float32 points, lm_head untied from the embedding, once") {
  test::TempDir dir("nbh-rotation");
  write_safetensors(dir / "model.safetensors", {embedding(), final_norm()});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  NonBlockHead head =
      head_of(checkpoint, true);  // float32 embedding: the tied lm_head would be the same tensor
  const StoredTensorLoader load = checkpoint_tensor_loader(checkpoint, dir.path(), "llama");
  const ModelRotationPoints points = non_block_rotation_points(head, load);
  CHECK(head.modified);
  CHECK((points.embedding.scalar_type() == at::kFloat));
  CHECK(points.embedding.is_same(head.embedding));
  CHECK(points.lm_head.is_same(head.lm_head));
  CHECK(points.final_norm.is_same(head.final_norm));
  CHECK_FALSE(points.lm_head.data_ptr() == points.embedding.data_ptr());
  CHECK(values_of(points.lm_head) == as_doubles(embedding().values));
  // A rotation writes in place; a second call hands back the same, rotated tensors.
  points.embedding.mul_(2);
  const ModelRotationPoints again = non_block_rotation_points(head, load);
  CHECK(again.embedding.is_same(points.embedding));
  CHECK(values_of(again.lm_head) == as_doubles(embedding().values));
}

TEST_CASE("saved_hf_config: quantization_config dropped, the tie cleared only once the head was modified") {
  NonBlockHead head;
  const nlohmann::json config = {{"model_type", "llama"},
                                 {"tie_word_embeddings", true},
                                 {"quantization_config", {{"quant_method", "fp8"}}}};
  const nlohmann::json plain = saved_hf_config(head, config);
  CHECK_FALSE(plain.contains("quantization_config"));
  CHECK(plain.at("tie_word_embeddings") == true);
  CHECK(plain.at("model_type") == "llama");
  head.modified = true;
  CHECK(saved_hf_config(head, config).at("tie_word_embeddings") == false);
  CHECK(config.contains("quantization_config"));  // the caller's config is untouched
}
