// The tuning strategies against a scripted session: the exact candidates they propose for given pass/fail
// answers (reference pins, strategy memory, step doubling and reset), the worst-case evaluation bound, and
// the plan errors they raise before any model work.
#include "support/doctest.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "binary_fallback.hpp"
#include "experience.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "standing_high.hpp"
#include "support/test_support.hpp"

using namespace modelslim;

namespace {

// Answers each candidate with `oracle`; remembers what it was asked.
class ScriptedSession final : public TuningSession {
 public:
  ScriptedSession(std::vector<std::string> ranking, std::function<bool(const Candidate&)> oracle)
      : ranking_(std::move(ranking)), oracle_(std::move(oracle)) {}

  Verdict evaluate(const Candidate& candidate) override {
    asked.push_back(candidate);
    Verdict verdict;
    verdict.passed = oracle_(candidate);
    return verdict;
  }
  std::vector<SensitivityRank> rank_blocks(const std::string& dataset,
                                           const std::vector<std::string>& modules,
                                           const YAML::Node& probe) override {
    ++rankings;
    ranked_dataset = dataset;
    ranked_modules = modules;
    std::vector<SensitivityRank> out;
    for (std::size_t i = 0; i < ranking_.size(); ++i)
      out.push_back({ranking_[i], 1.0 / static_cast<double>(i + 1)});
    return out;
  }
  const std::string& model_type() const override { return model_type_; }

  std::vector<Candidate> asked;
  int rankings = 0;
  std::string ranked_dataset;
  std::vector<std::string> ranked_modules;

 private:
  std::vector<std::string> ranking_;
  std::function<bool(const Candidate&)> oracle_;
  std::string model_type_ = "llama";
};

// Answers in order from a fixed list (the reference's "send sequence").
std::function<bool(const Candidate&)> sequence(std::vector<bool> answers) {
  auto next = std::make_shared<std::size_t>(0);
  return [answers, next](const Candidate&) {
    REQUIRE_MESSAGE(*next < answers.size(), "the strategy asked more than the script answers");
    return answers[(*next)++];
  };
}

core::PluginRegistry& registry() {
  static core::PluginRegistry r;
  static bool loaded = false;
  if (!loaded) {
    r.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
    loaded = true;
  }
  return r;
}

const char* kTemplate = R"(
template:
  runner: auto
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}
        weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}
      include: ["*"]
      exclude: ["*lm_head*"]
  save: [{type: ascendv1_saver, part_file_size: 4}]
  dataset: kjv_calib.jsonl
)";

tuning::StandingHigh standing_high(const std::string& strategies, const std::string& extra = "") {
  const std::string text = "type: standing_high\nanti_outlier_strategies: " + strategies + "\n" + kTemplate +
                           "metadata: {config_id: sh, label: {w_bit: 8, a_bit: 8}}\n" + extra;
  return tuning::StandingHigh(tuning::parse_standing_high(parse_yaml_string(text, "plan.yaml"), registry()));
}

std::vector<std::string> excludes(const Candidate& c, std::size_t processor) {
  std::vector<std::string> out;
  for (const auto& e : c.practice["spec"]["process"][processor]["exclude"])
    out.push_back(e.as<std::string>());
  return out;
}

std::string trace(const std::vector<Candidate>& asked) {
  std::string out;
  for (const auto& c : asked)
    out += c.id + ":" + c.anti_outlier + "/" + std::to_string(c.fallback.size()) + " ";
  return out;
}

