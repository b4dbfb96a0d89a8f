// DeepSeek checkpoints (tools/make_random_deepseek): the deepseek adapter's float forward, run by `modelslim
// eval`, against an independent float64 forward written here from the Hugging Face / DeepSeek modeling math
// (per-token, per-head MLA with its own YaRN and pairwise RoPE, per-token routing with explicit group
// selection, dense and MoE MLPs), reading the safetensors bytes itself (its own bf16 and e4m3 decoding and
// 128x128 block scaling); V2-lite style (q_proj, softmax routing) and V3 style (q_lora, sigmoid +
// e_score_correction_bias + group-limited top-k, YaRN mscale, FP8 weights, an MTP layer). Then W8A8 (experts
// dynamic) quantization and evaluation of both.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// ---- reading the checkpoint independently of the SDK's reader ----

double e4m3_value(std::uint8_t code) {
  const int exponent = (code >> 3) & 15;
  const int mantissa = code & 7;
  if (exponent == 15 && mantissa == 7) return std::nan("");
  const double magnitude =
      exponent == 0 ? mantissa / 8.0 / 64.0 : (1 + mantissa / 8.0) * std::ldexp(1.0, exponent - 7);
  return (code & 0x80) != 0 ? -magnitude : magnitude;
}

class RawCheckpoint {
 public:
  explicit RawCheckpoint(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i)
      length |= static_cast<std::uint64_t>(static_cast<unsigned char>(in.get())) << (8 * i);
    std::string header(length, '\0');
    in.read(header.data(), static_cast<std::streamsize>(length));
    header_ = nlohmann::json::parse(header);
    data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool contains(const std::string& name) const { return header_.contains(name); }
  // float64, FP8 weights multiplied by their 128x128 block scales; decoded once.
  at::Tensor get(const std::string& name) const {
    auto& slot = cache_[name];
    if (!slot.defined()) slot = decode(name);
    return slot;
  }

 private:
  at::Tensor decode(const std::string& name) const {
    const auto& entry = header_.at(name);
    const std::string dtype = entry["dtype"];
    std::vector<std::int64_t> shape = entry["shape"];
    const std::uint64_t begin = entry["data_offsets"][0];
    const std::int64_t count =
        std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
    REQUIRE((dtype == "F32" || dtype == "BF16" || dtype == "F8_E4M3"));
    std::vector<double> values(static_cast<std::size_t>(count));
    const char* bytes = data_.data() + begin;
    for (std::int64_t i = 0; i < count; ++i) {
      if (dtype == "F32") {
        float f;
        std::memcpy(&f, bytes + 4 * i, 4);
        values[i] = f;
      } else if (dtype == "BF16") {
        std::uint16_t half;
        std::memcpy(&half, bytes + 2 * i, 2);
        const std::uint32_t bits = static_cast<std::uint32_t>(half) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        values[i] = f;
      } else {
        values[i] = e4m3_value(static_cast<std::uint8_t>(bytes[i]));
      }
    }
    const at::Tensor tensor = at::tensor(values, at::kDouble).reshape(shape);
    if (dtype != "F8_E4M3") return tensor;
    const at::Tensor scales = get(name + "_scale_inv");
    const at::Tensor expanded = scales.repeat_interleave(128, 0).repeat_interleave(128, 1);
    return tensor * expanded.slice(0, 0, shape[0]).slice(1, 0, shape[1]);
  }

  nlohmann::json header_;
  std::vector<char> data_;
  mutable std::map<std::string, at::Tensor> cache_;
};

// ---- the float64 reference forward ----

double mscale(double factor, double m) {
  return factor <= 1 ? 1.0 : 0.1 * m * std::log(factor) + 1.0;
}

class Reference {
 public:
  Reference(const fs::path& model)
      : c_(read_json_file(model / "config.json")), w_(model / "model.safetensors") {
    hidden_ = c_["hidden_size"];
    heads_ = c_["num_attention_heads"];
    nope_ = c_["qk_nope_head_dim"];
    rope_ = c_["qk_rope_head_dim"];
    v_ = c_["v_head_dim"];
    kv_rank_ = c_["kv_lora_rank"];
    eps_ = c_["rms_norm_eps"];
    build_rope();
  }

