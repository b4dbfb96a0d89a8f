// The llama adapter's float forward against an independent float64 reference written here from the
// Hugging Face modeling math (explicit per-head attention, rotate-half RoPE with its own llama3 frequency
// rule, GQA head mapping h / (heads / kv_heads)), for Llama, Llama 3 rope scaling, Qwen2 and Qwen3 with GQA.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "llama_adapter.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/incremental_decoding.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

struct Variant {
  std::string model_type = "llama";
  std::int64_t hidden = 64, heads = 4, kv_heads = 2, head_dim = 16, intermediate = 96, layers = 2, vocab = 32;
  bool tied = false;
  bool llama3_rope = false;
  double theta = 10000.0;
  std::int64_t sliding_window = 0;                  // written to config.json when > 0 (Mistral)
  nlohmann::json extra = nlohmann::json::object();  // more config.json fields
  bool bias() const { return model_type == "qwen2"; }
  bool qk_norm() const { return model_type == "qwen3"; }
};

nlohmann::json config_json(const Variant& v) {
  nlohmann::json config = {{"model_type", v.model_type},
                           {"hidden_size", v.hidden},
                           {"intermediate_size", v.intermediate},
                           {"num_hidden_layers", v.layers},
                           {"num_attention_heads", v.heads},
                           {"num_key_value_heads", v.kv_heads},
                           {"head_dim", v.head_dim},
                           {"vocab_size", v.vocab},
                           {"rms_norm_eps", 1e-6},
                           {"rope_theta", v.theta},
                           {"tie_word_embeddings", v.tied},
                           {"hidden_act", "silu"}};
  if (v.sliding_window > 0) config["sliding_window"] = v.sliding_window;
  config.update(v.extra);
  if (v.llama3_rope) {
    config["rope_scaling"] = {{"rope_type", "llama3"},
                              {"factor", 8.0},
                              {"low_freq_factor", 1.0},
                              {"high_freq_factor", 4.0},
                              {"original_max_position_embeddings", 16}};
  }
  return config;
}

// Writes a random checkpoint; returns the tensors (float64) for the reference.
std::map<std::string, at::Tensor> write_llama_model(const fs::path& dir, const Variant& v,
                                                    at::ScalarType dtype = at::kFloat) {
  fs::create_directories(dir);
  test::write_text(dir / "config.json", config_json(v).dump(2));
  fs::copy_file(test::shared_dir() / "data" / "fake_llama" / "tokenizer.json", dir / "tokenizer.json");
  at::manual_seed(1234);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double scale,
                       double center = 0.0) {
    tensors.emplace_back(name, (at::randn(shape) * scale + center).to(dtype));
  };
  add("model.embed_tokens.weight", {v.vocab, v.hidden}, 1.0);
  for (std::int64_t l = 0; l < v.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {v.hidden}, 0.1, 1.0);
    add(p + "post_attention_layernorm.weight", {v.hidden}, 0.1, 1.0);
    add(p + "self_attn.q_proj.weight", {v.heads * v.head_dim, v.hidden}, 0.15);
    add(p + "self_attn.k_proj.weight", {v.kv_heads * v.head_dim, v.hidden}, 0.15);
    add(p + "self_attn.v_proj.weight", {v.kv_heads * v.head_dim, v.hidden}, 0.15);
    add(p + "self_attn.o_proj.weight", {v.hidden, v.heads * v.head_dim}, 0.15);
    if (v.bias()) {
      add(p + "self_attn.q_proj.bias", {v.heads * v.head_dim}, 0.1);
      add(p + "self_attn.k_proj.bias", {v.kv_heads * v.head_dim}, 0.1);
      add(p + "self_attn.v_proj.bias", {v.kv_heads * v.head_dim}, 0.1);
    }
    if (v.qk_norm()) {
      add(p + "self_attn.q_norm.weight", {v.head_dim}, 0.1, 1.0);
      add(p + "self_attn.k_norm.weight", {v.head_dim}, 0.1, 1.0);
    }
    add(p + "mlp.gate_proj.weight", {v.intermediate, v.hidden}, 0.15);
    add(p + "mlp.up_proj.weight", {v.intermediate, v.hidden}, 0.15);
    add(p + "mlp.down_proj.weight", {v.hidden, v.intermediate}, 0.15);
  }
  add("model.norm.weight", {v.hidden}, 0.1, 1.0);
  if (!v.tied) add("lm_head.weight", {v.vocab, v.hidden}, 0.15);
  save_safetensors(dir / "model.safetensors", tensors);
  std::map<std::string, at::Tensor> result;
  for (const auto& [name, tensor] : tensors) result[name] = tensor.to(at::kDouble);
  return result;
}

