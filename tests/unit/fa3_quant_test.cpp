// fa3_quant (FA3: int8 Q/K/V of attention). The processor runs in process on tiny random checkpoints (llama
// GQA, DeepSeek V2-lite and V3 MLA); its per-head scales are checked against a float64 computation written
// here (Q/K/V from the checkpoint's tensors by the Hugging Face math, the recall window by its definition:
// sort, slide, keep the narrowest), and the deployed forward (a saved artifact's scales applied through
// DeployedArtifact::apply) against a float64 fake-quant forward written here.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "deepseek_adapter.hpp"
#include "fa3_quant.hpp"
#include "llama_adapter.hpp"
#include "modelslim/attention_quant.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// ---- the independent float64 side ----

// Per head h of rows [heads][N]: the narrowest [v_i, v_{i+n-1}] of the sorted values, n = max(1, ⌊ratio·N⌋).
std::pair<double, double> window_of(std::vector<double> values, double ratio) {
  std::sort(values.begin(), values.end());
  const std::size_t n = std::max<std::size_t>(1, static_cast<std::size_t>(ratio * values.size()));
  std::pair<double, double> best{0, std::numeric_limits<double>::infinity()};
  double best_length = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i + n <= values.size(); ++i) {
    const double length = values[i + n - 1] - values[i];
    if (length < best_length) {
      best_length = length;
      best = {values[i], values[i + n - 1]};
    }
  }
  return best;
}

// Running per-head ranges over samples, then scale = max(|min ∧ 0|, max ∨ 0) / 127.
struct RefRanges {
  std::vector<double> lo, hi;
  // x: [heads, seq, dim] float64 of one sample.
  void add(const at::Tensor& x, double ratio) {
    const std::int64_t heads = x.size(0);
    if (lo.empty()) {
      lo.assign(heads, std::numeric_limits<double>::infinity());
      hi.assign(heads, -std::numeric_limits<double>::infinity());
    }
    for (std::int64_t h = 0; h < heads; ++h) {
      const at::Tensor flat = x[h].contiguous().reshape({-1});
      std::vector<double> values(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
      const auto [a, b] = window_of(values, ratio);
      lo[h] = std::min(lo[h], a);
      hi[h] = std::max(hi[h], b);
    }
  }
  std::vector<double> scales() const {
    std::vector<double> result;
    for (std::size_t h = 0; h < lo.size(); ++h)
      result.push_back(std::max(-std::min(lo[h], 0.0), std::max(hi[h], 0.0)) / 127.0);
    return result;
  }
};

// x [heads, seq, dim]: clamp(round(x / s_h), -128, 127) · s_h, in float64 (round half to even, as torch).
at::Tensor ref_fake_quant(const at::Tensor& x, const std::vector<double>& scales) {
  at::Tensor out = x.clone();
  for (std::int64_t h = 0; h < x.size(0); ++h) {
    const double s = scales[h];
    out[h] = at::clamp(at::round(x[h] / s), -128.0, 127.0) * s;
  }
  return out;
}

at::Tensor ref_rms(const at::Tensor& x, const at::Tensor& w, double eps) {
  return w * x / at::sqrt((x * x).mean(-1, true) + eps);
}

void check_scales(const at::Tensor& ours, const std::vector<double>& reference, const std::string& label) {
  REQUIRE(ours.numel() == static_cast<std::int64_t>(reference.size()));
  for (std::size_t h = 0; h < reference.size(); ++h) {
    const double got = ours.reshape({-1})[static_cast<std::int64_t>(h)].item<double>();
    CAPTURE(label);
    CAPTURE(h);
    CHECK(std::abs(got - reference[h]) <= 1e-5 * reference[h]);
  }
}

// ---- llama (GQA) ----

struct Llama {
  std::int64_t hidden = 64, heads = 4, kv_heads = 2, dim = 16, inter = 96, layers = 2, vocab = 32;
};

std::map<std::string, at::Tensor> write_llama(const fs::path& dir, const Llama& v) {
  fs::create_directories(dir);
  const nlohmann::json config = {{"model_type", "llama"},
                                 {"hidden_size", v.hidden},
                                 {"intermediate_size", v.inter},
                                 {"num_hidden_layers", v.layers},
                                 {"num_attention_heads", v.heads},
                                 {"num_key_value_heads", v.kv_heads},
                                 {"head_dim", v.dim},
                                 {"vocab_size", v.vocab},
                                 {"rms_norm_eps", 1e-6},
                                 {"rope_theta", 10000.0},
                                 {"tie_word_embeddings", false},
                                 {"hidden_act", "silu"}};
  test::write_text(dir / "config.json", config.dump(2));
  fs::copy_file(test::shared_dir() / "data" / "fake_llama" / "tokenizer.json", dir / "tokenizer.json");
  at::manual_seed(99);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double scale,
                       double center) { tensors.emplace_back(name, at::randn(shape) * scale + center); };
  add("model.embed_tokens.weight", {v.vocab, v.hidden}, 1.0, 0.0);
  for (std::int64_t l = 0; l < v.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {v.hidden}, 0.1, 1.0);
    add(p + "post_attention_layernorm.weight", {v.hidden}, 0.1, 1.0);
    add(p + "self_attn.q_proj.weight", {v.heads * v.dim, v.hidden}, 0.15, 0.0);
    add(p + "self_attn.k_proj.weight", {v.kv_heads * v.dim, v.hidden}, 0.15, 0.0);
    add(p + "self_attn.v_proj.weight", {v.kv_heads * v.dim, v.hidden}, 0.15, 0.0);
    add(p + "self_attn.o_proj.weight", {v.hidden, v.heads * v.dim}, 0.15, 0.0);
    add(p + "mlp.gate_proj.weight", {v.inter, v.hidden}, 0.15, 0.0);
    add(p + "mlp.up_proj.weight", {v.inter, v.hidden}, 0.15, 0.0);
    add(p + "mlp.down_proj.weight", {v.hidden, v.inter}, 0.15, 0.0);
  }
  add("model.norm.weight", {v.hidden}, 0.1, 1.0);
  add("lm_head.weight", {v.vocab, v.hidden}, 0.15, 0.0);
  save_safetensors(dir / "model.safetensors", tensors);
  std::map<std::string, at::Tensor> result;
  for (const auto& [name, tensor] : tensors) result[name] = tensor.to(at::kDouble);
  return result;
}

