// Fuzzes the safetensors reader: the 8-byte length prefix, the JSON header (dtype, shape, data_offsets,
// __metadata__) and the offset checks, then loads every tensor the reader accepted.
#include "fuzz_support.hpp"
#include "modelslim/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = modelslim::fuzz::write_scratch("model.safetensors", data, size);
  modelslim::fuzz::expect_clean([&] {
    const auto opened = modelslim::SafetensorsFile::open(file);
    for (const auto& tensor : opened->tensors()) {
      const at::Tensor loaded = opened->load(tensor.name);
      // F8_E4M3 is stored in one byte and decoded to float32.
      const std::uint64_t stored = tensor.dtype == "F8_E4M3" ? 1 : loaded.element_size();
      if (static_cast<std::uint64_t>(loaded.numel()) * stored != tensor.data_end - tensor.data_begin)
        __builtin_trap();
    }
  });
  return 0;
}
