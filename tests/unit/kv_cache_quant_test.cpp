// The int8 KV cache on a tiny random Qwen3 (q/k norm, GQA): dynamic_cache's parameters against an
// independent float64 per-channel min/max of the keys (after k_norm and RoPE) and values of the calibration
// samples; a block with parameters set computes attention on the int8 round trip of its keys and values,
// against an independent float64 block forward; the ascendv1 C8 tensors of a block.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "dynamic_cache_processor.hpp"
#include "kv_cache_tensors.hpp"
#include "kv_smooth_processor.hpp"
#include "llama_adapter.hpp"
#include "modelslim/error.hpp"
#include "modelslim/hooked_kv_cache_access.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kKvCacheQuantHidden = 32, kHeads = 4, kKvHeads = 2, kDim = 8, kInter = 48, kVocab = 32;

// qwen3: q/k norms; qwen2: q/k/v biases.
std::map<std::string, at::Tensor> kv_cache_quant_write_model(const fs::path& dir,
                                                             const std::string& model_type) {
  fs::create_directories(dir);
  const nlohmann::json config = {{"model_type", model_type},
                                 {"hidden_size", kKvCacheQuantHidden},
                                 {"intermediate_size", kInter},
                                 {"num_hidden_layers", 1},
                                 {"num_attention_heads", kHeads},
                                 {"num_key_value_heads", kKvHeads},
                                 {"head_dim", kDim},
                                 {"vocab_size", kVocab},
                                 {"rms_norm_eps", 1e-6},
                                 {"rope_theta", 10000.0},
                                 {"tie_word_embeddings", true},
                                 {"hidden_act", "silu"}};
  test::write_text(dir / "config.json", config.dump(2));
  fs::copy_file(test::shared_dir() / "data" / "fake_llama" / "tokenizer.json", dir / "tokenizer.json");
  at::manual_seed(77);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double scale,
                       double center) { tensors.emplace_back(name, at::randn(shape) * scale + center); };
  const std::string p = "model.layers.0.";
  add("model.embed_tokens.weight", {kVocab, kKvCacheQuantHidden}, 1.0, 0.0);
  add(p + "input_layernorm.weight", {kKvCacheQuantHidden}, 0.1, 1.0);
  add(p + "post_attention_layernorm.weight", {kKvCacheQuantHidden}, 0.1, 1.0);
  add(p + "self_attn.q_proj.weight", {kHeads * kDim, kKvCacheQuantHidden}, 0.2, 0.0);
  add(p + "self_attn.k_proj.weight", {kKvHeads * kDim, kKvCacheQuantHidden}, 0.2, 0.0);
  add(p + "self_attn.v_proj.weight", {kKvHeads * kDim, kKvCacheQuantHidden}, 0.2, 0.0);
  add(p + "self_attn.o_proj.weight", {kKvCacheQuantHidden, kHeads * kDim}, 0.2, 0.0);
  if (model_type == "qwen3") {
    add(p + "self_attn.q_norm.weight", {kDim}, 0.3, 1.0);
    add(p + "self_attn.k_norm.weight", {kDim}, 0.3, 1.0);
  } else {
    add(p + "self_attn.q_proj.bias", {kHeads * kDim}, 0.3, 0.0);
    add(p + "self_attn.k_proj.bias", {kKvHeads * kDim}, 0.3, 0.0);
    add(p + "self_attn.v_proj.bias", {kKvHeads * kDim}, 0.3, 0.0);
  }
  add(p + "mlp.gate_proj.weight", {kInter, kKvCacheQuantHidden}, 0.2, 0.0);
  add(p + "mlp.up_proj.weight", {kInter, kKvCacheQuantHidden}, 0.2, 0.0);
  add(p + "mlp.down_proj.weight", {kKvCacheQuantHidden, kInter}, 0.2, 0.0);
  add("model.norm.weight", {kKvCacheQuantHidden}, 0.1, 1.0);
  save_safetensors(dir / "model.safetensors", tensors);
  std::map<std::string, at::Tensor> result;
  for (const auto& [name, tensor] : tensors) result[name] = tensor.to(at::kDouble);
  return result;
}

std::map<std::string, at::Tensor> write_qwen3(const fs::path& dir) {
  return kv_cache_quant_write_model(dir, "qwen3");
}

