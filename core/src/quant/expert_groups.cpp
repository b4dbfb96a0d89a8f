#include "expert_groups.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "modelslim/core/env_names.hpp"
#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"

namespace modelslim::core {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kDefaultBudget = 256 * kMiB;

std::uint64_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

std::uint64_t parse_mib(const char* text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || text[0] == '-') {
    throw Error(ErrorCode::kUnsupported,
                std::string(env::kExpertMemoryMib) + "='" + text + "': expected a whole number of MiB > 0",
                "e.g. 512 lets one group of routed experts hold 512 MiB of float32 weights");
  }
  return static_cast<std::uint64_t>(value) * kMiB;
}

// Where a calibration forward of one sample failed, as run_block_forward says it.
std::string where(const std::string& block, std::size_t sample, const Communicator* communicator) {
  const std::size_t index =
      communicator == nullptr ? sample : communicator->rank() + sample * communicator->world_size();
  return "block " + block + ", calibration sample " + std::to_string(index + 1) + " (counting from 1)";
}

template <typename Step>
void for_each_sample(const std::string& block, std::size_t samples, const Communicator* communicator,
                     Step step) {
  for (std::size_t sample = 0; sample < samples; ++sample) {
    try {
      step(sample);
    } catch (const Error& error) {
      throw Error(error.code(), where(block, sample, communicator) + ": " + error.what(), error.tip());
    }
  }
}

}  // namespace

ExpertGroupSettings expert_group_settings() {
  ExpertGroupSettings settings;
  const char* enabled = std::getenv(env::kExpertStreaming);
  settings.enabled = enabled == nullptr || std::string(enabled) != "0";
  if (const char* budget = std::getenv(env::kExpertMemoryMib); budget != nullptr && *budget != '\0') {
    settings.budget = parse_mib(budget);
    settings.budget_given = true;
  } else {
    const std::uint64_t available = available_memory();
    settings.budget = available > 0 ? std::min(kDefaultBudget, available / 8) : kDefaultBudget;
  }
  return settings;
}

std::string block_parts_refusal(const Pipeline& pipeline) {
  for (std::size_t i = 0; i < pipeline.processors.size(); ++i) {
    const auto* parts = dynamic_cast<const BlockPartsProcessor*>(pipeline.processors[i].get());
    if (parts == nullptr || !parts->processes_block_parts()) {
      return "processor " + std::to_string(i + 1) +
             " of this stage's process list needs the whole block "
             "(only linear_quant works on a block in parts; smoothing, rotation, search and group processors "
             "see every expert at once)";
    }
  }
  for (std::size_t i = 0; i < pipeline.savers.size(); ++i) {
    if (dynamic_cast<const BlockPartsSaver*>(pipeline.savers[i].get()) == nullptr)
      return "saver " + std::to_string(i + 1) + " of this stage takes whole blocks only";
  }
  return {};
}

ExpertStreamingModel* expert_grouping(ModelAdapter& model, const Pipeline& pipeline) {
  auto* streaming = dynamic_cast<ExpertStreamingModel*>(&model);
  if (streaming == nullptr) return nullptr;
  const ExpertGroupSettings settings = expert_group_settings();
  const std::string refusal =
      settings.enabled ? block_parts_refusal(pipeline) : std::string(env::kExpertStreaming) + "=0 is set";
  if (refusal.empty()) return streaming;
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < model.num_blocks(); ++i)
    largest = std::max(largest, streaming->routed_expert_bytes(i));
  if (largest <= settings.budget) return nullptr;
  const auto mib = [](std::uint64_t bytes) {
    return fmt::format("{:.1f}", static_cast<double>(bytes) / kMiB);
  };
  const std::string message = "a sparse block's routed experts need " + mib(largest) +
                              " MiB in float32, over the expert memory budget of " + mib(settings.budget) +
                              " MiB, but " + refusal + ", so every sparse block is loaded whole";
  if (settings.enabled && settings.budget_given) {
    throw Error(ErrorCode::kUnsupported, message,
                "raise " + std::string(env::kExpertMemoryMib) +
                    ", or quantize with linear_quant entries alone "
                    "(spec.process) and ascendv1_saver or compressed_tensors");
  }
  spdlog::warn("{}", message);
  return nullptr;
}