// x [seq, heads, dim] → rotate-half RoPE by position·θ^(−2i/dim), as [heads, seq, dim].
at::Tensor ref_rope(const at::Tensor& x, std::int64_t dim) {
  const std::int64_t seq = x.size(0);
  const std::int64_t half = dim / 2;
  const at::Tensor freq =
      at::pow(10000.0, -at::arange(0, half, at::kDouble) * 2.0 / static_cast<double>(dim));
  const at::Tensor angle = at::arange(0, seq, at::kDouble).unsqueeze(1) * freq.unsqueeze(0);  // [seq, half]
  const at::Tensor cos = at::cat({angle.cos(), angle.cos()}, 1).unsqueeze(1);
  const at::Tensor sin = at::cat({angle.sin(), angle.sin()}, 1).unsqueeze(1);
  const at::Tensor rotated = at::cat({-x.narrow(2, half, half), x.narrow(2, 0, half)}, 2);
  return (x * cos + rotated * sin).transpose(0, 1);
}

struct RefQkv {
  at::Tensor q, k, v;  // [heads, seq, dim], [kv_heads, seq, dim] ×2
};

RefQkv ref_qkv(const std::map<std::string, at::Tensor>& w, const Llama& v, std::int64_t l,
               const at::Tensor& x) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const at::Tensor n = ref_rms(x, w.at(p + "input_layernorm.weight"), 1e-6);
  const std::int64_t seq = x.size(0);
  const auto proj = [&](const char* name, std::int64_t heads) {
    return at::matmul(n, w.at(p + "self_attn." + name + ".weight").t()).view({seq, heads, v.dim});
  };
  return {ref_rope(proj("q_proj", v.heads), v.dim), ref_rope(proj("k_proj", v.kv_heads), v.dim),
          proj("v_proj", v.kv_heads).transpose(0, 1)};
}