// ---- the independent float64 reference ----
at::Tensor llama_adapter_ref_rms(const at::Tensor& x, const at::Tensor& w) {
  return w * x / at::sqrt((x * x).mean(-1, true) + 1e-6);
}

std::vector<double> ref_inv_freq(const Variant& v) {
  std::vector<double> freqs;
  for (std::int64_t i = 0; i < v.head_dim / 2; ++i) {
    double f = 1.0 / std::pow(v.theta, static_cast<double>(2 * i) / static_cast<double>(v.head_dim));
    if (v.llama3_rope) {
      const double factor = 8.0, low = 1.0, high = 4.0, original = 16.0;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < original / high) {
        // high frequency: unchanged
      } else if (wavelen > original / low) {
        f = f / factor;
      } else {
        const double smooth = (original / wavelen - low) / (high - low);
        f = (1.0 - smooth) * f / factor + smooth * f;
      }
    }
    freqs.push_back(f);
  }
  return freqs;
}

// x: [seq, dim] for one head; rotates the pairs (i, i + dim/2) by position·freq_i.
at::Tensor llama_adapter_ref_rope(const at::Tensor& x, const std::vector<double>& freqs) {
  at::Tensor out = x.clone();
  const std::int64_t half = x.size(1) / 2;
  for (std::int64_t s = 0; s < x.size(0); ++s) {
    for (std::int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(s) * freqs[i];
      const double a = x[s][i].item<double>();
      const double b = x[s][i + half].item<double>();
      out[s][i] = a * std::cos(angle) - b * std::sin(angle);
      out[s][i + half] = b * std::cos(angle) + a * std::sin(angle);
    }
  }
  return out;
}

at::Tensor ref_linear(const std::map<std::string, at::Tensor>& w, const std::string& name,
                      const at::Tensor& x) {
  at::Tensor y = at::matmul(x, w.at(name + ".weight").t());
  if (w.count(name + ".bias")) y = y + w.at(name + ".bias");
  return y;
}

