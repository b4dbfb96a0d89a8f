#include "modelslim/deployed_model.hpp"

#include "deployed_attention.hpp"
#include "modelslim/block.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/registrar.hpp"

namespace modelslim {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

DeployedArtifact::DeployedArtifact(std::filesystem::path dir, QuantDescription description,
                                   SafetensorsCheckpoint tensors)
    : dir_(std::move(dir)), description_(std::move(description)), tensors_(std::move(tensors)) {}

DeployedArtifact DeployedArtifact::open(const std::filesystem::path& dir) {
  QuantDescription description = read_quant_description(dir / "quant_model_description.json");
  return DeployedArtifact(dir, std::move(description), SafetensorsCheckpoint::open_dir(dir));
}

std::set<std::string> DeployedArtifact::replaced_weights() const {
  std::set<std::string> replaced;
  for (const auto& [key, type] : description_) {
    if (type != "FLOAT" && ends_with(key, ".weight")) replaced.insert(key);
  }
  return replaced;
}

std::unique_ptr<ModelAdapter> DeployedArtifact::load_model(const HostServices& host,
                                                           const std::string& model_type) const {
  return host.load_model_replacing(dir_, model_type, replaced_weights());
}

void DeployedArtifact::apply(Block& block) const {
  for (Linear* linear : block.linears()) {
    const auto found = description_.find(linear->name() + ".weight");
    if (found != description_.end() && found->second != "FLOAT")
      linear->set_compute(make_deployed_linear(tensors_, linear->name(), found->second));
  }
  apply_deployed_attention_quant(description_, tensors_, block);  // FA3
}

}  // namespace modelslim