std::unique_ptr<ModelAdapter> open_kv_adapter(const fs::path& dir) {
  const auto config = read_json_file(dir / "config.json");
  return llama::create_llama_adapter(
      ModelLoadRequest{dir, config, config["model_type"].get<std::string>(), at::kCPU, false, {}});
}

// ---- independent float64 Qwen3 layer (Hugging Face semantics) ----
at::Tensor rms(const at::Tensor& x, const at::Tensor& w) {
  return w * x / at::sqrt(x.pow(2).mean(-1, true) + 1e-6);
}

at::Tensor kv_cache_quant_rope(const at::Tensor& x) {  // [heads, T, dim], rotate_half, theta 10000
  const std::int64_t T = x.size(1);
  const at::Tensor pos = at::arange(T, at::kDouble).unsqueeze(1);
  const at::Tensor inv = at::pow(10000.0, -at::arange(0, kDim, 2, at::kDouble) / double(kDim)).unsqueeze(0);
  const at::Tensor angle = at::cat({pos * inv, pos * inv}, 1);  // [T, dim]
  const at::Tensor rotated = at::cat({-x.slice(-1, kDim / 2), x.slice(-1, 0, kDim / 2)}, -1);
  return x * at::cos(angle) + rotated * at::sin(angle);
}

struct Attention {
  at::Tensor q, k, v;  // [heads or kv_heads, T, dim]
};

Attention project(const std::map<std::string, at::Tensor>& w, const at::Tensor& h) {  // h [T, hidden]
  const std::string p = "model.layers.0.";
  const std::int64_t T = h.size(0);
  const at::Tensor x = rms(h, w.at(p + "input_layernorm.weight"));
  const auto heads = [&](const std::string& proj, std::int64_t n) {
    return at::matmul(x, w.at(p + "self_attn." + proj + ".weight").t())
        .reshape({T, n, kDim})
        .permute({1, 0, 2});
  };
  return {kv_cache_quant_rope(rms(heads("q_proj", kHeads), w.at(p + "self_attn.q_norm.weight"))),
          kv_cache_quant_rope(rms(heads("k_proj", kKvHeads), w.at(p + "self_attn.k_norm.weight"))),
          heads("v_proj", kKvHeads)};
}

at::Tensor layer(const std::map<std::string, at::Tensor>& w, const at::Tensor& h, const Attention& a) {
  const std::string p = "model.layers.0.";
  const std::int64_t T = h.size(0);
  const at::Tensor mask = at::triu(at::full({T, T}, -INFINITY, at::kDouble), 1);
  std::vector<at::Tensor> outputs;
  for (std::int64_t head = 0; head < kHeads; ++head) {
    const std::int64_t kv = head / (kHeads / kKvHeads);
    const at::Tensor scores = at::matmul(a.q[head], a.k[kv].t()) / std::sqrt(double(kDim)) + mask;
    outputs.push_back(at::matmul(at::softmax(scores, -1), a.v[kv]));
  }
  const at::Tensor attended = h + at::matmul(at::cat(outputs, -1), w.at(p + "self_attn.o_proj.weight").t());
  const at::Tensor y = rms(attended, w.at(p + "post_attention_layernorm.weight"));
  const at::Tensor gate = at::matmul(y, w.at(p + "mlp.gate_proj.weight").t());
  const at::Tensor up = at::matmul(y, w.at(p + "mlp.up_proj.weight").t());
  return attended + at::matmul(gate * at::sigmoid(gate) * up, w.at(p + "mlp.down_proj.weight").t());
}

// Per channel (kv_head, d) over every token: [kv_heads, T, dim] -> [kv_heads * dim]
at::Tensor channel_min(const at::Tensor& x) {
  return std::get<0>(x.permute({1, 0, 2}).reshape({x.size(1), -1}).min(0));
}
at::Tensor channel_max(const at::Tensor& x) {
  return std::get<0>(x.permute({1, 0, 2}).reshape({x.size(1), -1}).max(0));
}

at::Tensor round_trip(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& offset) {
  const at::Tensor s = scale.to(at::kDouble).reshape({kKvHeads, 1, kDim});
  const at::Tensor o = offset.to(at::kDouble).reshape({kKvHeads, 1, kDim});
  return (at::clamp(at::round(x / s + o), -128.0, 127.0) - o) * s;
}