at::Tensor ref_logits(const std::map<std::string, at::Tensor>& w, const Variant& v,
                      const std::vector<std::int64_t>& ids) {
  const std::int64_t seq = static_cast<std::int64_t>(ids.size());
  at::Tensor x =
      w.at("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong));  // [seq, hidden]
  const auto freqs = ref_inv_freq(v);
  const std::int64_t group = v.heads / v.kv_heads;
  for (std::int64_t l = 0; l < v.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const at::Tensor n = llama_adapter_ref_rms(x, w.at(p + "input_layernorm.weight"));
    const at::Tensor q = ref_linear(w, p + "self_attn.q_proj", n);
    const at::Tensor k = ref_linear(w, p + "self_attn.k_proj", n);
    const at::Tensor vv = ref_linear(w, p + "self_attn.v_proj", n);
    std::vector<at::Tensor> head_outputs;
    for (std::int64_t h = 0; h < v.heads; ++h) {
      const std::int64_t kvh = h / group;
      at::Tensor qh = q.narrow(1, h * v.head_dim, v.head_dim);
      at::Tensor kh = k.narrow(1, kvh * v.head_dim, v.head_dim);
      const at::Tensor vh = vv.narrow(1, kvh * v.head_dim, v.head_dim);
      if (v.qk_norm()) {
        qh = llama_adapter_ref_rms(qh, w.at(p + "self_attn.q_norm.weight"));
        kh = llama_adapter_ref_rms(kh, w.at(p + "self_attn.k_norm.weight"));
      }
      qh = llama_adapter_ref_rope(qh, freqs);
      kh = llama_adapter_ref_rope(kh, freqs);
      at::Tensor out = at::zeros({seq, v.head_dim}, at::kDouble);
      for (std::int64_t s = 0; s < seq; ++s) {
        // Position s sees keys first..s: all earlier ones, or the last `sliding_window` (itself included),
        // as transformers' Mistral mask (kv_idx > q_idx - sliding_window) and vLLM's window do.
        const std::int64_t first =
            v.sliding_window > 0 ? std::max<std::int64_t>(0, s - v.sliding_window + 1) : 0;
        const std::int64_t count = s + 1 - first;
        const at::Tensor scores =
            at::matmul(kh.narrow(0, first, count), qh[s]) / std::sqrt(static_cast<double>(v.head_dim));
        const at::Tensor weights = at::exp(scores - scores.max()) / at::exp(scores - scores.max()).sum();
        out[s] = at::matmul(weights, vh.narrow(0, first, count));
      }
      head_outputs.push_back(out);
    }
    x = x + ref_linear(w, p + "self_attn.o_proj", at::cat(head_outputs, 1));
    const at::Tensor n2 = llama_adapter_ref_rms(x, w.at(p + "post_attention_layernorm.weight"));
    const at::Tensor gate = ref_linear(w, p + "mlp.gate_proj", n2);
    x = x + ref_linear(w, p + "mlp.down_proj",
                       gate / (1.0 + at::exp(-gate)) * ref_linear(w, p + "mlp.up_proj", n2));
  }
  const at::Tensor head = v.tied ? w.at("model.embed_tokens.weight") : w.at("lm_head.weight");
  return at::matmul(llama_adapter_ref_rms(x, w.at("model.norm.weight")), head.t());
}

std::unique_ptr<ModelAdapter> open_llama_adapter(const fs::path& dir) {
  const auto config = read_json_file(dir / "config.json");
  return llama::create_llama_adapter(
      ModelLoadRequest{dir, config, config["model_type"], at::kCPU, false, {}});
}

const std::vector<std::int64_t> kIds = {1, 5, 9, 3, 28, 17, 2, 11, 11, 30, 0, 7};

// Returns the float64 reference logits.
at::Tensor check_variant(const Variant& v, const std::string& label) {
  test::TempDir dir("llama-" + label);
  const auto weights = write_llama_model(dir.path(), v);
  const auto adapter = open_llama_adapter(dir.path());
  const at::Tensor ours = forward_logits(*adapter, at::tensor(kIds, at::kLong).reshape({1, -1})).squeeze(0);
  const at::Tensor reference = ref_logits(weights, v, kIds);
  const double error =
      (ours.to(at::kDouble) - reference).abs().max().item<double>() / reference.abs().max().item<double>();
  MESSAGE(label << ": max |ours - float64 reference| / max |logit| = " << error);
  CHECK(error < 1e-4);
  return reference;
}

}  // namespace

TEST_CASE("Llama with GQA matches the float64 reference") {
  check_variant(Variant{}, "llama-gqa");
}

TEST_CASE("Llama 3 rope scaling matches the float64 reference") {
  Variant v;
  v.llama3_rope = true;
  v.theta = 500000.0;
  check_variant(v, "llama3-rope");
}

TEST_CASE("Qwen2 (q/k/v bias, GQA, tied embeddings) matches the float64 reference") {
  Variant v;
  v.model_type = "qwen2";
  v.tied = true;
  check_variant(v, "qwen2");
}