// The message a strategy parser throws for `text` ("no error" when it accepts it).
template <class Parse>
std::string parse_error_of(Parse parse, const std::string& text) {
  try {
    parse(parse_yaml_string(text, "plan.yaml"), registry());
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

const std::vector<std::string> kBlocks = {"model.layers.3", "model.layers.1", "model.layers.2",
                                          "model.layers.0"};

}  // namespace

TEST_CASE("standing_high: zero fallback passing ends at once with <config_id>_0") {
  auto strategy = standing_high("[[]]");
  ScriptedSession session(kBlocks, [](const Candidate&) { return true; });
  const auto final = strategy.run(session);
  REQUIRE(final);
  CHECK(final->id == "sh_0");
  CHECK(session.asked.size() == 1);
  CHECK(session.rankings == 0);  // no sensitivity analysis needed
  CHECK(final->practice["apiversion"].as<std::string>() == "modelslim_v1");
  CHECK(final->practice["metadata"]["config_id"].as<std::string>() == "sh_0");
  CHECK(final->practice["metadata"]["label"]["w_bit"].as<int>() == 8);
}

TEST_CASE("standing_high: exact candidate sequence with strategy memory and step reset") {
  // Without suppression 3 blocks must fall back, with iter_smooth 1.
  auto strategy = standing_high("[[], [{type: iter_smooth, alpha: 0.5}]]");
  ScriptedSession session(
      kBlocks, [](const Candidate& c) { return c.fallback.size() >= (c.anti_outlier == "none" ? 3u : 1u); });
  const auto final = strategy.run(session);
  CHECK(trace(session.asked) ==
        "sh_0:none/0 sh_1:none/2 sh_2:none/3 sh_4:none/2 sh_5:iter_smooth/2 sh_6:iter_smooth/0 sh_7:none/0 "
        "sh_8:iter_smooth/1 sh_9:iter_smooth/0 sh_10:none/0 ");
  REQUIRE(final);
  CHECK(final->id == "sh_8");
  CHECK(final->anti_outlier == "iter_smooth");
  CHECK(final->fallback == std::vector<std::string>{"*model.layers.3.*"});
  // Suppression goes first; the fallback joins the template's own exclude list.
  CHECK(final->practice["spec"]["process"][0]["type"].as<std::string>() == "iter_smooth");
  CHECK(excludes(*final, 1) == std::vector<std::string>{"*lm_head*", "*model.layers.3.*"});
  CHECK(session.rankings == 1);
  CHECK(session.ranked_dataset == "kjv_calib.jsonl");
  CHECK(session.ranked_modules == std::vector<std::string>{"*"});
}

TEST_CASE("standing_high: the step doubles after each success") {
  std::vector<std::string> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back("model.layers." + std::to_string(i));
  auto strategy = standing_high("[[], [{type: iter_smooth}]]");
  ScriptedSession session(blocks,
                          [](const Candidate& c) { return c.anti_outlier != "none" && !c.fallback.empty(); });
  const auto final = strategy.run(session);
  // Binary search never passes (level 8 is assumed); then 7 (step 1), 5 (step 2), 1 (step 4), 0 fails.
  CHECK(trace(session.asked) ==
        "sh_0:none/0 sh_1:none/4 sh_2:none/6 sh_3:none/7 sh_5:none/7 sh_6:iter_smooth/7 sh_7:iter_smooth/5 "
        "sh_8:iter_smooth/1 sh_9:iter_smooth/0 sh_10:none/0 ");
  REQUIRE(final);
  CHECK(final->id == "sh_8");
  CHECK(final->fallback.size() == 1);
}

TEST_CASE(
    "standing_high: evaluations stay within 1 + ceil(log2 N) + S(2L+1) + 1 on random monotone oracles") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = 1 + rng() % 12;
    const std::size_t s = 1 + rng() % 3;
    std::vector<std::string> blocks;
    for (std::size_t i = 0; i < n; ++i) blocks.push_back("b" + std::to_string(i));
    std::string strategies = "[[]";
    for (std::size_t k = 1; k < s; ++k)
      strategies += ", [{type: iter_smooth, alpha: 0." + std::to_string(k) + "}]";
    strategies += "]";
    std::map<std::string, std::size_t> need;  // per chain: the fallback level it needs (n + 1: never)
    need["none"] = rng() % (n + 2);
    const auto chain_of = [](const Candidate& c) {
      const YAML::Node first = c.practice["spec"]["process"][0];
      return c.anti_outlier + (first["alpha"] ? first["alpha"].as<std::string>() : std::string());
    };
    const auto passes = [&](const Candidate& c) {
      if (!need.count(chain_of(c))) need[chain_of(c)] = rng() % (n + 2);
      return c.fallback.size() >= need[chain_of(c)];
    };
    auto strategy = standing_high(strategies);
    ScriptedSession session(blocks, passes);
    const auto final = strategy.run(session);
    REQUIRE(final);
    // L: the level the binary search settles on with the first chain.
    const std::size_t level = std::min(std::max<std::size_t>(need["none"], 1), n);
    const double bound =
        1 + std::ceil(std::log2(static_cast<double>(n))) + static_cast<double>(s * (2 * level + 1)) + 1;
    CHECK_MESSAGE(static_cast<double>(session.asked.size()) <= bound, trace(session.asked));
    // The answer is never worse than what the binary search found whenever anything passed.
    bool any_passed = false;
    for (const auto& c : session.asked) any_passed = any_passed || passes(c);
    if (any_passed) CHECK(final->fallback.size() <= level);
  }
}