// One decoder layer in float64 from given (possibly fake-quantized) Q/K/V.
at::Tensor ref_layer(const std::map<std::string, at::Tensor>& w, const Llama& v, std::int64_t l,
                     const at::Tensor& x, const RefQkv& qkv) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const std::int64_t seq = x.size(0);
  std::vector<at::Tensor> outputs;
  for (std::int64_t h = 0; h < v.heads; ++h) {
    const std::int64_t g = h / (v.heads / v.kv_heads);
    at::Tensor scores = at::matmul(qkv.q[h], qkv.k[g].t()) / std::sqrt(static_cast<double>(v.dim));
    scores = scores + at::triu(at::full({seq, seq}, -1e300, at::kDouble), 1);
    outputs.push_back(at::matmul(at::softmax(scores, -1), qkv.v[g]));
  }
  const at::Tensor h1 = x + at::matmul(at::cat(outputs, 1), w.at(p + "self_attn.o_proj.weight").t());
  const at::Tensor n2 = ref_rms(h1, w.at(p + "post_attention_layernorm.weight"), 1e-6);
  const at::Tensor gate = at::matmul(n2, w.at(p + "mlp.gate_proj.weight").t());
  const at::Tensor up = at::matmul(n2, w.at(p + "mlp.up_proj.weight").t());
  return h1 + at::matmul(gate / (1.0 + at::exp(-gate)) * up, w.at(p + "mlp.down_proj.weight").t());
}

std::unique_ptr<ModelAdapter> open(const fs::path& dir, bool deepseek = false) {
  const auto config = read_json_file(dir / "config.json");
  const ModelLoadRequest request{dir, config, config["model_type"], at::kCPU, false, {}};
  return deepseek ? deepseek::create_deepseek_adapter(request) : llama::create_llama_adapter(request);
}

ConfigNode fa3_config(const std::string& yaml) {
  return ConfigNode(YAML::Load(yaml), "spec.process[0]", "practice.yaml");
}

const std::vector<std::vector<std::int64_t>> kSamples = {{1, 5, 9, 3, 28, 17, 2, 11, 11, 30, 0, 7},
                                                         {4, 4, 20, 13, 6, 31, 8, 19, 2}};

std::vector<at::Tensor> sample_ids() {
  std::vector<at::Tensor> ids;
  for (const auto& s : kSamples) ids.push_back(at::tensor(s, at::kLong).reshape({1, -1}));
  return ids;
}

// Runs the processor block by block as the layer_wise runner does (later blocks read the calibration
// forward's outputs); returns each block's attention quantization slots (copied).
std::vector<AttentionQuantSlots> run_fa3(ModelAdapter& model, Processor& processor) {
  std::vector<BlockInput> inputs;
  for (const at::Tensor& ids : sample_ids()) inputs.push_back(model.embed(ids));
  std::vector<AttentionQuantSlots> result;
  for (std::size_t k = 0; k < model.num_blocks(); ++k) {
    const auto block = model.load_block(k);
    BlockRequest request{model.block_name(k), *block, inputs, {}, 0, nullptr};
    processor.preprocess(request);
    processor.process(request);
    processor.postprocess(request);
    auto* source = dynamic_cast<AttentionQuantSource*>(block.get());  // none: DeepSeek's MTP layer
    result.push_back(source != nullptr ? *source->attention_quant_points().front().slots
                                       : AttentionQuantSlots{});
    if (request.outputs.empty()) run_block_forward(request);
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i].hidden = request.outputs[i];
  }
  return result;
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous().reshape({-1});
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

}  // namespace