TEST_CASE("Qwen3 (q/k norm, GQA, head_dim != hidden/heads) matches the float64 reference") {
  Variant v;
  v.model_type = "qwen3";
  v.head_dim = 24;
  check_variant(v, "qwen3");
}

TEST_CASE("Mistral with a sliding window shorter than the sequence matches the windowed float64 reference") {
  Variant v;
  v.model_type = "mistral";
  v.sliding_window = 4;  // 12 tokens: positions 4.. lose their earliest keys
  const at::Tensor windowed = check_variant(v, "mistral-window");
  // The window must matter here, or the check above could not tell a model that ignores it.
  Variant full = v;
  full.sliding_window = 0;
  test::TempDir dir("llama-mistral-full");
  const at::Tensor unwindowed = ref_logits(write_llama_model(dir.path(), full), full, kIds);
  const double change =
      (windowed - unwindowed).abs().max().item<double>() / windowed.abs().max().item<double>();
  MESSAGE("mistral: the window changes the logits by " << change << " of max |logit|");
  CHECK(change > 1e-2);
  // Positions inside the window (s < 4) see every earlier token: identical either way.
  CHECK((windowed.narrow(0, 0, 4) - unwindowed.narrow(0, 0, 4)).abs().max().item<double>() < 1e-12);
}

TEST_CASE("Qwen2 sliding window follows use_sliding_window and max_window_layers, or is refused") {
  Variant v;
  v.model_type = "qwen2";
  v.sliding_window = 4;
  // The shipped Qwen2 configs: use_sliding_window false, so attention is full.
  v.extra = {{"use_sliding_window", false}, {"max_window_layers", 1}};
  Variant reference = v;
  reference.sliding_window = 0;
  const auto run = [&](const Variant& variant, const Variant& expected, const std::string& label) {
    test::TempDir dir("llama-" + label);
    write_llama_model(dir.path(), variant);
    const auto adapter = open_llama_adapter(dir.path());
    const at::Tensor ours =
        forward_logits(*adapter, at::tensor(kIds, at::kLong).reshape({1, -1})).squeeze(0).to(at::kDouble);
    test::TempDir ref_dir("llama-ref-" + label);
    const at::Tensor ref = ref_logits(write_llama_model(ref_dir.path(), expected), expected, kIds);
    const double error = (ours - ref).abs().max().item<double>() / ref.abs().max().item<double>();
    MESSAGE(label << ": " << error);
    CHECK(error < 1e-4);
  };
  run(v, reference, "qwen2-no-sliding");
  // Sliding from layer 2 of 2 (transformers: layers >= max_window_layers slide): none slides.
  v.extra = {{"use_sliding_window", true}, {"max_window_layers", 2}};
  run(v, reference, "qwen2-window-past-last-layer");
  // Every layer slides.
  v.extra = {{"use_sliding_window", true}, {"max_window_layers", 0}};
  run(v, v, "qwen2-all-sliding");
  // Layer 0 full, layer 1 sliding: refused, naming the field.
  v.extra = {{"use_sliding_window", true}, {"max_window_layers", 1}};
  test::TempDir dir("llama-qwen2-split");
  write_llama_model(dir.path(), v);
  CHECK_THROWS_WITH_AS(open_llama_adapter(dir.path()), doctest::Contains("field 'max_window_layers' (1)"),
                       Error);
}

TEST_CASE("bf16 checkpoints load upcast; non-block parameters keep the stored dtype") {
  test::TempDir dir("llama-bf16");
  write_llama_model(dir.path(), Variant{}, at::kBFloat16);
  const auto adapter = open_llama_adapter(dir.path());
  CHECK((adapter->checkpoint_dtype() == at::kBFloat16));
  const auto block = adapter->load_block(1);
  CHECK((block->linears()[0]->weight().scalar_type() == at::kFloat));
  CHECK(block->linears().size() == 7);
  CHECK(block->linears()[6]->name() == "model.layers.1.mlp.down_proj");
  for (const auto& parameter : adapter->non_block_parameters())
    CHECK((parameter.tensor.scalar_type() == at::kBFloat16));
}