std::vector<BlockInput> samples(ModelAdapter& adapter) {
  std::vector<BlockInput> inputs;
  for (const std::vector<std::int64_t>& ids : {std::vector<std::int64_t>{3, 17, 9, 1, 30, 5, 22},
                                               std::vector<std::int64_t>{8, 8, 2, 27, 14, 0, 11, 6, 19}})
    inputs.push_back(adapter.embed(at::tensor(ids, at::kLong).reshape({1, -1})));
  return inputs;
}

// A block of nothing but a KV cache (SDK HookedKvCacheAccess): forward runs keys = hidden and values =
// 2·hidden ([1, kv_heads, seq, dim]) through the hook and returns both, stacked.
class CacheOnlyBlock final : public Block, public HookedKvCacheAccess {
 public:
  CacheOnlyBlock() : HookedKvCacheAccess("model.layers.5.self_attn", kKvHeads, kDim) {}
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {}; }
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& /*context*/) override {
    at::Tensor key = hidden, value = hidden * 2;
    kv_cache_hook().pass(key, value);
    return at::cat({key, value}, 0);
  }

 private:
  std::string name_ = "model.layers.5";
};

std::unique_ptr<Processor> make_processor(bool symmetric, const std::string& exclude = "[]") {
  return dynamic_cache::make_dynamic_cache(parse_yaml_string(
      "type: dynamic_cache\nqconfig: {scope: per_channel, dtype: int8, symmetric: " +
          std::string(symmetric ? "true" : "false") + ", method: minmax}\nexclude: " + exclude + "\n",
      "test.yaml"));
}

}  // namespace

TEST_CASE(
    "dynamic_cache parameters equal a float64 per-channel min/max of K after k_norm and RoPE, and of V") {
  test::TempDir dir("kv-qwen3");
  const auto w = write_qwen3(dir.path());
  const auto adapter = open_kv_adapter(dir.path());
  const auto inputs = samples(*adapter);
  for (const bool symmetric : {true, false}) {
    CAPTURE(symmetric);
    const auto block = adapter->load_block(0);
    const auto processor = make_processor(symmetric);
    RunContext context{*adapter};
    processor->pre_run(context);
    BlockRequest request{block->name(), *block, inputs, {}};
    processor->preprocess(request);
    processor->process(request);
    processor->postprocess(request);
    const auto& params = dynamic_cast<KvCacheAccess&>(*block).kv_cache_quant();
    REQUIRE(params.has_value());

    at::Tensor kmin, kmax, vmin, vmax;
    for (const BlockInput& input : inputs) {
      const Attention a = project(w, input.hidden.squeeze(0).to(at::kDouble));
      kmin = kmin.defined() ? at::minimum(kmin, channel_min(a.k)) : channel_min(a.k);
      kmax = kmax.defined() ? at::maximum(kmax, channel_max(a.k)) : channel_max(a.k);
      vmin = vmin.defined() ? at::minimum(vmin, channel_min(a.v)) : channel_min(a.v);
      vmax = vmax.defined() ? at::maximum(vmax, channel_max(a.v)) : channel_max(a.v);
    }
    const auto check = [&](const at::Tensor& scale, const at::Tensor& offset, at::Tensor mn, at::Tensor mx) {
      mn = at::clamp_max(mn, 0.0);
      mx = at::clamp_min(mx, 0.0);
      const at::Tensor expected_scale = symmetric ? at::maximum(-mn, mx) / 127.0 : (mx - mn) / 255.0;
      const at::Tensor expected_offset =
          symmetric ? at::zeros_like(mn) : at::round(-mn / expected_scale) - 128.0;
      REQUIRE(scale.numel() == kKvHeads * kDim);
      CHECK(((scale.to(at::kDouble) - expected_scale).abs() / expected_scale).max().item<double>() < 1e-5);
      CHECK((offset.to(at::kDouble) - expected_offset).abs().max().item<double>() < 0.5);
    };
    check(params->key_scale, params->key_offset, kmin, kmax);
    check(params->value_scale, params->value_offset, vmin, vmax);
  }
}

