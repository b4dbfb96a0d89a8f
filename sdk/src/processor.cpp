#include "modelslim/processor.hpp"

#include <string>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"

namespace modelslim {

Processor::~Processor() = default;

// Runs the block on every input and stores the outputs in the request. Errors raised inside the forward
// (an observer seeing NaN/Inf) get the block and the calibration sample; a non-finite output is refused
// here, so it never reaches the next block's statistics.
void run_block_forward(BlockRequest& request) {
  request.outputs.clear();
  request.outputs.reserve(request.inputs.size());
  for (std::size_t sample = 0; sample < request.inputs.size(); ++sample) {
    const BlockInput& input = request.inputs[sample];
    // dp_layer_wise: rank r holds samples r, r+n, r+2n, ... of the calibration set.
    const std::size_t index =
        request.communicator == nullptr
            ? sample
            : request.communicator->rank() + sample * request.communicator->world_size();
    const std::string where =
        "block " + request.name + ", calibration sample " + std::to_string(index + 1) + " (counting from 1)";
    at::Tensor output;
    try {
      output = request.block.forward(input.hidden, *input.context);
    } catch (const Error& error) {
      throw Error(error.code(), where + ": " + error.what(), error.tip());
    }
    if (const auto bad = find_non_finite(output)) {
      throw Error(ErrorCode::kInvalidModel,
                  where + ": the block output holds " + describe_non_finite(output, *bad),
                  "the model overflows float32 on this calibration text or holds damaged weights; check the "
                  "checkpoint");
    }
    request.outputs.push_back(std::move(output));
  }
  request.forward_count += request.inputs.size();
}

}  // namespace modelslim