// The savers' layout guess reads the headers only; it must describe what non_block_parameters() returns.
TEST_CASE("non-block parameter specs match the tensors: bf16 untied, float32 tied, and after rotation") {
  const auto check = [](ModelAdapter& adapter) {
    const auto* query = dynamic_cast<const NonBlockParameterSpecs*>(&adapter);
    REQUIRE(query != nullptr);
    const std::vector<TensorSpec> specs = query->non_block_parameter_specs();
    const std::vector<NamedTensor> tensors = adapter.non_block_parameters();
    REQUIRE(specs.size() == tensors.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      CHECK(specs[i].name == tensors[i].name);
      CHECK((specs[i].dtype == tensors[i].tensor.scalar_type()));
      CHECK(specs[i].shape == tensors[i].tensor.sizes().vec());
    }
    return specs.size();
  };
  test::TempDir dir("llama-specs");
  write_llama_model(dir / "untied", Variant{}, at::kBFloat16);
  CHECK(check(*open_llama_adapter(dir / "untied")) == 3);
  Variant tied;
  tied.tied = true;
  write_llama_model(dir / "tied", tied);
  const auto adapter = open_llama_adapter(dir / "tied");
  CHECK(check(*adapter) == 2);
  adapter->rotation_points();  // the processed (float32, untied) tensors from now on
  CHECK(check(*adapter) == 3);
}

TEST_CASE("Linear::forward is what the block calls: observers see every projection's input") {
  test::TempDir dir("llama-observe");
  write_llama_model(dir.path(), Variant{});
  const auto adapter = open_llama_adapter(dir.path());
  const auto block = adapter->load_block(0);
  std::map<std::string, std::vector<std::int64_t>> seen;
  for (Linear* linear : block->linears()) {
    linear->add_observer(
        [&seen, name = linear->name()](const at::Tensor& x) { seen[name] = x.sizes().vec(); });
  }
  const BlockInput input = adapter->embed(at::arange(6, at::kLong).reshape({1, 6}));
  block->forward(input.hidden, *input.context);
  CHECK(seen.size() == 7);
  CHECK(seen["model.layers.0.self_attn.o_proj"] == std::vector<std::int64_t>{1, 6, 4 * 16});
  CHECK(seen["model.layers.0.mlp.down_proj"] == std::vector<std::int64_t>{1, 6, 96});
}

TEST_CASE("bad checkpoints: wrong shape, missing tensor, missing tokenizer, bad config field") {
  test::TempDir dir("llama-bad");
  const Variant v;
  write_llama_model(dir.path(), v);
  {
    auto tensors = std::vector<std::pair<std::string, at::Tensor>>{};
    const auto original = SafetensorsCheckpoint::open_dir(dir.path());
    for (const auto& name : original.names()) {
      at::Tensor t = original.load(name);
      if (name == "model.layers.1.mlp.up_proj.weight") t = at::zeros({95, 64});
      if (name != "model.layers.1.self_attn.k_proj.weight") tensors.emplace_back(name, t);
    }
    save_safetensors(dir / "model.safetensors", tensors);
  }
  const auto adapter = open_llama_adapter(dir.path());
  CHECK_THROWS_WITH_AS(adapter->load_block(1),
                       doctest::Contains("no tensor 'model.layers.1.self_attn.k_proj.weight'"), Error);
  CHECK_NOTHROW(adapter->load_block(0));

  test::TempDir dir2("llama-bad-shape");
  write_llama_model(dir2.path(), v);
  {
    const auto original = SafetensorsCheckpoint::open_dir(dir2.path());
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& name : original.names()) {
      tensors.emplace_back(
          name, name == "model.layers.1.mlp.up_proj.weight" ? at::zeros({95, 64}) : original.load(name));
    }
    save_safetensors(dir2 / "model.safetensors", tensors);
  }
  CHECK_THROWS_WITH_AS(
      open_llama_adapter(dir2.path())->load_block(1),
      doctest::Contains(
          "'model.layers.1.mlp.up_proj.weight' has shape [95, 64] but config.json implies [96, 64]"),
      Error);

  fs::remove(dir2 / "tokenizer.json");
  CHECK_THROWS_WITH_AS(open_llama_adapter(dir2.path()), doctest::Contains("tokenizer.json"), Error);

  auto config = config_json(v);
  config.erase("hidden_size");
  test::write_text(dir / "config.json", config.dump());
  CHECK_THROWS_WITH_AS(open_llama_adapter(dir.path()),
                       doctest::Contains("config.json: field 'hidden_size' is missing"), Error);
}