  at::Tensor logits(const std::vector<std::int64_t>& ids) {
    const std::int64_t n = static_cast<std::int64_t>(ids.size());
    at::Tensor x = at::zeros({n, hidden_}, at::kDouble);
    const at::Tensor embedding = w_.get("model.embed_tokens.weight");
    for (std::int64_t t = 0; t < n; ++t) x[t] = embedding[ids[t]];
    for (std::int64_t layer = 0; layer < c_["num_hidden_layers"].get<std::int64_t>(); ++layer) {
      const std::string p = "model.layers." + std::to_string(layer) + ".";
      x = x + attention(rms(x, w_.get(p + "input_layernorm.weight")), p + "self_attn.");
      const at::Tensor normed = rms(x, w_.get(p + "post_attention_layernorm.weight"));
      at::Tensor out = at::zeros_like(x);
      for (std::int64_t t = 0; t < n; ++t)
        out[t] = is_moe(layer) ? moe(normed[t], p + "mlp.") : mlp(normed[t], p + "mlp.");
      x = x + out;
    }
    return at::matmul(rms(x, w_.get("model.norm.weight")), w_.get("lm_head.weight").t());
  }

 private:
  at::Tensor rms(const at::Tensor& x, const at::Tensor& weight) const {
    return weight * x / at::sqrt((x * x).mean(-1, true) + eps_);
  }
  at::Tensor apply(const std::string& name, const at::Tensor& x) const {
    return at::matmul(w_.get(name + ".weight"), x);
  }

  void build_rope() {
    const double theta = c_["rope_theta"];
    const auto& scaling = c_["rope_scaling"];
    const bool yarn = scaling.is_object();
    const double factor = yarn ? scaling["factor"].get<double>() : 1.0;
    double low = 0, high = 0;
    if (yarn) {
      const double original = scaling["original_max_position_embeddings"];
      const auto dim_of = [&](double rotations) {
        return rope_ * std::log(original / (rotations * 2 * M_PI)) / (2 * std::log(theta));
      };
      low = std::max(std::floor(dim_of(scaling["beta_fast"])), 0.0);
      high = std::min(std::ceil(dim_of(scaling["beta_slow"])), static_cast<double>(rope_ - 1));
      if (low == high) high += 0.001;
      const double m = scaling.value("mscale", 0.0), m_all = scaling.value("mscale_all_dim", 0.0);
      attention_factor_ =
          (m != 0 && m_all != 0) ? mscale(factor, m) / mscale(factor, m_all) : mscale(factor, 1);
      scale_ = 1 / std::sqrt(static_cast<double>(nope_ + rope_)) *
               (m_all != 0 ? std::pow(mscale(factor, m_all), 2) : 1.0);
    } else {
      scale_ = 1 / std::sqrt(static_cast<double>(nope_ + rope_));
    }
    for (std::int64_t i = 0; i < rope_ / 2; ++i) {
      const double base = 1 / std::pow(theta, 2.0 * i / rope_);
      const double ramp = yarn ? std::clamp((i - low) / (high - low), 0.0, 1.0) : 0.0;
      inv_freq_.push_back(base / factor * ramp + base * (1 - ramp));
    }
  }

  // Pairs (2i, 2i+1) rotated by position · inv_freq[i], scaled by the attention factor.
  at::Tensor rotate(const at::Tensor& x, std::int64_t position) const {
    at::Tensor out = at::empty_like(x);
    for (std::int64_t i = 0; i < rope_ / 2; ++i) {
      const double a = x[2 * i].item<double>(), b = x[2 * i + 1].item<double>();
      const double angle = position * inv_freq_[i];
      out[2 * i] = attention_factor_ * (a * std::cos(angle) - b * std::sin(angle));
      out[2 * i + 1] = attention_factor_ * (a * std::sin(angle) + b * std::cos(angle));
    }
    return out;
  }