TEST_CASE(
    "a block with int8 KV parameters attends to the round trip of its keys and values (float64 reference)") {
  test::TempDir dir("kv-qwen3-forward");
  const auto w = write_qwen3(dir.path());
  const auto adapter = open_kv_adapter(dir.path());
  const BlockInput input = samples(*adapter).back();
  const auto block = adapter->load_block(0);
  auto& access = dynamic_cast<KvCacheAccess&>(*block);
  const at::Tensor h = input.hidden.squeeze(0).to(at::kDouble);
  const Attention a = project(w, h);
  // Coarse parameters (16 levels over each channel's range, an offset) so the round trip is visible.
  const auto coarse = [](const at::Tensor& x) {
    const at::Tensor scale = ((channel_max(x) - channel_min(x)) / 16.0).to(at::kFloat);
    return std::pair{scale, at::full_like(scale, 3.0)};
  };
  const auto [ks, ko] = coarse(a.k);
  const auto [vs, vo] = coarse(a.v);
  access.set_kv_cache_quant(KvCacheQuantParams{ks, ko, vs, vo});

  const at::Tensor ours = block->forward(input.hidden, *input.context).squeeze(0).to(at::kDouble);
  const at::Tensor expected = layer(w, h, {a.q, round_trip(a.k, ks, ko), round_trip(a.v, vs, vo)});
  const at::Tensor float_output = layer(w, h, a);
  const double error = (ours - expected).abs().max().item<double>();
  const double effect = (float_output - expected).abs().max().item<double>();
  MESSAGE("max |ours - float64 int8-KV reference| " << error << ", int8 KV effect " << effect);
  CHECK(effect > 1e-2);
  CHECK(error < 1e-3 * effect);

  SUBCASE("the saver's C8 tensors are the block's parameters under the reference's names") {
    const auto tensors = ascendv1::kv_cache_tensors(*block);
    REQUIRE(tensors.size() == 4);
    const std::vector<std::string> names = {
        "model.layers.0.self_attn.k_proj.kv_cache_scale", "model.layers.0.self_attn.k_proj.kv_cache_offset",
        "model.layers.0.self_attn.v_proj.kv_cache_scale", "model.layers.0.self_attn.v_proj.kv_cache_offset"};
    const std::vector<at::Tensor> values = {ks, ko, vs, vo};
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(tensors[i].key == names[i]);
      CHECK(tensors[i].type == "C8");
      CHECK((tensors[i].tensor.scalar_type() == at::kFloat));
      CHECK(tensors[i].tensor.equal(values[i]));
    }
    access.set_kv_cache_quant(std::nullopt);
    CHECK(ascendv1::kv_cache_tensors(*block).empty());
  }
}

TEST_CASE("dynamic_cache: excluded attentions stay float; bad qconfig is refused by field") {
  test::TempDir dir("kv-qwen3-exclude");
  write_qwen3(dir.path());
  const auto adapter = open_kv_adapter(dir.path());
  const auto inputs = samples(*adapter);
  const auto block = adapter->load_block(0);
  const auto processor = make_processor(true, "['model.layers.0.self_attn']");
  RunContext context{*adapter};
  processor->pre_run(context);
  BlockRequest request{block->name(), *block, inputs, {}};
  processor->preprocess(request);
  processor->process(request);
  processor->postprocess(request);
  CHECK_FALSE(dynamic_cast<KvCacheAccess&>(*block).kv_cache_quant().has_value());

  const auto refused = [](const std::string& qconfig, const std::string& field) {
    CAPTURE(qconfig);
    try {
      dynamic_cache::make_dynamic_cache(
          parse_yaml_string("type: dynamic_cache\nqconfig: " + qconfig, "t.yaml"));
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
  };
  refused("{scope: per_tensor, dtype: int8}", "scope");
  refused("{scope: per_channel, dtype: int4}", "dtype");
  refused("{scope: per_channel, dtype: int8, method: histogram}", "method");
}

TEST_CASE("kv_smooth keeps the logits (1e-4) and flattens the keys by the float64 RoPE-pair max") {
  for (const std::string model_type : {"qwen3", "qwen2"}) {
    CAPTURE(model_type);
    test::TempDir dir("kv-smooth-" + model_type);
    kv_cache_quant_write_model(dir.path(), model_type);
    const auto adapter = open_kv_adapter(dir.path());
    const auto inputs = samples(*adapter);
    const auto block = adapter->load_block(0);
    auto& access = dynamic_cast<KvCacheAccess&>(*block);
    // The keys' absolute max per channel before smoothing, and the logits, from the float block.
    at::Tensor before;
    access.set_kv_observer([&](const at::Tensor& key, const at::Tensor&) {
      const at::Tensor m = key.to(at::kDouble).abs().squeeze(0).permute({1, 0, 2}).reshape({key.size(2), -1});
      const at::Tensor channel = std::get<0>(m.max(0)).reshape({kKvHeads, kDim});
      before = before.defined() ? at::maximum(before, channel) : channel;
    });
    std::vector<at::Tensor> logits;
    for (const BlockInput& input : inputs)
      logits.push_back(adapter->head(block->forward(input.hidden, *input.context)));
    access.set_kv_observer({});

    const auto processor = dynamic_cache::make_kv_smooth(parse_yaml_string("type: kv_smooth", "t.yaml"));
    RunContext context{*adapter};
    processor->pre_run(context);
    BlockRequest request{block->name(), *block, inputs, {}};
    processor->preprocess(request);
    processor->process(request);
    processor->postprocess(request);

    at::Tensor after;
    access.set_kv_observer([&](const at::Tensor& key, const at::Tensor&) {
      const at::Tensor m = key.to(at::kDouble).abs().squeeze(0).permute({1, 0, 2}).reshape({key.size(2), -1});
      const at::Tensor channel = std::get<0>(m.max(0)).reshape({kKvHeads, kDim});
      after = after.defined() ? at::maximum(after, channel) : channel;
    });
    double worst = 0.0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const at::Tensor smoothed = adapter->head(block->forward(inputs[i].hidden, *inputs[i].context));
      worst = std::max(worst, ((smoothed - logits[i]).abs().max() / logits[i].abs().max()).item<double>());
    }
    MESSAGE(model_type << ": max relative logit difference after kv_smooth " << worst);
    CHECK(worst < 1e-4);
    // Independent expectation: every key channel divided by s = the max over its RoPE pair (and, with q/k
    // norms, over the kv heads), smooth_factor 1.
    at::Tensor s = at::maximum(before.slice(1, 0, kDim / 2), before.slice(1, kDim / 2));
    if (model_type == "qwen3") s = std::get<0>(s.max(0, true)).expand({kKvHeads, kDim / 2});
    const at::Tensor expected = before / at::cat({s, s}, 1);
    CHECK((after - expected).abs().max().item<double>() < 1e-4);
    CHECK(after.max().item<double>() < 1.0 + 1e-5);  // the largest channel of every pair is now 1
  }
}