std::int64_t experts_per_group(std::uint64_t routed_expert_bytes, std::int64_t experts,
                               std::uint64_t budget) {
  if (experts <= 0) return 0;
  const std::uint64_t per_expert =
      std::max<std::uint64_t>(1, routed_expert_bytes / static_cast<std::uint64_t>(experts));
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(budget / per_expert), 1, experts);
}

GroupedBlockRun run_block_in_groups(Block& block, Pipeline& pipeline, const std::vector<BlockInput>& inputs,
                                    Communicator* communicator, std::int64_t group_size,
                                    bool outputs_needed) {
  ExpertGroupedBlock& grouped = *expert_grouped_block(block);
  const std::string& name = block.name();
  const std::size_t samples = inputs.size();
  const std::size_t count = pipeline.processors.size();
  // Pass i: processor i's calibration forward; pass `count`: the forward after all of them, run only when
  // none ran one and a later block needs the outputs (as the whole-block loop does).
  std::vector<bool> forwards(count + 1, false);
  std::optional<std::size_t> output_pass;
  for (std::size_t i = 0; i < count; ++i) {
    forwards[i] = samples > 0 && !pipeline.processors[i]->is_data_free();
    if (forwards[i]) output_pass = i;
  }
  if (!output_pass && outputs_needed && samples > 0) {
    forwards[count] = true;
    output_pass = count;
  }
  GroupedBlockRun run;
  // Every processor on a part: preprocess, its forward over all samples (`step`), postprocess.
  const auto process_part = [&](Block& part, const auto& step) {
    for (std::size_t i = 0; i < count; ++i) {
      BlockRequest request{name, part, inputs, {}, 0, communicator};
      pipeline.processors[i]->preprocess(request);
      if (forwards[i]) for_each_sample(name, samples, communicator, [&](std::size_t s) { step(i, s); });
      pipeline.processors[i]->postprocess(request);
    }
    if (forwards[count]) for_each_sample(name, samples, communicator, [&](std::size_t s) { step(count, s); });
  };

  process_part(block, [&](std::size_t pass, std::size_t s) { grouped.forward_resident(pass, s, inputs[s]); });
  for (std::size_t pass = 0; pass <= count; ++pass) run.forwards += forwards[pass] ? samples : 0;
  for (auto& saver : pipeline.savers) {
    dynamic_cast<BlockPartsSaver&>(*saver).begin_block_parts(name);
    saver->save_block(*grouped.part_before_experts());
  }
  const std::int64_t experts = grouped.num_routed_experts();
  for (std::int64_t first = 0; first < experts; first += group_size) {
    std::unique_ptr<Block> group = grouped.load_experts(first, std::min(group_size, experts - first));
    process_part(*group, [&](std::size_t pass, std::size_t s) { grouped.forward_experts(pass, s, *group); });
    for (auto& saver : pipeline.savers) saver->save_block(*group);
    ++run.groups;
  }  // each group's float weights and quantized tensors are freed here, before the next is read
  if (output_pass) {
    for_each_sample(name, samples, communicator, [&](std::size_t s) {
      at::Tensor output = grouped.finish_forward(*output_pass, s);
      if (const auto bad = find_non_finite(output)) {
        throw Error(
            ErrorCode::kInvalidModel, "the block output holds " + describe_non_finite(output, *bad),
            "the model overflows float32 on this calibration text or holds damaged weights; check the "
            "checkpoint");
      }
      run.outputs.push_back(std::move(output));
    });
  }
  for (std::size_t pass = 0; pass <= count; ++pass) grouped.drop_pass(pass);
  for (auto& saver : pipeline.savers) {
    saver->save_block(*grouped.part_after_experts());
    dynamic_cast<BlockPartsSaver&>(*saver).end_block_parts();
  }
  return run;
}

}  // namespace modelslim::core