  at::Tensor attention(const at::Tensor& x, const std::string& p) const {
    const std::int64_t n = x.size(0);
    std::vector<at::Tensor> q, k_rope, kv;  // per token: [heads, nope+rope], [rope], [heads, nope+v]
    for (std::int64_t t = 0; t < n; ++t) {
      const at::Tensor q_t =
          c_["q_lora_rank"].is_null()
              ? apply(p + "q_proj", x[t])
              : apply(p + "q_b_proj", rms(apply(p + "q_a_proj", x[t]), w_.get(p + "q_a_layernorm.weight")));
      q.push_back(q_t.reshape({heads_, nope_ + rope_}));
      const at::Tensor compressed = apply(p + "kv_a_proj_with_mqa", x[t]);
      k_rope.push_back(rotate(compressed.slice(0, kv_rank_), t));
      const at::Tensor latent = rms(compressed.slice(0, 0, kv_rank_), w_.get(p + "kv_a_layernorm.weight"));
      kv.push_back(apply(p + "kv_b_proj", latent).reshape({heads_, nope_ + v_}));
    }
    at::Tensor out = at::zeros({n, heads_ * v_}, at::kDouble);
    for (std::int64_t t = 0; t < n; ++t) {
      for (std::int64_t h = 0; h < heads_; ++h) {
        const at::Tensor q_nope = q[t][h].slice(0, 0, nope_);
        const at::Tensor q_rope = rotate(q[t][h].slice(0, nope_), t);
        std::vector<double> scores;
        for (std::int64_t s = 0; s <= t; ++s) {
          scores.push_back(((q_nope * kv[s][h].slice(0, 0, nope_)).sum().item<double>() +
                            (q_rope * k_rope[s]).sum().item<double>()) *
                           scale_);
        }
        const double top = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (double& score : scores) total += (score = std::exp(score - top));
        at::Tensor value = at::zeros({v_}, at::kDouble);
        for (std::int64_t s = 0; s <= t; ++s) value += scores[s] / total * kv[s][h].slice(0, nope_);
        out[t].slice(0, h * v_, (h + 1) * v_) = value;
      }
    }
    return at::matmul(out, w_.get(p + "o_proj.weight").t());
  }

  at::Tensor mlp(const at::Tensor& x, const std::string& p) const {
    const at::Tensor gate = apply(p + "gate_proj", x);
    return apply(p + "down_proj", gate / (1 + at::exp(-gate)) * apply(p + "up_proj", x));
  }

  bool is_moe(std::int64_t layer) const {
    return c_.value("n_routed_experts", 0) > 0 && layer >= c_["first_k_dense_replace"].get<std::int64_t>() &&
           layer % c_["moe_layer_freq"].get<std::int64_t>() == 0;
  }

  at::Tensor moe(const at::Tensor& x, const std::string& p) const {
    const std::int64_t experts = c_["n_routed_experts"], top_k = c_["num_experts_per_tok"];
    const std::int64_t groups = c_["n_group"], top_groups = c_["topk_group"];
    const std::string method = c_["topk_method"];
    const at::Tensor logits = apply(p + "gate", x);
    std::vector<double> scores(experts), choice(experts);
    double total = 0;
    for (std::int64_t e = 0; e < experts; ++e) total += std::exp(logits[e].item<double>());
    for (std::int64_t e = 0; e < experts; ++e) {
      const double logit = logits[e].item<double>();
      scores[e] = c_["scoring_func"] == "softmax" ? std::exp(logit) / total : 1 / (1 + std::exp(-logit));
      choice[e] = scores[e] +
                  (method == "noaux_tc" ? w_.get(p + "gate.e_score_correction_bias")[e].item<double>() : 0);
    }
    if (method != "greedy" && groups > 1) {
      const std::int64_t size = experts / groups;
      std::vector<std::pair<double, std::int64_t>> ranked;
      for (std::int64_t g = 0; g < groups; ++g) {
        std::vector<double> members(choice.begin() + g * size, choice.begin() + (g + 1) * size);
        std::sort(members.rbegin(), members.rend());
        ranked.push_back({method == "noaux_tc" ? members[0] + members[1] : members[0], g});
      }
      std::sort(ranked.rbegin(), ranked.rend());
      for (std::int64_t g = top_groups; g < groups; ++g)
        for (std::int64_t e = 0; e < size; ++e) choice[ranked[g].second * size + e] = 0.0;
    }
    std::vector<std::int64_t> order(experts);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](std::int64_t a, std::int64_t b) { return choice[a] > choice[b]; });
    double chosen = 0;
    for (std::int64_t i = 0; i < top_k; ++i) chosen += scores[order[i]];
    const bool v3 = c_["model_type"] != "deepseek_v2";
    const bool norm = c_["norm_topk_prob"].get<bool>() && (v3 || top_k > 1);
    const double factor = c_["routed_scaling_factor"];
    at::Tensor out = at::zeros({hidden_}, at::kDouble);
    for (std::int64_t i = 0; i < top_k; ++i) {
      double weight = scores[order[i]];
      if (norm) weight /= chosen + 1e-20;
      if (!norm || v3) weight *= factor;
      out += weight * mlp(x, p + "experts." + std::to_string(order[i]) + ".");
    }
    if (c_.value("n_shared_experts", 0) > 0) out += mlp(x, p + "shared_experts.");
    return out;
  }

  nlohmann::json c_;
  RawCheckpoint w_;
  std::int64_t hidden_, heads_, nope_, rope_, v_, kv_rank_;
  double eps_;
  std::vector<double> inv_freq_;
  double attention_factor_ = 1.0;
  double scale_ = 1.0;
};