TEST_CASE("HookedKvCacheAccess: KvCacheAccess from the hook and the head counts (float64 round trip)") {
  CacheOnlyBlock block;
  auto* access = dynamic_cast<KvCacheAccess*>(static_cast<Block*>(&block));
  REQUIRE(access != nullptr);
  CHECK(access->attention_module() == "model.layers.5.self_attn");
  CHECK(access->kv_heads() == kKvHeads);
  CHECK(access->kv_head_dim() == kDim);
  at::manual_seed(3);
  const at::Tensor x = at::randn({1, kKvHeads, 6, kDim});
  at::Tensor seen_key, seen_value;
  access->set_kv_observer([&](const at::Tensor& key, const at::Tensor& value) {
    seen_key = key;
    seen_value = value;
  });
  const ForwardContext context{};
  const at::Tensor plain = block.forward(x, context);
  CHECK(plain.equal(at::cat({x, x * 2}, 0)));
  CHECK(seen_value.equal(x * 2));
  CHECK_FALSE(access->kv_cache_quant().has_value());

  const at::Tensor scale = at::rand({kKvHeads * kDim}) * 0.1 + 0.05;
  const at::Tensor offset = at::full({kKvHeads * kDim}, 2.0);
  access->set_kv_cache_quant(KvCacheQuantParams{scale, offset, scale * 2, offset});
  REQUIRE(access->kv_cache_quant().has_value());
  CHECK(access->kv_cache_quant()->value_scale.equal(scale * 2));
  const at::Tensor quantized = block.forward(x, context).to(at::kDouble);
  CHECK(seen_key.equal(x));  // the observer sees the keys before the round trip
  const at::Tensor expected_key = round_trip(x[0].to(at::kDouble), scale, offset);
  const at::Tensor expected_value = round_trip(x[0].to(at::kDouble) * 2, scale * 2, offset);
  CHECK((quantized[0] - expected_key).abs().max().item<double>() < 1e-5);
  CHECK((quantized[1] - expected_value).abs().max().item<double>() < 1e-5);
  CHECK((quantized[0] - x[0]).abs().max().item<double>() > 1e-3);  // the round trip is visible

  access->set_kv_observer({});
  access->set_kv_cache_quant(std::nullopt);
  seen_key = at::Tensor();
  CHECK(block.forward(x, context).equal(plain));
  CHECK_FALSE(seen_key.defined());
}