TEST_CASE("the adapter and its blocks describe q/k/v and gate/up as fused modules, by their real names") {
  test::TempDir dir("llama-fused");
  write_llama_model(dir.path(), Variant{});
  const auto adapter = open_llama_adapter(dir.path());
  const auto expected_block = [](const std::string& p) {
    return std::vector<std::pair<std::string, std::vector<std::string>>>{
        {p + "self_attn.qkv_proj", {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}},
        {p + "mlp.gate_up_proj", {p + "mlp.gate_proj", p + "mlp.up_proj"}}};
  };
  const auto as_pairs = [](const std::vector<FusedModule>& modules) {
    std::vector<std::pair<std::string, std::vector<std::string>>> pairs;
    for (const auto& module : modules) pairs.emplace_back(module.name, module.parts);
    return pairs;
  };
  // The block's own description (not the name rule): found through the optional interface.
  const auto block = adapter->load_block(1);
  REQUIRE(dynamic_cast<const FusedModuleSource*>(block.get()) != nullptr);
  CHECK(as_pairs(block_fused_modules(*block)) == expected_block("model.layers.1."));
  // Every parts name is one of the block's linears.
  for (const auto& module : block_fused_modules(*block)) {
    for (const auto& part : module.parts) CHECK(block->find_linear(part) != nullptr);
  }
  // The adapter lists every layer's modules without loading a block.
  const auto all = model_fused_modules(*adapter);
  REQUIRE(all.has_value());
  auto expected = expected_block("model.layers.0.");
  for (auto& module : expected_block("model.layers.1.")) expected.push_back(module);
  CHECK(as_pairs(*all) == expected);
}

// ---- incremental decoding (KV cache) against the same float64 reference ----
namespace {

// Prefills kIds[0..prompt), then appends the rest in steps of `step` tokens (the last step may be
// shorter); returns max |ours - reference| / max |reference logit| over every position.
double decoding_error(const Variant& v, const std::string& label, std::size_t prompt, std::size_t step) {
  test::TempDir dir("llama-decode-" + label);
  const auto weights = write_llama_model(dir.path(), v);
  const auto adapter = open_llama_adapter(dir.path());
  auto* decoding = dynamic_cast<IncrementalDecoding*>(adapter.get());
  REQUIRE(decoding != nullptr);
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<Block*> pointers;
  for (std::size_t i = 0; i < adapter->num_blocks(); ++i) {
    blocks.push_back(adapter->load_block(i));
    pointers.push_back(blocks.back().get());
  }
  const auto state = decoding->start_decoding(pointers);
  const at::Tensor reference = ref_logits(weights, v, kIds);
  double error = 0.0;
  for (std::size_t begin = 0; begin < kIds.size();) {
    const std::size_t count = std::min(begin == 0 ? prompt : step, kIds.size() - begin);
    const std::vector<std::int64_t> chunk(kIds.begin() + begin, kIds.begin() + begin + count);
    const at::Tensor logits =
        adapter->head(state->forward(at::tensor(chunk, at::kLong).reshape({1, -1}))).squeeze(0);
    const at::Tensor expected = reference.narrow(0, static_cast<std::int64_t>(begin), count);
    error = std::max(error, (logits.to(at::kDouble) - expected).abs().max().item<double>());
    begin += count;
    CHECK(state->length() == static_cast<std::int64_t>(begin));
  }
  error /= reference.abs().max().item<double>();
  MESSAGE(label << " decoding (prompt " << prompt << ", step " << step
                << "): max |ours - float64 reference| / max |logit| = " << error);
  return error;
}

}  // namespace