// Made once per process for each style (the cases only read it).
fs::path make_model(const std::string& style) {
  return test::shared_generated((test::build_dir() / "bin" / "make_random_deepseek").string() + " --style " +
                                style + " --seed 7");
}

// The ppl value of `run` ("float" or "quantized") in `eval --json` output.
double ppl_of(const nlohmann::json& metrics, const std::string& run) {
  for (const auto& metric : metrics.at(run)) {
    if (metric["metric"] == "ppl") return metric["value"].get<double>();
  }
  FAIL("no ppl in " << metrics.dump());
  return 0;
}

const char* const kDeepseekText = "In the beginning God created the heaven and the earth. And the earth was";

// eval --dump_logits on the float model: the adapter's logits and token ids; checked against the reference.
void check_float_forward(const test::TempDir& dir, const fs::path& model, const std::string& label) {
  test::write_text(dir / "text.jsonl",
                   nlohmann::json({{"inputs_pretokenized", kDeepseekText}}).dump() + "\n");
  const fs::path dump = dir / ("dump-" + label);
  const fs::path json = dir / ("eval-" + label + ".json");
  const auto result = test::run_command(test::modelslim_bin().string() + " eval --model_path " +
                                        model.string() + " --dataset " + (dir / "text.jsonl").string() +
                                        " --metrics ppl --max_tokens 24 --dump_logits " + dump.string() +
                                        " --json " + json.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto dumped = SafetensorsFile::open(dump / "float.safetensors");
  const at::Tensor ids_tensor = dumped->load("text.0.ids");
  const std::vector<std::int64_t> ids(ids_tensor.data_ptr<std::int64_t>(),
                                      ids_tensor.data_ptr<std::int64_t>() + ids_tensor.numel());
  REQUIRE(ids.size() == 24);
  Reference reference(model);
  const at::Tensor expected = reference.logits(ids);
  const at::Tensor logits = dumped->load("text.0.logits").to(at::kDouble);
  const double error = (logits - expected).abs().max().item<double>() / expected.abs().max().item<double>();
  MESSAGE(label << ": max |adapter - float64| / max |logit| = " << error);
  CHECK(error < 1e-4);

  // Perplexity of the reference logits against eval's.
  const at::Tensor log_probs = at::log_softmax(expected, -1);
  double nll = 0;
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) nll -= log_probs[t][ids[t + 1]].item<double>();
  const double ppl = std::exp(nll / static_cast<double>(ids.size() - 1));
  const nlohmann::json metrics = read_json_file(json);
  MESSAGE(label << ": eval " << metrics.dump() << ", float64 ppl " << ppl);
  CHECK(std::abs(ppl_of(metrics, "float") - ppl) <= 1e-4 * ppl);
}

}  // namespace

TEST_CASE("deepseek v2-lite style: float logits and perplexity equal an independent float64 forward") {
  const test::TempDir dir("deepseek-v2");
  check_float_forward(dir, make_model("v2-lite"), "v2-lite");
}

TEST_CASE(
    "deepseek v3 style with FP8 weights: float logits and perplexity equal an independent float64 forward") {
  const test::TempDir dir("deepseek-v3");
  const fs::path model = make_model("v3");
  CHECK(SafetensorsCheckpoint::open_dir(model).info("model.layers.1.mlp.experts.3.up_proj.weight").dtype ==
        "F8_E4M3");
  check_float_forward(dir, model, "v3");
}