TEST_CASE("standing_high plan errors name the field") {
  const auto error_of = [](const std::string& text) {
    return ::parse_error_of(tuning::parse_standing_high, text);
  };
  CHECK(error_of(std::string("type: standing_high\nanti_outlier_strategies: []\n") + kTemplate)
            .find("anti_outlier_strategies") != std::string::npos);
  const std::string no_linear_quant =
      "type: standing_high\nanti_outlier_strategies: [[]]\ntemplate:\n  process: [{type: iter_smooth}]\n";
  CHECK(error_of(no_linear_quant).find("linear_quant") != std::string::npos);
  const std::string bad_chain =
      std::string("type: standing_high\nanti_outlier_strategies: [[{type: flex_smooth}]]\n") + kTemplate;
  const std::string message = error_of(bad_chain);
  CHECK_MESSAGE(message.find("flex_smooth") != std::string::npos, message);
  CHECK(error_of(std::string("type: standing_high\nanti_outlier_strategies: [[]]\nbogus: 1\n") + kTemplate)
            .find("bogus") != std::string::npos);
}

namespace {
const char* kFallbackTemplate = R"(
template:
  apiversion: modelslim_v1
  metadata: {config_id: bf, label: {w_bit: 8, a_bit: 8}}
  spec:
    process:
      - {type: iter_smooth, alpha: 0.5}
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8, symmetric: true}
        exclude: []
)";

tuning::BinaryFallback binary_fallback(const std::string& extra) {
  const std::string text = std::string("type: binary_fallback\n") + extra + kFallbackTemplate;
  return tuning::BinaryFallback(
      tuning::parse_binary_fallback(parse_yaml_string(text, "plan.yaml"), registry()));
}
}  // namespace

TEST_CASE("binary_fallback: zero rollback passing is a single candidate") {
  auto strategy = binary_fallback("rollback_path: spec.process.1.exclude\nrollback_candidates: [layer.a]\n");
  ScriptedSession session({}, [](const Candidate&) { return true; });
  const auto final = strategy.run(session);
  REQUIRE(final);
  CHECK(session.asked.size() == 1);
  CHECK(final->id == "bf_0");
}

TEST_CASE("binary_fallback: answers F,T,F,T over three candidates end at the first two") {
  auto strategy = binary_fallback(
      "rollback_path: spec.process.1.exclude\nrollback_candidates: [layer.a, layer.b, \"*layer.c*\"]\n");
  ScriptedSession session({}, sequence({false, true, false, true}));
  const auto final = strategy.run(session);
  REQUIRE(final);
  CHECK(excludes(*final, 1) == std::vector<std::string>{"*layer.a.*", "*layer.b.*"});
  CHECK(trace(session.asked) == "bf_0:template/0 bf_1:template/2 bf_2:template/1 bf_3:template/2 ");
  CHECK(session.rankings == 0);  // the user's candidates skip the analysis
  // The template's other processors are untouched.
  CHECK(final->practice["spec"]["process"][0]["type"].as<std::string>() == "iter_smooth");
}

TEST_CASE("binary_fallback: candidates with '*' are kept verbatim; maximum rollback failing is a SpecError") {
  auto strategy = binary_fallback(
      "rollback_path: spec.process.1.exclude\nrollback_candidates: [\"*layer.c*\", layer.d]\n");
  ScriptedSession session({}, [](const Candidate&) { return false; });
  try {
    strategy.run(session);
    FAIL("expected a SpecError");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSpec);
    CHECK(std::string(e.what()).find("maximum rollback") != std::string::npos);
  }
  CHECK(excludes(session.asked.back(), 1) == std::vector<std::string>{"*layer.c*", "*layer.d.*"});
}

