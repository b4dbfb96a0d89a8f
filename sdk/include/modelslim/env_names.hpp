// Every environment variable the SDK and the in-tree plugins read, named once. The host's own variables
// (plugin and dataset paths, the practice repository, ranks) are in modelslim/core/env_names.hpp, which
// includes this list. Plain constants: no LibTorch, no symbols.
#pragma once

namespace modelslim::env {

// "0" frees the layer-wise loop's pooled buffers at once and leaves glibc's heap settings alone.
inline constexpr const char* kBufferPool = "MODELSLIM_BUFFER_POOL";
// "0" loads blocks on demand instead of reading block k+1 while block k runs.
inline constexpr const char* kPrefetch = "MODELSLIM_PREFETCH";
// MiB (or "block") of the next block converted to float32 ahead of time; unset: page cache only.
inline constexpr const char* kPrefetchBudgetMib = "MODELSLIM_PREFETCH_BUDGET_MIB";
// The weight-quantization kernels' CPU level: scalar, avx2 or avx512; unset: the best this CPU has.
inline constexpr const char* kCpuIsa = "MODELSLIM_CPU_ISA";
// How shards are written: stream (default) or spill.
inline constexpr const char* kShardWriter = "MODELSLIM_SHARD_WRITER";
// "0" writes shard data through the page cache; unset: direct I/O where the file system allows it.
inline constexpr const char* kDirectIo = "MODELSLIM_DIRECT_IO";
// "0" always loads linear weights in float32; "1" keeps bf16/fp16 weights as stored even in runs with a
// calibration forward; unset: kept only in runs that never run one (architecture.md, the layer-wise loop).
inline constexpr const char* kStoredDtypeWeights = "MODELSLIM_STORED_DTYPE_WEIGHTS";
// The user's thread choice, which modelslim then leaves alone.
inline constexpr const char* kOmpNumThreads = "OMP_NUM_THREADS";
// Searched for a command evaluator's or service runner's executable.
inline constexpr const char* kPath = "PATH";

}  // namespace modelslim::env
