#include "modelslim/processor.hpp"

namespace modelslim {

void run_block_forward(BlockRequest& request) {
  request.outputs.clear();
  request.outputs.reserve(request.inputs.size());
  for (const BlockInput& input : request.inputs) {
    request.outputs.push_back(request.block.forward(input.hidden, *input.context));
  }
  request.forward_count += request.inputs.size();
}

}  // namespace modelslim