TEST_CASE("binary_fallback: without candidates it ranks all blocks on the analysis dataset") {
  auto strategy = binary_fallback("rollback_path: spec.process.1.exclude\nanalysis_dataset: mine.jsonl\n");
  ScriptedSession session(kBlocks, [](const Candidate& c) { return c.fallback.size() >= 3; });
  const auto final = strategy.run(session);
  REQUIRE(final);
  CHECK(session.ranked_dataset == "mine.jsonl");
  CHECK(session.ranked_modules == std::vector<std::string>{"*"});
  CHECK(final->fallback ==
        std::vector<std::string>{"*model.layers.3.*", "*model.layers.1.*", "*model.layers.2.*"});
}

TEST_CASE("binary_fallback plan errors: non-v1 template, rollback_path to a non-list or out of range") {
  const auto error_of = [](const std::string& extra, const std::string& tmpl) {
    return ::parse_error_of(tuning::parse_binary_fallback, "type: binary_fallback\n" + extra + tmpl);
  };
  std::string v0 = kFallbackTemplate;
  v0.replace(v0.find("modelslim_v1"), 12, "modelslim_v0");
  CHECK(error_of("rollback_path: spec.process.1.exclude\n", v0).find("modelslim_v1") != std::string::npos);
  const std::string non_list = error_of("rollback_path: spec.process.0.alpha\n", kFallbackTemplate);
  CHECK_MESSAGE(non_list.find("list") != std::string::npos, non_list);
  const std::string range = error_of("rollback_path: spec.process.5.exclude\n", kFallbackTemplate);
  CHECK_MESSAGE(range.find("out of range") != std::string::npos, range);
  CHECK_MESSAGE(range.find("rollback_path") != std::string::npos, range);
  const std::string missing = error_of("rollback_path: spec.processes.1.exclude\n", kFallbackTemplate);
  CHECK_MESSAGE(missing.find("spec.processes") != std::string::npos, missing);
}

TEST_CASE("standing_high_with_experience: template and chains from the shipped table") {
  const std::string text = R"(
type: standing_high_with_experience
quant_type: w8a8
structure_configs:
  - {type: GQA, include: ["*self_attn*"]}
  - {type: FFN, include: ["*mlp*"]}
  - {type: SWA, include: ["*layers.3.self_attn*"]}
metadata: {config_id: exp}
)";
  tuning::StandingHigh strategy(
      tuning::parse_standing_high_with_experience(parse_yaml_string(text, "plan.yaml"), registry()));
  ScriptedSession session(kBlocks, [](const Candidate&) { return true; });
  const auto final = strategy.run(session);
  REQUIRE(final);
  // The first chain of the w8a8 experience is iter_smooth; attention static per-tensor, FFN per-token;
  // the sliding-window structure stays float in both.
  const YAML::Node process = final->practice["spec"]["process"];
  CHECK(process[0]["type"].as<std::string>() == "iter_smooth");
  CHECK(process[1]["qconfig"]["act"]["scope"].as<std::string>() == "per_tensor");
  CHECK(process[2]["qconfig"]["act"]["scope"].as<std::string>() == "per_token");
  CHECK(excludes(*final, 1) == std::vector<std::string>{"*layers.3.self_attn*"});
  CHECK(excludes(*final, 2) == std::vector<std::string>{"*layers.3.self_attn*"});

  const auto error_of = [](const std::string& t) {
    return ::parse_error_of(tuning::parse_standing_high_with_experience, t);
  };
  CHECK(error_of("type: standing_high_with_experience\nquant_type: w2a2\nstructure_configs: [{type: FFN}]\n")
            .find("w8a8") != std::string::npos);
  CHECK(error_of("type: standing_high_with_experience\nquant_type: w8a8\nstructure_configs: [{type: RNN}]\n")
            .find("RNN") != std::string::npos);
}
