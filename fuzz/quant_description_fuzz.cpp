// Fuzzes quant_model_description.json as the builtin evaluator reads it (the file of a saved ascendv1
// output that `eval --quant_path` and tune trust for every linear's type).
#include "fuzz_support.hpp"
#include "modelslim/quant_description.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = modelslim::fuzz::write_scratch("quant_model_description.json", data, size);
  modelslim::fuzz::expect_clean([&] { modelslim::eval::read_quant_description(file); });
  return 0;
}