TEST_CASE("fa3_quant per-head scales on a llama GQA model equal a float64 recall-window computation") {
  test::TempDir dir("fa3-llama");
  const Llama v;
  const auto w = write_llama(dir.path(), v);
  const auto model = open(dir.path());
  fa3::Fa3Quant processor(fa3_config("type: fa3_quant"));
  CHECK_FALSE(processor.is_data_free());
  const auto slots = run_fa3(*model, processor);
  REQUIRE(slots.size() == 2);
  // float64: each layer's calibration input is the float output of the one before (the runner's order).
  std::vector<at::Tensor> xs;
  for (const auto& s : kSamples)
    xs.push_back(w.at("model.embed_tokens.weight").index_select(0, at::tensor(s, at::kLong)));
  for (std::int64_t l = 0; l < v.layers; ++l) {
    RefRanges q, k, vv;
    for (at::Tensor& x : xs) {
      const RefQkv qkv = ref_qkv(w, v, l, x);
      q.add(qkv.q, 0.9999);
      k.add(qkv.k, 0.9999);
      vv.add(qkv.v, 1.0);
      x = ref_layer(w, v, l, x, qkv);
    }
    const std::string label = "layer " + std::to_string(l);
    for (std::size_t i = 0; i < kAttentionInputs; ++i) {
      REQUIRE(slots[l].quant[i].has_value());
      CHECK_FALSE(slots[l].quant[i]->dynamic);
    }
    CHECK(slots[l].quant[0]->scale.numel() == v.heads);
    CHECK(slots[l].quant[1]->scale.numel() == v.kv_heads);
    check_scales(slots[l].quant[0]->scale, q.scales(), label + " fa_q");
    check_scales(slots[l].quant[1]->scale, k.scales(), label + " fa_k");
    check_scales(slots[l].quant[2]->scale, vv.scales(), label + " fa_v");
  }
}

TEST_CASE("a saved artifact's FA3 scales run as deployed: logits equal a float64 fake-quant forward") {
  test::TempDir dir("fa3-deployed");
  const Llama v;
  const fs::path model_dir = dir / "model";
  const auto w = write_llama(model_dir, v);
  // The artifact: layer 0 static INT8 for Q, K and V; layer 1 Q dynamic per token, K and V static.
  at::manual_seed(5);
  std::map<std::string, std::vector<double>> scales;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  nlohmann::json description = {{"fa_quant_type", "FAKQuant"},
                                {"model.layers.0.self_attn.quant_type", "INT8"},
                                {"model.layers.1.self_attn.quant_type", "Q_INT8_DYNAMIC_KV_INT8"}};
  for (std::int64_t l = 0; l < v.layers; ++l) {
    for (const char* input : {"fa_q", "fa_k", "fa_v"}) {
      if (l == 1 && std::string(input) == "fa_q") continue;
      const std::int64_t heads = std::string(input) == "fa_q" ? v.heads : v.kv_heads;
      const std::string prefix = "model.layers." + std::to_string(l) + ".self_attn." + input;
      const at::Tensor scale = at::rand({heads, 1}) * 0.02 + 0.01;
      scales[prefix] = to_vector(scale);
      tensors.emplace_back(prefix + ".scale", scale);
      tensors.emplace_back(prefix + ".offset", at::zeros({heads, 1}, at::kChar));
      description[prefix + ".scale"] = "FAQuant";
      description[prefix + ".offset"] = "FAQuant";
    }
  }
  const fs::path artifact_dir = dir / "artifact";
  fs::create_directories(artifact_dir);
  save_safetensors(artifact_dir / "quant_model_weights.safetensors", tensors);
  test::write_text(artifact_dir / "quant_model_description.json", description.dump());
  const DeployedArtifact artifact = DeployedArtifact::open(artifact_dir);

  const auto model = open(model_dir);
  const at::Tensor ids = sample_ids().front();
  at::Tensor hidden = model->embed(ids).hidden;
  const auto context = model->embed(ids).context;
  for (std::size_t k = 0; k < model->num_blocks(); ++k) {
    const auto block = model->load_block(k);
    artifact.apply(*block);
    hidden = block->forward(hidden, *context);
  }
  const at::Tensor ours = model->head(hidden).squeeze(0).to(at::kDouble);

  // float64: fake quantization of Q/K/V before attention; per token for layer 1's Q (over head_dim).
  const auto per_token = [](const at::Tensor& x) {
    const at::Tensor bound = at::maximum(-x.amin(-1, true).clamp_max(0.0), x.amax(-1, true).clamp_min(0.0));
    const at::Tensor s = bound / 127.0;
    return at::clamp(at::round(x / s), -128.0, 127.0) * s;
  };
  at::Tensor x = w.at("model.embed_tokens.weight").index_select(0, at::tensor(kSamples.front(), at::kLong));
  at::Tensor x_float = x;
  for (std::int64_t l = 0; l < v.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
    RefQkv qkv = ref_qkv(w, v, l, x);
    qkv.q = l == 0 ? ref_fake_quant(qkv.q, scales[p + "fa_q"]) : per_token(qkv.q);
    qkv.k = ref_fake_quant(qkv.k, scales[p + "fa_k"]);
    qkv.v = ref_fake_quant(qkv.v, scales[p + "fa_v"]);
    x = ref_layer(w, v, l, x, qkv);
    x_float = ref_layer(w, v, l, x_float, ref_qkv(w, v, l, x_float));
  }
  const auto logits = [&](const at::Tensor& h) {
    return at::matmul(ref_rms(h, w.at("model.norm.weight"), 1e-6), w.at("lm_head.weight").t());
  };
  const at::Tensor reference = logits(x);
  const double peak = reference.abs().max().item<double>();
  const double error = (ours - reference).abs().max().item<double>() / peak;
  const double float_error = (ours - logits(x_float)).abs().max().item<double>() / peak;
  MESSAGE("deployed FA3 vs float64 fake quant: " << error << "; vs float64 without FA3: " << float_error);
  CHECK(error < 1e-4);
  CHECK(float_error > 10 * error);  // the fake quantization is really applied
}

