// The names, dtypes and shapes of a model's non-block parameters without their data (since SDK 4.3).
// Savers predict their shard layout when a run begins (StreamingShardWriter::expect) from what finish()
// will write; reading the tensors for that (the lm_head alone is 262 MB at the Llama-2-7B shape) costs a
// second read of data finish() reads again. An adapter that also derives from NonBlockParameterSpecs
// (found by dynamic_cast; the ModelAdapter interface is unchanged) answers from its checkpoint headers.
#pragma once

#include <vector>

#include "modelslim/export.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim {

class ModelAdapter;

class MODELSLIM_SDK_API NonBlockParameterSpecs {
 public:
  virtual ~NonBlockParameterSpecs();
  // What non_block_parameters() would return at this moment, in its order: each tensor's name, dtype and
  // shape, read from headers or the adapter's own tensors, never from tensor data.
  virtual std::vector<TensorSpec> non_block_parameter_specs() const = 0;
};

// `model`'s non-block parameters as specs: from NonBlockParameterSpecs when the adapter implements it,
// else from non_block_parameters() (which reads the tensors).
MODELSLIM_SDK_API std::vector<TensorSpec> non_block_parameter_specs(ModelAdapter& model);

}  // namespace modelslim
