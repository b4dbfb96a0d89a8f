// safetensors I/O. Reading maps files read-only and copies out one tensor at a time (then releases the
// pages), so resident memory follows what is in use, not the checkpoint size. Writing streams tensors to
// disk as they come and publishes the file atomically (temp name + rename) in finish().
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

struct TensorInfo {
  std::string name;
  std::string dtype;  // safetensors dtype string: F32, F16, BF16, I8, I32, I64, U8, BOOL, F64, I16
  std::vector<std::int64_t> shape;
  std::uint64_t data_begin = 0;  // offsets relative to the data section
  std::uint64_t data_end = 0;
};

MODELSLIM_SDK_API at::ScalarType scalar_type_from_safetensors(const std::string& dtype);  // throws on unknown
MODELSLIM_SDK_API std::string safetensors_dtype_name(at::ScalarType type);

// One .safetensors file, memory-mapped. The header is validated against the file size on open
// (offsets in range, contiguous, sizes matching dtype×shape); errors name the file and the tensor.
class MODELSLIM_SDK_API SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& file);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // An owned CPU tensor in the stored dtype.
  at::Tensor load(const std::string& name) const;
  // Since SDK 4.2: the tensor written into `out` (its shape, contiguous, the stored dtype or a floating
  // dtype it converts to), a chunk at a time straight from the mapping: no stored-dtype copy. The same
  // non-finite check and errors as load.
  void load_into(const std::string& name, at::Tensor& out) const;
  // Since SDK 4.2: reads the tensor's bytes into the page cache (not into this process's resident memory),
  // so a later load does not wait for the disk. Blocks until read; call it on a background thread.
  void prefetch(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  int fd_ = -1;
  void* map_ = nullptr;
  std::uint64_t file_size_ = 0;
  std::uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a checkpoint directory: model.safetensors.index.json (sharded) when present, otherwise
// every *.safetensors file in the directory. Files are opened on first use.
class MODELSLIM_SDK_API SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open_dir(const std::filesystem::path& dir);

  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const TensorInfo& info(const std::string& name) const;
  at::Tensor load(const std::string& name) const;  // throws Error(kInvalidModel) naming the missing tensor
  void load_into(const std::string& name, at::Tensor& out) const;  // since SDK 4.2, see SafetensorsFile
  void prefetch(const std::string& name) const;                    // since SDK 4.2, see SafetensorsFile

 private:
  std::filesystem::path dir_;
  std::map<std::string, std::filesystem::path> tensor_file_;
  mutable std::map<std::filesystem::path, std::shared_ptr<SafetensorsFile>> open_files_;
  std::shared_ptr<SafetensorsFile> file_for(const std::string& name) const;
  std::shared_ptr<SafetensorsFile> file_for_path(const std::filesystem::path& file) const;
};

// Streams tensors into one safetensors file. Data goes to a spill file as it arrives; finish() writes the
// header and data to `<path>.tmp` and renames it. Destroying an unfinished writer removes its temp files.
class MODELSLIM_SDK_API SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::filesystem::path path, std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void add(const std::string& name, const at::Tensor& tensor);  // any CPU tensor; stored contiguous
  std::uint64_t data_bytes() const { return data_bytes_; }
  std::size_t tensor_count() const { return entries_.size(); }
  void finish();

 private:
  std::filesystem::path path_;
  std::filesystem::path spill_path_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> entries_;
  std::uint64_t data_bytes_ = 0;
  int spill_fd_ = -1;
  bool finished_ = false;
};

// Convenience: writes the tensors (in the given order) atomically.
MODELSLIM_SDK_API void save_safetensors(const std::filesystem::path& path,
                                        const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace modelslim