TEST_CASE("incremental decoding: prefill then one token per step equals the float64 reference") {
  Variant qwen2;
  qwen2.model_type = "qwen2";  // q/k/v bias
  qwen2.tied = true;
  Variant qwen3;
  qwen3.model_type = "qwen3";  // q/k norm
  qwen3.head_dim = 24;
  Variant mistral;
  mistral.model_type = "mistral";
  mistral.sliding_window = 4;  // 12 positions: decode steps past the window drop the earliest keys
  Variant qwen2_window = qwen2;
  qwen2_window.sliding_window = 3;
  qwen2_window.extra = {{"use_sliding_window", true}, {"max_window_layers", 0}};
  const std::vector<std::pair<Variant, std::string>> variants = {{Variant{}, "llama-gqa"},
                                                                 {qwen2, "qwen2"},
                                                                 {qwen3, "qwen3"},
                                                                 {mistral, "mistral-window"},
                                                                 {qwen2_window, "qwen2-window"}};
  for (const auto& [variant, label] : variants) {
    // Float32 against float64: measured errors are ~1e-7 (the full forward's are the same size).
    CHECK(decoding_error(variant, label, 5, 1) < 1e-5);
    // Several tokens per call after the prefill (speculative-style chunks) use the same cache.
    CHECK(decoding_error(variant, label + "-chunks", 3, 4) < 1e-5);
  }
}

TEST_CASE("incremental decoding: a prefill equals the full forward bit for bit") {
  Variant v;
  v.model_type = "qwen3";
  test::TempDir dir("llama-decode-prefill");
  write_llama_model(dir.path(), v);
  const auto adapter = open_llama_adapter(dir.path());
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<Block*> pointers;
  for (std::size_t i = 0; i < adapter->num_blocks(); ++i) {
    blocks.push_back(adapter->load_block(i));
    pointers.push_back(blocks.back().get());
  }
  const at::Tensor ids = at::tensor(kIds, at::kLong).reshape({1, -1});
  const at::Tensor prefilled =
      adapter->head(dynamic_cast<IncrementalDecoding&>(*adapter).start_decoding(pointers)->forward(ids));
  // The evaluator's ppl and the generator's echo log-probs then agree exactly.
  CHECK(at::equal(prefilled, forward_logits(*adapter, ids)));
}

TEST_CASE("incremental decoding refuses blocks of another model and positions past the context") {
  test::TempDir dir("llama-decode-refuse");
  Variant v;
  v.extra = {{"max_position_embeddings", 8}};
  write_llama_model(dir.path(), v);
  const auto adapter = open_llama_adapter(dir.path());
  auto& decoding = dynamic_cast<IncrementalDecoding&>(*adapter);
  CHECK_THROWS_WITH_AS(decoding.start_decoding({}), doctest::Contains("got 0 blocks, the model has 2"),
                       Error);
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<Block*> pointers;
  for (std::size_t i = 0; i < adapter->num_blocks(); ++i) {
    blocks.push_back(adapter->load_block(i));
    pointers.push_back(blocks.back().get());
  }
  const auto state = decoding.start_decoding(pointers);
  state->forward(at::zeros({1, 8}, at::kLong));
  CHECK_THROWS_WITH_AS(state->forward(at::zeros({1, 1}, at::kLong)),
                       doctest::Contains("past max_position_embeddings 8"), Error);
}