TEST_CASE("fa3_quant keys: defaults, details per input, per_token is data-free; unsupported forms refused") {
  const fa3::Fa3Quant defaults(fa3_config("type: fa3_quant"));
  for (const auto& scope : defaults.scopes()) CHECK(scope == fa3::Fa3Scope::kPerHead);
  const fa3::Fa3Quant dynamic(fa3_config(
      "type: fa3_quant\nqconfig: {dtype: int8, scope: per_token, symmetric: true, method: minmax}"));
  CHECK(dynamic.is_data_free());
  const fa3::Fa3Quant details(fa3_config(
      "type: fa3_quant\ndetails:\n  fa_q: {dtype: int8, scope: per_token, symmetric: true, method: minmax}\n"
      "  fa_k: {dtype: int8, scope: per_head, symmetric: true, method: minmax}"));
  CHECK(details.scopes()[0] == fa3::Fa3Scope::kPerToken);
  CHECK(details.scopes()[1] == fa3::Fa3Scope::kPerHead);
  CHECK_FALSE(details.scopes()[2].has_value());
  const auto refused = [](const std::string& yaml, const std::string& needle) {
    try {
      fa3::Fa3Quant processor(fa3_config(yaml));
      FAIL("accepted: " << yaml);
    } catch (const Error& error) {
      CHECK_MESSAGE(std::string(error.what()).find(needle) != std::string::npos, error.what());
    }
  };
  refused("type: fa3_quant\nqconfig: {dtype: fp8_e4m3, scope: per_head, symmetric: true, method: minmax}",
          "int8");
  refused("type: fa3_quant\nqconfig: {dtype: int8, scope: per_block, symmetric: true, method: minmax}",
          "per_block");
  refused("type: fa3_quant\nqconfig: {dtype: int8, scope: per_head}\ndetails: {fa_q: {dtype: int8}}",
          "not both");
  refused("type: fa3_quant\nratio: 0.5", "ratio");
}

