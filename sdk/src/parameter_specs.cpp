#include "modelslim/parameter_specs.hpp"

#include "modelslim/model_adapter.hpp"

namespace modelslim {

NonBlockParameterSpecs::~NonBlockParameterSpecs() = default;

std::vector<TensorSpec> non_block_parameter_specs(ModelAdapter& model) {
  if (const auto* specs = dynamic_cast<const NonBlockParameterSpecs*>(&model))
    return specs->non_block_parameter_specs();
  std::vector<TensorSpec> result;
  for (const NamedTensor& parameter : model.non_block_parameters())
    result.push_back({parameter.name, parameter.tensor.scalar_type(), parameter.tensor.sizes().vec()});
  return result;
}

}  // namespace modelslim
