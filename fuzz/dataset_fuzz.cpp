// Fuzzes the calibration/evaluation dataset reader with the same bytes as a .json array and as .jsonl.
#include "fuzz_support.hpp"
#include "modelslim/dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (const char* name : {"dataset.json", "dataset.jsonl"}) {
    const auto file = modelslim::fuzz::write_scratch(name, data, size);
    modelslim::fuzz::expect_clean([&] { modelslim::read_text_dataset(file); });
  }
  return 0;
}