TEST_CASE("MLA (DeepSeek V2-lite and V3): FA3 scales of the absorbed Q and the latent equal float64") {
  for (const std::string style : {"v2-lite", "v3"}) {
    CAPTURE(style);
    test::TempDir dir("fa3-mla-" + style);
    const auto made =
        test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() + " --style " +
                          style + " --seed 3 --weights float32 --output " + dir.path().string());
    REQUIRE_MESSAGE(made.exit_code == 0, made.output);
    const auto config = read_json_file(dir / "config.json");
    const auto model = open(dir.path(), true);
    // Observing hooks alone must not change the function (the absorbed form equals the naive one).
    {
      const at::Tensor ids = sample_ids().front();
      const BlockInput input = model->embed(ids);
      const auto block = model->load_block(0);
      const at::Tensor naive = block->forward(input.hidden, *input.context);
      auto* source = dynamic_cast<AttentionQuantSource*>(block.get());
      REQUIRE(source != nullptr);
      for (auto& hook : source->attention_quant_points().front().slots->hooks)
        hook = [](const at::Tensor& t) { return t; };
      const at::Tensor absorbed = block->forward(input.hidden, *input.context);
      const double diff = (absorbed - naive).abs().max().item<double>() / naive.abs().max().item<double>();
      MESSAGE(style << ": absorbed vs naive MLA forward, max rel diff " << diff);
      CHECK(diff < 1e-5);
    }
    fa3::Fa3Quant processor(fa3_config("type: fa3_quant\ninclude: ['model.layers.0.self_attn']"));
    const auto slots = run_fa3(*model, processor);
    // float64 for layer 0 from the checkpoint's tensors.
    const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
    const auto t = [&](const std::string& name) { return checkpoint.load(name).to(at::kDouble); };
    const std::int64_t heads = config["num_attention_heads"], nope = config["qk_nope_head_dim"];
    const std::int64_t rope = config["qk_rope_head_dim"], lora = config["kv_lora_rank"];
    const std::int64_t vdim = config["v_head_dim"];
    const double eps = config["rms_norm_eps"];
    const std::string p = "model.layers.0.";
    RefRanges q, k, vv;
    for (const auto& s : kSamples) {
      const at::Tensor x = t("model.embed_tokens.weight").index_select(0, at::tensor(s, at::kLong));
      const at::Tensor n = ref_rms(x, t(p + "input_layernorm.weight"), eps);
      at::Tensor query;
      if (config["q_lora_rank"].is_null()) {
        query = at::matmul(n, t(p + "self_attn.q_proj.weight").t());
      } else {
        const at::Tensor a = ref_rms(at::matmul(n, t(p + "self_attn.q_a_proj.weight").t()),
                                     t(p + "self_attn.q_a_layernorm.weight"), eps);
        query = at::matmul(a, t(p + "self_attn.q_b_proj.weight").t());
      }
      const std::int64_t seq = x.size(0);
      const at::Tensor q_nope = query.view({seq, heads, nope + rope}).narrow(2, 0, nope).transpose(0, 1);
      const at::Tensor w_uk =
          t(p + "self_attn.kv_b_proj.weight").view({heads, nope + vdim, lora}).narrow(1, 0, nope);
      const at::Tensor latent =
          ref_rms(at::matmul(n, t(p + "self_attn.kv_a_proj_with_mqa.weight").t()).narrow(1, 0, lora),
                  t(p + "self_attn.kv_a_layernorm.weight"), eps);
      q.add(at::matmul(q_nope, w_uk), 0.9999);  // [heads, seq, lora]
      k.add(latent.unsqueeze(0), 0.9999);
      vv.add(latent.unsqueeze(0), 1.0);
    }
    REQUIRE(slots.size() >= 2);
    check_scales(slots[0].quant[0]->scale, q.scales(), style + " fa_q");
    check_scales(slots[0].quant[1]->scale, k.scales(), style + " fa_k");
    check_scales(slots[0].quant[2]->scale, vv.scales(), style + " fa_v");
    CHECK_FALSE(slots[1].quant[0].has_value());  // excluded by include
    CHECK(processor.warnings().empty());
  }
}