TEST_CASE("deepseek v2-lite and v3 styles: W8A8 quantization (experts dynamic) and evaluation") {
  const test::TempDir dir("deepseek-quant");
  test::write_text(dir / "calib.jsonl",
                   R"({"inputs_pretokenized": "And God said, Let there be light: and there was light."})"
                   "\n"
                   R"({"inputs_pretokenized": "And God saw the light, that it was good."})"
                   "\n");
  test::write_text(dir / "text.jsonl",
                   nlohmann::json({{"inputs_pretokenized", kDeepseekText}}).dump() + "\n");
  // The reference's DeepSeek W8A8 practice (lab_practice/deepseek_v3/deepseekv3_w4a8c8_per_channel.yaml,
  // its W8A8 configs): attention W8A8 static except kv_b_proj, MLPs W8A8_DYNAMIC except the router.
  test::write_text(dir / "practice.yaml", R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
      include: ["*self_attn*"]
      exclude: ["*kv_b_proj"]
    - type: linear_quant
      qconfig:
        act: {scope: per_token, dtype: int8, symmetric: true}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
      include: ["*mlp*"]
      exclude: ["*gate"]
  dataset: )" + (dir / "calib.jsonl").string() +
                                              "\n");
  for (const std::string style : {"v2-lite", "v3"}) {
    CAPTURE(style);
    const fs::path model = make_model(style);
    const fs::path out = dir / ("quant-" + style);
    auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                                    " --save_path " + out.string() + " --config_path " +
                                    (dir / "practice.yaml").string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const nlohmann::json description = read_json_file(out / "quant_model_description.json");
    const auto saved = SafetensorsCheckpoint::open_dir(out);
    CHECK(description["model.layers.1.mlp.experts.0.up_proj.weight"] == "W8A8_DYNAMIC");
    CHECK(description["model.layers.1.mlp.shared_experts.down_proj.weight"] == "W8A8_DYNAMIC");
    CHECK(description["model.layers.0.mlp.gate_proj.weight"] == "W8A8_DYNAMIC");
    CHECK(description["model.layers.0.self_attn.o_proj.weight"] == "W8A8");
    CHECK(description["model.layers.0.self_attn.kv_a_proj_with_mqa.deq_scale"] == "W8A8");
    CHECK(description["model_quant_type"] == "W8A8");
    // vllm-ascend attention/mla_v1.py process_weights_after_loading asserts an unquantized kv_b_proj.
    CHECK(description["model.layers.0.self_attn.kv_b_proj.weight"] == "FLOAT");
    CHECK(saved.info("model.layers.0.self_attn.kv_b_proj.weight").dtype == "BF16");
    // vLLM models/deepseek_v2.py builds mlp.gate as a GateLinear without a quant config.
    CHECK(description["model.layers.1.mlp.gate.weight"] == "FLOAT");
    CHECK(saved.info("model.layers.1.self_attn.kv_a_layernorm.weight").dtype == "BF16");
    if (style == "v3") {
      CHECK(description["model.layers.0.self_attn.q_a_proj.weight"] == "W8A8");  // fused_qkv_a_proj
      CHECK(description["model.layers.0.self_attn.q_b_proj.weight"] == "W8A8");
      CHECK(description["model.layers.1.mlp.gate.e_score_correction_bias"] == "FLOAT");
      // vLLM models/deepseek_v2.py creates e_score_correction_bias float32 (DeepSeek ships it F32).
      CHECK(saved.info("model.layers.1.mlp.gate.e_score_correction_bias").dtype == "F32");
      // vllm-ascend quantization/modelslim_config.py (deepseek_mtp note): MTP layer entries listed as FLOAT.
      CHECK(description["model.layers.3.self_attn.q_a_proj.weight"] == "FLOAT");
      CHECK(description["model.layers.3.shared_head.head.weight"] == "FLOAT");
      // The MTP layer is carried in float, its FP8 weights dequantized (no block scales left).
      CHECK(description["model.layers.3.eh_proj.weight"] == "FLOAT");
      CHECK(description["model.layers.3.mlp.experts.2.down_proj.weight"] == "FLOAT");
      CHECK_FALSE(description.contains("model.layers.3.mlp.experts.2.down_proj.weight_scale_inv"));
      CHECK_FALSE(read_json_file(out / "config.json").contains("quantization_config"));
    }
    const fs::path json = dir / ("eval-" + style + ".json");
    result =
        test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                          " --quant_path " + out.string() + " --dataset " + (dir / "text.jsonl").string() +
                          " --metrics ppl --max_tokens 24 --json " + json.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const nlohmann::json metrics = read_json_file(json);
    MESSAGE(style << ": " << metrics.dump());
    const double float_ppl = ppl_of(metrics, "float"), quant_ppl = ppl_of(metrics, "quantized");
    CHECK(std::isfinite(quant_ppl));
    CHECK(quant_ppl != float_ppl);                     // the quantized linears are what ran
    CHECK(std::abs(quant_ppl / float_ppl - 1) < 0.1);  // and W8A8 keeps the model close
  }
}
